// Child process entry: one server under test, alone in its process so its CPU time and memory
// are its own. `node dist/bench/server-process.js <kind> <json options>`; it answers the parent
// over IPC: `ready` with its port, `stats` with its CPU time, `stop` to close and exit.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { buildApp } from '../src/app';
import { resolveConfig } from '../src/config';
import { bareDownloadServer, bareFastify, bareHttpServer } from './baselines';
import { BENCH_AGENT_KEY } from './settings';

export type ServerKind = 'ours' | 'bare-http' | 'bare-fastify' | 'bare-fastify-coalesced' | 'bare-download';

export interface ServerProcessOptions {
  /** `serve` flags for ours, on top of its defaults. */
  flags?: Record<string, string | boolean>;
  /** Turn agent auth on with BENCH_AGENT_KEY, which every load sends. */
  agentKey?: boolean;
  /** Another build of the server to run instead of this one (its directory, holding dist/). */
  build?: string;
  /** The file the bare download server sends. */
  file?: string;
  /** Count hashing and signature calls, to show that none happen at poll time. */
  countCrypto?: boolean;
}

export type ParentMessage = { type: 'stats' } | { type: 'stop' };
export type ChildMessage =
  | { type: 'ready'; port: number }
  | { type: 'stats'; cpuMicros: number; cryptoCalls: number; residentBytes: number };

let cryptoCalls = 0;

/** Wraps the crypto entry points that hashing and signature checks go through with a counter. */
function countCryptoCalls(): void {
  const target = crypto as unknown as Record<string, unknown>;
  for (const name of ['createHash', 'createHmac', 'createVerify', 'createSign', 'verify', 'sign', 'hash']) {
    const original = target[name];
    if (typeof original !== 'function') continue;
    target[name] = function counted(this: unknown, ...parameters: unknown[]): unknown {
      cryptoCalls += 1;
      return (original as (...values: unknown[]) => unknown).apply(this, parameters);
    };
  }
}

interface ServerModules {
  buildApp: typeof buildApp;
  resolveConfig: typeof resolveConfig;
}

function serverModules(build: string | undefined): ServerModules {
  if (build === undefined) return { buildApp, resolveConfig };
  /* eslint-disable @typescript-eslint/no-require-imports -- another build, chosen at run time */
  return {
    buildApp: (require(path.join(build, 'dist/src/app.js')) as ServerModules).buildApp,
    resolveConfig: (require(path.join(build, 'dist/src/config.js')) as ServerModules).resolveConfig,
  };
}

async function start(kind: ServerKind, options: ServerProcessOptions): Promise<{ port: number; close(): Promise<void> }> {
  if (kind === 'ours') {
    const modules = serverModules(options.build);
    const flags: Record<string, string | boolean> = {
      // The server's defaults otherwise (rate limits and overload checks on).
      host: '127.0.0.1', port: '0', 'log-level': 'silent', 'trusted-root-refresh': false, ...options.flags,
    };
    if (options.agentKey) {
      const file = path.join(os.tmpdir(), `opamp-bench-keys-${process.pid}`);
      fs.writeFileSync(file, `bench:${BENCH_AGENT_KEY}\n`);
      flags['agent-keys-file'] = file;
    }
    const config = modules.resolveConfig({ flags, env: {} });
    const { app } = await modules.buildApp(config);
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
  }
  if (kind === 'bare-fastify' || kind === 'bare-fastify-coalesced') {
    const app = bareFastify(kind === 'bare-fastify-coalesced');
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
  }
  const server: http.Server = kind === 'bare-http' ? bareHttpServer() : bareDownloadServer(options.file ?? '');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function main(): Promise<void> {
  const kind = process.argv[2] as ServerKind;
  const options = JSON.parse(process.argv[3] ?? '{}') as ServerProcessOptions;
  const running = await start(kind, options);
  // Counting starts after start-up, so the catalog's own hashing is not counted.
  if (options.countCrypto) countCryptoCalls();
  const send = (message: ChildMessage): void => {
    process.send?.(message);
  };
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'stats') {
      const usage = process.cpuUsage();
      send({ type: 'stats', cpuMicros: usage.user + usage.system, cryptoCalls, residentBytes: process.memoryUsage.rss() });
    } else if (message.type === 'stop') {
      void running.close().finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', port: running.port });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench server failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
