// The listener's limits, against real sockets: a client trickling its headers or its body is cut
// off while others are answered, a download whose client stops reading is dropped while a slow
// reader finishes, 800 idle connections do not keep a poll from its answer, and the connection
// cap refuses the connection past it while open ones keep polling.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { encodeAgentToServer } from '../../src/opamp/codec';
import { maxConnectionsFor, openFileLimit } from '../../src/listener';
import { rawTarGz } from '../fixtures/raw-tar';
import { waitFor } from '../helpers/private-postgres';
import { poll, startServer, temporaryDirectory, uid } from '../helpers/server';
import { agentMessage, topLevel } from '../e2e/helpers';
import { asset, DISTRIBUTION, place } from './package-helpers';

function connect(url: string): Promise<net.Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** A socket's life as the client sees it: what the server sent, and whether it closed. */
function watch(socket: net.Socket): { received: () => string; closed: () => boolean } {
  let text = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closed = true;
  });
  return { received: () => text, closed: () => closed };
}

// Real sockets and real waits: on a busy machine this file needs more than tap's default.
t.setTimeout(300_000);

const pollOk = async (url: string, seed: number) => (await poll(url, { instanceUid: uid(seed), sequenceNum: 0, capabilities: 1 })).status;

t.test('a client trickling header lines is cut off within --headers-timeout; others are answered meanwhile', async (t) => {
  const server = await startServer({ 'headers-timeout': '2s', 'request-timeout': '5s' });
  t.teardown(() => server.close());
  const socket = await connect(server.url);
  const seen = watch(socket);
  socket.write('POST /v1/opamp HTTP/1.1\r\nHost: x\r\n');
  let line = 0;
  const trickle = setInterval(() => {
    if (!socket.destroyed) socket.write(`X-Slow-${(line += 1)}: y\r\n`);
  }, 200);
  t.teardown(() => clearInterval(trickle));
  t.equal(await pollOk(server.url, 1), 200, 'a poll is answered while the trickler holds its connection');
  await waitFor(() => seen.closed(), 20_000, 'the trickling connection closed');
  clearInterval(trickle);
  t.match(seen.received(), /^HTTP\/1\.1 408 /, 'told 408 Request Timeout');
  t.ok(line >= 5, `it had sent ${line} header lines, still without an end`);
  t.equal(await pollOk(server.url, 2), 200);
});

t.test('a body trickled past --request-timeout is cut off', async (t) => {
  const server = await startServer({ 'headers-timeout': '1s', 'request-timeout': '2s' });
  t.teardown(() => server.close());
  const socket = await connect(server.url);
  const seen = watch(socket);
  const body = Buffer.from(encodeAgentToServer({ instanceUid: uid(3), sequenceNum: 0, capabilities: 1 }));
  socket.write(`POST /v1/opamp HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: ${body.length + 10_000}\r\n\r\n`);
  const trickle = setInterval(() => {
    if (!socket.destroyed) socket.write(Buffer.alloc(1));
  }, 200);
  t.teardown(() => clearInterval(trickle));
  await waitFor(() => seen.closed(), 20_000, 'the trickling connection closed');
  clearInterval(trickle);
  t.match(seen.received(), /^HTTP\/1\.1 408 /);
  t.equal(await pollOk(server.url, 4), 200);
});

t.test('downloads: a slow reader finishes, a client that stops reading is dropped', async (t) => {
  const parent = temporaryDirectory('opamp-slow-');
  const directory = path.join(parent, 'releases');
  fs.mkdirSync(directory);
  // Random bytes do not compress: the archive is as large as its content.
  place(directory, asset('0.200.0'), rawTarGz([{ path: DISTRIBUTION, body: randomBytes(24 * 1024 * 1024) }]));
  const server = await startServer({ 'packages-dir': directory, offer: 'latest', 'allow-unsigned': true, 'idle-timeout': '2s' });
  t.teardown(() => server.close());
  const offer = topLevel((await poll(server.url, agentMessage({ seed: 5, version: '0.100.0' }))).message);
  const url = offer!.file!.downloadUrl!;
  const size = fs.statSync(path.join(directory, asset('0.200.0'))).size;

  // The slow reader: a pause of 1.5 s (under the idle limit) after every 4 MiB, so the whole takes far longer than 2 s.
  const slow = await new Promise<{ bytes: number; ms: number }>((resolve, reject) => {
    const started = Date.now();
    http.get(url, { agent: false }, (response) => {
      let bytes = 0;
      let sincePause = 0;
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        sincePause += chunk.length;
        if (sincePause >= 4 * 1024 * 1024) {
          sincePause = 0;
          response.pause();
          setTimeout(() => response.resume(), 1500);
        }
      });
      response.on('end', () => resolve({ bytes, ms: Date.now() - started }));
      response.on('error', reject);
    }).on('error', reject);
  });
  t.equal(slow.bytes, size, `the slow reader got the whole file (${slow.ms} ms, over the 2 s idle limit)`);
  t.ok(slow.ms > 2000);

  // The stalled reader: takes the headers and a little, then never reads again.
  const accepted: net.Socket[] = [];
  server.app.server.on('connection', (socket: net.Socket) => accepted.push(socket));
  const stalled = await connect(server.url);
  const seen = watch(stalled);
  // Stop reading in the first chunk's own event. Paused any later, a fast loopback delivers the
  // whole file first, and the receive buffer, which grows with what the reader takes (here up to
  // 32 MB), then holds what the server still had to send: no stall to drop.
  stalled.once('data', () => stalled.pause());
  const { pathname } = new URL(url);
  stalled.write(`GET ${pathname} HTTP/1.1\r\nHost: x\r\n\r\n`);
  await waitFor(() => seen.received().length > 0, 10_000, 'the first bytes');
  t.ok(seen.received().length < size / 4, 'the stalled reader took only the start of the file');
  // The server's end of this very connection (other test connections may stay open, kept alive).
  const serverSide = await waitFor(() => accepted.find((socket) => socket.remotePort === stalled.localPort), 10_000, 'the server side');
  await waitFor(() => serverSide.destroyed, 30_000, 'the server to drop the stalled download');
  t.pass('the server closed the download whose client stopped reading');
  t.equal(await pollOk(server.url, 6), 200);
});

t.test('800 idle connections do not keep a poll from its answer', {
  skip: (openFileLimit() ?? Infinity) < 2000 ? 'the open-file limit is under 2000' : false,
}, async (t) => {
  const server = await startServer({ 'max-connections': '2000' });
  t.teardown(() => server.close());
  const idle: net.Socket[] = [];
  t.teardown(() => idle.forEach((socket) => socket.destroy()));
  for (let index = 0; index < 800; index += 1) idle.push(await connect(server.url));
  const open = await new Promise<number>((resolve) => server.app.server.getConnections((_error, count) => resolve(count)));
  t.equal(open, 800, 'the server holds all 800');
  t.equal(await pollOk(server.url, 7), 200, 'a poll is answered beside them');
});

t.test('past --max-connections a new connection is refused; open ones keep polling', async (t) => {
  const server = await startServer({ 'max-connections': '5' });
  t.teardown(() => server.close());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const keptAlivePoll = (seed: number) => new Promise<number>((resolve, reject) => {
    const body = Buffer.from(encodeAgentToServer({ instanceUid: uid(seed), sequenceNum: 0, capabilities: 1 }));
    const request = http.request(`${server.url}/v1/opamp`, { method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf' } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
    request.end(body);
  });
  t.equal(await keptAlivePoll(8), 200, 'the agent connects and polls');
  const idle: net.Socket[] = [];
  t.teardown(() => idle.forEach((socket) => socket.destroy()));
  for (let index = 0; index < 4; index += 1) idle.push(await connect(server.url));
  const extra = await connect(server.url);
  const seen = watch(extra);
  extra.write('GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => seen.closed(), 10_000, 'the sixth connection closed');
  t.equal(seen.received(), '', 'the sixth connection is closed unanswered');
  t.equal(await keptAlivePoll(9), 200, 'the open connection keeps polling at the cap');
  idle.forEach((socket) => socket.destroy());
  await waitFor(async () => (await fetch(`${server.url}/api/status`).then((response) => response.status, () => 0)) === 200, 10_000, 'room again');
  t.pass('once connections close, new ones are taken again');
});

t.test('--max-connections auto: the open-file limit less a reserve', async (t) => {
  t.equal(maxConnectionsFor(20_000), 19_744);
  t.equal(maxConnectionsFor(1024), 768);
  t.equal(maxConnectionsFor(100), 64, 'never below 64');
  t.equal(maxConnectionsFor(undefined), 10_000, 'where the limit cannot be read');
});
