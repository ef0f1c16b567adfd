// Every kind of bad input gets a clear error (status and a ServerToAgent error body) and
// changes nothing stored.
import http from 'node:http';
import zlib from 'node:zlib';
import t, { type Test } from 'tap';
import { encodeAgentToServer, uidToString } from '../../src/opamp/codec';
import { description, poll, postRaw, startServer, uid, type HttpAnswer } from '../helpers/server';

const BAD_REQUEST = 1;
const PROTOBUF = { 'content-type': 'application/x-protobuf' };

function expectError(t: Test, answer: HttpAnswer, status: number, pattern: RegExp): void {
  t.equal(answer.status, status, `HTTP ${status}`);
  t.equal(answer.headers.get('content-type'), 'application/x-protobuf');
  const error = answer.message?.errorResponse;
  t.ok(error, 'the body is a ServerToAgent with error_response');
  t.equal(error?.type, BAD_REQUEST, 'type BadRequest');
  t.match(error?.errorMessage, pattern);
  t.equal(Number(answer.message?.capabilities ?? 0), 0, 'capabilities unset on an error');
  t.equal(Number(answer.message?.flags ?? 0), 0, 'flags unset on an error');
}

t.test('bad input is refused and leaves the stored agent untouched', async (t) => {
  const server = await startServer({ 'max-message-bytes': '64KiB' });
  t.teardown(() => server.close());
  const agent = uid(100);
  await poll(server.url, { instanceUid: agent, sequenceNum: 0, capabilities: 1, agentDescription: description({ 'service.name': 'kept' }) });
  const before = await server.store.getAgent(uidToString(agent));

  await t.test('wrong content type: 415', async (t) => {
    expectError(t, await postRaw(server.url, encodeAgentToServer({ instanceUid: agent }), { 'content-type': 'application/json' }), 415, /Content-Type must be application\/x-protobuf/);
    expectError(t, await postRaw(server.url, encodeAgentToServer({ instanceUid: agent }), {}), 415, /Content-Type/);
  });

  await t.test('a content type with parameters is still protobuf', async (t) => {
    const answer = await postRaw(server.url, encodeAgentToServer({ instanceUid: uid(101), capabilities: 1 }), {
      'content-type': 'application/x-protobuf; charset=binary',
    });
    t.equal(answer.status, 200);
  });

  await t.test('body over the limit: 413', async (t) => {
    const big = Buffer.alloc(65 * 1024, 7);
    expectError(t, await postRaw(server.url, big, PROTOBUF), 413, /over the limit/);
  });

  await t.test('gzip that inflates past the limit: 413', async (t) => {
    const bomb = zlib.gzipSync(Buffer.alloc(1024 * 1024, 0));
    t.ok(bomb.byteLength < 64 * 1024, 'compressed it is under the limit');
    expectError(t, await postRaw(server.url, bomb, { ...PROTOBUF, 'content-encoding': 'gzip' }), 413, /inflates past the limit/);
  });

  await t.test('broken gzip: 400', async (t) => {
    const broken = zlib.gzipSync(encodeAgentToServer({ instanceUid: agent })).subarray(0, 12);
    expectError(t, await postRaw(server.url, broken, { ...PROTOBUF, 'content-encoding': 'gzip' }), 400, /not valid gzip/);
  });

  await t.test('an unknown content encoding: 415', async (t) => {
    expectError(t, await postRaw(server.url, Buffer.from('x'), { ...PROTOBUF, 'content-encoding': 'br' }), 415, /Content-Encoding br/);
  });

  await t.test('undecodable protobuf: 400', async (t) => {
    expectError(t, await postRaw(server.url, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]), PROTOBUF), 400, /not a valid AgentToServer/);
  });

  await t.test('instance_uid not 16 bytes: 400', async (t) => {
    expectError(t, await poll(server.url, { instanceUid: Buffer.alloc(26, 1), capabilities: 1 }), 400, /16 bytes, got 26/);
    expectError(t, await postRaw(server.url, Buffer.alloc(0), PROTOBUF), 400, /16 bytes, got 0/);
  });

  await t.test('more than 1,000 attributes: 400, with the uid echoed', async (t) => {
    const attributes = Array.from({ length: 1001 }, (_, index) => ({ key: `k${index}`, value: { stringValue: 'v' } }));
    const answer = await poll(server.url, {
      instanceUid: agent,
      sequenceNum: 1,
      capabilities: 1,
      agentDescription: { identifyingAttributes: attributes },
    });
    expectError(t, answer, 400, /1001 attributes/);
    t.same(Buffer.from(answer.message!.instanceUid), agent, 'instance_uid is set when known');
  });

  await t.test('AnyValue nested deeper than 32: 400', async (t) => {
    type Value = { stringValue?: string; arrayValue?: { values: Value[] } };
    let value: Value = { stringValue: 'leaf' };
    for (let level = 0; level < 40; level += 1) value = { arrayValue: { values: [value] } };
    const answer = await poll(server.url, {
      instanceUid: agent,
      sequenceNum: 1,
      capabilities: 1,
      agentDescription: { identifyingAttributes: [{ key: 'deep', value }] },
    });
    expectError(t, answer, 400, /deeper than 32/);
  });

  await t.test('nothing stored changed', async (t) => {
    t.same(await server.store.getAgent(uidToString(agent)), before);
    t.equal(await server.store.countAgents(), 2, 'only the agent and the one valid poll are stored');
  });
});

t.test('a 1 GiB gzip bomb is refused while inflating, with little memory', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  // 1 GiB of zeros deflates to about 1 MiB: under the 4 MiB compressed limit.
  const chunk = Buffer.alloc(16 * 1024 * 1024);
  const gzip = zlib.createGzip({ level: 9 });
  const parts: Buffer[] = [];
  gzip.on('data', (part: Buffer) => parts.push(part));
  const finished = new Promise((resolve) => gzip.on('end', resolve));
  for (let index = 0; index < 64; index += 1) gzip.write(chunk);
  gzip.end();
  await finished;
  const bomb = Buffer.concat(parts);
  t.ok(bomb.byteLength < 4 * 1024 * 1024, `bomb is ${bomb.byteLength} bytes compressed`);
  const before = process.memoryUsage().rss;
  const answer = await postRaw(server.url, bomb, { ...PROTOBUF, 'content-encoding': 'gzip' });
  const grown = process.memoryUsage().rss - before;
  t.equal(answer.status, 413);
  t.ok(grown < 50 * 1024 * 1024, `resident memory grew by ${Math.round(grown / 1024 / 1024)} MB`);
});

t.test('gzip both ways: gzipped requests accepted, answers gzipped only when asked', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const body = zlib.gzipSync(encodeAgentToServer({ instanceUid: uid(102), capabilities: 1 }));
  const request = (acceptEncoding?: string) =>
    new Promise<{ headers: http.IncomingHttpHeaders; body: Buffer; status: number }>((resolve, reject) => {
      const headers: Record<string, string> = { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' };
      if (acceptEncoding) headers['accept-encoding'] = acceptEncoding;
      const req = http.request(`${server.url}/v1/opamp`, { method: 'POST', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks), status: res.statusCode! }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const zipped = await request('gzip');
  t.equal(zipped.status, 200);
  t.equal(zipped.headers['content-encoding'], 'gzip');
  t.equal(zipped.headers['content-type'], 'application/x-protobuf');
  t.ok(zlib.gunzipSync(zipped.body).byteLength > 0);
  const plain = await request();
  t.equal(plain.headers['content-encoding'], undefined);
  const refused = await request('gzip;q=0, identity');
  t.equal(refused.headers['content-encoding'], undefined, 'q=0 means no gzip');
});

t.test('a store that fails mid-request answers 503 Unavailable with Retry-After', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close().catch(() => undefined));
  await server.store.close();
  const answer = await poll(server.url, { instanceUid: uid(103), capabilities: 1 });
  t.equal(answer.status, 503);
  const seconds = Number(answer.headers.get('retry-after'));
  t.ok(seconds >= 30 && seconds <= 60, `Retry-After ${seconds} s is 30 s plus up to 30 s of jitter`);
  const error = answer.message?.errorResponse;
  t.equal(error?.type, 2, 'type Unavailable');
  t.equal(Number(error?.retryInfo?.retryAfterNanoseconds), seconds * 1e9, 'retry_info says the same as Retry-After');
  t.match(error?.errorMessage, /^the store failed; retry later \(STORE_FAILURE, request \S+\)$/);
});

t.test('a body declared too large is refused before it is sent, and its connection closed', async (t) => {
  const server = await startServer({ 'max-message-bytes': '64KiB' });
  t.teardown(() => server.close());
  const port = Number(new URL(server.url).port);
  const answer = await new Promise<{ status: number; connection: string | undefined; sentBytes: number }>((resolve, reject) => {
    const request = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/v1/opamp', headers: { ...PROTOBUF, 'content-length': String(512 * 1024 * 1024) } });
    // Only the first 64 KiB of the declared 512 MiB ever go out: the answer must not wait for the rest.
    request.write(Buffer.alloc(64 * 1024, 1));
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, connection: response.headers.connection, sentBytes: request.socket?.bytesWritten ?? 0 }));
    });
    request.on('error', reject);
  });
  t.equal(answer.status, 413);
  t.equal(answer.connection, 'close', 'the rest of the body is not read: the connection closes');
  t.ok(answer.sentBytes < 1024 * 1024, 'answered after under 1 MiB of the body');
});

t.test('a poll refused before its body is read leaves the kept-alive connection usable', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const port = Number(new URL(server.url).port);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const send = (headers: Record<string, string>, body: Uint8Array) =>
    new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
      const request = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/v1/opamp', agent, headers }, (response) => {
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode ?? 0, reused: request.reusedSocket }));
      });
      request.on('error', reject);
      request.end(body);
    });
  const body = encodeAgentToServer({ instanceUid: uid(7), sequenceNum: 1, capabilities: 1 });
  const refused = await send({ 'content-type': 'application/json' }, body);
  t.equal(refused.status, 415);
  const next = await send(PROTOBUF, body);
  t.equal(next.status, 200, 'the next poll on the same connection is answered');
  t.ok(next.reused, 'on the same socket');
});
