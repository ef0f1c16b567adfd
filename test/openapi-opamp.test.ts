// openapi/opamp.yaml against the running server: every documented status of POST /v1/opamp is
// produced by the cause the document gives, and every status the server produced is documented.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import { SERVER_CAPABILITIES, encodeAgentToServer, type AnyValue } from '../src/opamp/codec';
import { makeCollectorTarball } from './fixtures/tarballs';
import { postRaw, poll, startServer, temporaryDirectory, uid, type HttpAnswer } from './helpers/server';

const root = path.join(__dirname, '..');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const doc: any = parse(fs.readFileSync(path.join(root, 'openapi/opamp.yaml'), 'utf8'));
const opampResponses = doc.paths['/v1/opamp'].post.responses as Record<string, { content?: object }>;
const produced = new Map<number, Set<string>>(); // status -> content types seen
const PROTOBUF = { 'content-type': 'application/x-protobuf' };
const GZIP = { ...PROTOBUF, 'content-encoding': 'gzip' };

function record(answer: HttpAnswer): HttpAnswer {
  const types = produced.get(answer.status) ?? new Set<string>();
  types.add(answer.headers.get('content-type') ?? '');
  produced.set(answer.status, types);
  return answer;
}

/** An error answer as the document describes it: error_response of `type`, no capabilities or flags. */
function isError(t: Test, answer: HttpAnswer, status: number, type: number, echoed?: Buffer): void {
  t.equal(answer.status, status, `status ${status}`);
  const message = answer.message!;
  t.equal(message.errorResponse?.type ?? 0, type, `error_response.type ${type}`);
  t.ok(message.errorResponse?.errorMessage, 'error_message set');
  t.equal(Number(message.capabilities), 0, 'capabilities unset');
  t.equal(Number(message.flags), 0, 'flags unset');
  if (echoed) t.same(Buffer.from(message.instanceUid), echoed, 'instance_uid echoed');
  else t.equal(message.instanceUid.byteLength, 0, 'no instance_uid');
}

t.test('the document is OpenAPI 3.1 and every $ref resolves', async (t) => {
  t.match(doc.openapi, /^3\.1\./);
  t.equal(doc.info.version, '0.1.0');
  t.equal(doc.servers[0].url, 'http://127.0.0.1:4320');
  const refs = new Set([...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((match) => match[1]!));
  t.ok(refs.size > 0);
  for (const ref of refs) t.ok(ref.split('/').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key.replace(/~1/g, '/')], doc), ref);
});

t.test('POST /v1/opamp statuses and their causes', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const agent = uid(1);
  const body = encodeAgentToServer({ instanceUid: agent, capabilities: 1 });

  const ok = record(await poll(server.url, { instanceUid: agent, sequenceNum: 0, capabilities: 1 }));
  t.equal(ok.status, 200);
  t.same(Buffer.from(ok.message!.instanceUid), agent);
  t.equal(Number(ok.message!.capabilities), SERVER_CAPABILITIES);
  t.equal(Number(ok.message!.flags), 1, 'unknown agent: ReportFullState');
  t.notOk(ok.message!.errorResponse);
  const gz = await fetch(`${server.url}/v1/opamp`, {
    method: 'POST', body: zlib.gzipSync(encodeAgentToServer({ instanceUid: agent, sequenceNum: 1 })),
    headers: { ...GZIP, 'accept-encoding': 'gzip' },
  });
  t.equal(gz.status, 200, 'gzipped request accepted');
  t.equal(gz.headers.get('content-encoding'), 'gzip', 'Accept-Encoding: gzip gets a gzipped answer');
  const retry = record(await poll(server.url, { instanceUid: agent, sequenceNum: 1 }));
  t.equal(Number(retry.message!.flags), 0, 'a repeat of the previous sequence_num is a retry');
  const gap = record(await poll(server.url, { instanceUid: agent, sequenceNum: 5 }));
  t.equal(Number(gap.message!.flags), 1, 'a gap asks for full state');
  const fresh = record(await poll(server.url, { instanceUid: uid(2), flags: 1, capabilities: 1 }));
  t.equal(fresh.message!.agentIdentification?.newInstanceUid?.byteLength, 16, 'RequestInstanceUid gets a new uid');

  isError(t, record(await postRaw(server.url, body, GZIP)), 400, 1);
  isError(t, record(await postRaw(server.url, Buffer.from([0xff, 0xff, 0xff]))), 400, 1);
  isError(t, record(await poll(server.url, { instanceUid: Buffer.alloc(3) })), 400, 1);
  const many = Array.from({ length: 1001 }, (_, i) => ({ key: `k${i}`, value: { stringValue: 'v' } }));
  const tooMany = await poll(server.url, { instanceUid: uid(3), agentDescription: { identifyingAttributes: many } });
  isError(t, record(tooMany), 400, 1, uid(3));
  let deep: AnyValue = { stringValue: 'x' };
  for (let level = 0; level < 33; level += 1) deep = { arrayValue: { values: [deep] } };
  const nested = await poll(server.url, {
    instanceUid: uid(4), agentDescription: { identifyingAttributes: [{ key: 'deep', value: deep }] },
  });
  isError(t, record(nested), 400, 1, uid(4));

  const limit = server.config.maxMessageBytes;
  t.equal(limit, 4 * 1024 * 1024, 'default --max-message-bytes is 4 MiB');
  isError(t, record(await postRaw(server.url, Buffer.alloc(limit + 1))), 413, 1);
  isError(t, record(await postRaw(server.url, zlib.gzipSync(Buffer.alloc(limit + 1)), GZIP)), 413, 1);

  isError(t, record(await postRaw(server.url, body, { 'content-type': 'text/plain' })), 415, 1);
  isError(t, record(await postRaw(server.url, body, {})), 415, 1);
  isError(t, record(await postRaw(server.url, body, { ...PROTOBUF, 'content-encoding': 'br' })), 415, 1);
});

t.test('500 when the answer is over --max-response-bytes', async (t) => {
  const offer = {
    version: '0.111.0',
    allPackagesHash: 'aa'.repeat(32),
    packagesAvailable: {
      allPackagesHash: Buffer.alloc(32, 0xaa),
      packages: {
        '': {
          version: '0.111.0',
          file: { downloadUrl: `http://127.0.0.1:4320/v1/packages/${'ab'.repeat(32)}/otelcol-contrib_0.111.0_linux_amd64.tar.gz` },
        },
      },
    },
  };
  const server = await startServer({ 'max-response-bytes': '64' }, { offers: { offerFor: () => offer } });
  t.teardown(() => server.close());
  const answer = await poll(server.url, { instanceUid: uid(5), capabilities: 0x9, flags: 1 });
  isError(t, record(answer), 500, 0, uid(5));
});

t.test('the document declares every status and content type the server produced', async (t) => {
  t.ok(produced.size >= 5);
  for (const [status, types] of produced) {
    const response = opampResponses[String(status)];
    t.ok(response, `POST /v1/opamp documents ${status}`);
    for (const type of types) t.ok(response?.content && type in response.content, `${status} documents ${type}`);
  }
  for (const status of ['200', '400', '413', '415', '500']) t.ok(produced.has(Number(status)), `${status} was produced`);
});

const downloadMissing = !fs.existsSync(path.join(root, 'src/packages/download.ts'));
const skip = downloadMissing && 'src/packages/download.ts does not exist yet: the download route is documented but not checked';
t.test('package download route', { skip }, async (t) => {
  const route = doc.paths['/v1/packages/{sha256}/{filename}'];
  const dir = temporaryDirectory('openapi-packages-');
  const tarball = await makeCollectorTarball(dir, { distribution: 'otelcol-contrib', version: '0.111.0', os: 'linux', arch: 'amd64' });
  const past = new Date(Date.now() - 60_000); // the directory source only reports files that stopped changing
  fs.utimesSync(tarball.path, past, past);
  const server = await startServer({ 'packages-dir': dir, 'allow-unsigned': true, 'trusted-root-refresh': 'false' });
  t.teardown(() => server.close());
  const hex = tarball.sha256.toString('hex');
  const size = fs.statSync(tarball.path).size;
  const get = async (method: string, headers: Record<string, string> = {}, sha = hex) => {
    const response = await fetch(`${server.url}/v1/packages/${sha}/${tarball.fileName}`, { method, headers });
    t.ok(route[method.toLowerCase()].responses[String(response.status)], `${method} documents ${response.status}`);
    return response;
  };
  const full = await get('GET');
  t.equal(full.status, 200);
  t.equal(full.headers.get('content-type'), 'application/gzip');
  t.equal(full.headers.get('etag'), `"${hex}"`);
  t.equal(full.headers.get('accept-ranges'), 'bytes');
  t.equal(Number(full.headers.get('content-length')), size);
  t.ok(full.headers.get('last-modified'));
  t.equal(Buffer.from(await full.arrayBuffer()).length, size);
  t.equal((await get('HEAD')).status, 200);
  const part = await get('GET', { range: 'bytes=0-9' });
  t.equal(part.status, 206);
  t.equal(part.headers.get('content-range'), `bytes 0-9/${size}`);
  t.equal((await part.arrayBuffer()).byteLength, 10);
  const beyond = await get('GET', { range: `bytes=${size}-` });
  t.equal(beyond.status, 416);
  t.equal(beyond.headers.get('content-range'), `bytes */${size}`);
  t.equal((await get('GET', { 'if-none-match': `"${hex}"` })).status, 304);
  const missing = await get('GET', {}, '0'.repeat(64));
  t.equal(missing.status, 404);
  t.match(await missing.json(), { code: 'NOT_FOUND', error: String });
});
