// Starts the real server (buildApp + listen on an ephemeral port) with a fresh data directory,
// and small helpers to talk OpAMP to it over HTTP.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import pino from 'pino';
import { buildApp, type BuildOptions, type BuiltApp } from '../../src/app';
import { resolveConfig, type ServeConfig } from '../../src/config';
import {
  decodeServerToAgent,
  encodeAgentToServer,
  type AgentToServerInit,
  type ServerToAgent,
} from '../../src/opamp/codec';

export interface TestServer extends BuiltApp {
  url: string;
  config: ServeConfig;
  close(): Promise<void>;
}

export function temporaryDirectory(prefix = 'opamp-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Config as `serve` would resolve it from these flags, on port 0 and a fresh data dir. */
export function testConfig(flags: Record<string, string | boolean> = {}): ServeConfig {
  return resolveConfig({
    // Shedding off unless a test asks: most tests poll one agent far faster than agents do, and
    // the test's own work (signing, building tarballs) shares the server's event loop.
    flags: {
      port: '0', 'data-dir': temporaryDirectory(), 'log-level': 'silent', 'rate-limit-per-agent': 'off',
      'overload-event-loop-delay': 'off', 'overload-heap-used': 'off', 'overload-store-latency': 'off', ...flags,
    },
    env: {},
  });
}

export async function startServer(
  flags: Record<string, string | boolean> = {},
  options: BuildOptions & { config?: ServeConfig } = {},
): Promise<TestServer> {
  const config = options.config ?? testConfig(flags);
  const built = await buildApp(config, { logger: pino({ level: 'silent' }), ...options });
  const address = await built.app.listen({ host: '127.0.0.1', port: 0 });
  return { ...built, url: address, config, close: () => built.app.close() };
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: Buffer;
  message: ServerToAgent | undefined;
}

export async function postRaw(
  url: string,
  body: Uint8Array,
  headers: Record<string, string> = { 'content-type': 'application/x-protobuf' },
): Promise<HttpAnswer> {
  const response = await fetch(`${url}/v1/opamp`, { method: 'POST', body, headers });
  let bytes = Buffer.from(await response.arrayBuffer());
  // fetch inflates gzip answers itself; only decode what is left.
  let message: ServerToAgent | undefined;
  if (response.headers.get('content-type') === 'application/x-protobuf') {
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = zlib.gunzipSync(bytes);
    message = decodeServerToAgent(bytes);
  }
  return { status: response.status, headers: response.headers, body: bytes, message };
}

export async function poll(url: string, message: AgentToServerInit, headers?: Record<string, string>): Promise<HttpAnswer> {
  return postRaw(url, encodeAgentToServer(message), { 'content-type': 'application/x-protobuf', ...headers });
}

export function uid(seed: number): Buffer {
  const bytes = Buffer.alloc(16);
  bytes.writeUInt32BE(seed, 12);
  bytes[6] = 0x70;
  bytes[8] = 0x80;
  return bytes;
}

export function attribute(key: string, value: string) {
  return { key, value: { stringValue: value } };
}

export function description(attributes: Record<string, string>, nonIdentifying: Record<string, string> = {}) {
  return {
    identifyingAttributes: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
    nonIdentifyingAttributes: Object.entries(nonIdentifying).map(([key, value]) => attribute(key, value)),
  };
}
