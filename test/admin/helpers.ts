// Shared by the admin tests: key files, admin calls over HTTP, a logger whose lines can be read,
// and polling until a condition holds (key files are reread on a timer).
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { temporaryDirectory } from '../helpers/server';
import { waitFor as waitForValue } from '../helpers/wait';

export function writeKeyFile(file: string, keys: Record<string, string>): void {
  // Written beside and renamed into place, the way secret managers replace files.
  const staging = `${file}.tmp`;
  fs.writeFileSync(staging, Object.entries(keys).map(([name, key]) => `${name}:${key}\n`).join(''));
  fs.renameSync(staging, file);
}

export function keyFile(keys: Record<string, string>, name = 'keys.txt'): string {
  const file = path.join(temporaryDirectory('opamp-keys-'), name);
  writeKeyFile(file, keys);
  return file;
}

export interface AdminAnswer {
  status: number;
  headers: Headers;
  // The parsed JSON body; its shape is what each test asserts.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  text: string;
}

export async function call(
  url: string,
  method: string,
  route: string,
  options: { key?: string; scheme?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<AdminAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.authorization = `${options.scheme ?? 'ApiKey'} ${options.key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${url}${route}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, body, text };
}

export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

/** test/helpers/wait.ts's waitFor, in the argument order these tests were written with. */
export async function waitFor(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000): Promise<void> {
  await waitForValue(what, condition, { timeoutMs, intervalMs: 50 });
}

/** One sample's value from Prometheus text, or 0 when absent. */
export function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}${labels} `) || (labels === '' && candidate.startsWith(`${name} `)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}
