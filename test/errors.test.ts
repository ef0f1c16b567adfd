// Error answers on every wire format come from the one table: a failure whose text would
// reveal internals (INTERNAL, STORE_FAILURE) reaches agents and admin clients as a generic
// message with its code and a request id, and the details are in the log under that id;
// store failures get a jittered Retry-After; an oversized answer is counted under its code.
import t from 'tap';
import { errorAnswer, ServerError } from '../src/errors';
import { capturingLogger, call, sample } from './admin/helpers';
import { poll, startServer, uid } from './helpers/server';

const SECRET = 'secret detail of /var/lib/opamp at 10.0.0.7';
const ACCEPTS_PACKAGES = 0x1 | 0x8;

function loggedUnder(lines: Array<Record<string, unknown>>, requestId: string): Record<string, unknown> | undefined {
  return lines.find((line) => line.requestId === requestId && line.level === 50);
}

t.test('the shared part of every error answer comes from the table', async (t) => {
  const logged: object[] = [];
  const log = { error: (details: object) => logged.push(details) };
  const unauthorized = errorAnswer(new ServerError('UNAUTHORIZED', 'no key'), { requestId: 'r1', schemes: 'Bearer', log });
  t.equal(unauthorized.status, 401);
  t.same(unauthorized.headers, { 'www-authenticate': 'Bearer' }, 'a 401 names the schemes of the refusing route');
  const range = errorAnswer(Object.assign(new Error('Range Not Satisfiable'), { statusCode: 416 }), { requestId: 'r2', schemes: 'Bearer', log });
  t.equal(range.failure.code, 'RANGE_NOT_SATISFIABLE', "Fastify's refusals keep their code");
  const internal = errorAnswer(new Error(SECRET), { requestId: 'r3', schemes: 'Bearer', log });
  t.equal(internal.status, 500);
  t.equal(internal.failure.message, 'the server failed to answer (INTERNAL, request r3)');
  t.equal(logged.length, 1, 'the details were logged');
  const lost = errorAnswer(Object.assign(new Error(SECRET), { code: 'ECONNREFUSED' }), { requestId: 'r4', schemes: 'Bearer', log });
  t.equal(lost.failure.code, 'STORE_FAILURE', 'a database that does not answer is a store failure');
  const seconds = Number(lost.headers['retry-after']);
  t.ok(seconds >= 30 && seconds <= 60, `Retry-After ${seconds} s, with jitter`);
  t.notMatch(lost.failure.message, /secret/);
});

t.test('a store failing mid-poll: generic message, request id, jittered Retry-After; details in the log', async (t) => {
  const { logger, lines } = capturingLogger();
  const server = await startServer({}, { logger });
  t.teardown(() => server.close().catch(() => undefined));
  await server.store.close();
  const seen = new Set<string>();
  for (let index = 0; index < 12; index += 1) {
    const answer = await poll(server.url, { instanceUid: uid(2000 + index), capabilities: 1 });
    t.equal(answer.status, 503);
    const retryAfter = answer.headers.get('retry-after')!;
    seen.add(retryAfter);
    const error = answer.message?.errorResponse;
    t.equal(Number(error?.retryInfo?.retryAfterNanoseconds), Number(retryAfter) * 1e9, 'retry_info says the same');
    const match = /^the store failed; retry later \(STORE_FAILURE, request (\S+)\)$/.exec(error?.errorMessage ?? '');
    t.ok(match, `generic message: ${error?.errorMessage}`);
    const line = loggedUnder(lines, match?.[1] ?? '');
    t.ok(line, 'the details are logged under that request id');
    t.match(String(line?.msg), /the store failed: .+/, 'with the exception text');
    if (index === 0) t.notMatch(error?.errorMessage, /database|not open/i, 'no exception text in the answer');
  }
  t.ok(seen.size > 1, `Retry-After varies between store failures (${[...seen].join(', ')}), not a fixed 30 s`);
});

t.test('an internal fault on the OpAMP route and in the admin API: no exception text, a request id', async (t) => {
  const { logger, lines } = capturingLogger();
  const server = await startServer({}, {
    logger,
    offers: { offerFor: () => { throw new Error(SECRET); } },
  });
  t.teardown(() => server.close());
  const answer = await poll(server.url, { instanceUid: uid(2100), capabilities: ACCEPTS_PACKAGES });
  t.equal(answer.status, 500);
  const message = answer.message?.errorResponse?.errorMessage ?? '';
  const id = /^the server failed to answer \(INTERNAL, request (\S+)\)$/.exec(message)?.[1];
  t.ok(id, `generic message: ${message}`);
  t.match(JSON.stringify((loggedUnder(lines, id ?? '')?.err as object | undefined) ?? {}), /secret detail/, 'the log has the exception');

  server.store.queryAgents = () => Promise.reject(new Error(SECRET));
  const listing = await call(server.url, 'GET', '/api/v1/agents');
  t.equal(listing.status, 500);
  const body = listing.body as { code: string; error: string };
  t.equal(body.code, 'INTERNAL');
  t.notMatch(listing.text, /secret/, 'the admin client sees no exception text');
  const adminId = /request (\S+)\)$/.exec(body.error)?.[1];
  t.ok(adminId && loggedUnder(lines, adminId), 'the details are logged under the id the client was given');

  server.store.countAgents = () => Promise.reject(new Error(SECRET));
  const status = await call(server.url, 'GET', '/api/status');
  t.equal(status.status, 503);
  t.notMatch(status.text, /secret/, '/api/status, open to anyone, shows no exception text');
});

t.test('an answer over --max-response-bytes is counted under RESPONSE_TOO_LARGE, not ok', async (t) => {
  // An offer of 2 KiB against a 1 KiB limit.
  const offer = {
    version: '9.9.9',
    allPackagesHash: 'ab'.repeat(32),
    packagesAvailable: { allPackagesHash: Buffer.alloc(32, 0xab), packages: { big: { version: '9.9.9', hash: Buffer.alloc(2048, 1) } } },
  };
  const server = await startServer({ 'max-response-bytes': '1KiB' }, { offers: { offerFor: () => offer } });
  t.teardown(() => server.close());
  const answer = await poll(server.url, { instanceUid: uid(2200), capabilities: ACCEPTS_PACKAGES });
  t.equal(answer.status, 500);
  t.match(answer.message?.errorResponse?.errorMessage, /larger than the server is allowed to send/);
  const metrics = await call(server.url, 'GET', '/metrics');
  t.equal(sample(metrics.text, 'opamp_polls_total', '{outcome="RESPONSE_TOO_LARGE"}'), 1, 'counted under its code');
  t.equal(sample(metrics.text, 'opamp_polls_total', '{outcome="ok"}'), 0, 'not counted as ok');
});
