// Spoofed proxy headers: X-Forwarded-For and Forwarded never make a client look local to the
// key-less admin API, with or without --trust-proxy; --trust-proxy with a list believes
// X-Forwarded-* only from the proxies it names.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import t, { type Test } from 'tap';
import { buildApp } from '../../src/app';
import { resolveConfig } from '../../src/config';
import { rawTarGz, SCRIPT } from '../fixtures/raw-tar';
import { runCli } from '../helpers/cli';
import { poll, temporaryDirectory, testConfig } from '../helpers/server';
import { agentMessage, topLevel } from '../e2e/helpers';
import { asset, DISTRIBUTION, place } from './package-helpers';

// Several servers and real sockets: on a busy machine this file needs more than tap's default.
t.setTimeout(300_000);

/** An address of this machine other than loopback, so a request can come from "elsewhere". */
const outside = Object.values(os.networkInterfaces()).flat()
  .find((entry) => entry !== undefined && entry.family === 'IPv4' && !entry.internal)?.address;

const NO_OUTSIDE = 'this machine has no address but loopback';

/** The real server on every interface, with a package to offer; `local` and `remote` reach it by two addresses. */
async function start(t: Test, flags: Record<string, string | boolean>) {
  const parent = temporaryDirectory('opamp-proxy-');
  const directory = path.join(parent, 'releases');
  fs.mkdirSync(directory);
  place(directory, asset('0.200.0'), rawTarGz([{ path: DISTRIBUTION, body: SCRIPT }]));
  const built = await buildApp(testConfig({ 'packages-dir': directory, offer: 'latest', 'allow-unsigned': true, ...flags }), {
    logger: pino({ level: 'silent' }),
  });
  await built.app.listen({ host: '0.0.0.0', port: 0 });
  t.teardown(() => built.app.close());
  const port = (built.app.server.address() as { port: number }).port;
  return { ...built, local: `http://127.0.0.1:${port}`, remote: `http://${outside}:${port}`, port };
}

const adminStatus = async (base: string, headers: Record<string, string> = {}) =>
  (await fetch(`${base}/api/v1/agents`, { headers })).status;

const SPOOFS: Array<Record<string, string>> = [
  { 'x-forwarded-for': '127.0.0.1' },
  { 'x-forwarded-for': '127.0.0.1, 127.0.0.1' },
  { forwarded: 'for=127.0.0.1' },
  { forwarded: 'for="[::1]"' },
  { 'x-real-ip': '127.0.0.1', 'x-forwarded-for': '::1' },
];

for (const trustProxy of ['false', 'true', '127.0.0.1', `${outside ?? '192.0.2.1'}/32`]) {
  t.test(`no admin key, --trust-proxy ${trustProxy}: forwarded headers never make a client local`, async (t) => {
    const server = await start(t, { 'trust-proxy': trustProxy });
    t.equal(await adminStatus(server.local), 200, 'loopback without forwarding headers is local');
    for (const headers of SPOOFS) {
      t.equal(await adminStatus(server.local, headers), 403, `a forwarded request is not local even through a local proxy: ${JSON.stringify(headers)}`);
    }
    await t.test('from another address of this machine', { skip: outside === undefined ? NO_OUTSIDE : false }, async (t) => {
      for (const headers of SPOOFS) t.equal(await adminStatus(server.remote, headers), 403, `remote with ${JSON.stringify(headers)}: 403`);
      t.equal(await adminStatus(server.remote), 403, 'remote without headers: 403');
    });
  });
}

t.test('--trust-proxy with a list: X-Forwarded-* believed from the named proxies only', { skip: outside === undefined ? NO_OUTSIDE : false }, async (t) => {
  const server = await start(t, { 'trust-proxy': '10.0.0.0/8,127.0.0.1', 'rate-limit-per-address': '3/1m' });
  const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'opamp.example', 'x-forwarded-prefix': '/fleet' };
  const fromProxy = topLevel((await poll(server.local, agentMessage({ seed: 88_001, version: '0.100.0' }), forwarded)).message);
  t.match(fromProxy?.file?.downloadUrl, /^https:\/\/opamp\.example\/fleet\/v1\/packages\//, 'from 127.0.0.1 (listed) the headers make the URL');
  const fromElsewhere = topLevel((await poll(server.remote, agentMessage({ seed: 88_002, version: '0.100.0' }), forwarded)).message);
  t.match(fromElsewhere?.file?.downloadUrl, new RegExp(`^http://${outside!.replace(/\./g, '\\.')}:${server.port}/v1/packages/`), `from ${outside} (not listed) they are ignored`);

  // The per-address limit counts the real peer when it is not a listed proxy: new X-Forwarded-For values do not escape it.
  const statuses: number[] = [];
  for (let index = 0; index < 6; index += 1) {
    const answer = await poll(server.remote, agentMessage({ seed: 88_100 + index }), { 'x-forwarded-for': `203.0.113.${index}` });
    statuses.push(answer.status);
  }
  t.ok(statuses.includes(429), `a spoofing client is still limited by its own address (${statuses.join(',')})`);
  // Through the listed proxy, each forwarded client has its own budget.
  const viaProxy: number[] = [];
  for (let index = 0; index < 6; index += 1) {
    viaProxy.push((await poll(server.local, agentMessage({ seed: 88_200 + index }), { 'x-forwarded-for': `198.51.100.${index}` })).status);
  }
  t.same(viaProxy, [200, 200, 200, 200, 200, 200], 'clients behind the listed proxy are told apart by X-Forwarded-For');
});

t.test('--trust-proxy values: true, false, a list; anything else is refused naming the option', async (t) => {
  const resolve = (value: string) => resolveConfig({ flags: { 'trust-proxy': value }, env: {} }).trustProxy;
  t.equal(resolve('true'), true);
  t.equal(resolve('off'), false);
  t.same(resolve('10.0.0.0/8, 127.0.0.1,fd00::/8'), ['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
  t.same(resolve('loopback'), ['loopback']);
  t.throws(() => resolve('10.0.0.0/99'), /invalid --trust-proxy .*"10\.0\.0\.0\/99"/);
  t.throws(() => resolve('proxy.example'), /invalid --trust-proxy/);
  t.throws(() => resolve(','), /names no address/);
  const cli = runCli(['serve', '--trust-proxy', 'not-an-address', '--port', '0', '--data-dir', temporaryDirectory()]);
  t.not(cli.status, 0, 'serve refuses to start');
  t.match(cli.stderr, /invalid --trust-proxy/);
});
