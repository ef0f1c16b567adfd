// The OpAMP route as a Fastify plugin in an application of someone else's: registered under a
// prefix in a bare Fastify app, polled through inject() and over a real socket, with the other
// routes of that app left alone.
import Fastify from 'fastify';
import pino from 'pino';
import t from 'tap';
import { createPollService, openStore, opampRoute } from '../../src/index';
import { decodeServerToAgent, encodeAgentToServer, ServerCapability, uidToString } from '../../src/opamp/codec';
import { temporaryDirectory, uid } from '../helpers/server';

const PROTOBUF = { 'content-type': 'application/x-protobuf' };

t.test('registered under a prefix in a bare Fastify app: inject and a real socket reach it', async (t) => {
  const logger = pino({ level: 'silent' });
  const { agents: store } = await openStore({ store: 'sqlite', dataDir: temporaryDirectory(), writeBatchMs: 50 }, logger);
  const app = Fastify();
  t.teardown(async () => {
    await app.close();
    await store.close();
  });
  app.get('/health', async () => ({ ok: true }));
  await app.register(opampRoute, {
    prefix: '/gateway/opamp',
    poll: createPollService({ store, offers: undefined, offlineAfterMs: 90_000, logger }),
    authenticate: (authorization) => authorization === 'Bearer fleet-key',
    rateLimit: { perAgent: { max: 2, windowMs: 60_000 }, trackedKeys: 1000 },
  });

  const agent = uid(900);
  const body = Buffer.from(encodeAgentToServer({ instanceUid: agent, sequenceNum: 0, capabilities: 1 }));
  const injected = await app.inject({
    method: 'POST', url: '/gateway/opamp/v1/opamp', payload: body, headers: { ...PROTOBUF, authorization: 'Bearer fleet-key' },
  });
  t.equal(injected.statusCode, 200, 'inject reaches the route under the prefix');
  t.equal(injected.headers['content-type'], 'application/x-protobuf');
  const answer = decodeServerToAgent(injected.rawPayload);
  t.same(Buffer.from(answer.instanceUid), agent, 'the answer names the agent');
  t.ok(Number(answer.capabilities) & ServerCapability.OffersPackages, 'OffersPackages in the capabilities');
  t.equal((await app.inject({ method: 'POST', url: '/v1/opamp', payload: body, headers: PROTOBUF })).statusCode, 404, 'nothing at the bare path');

  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const post = (headers: Record<string, string>, sequenceNum: number) =>
    fetch(`${url}/gateway/opamp/v1/opamp`, {
      method: 'POST',
      headers: { ...PROTOBUF, ...headers },
      body: encodeAgentToServer({ instanceUid: agent, sequenceNum, capabilities: 1 }),
    });
  const refused = await post({}, 1);
  t.equal(refused.status, 401, 'no key: the plugin\'s auth hook refuses');
  t.equal(refused.headers.get('www-authenticate'), 'ApiKey, Bearer');
  t.ok(decodeServerToAgent(Buffer.from(await refused.arrayBuffer())).errorResponse, 'as a ServerToAgent');
  const polled = await post({ authorization: 'Bearer fleet-key' }, 1);
  t.equal(polled.status, 200, 'over a real socket');
  t.equal(decodeServerToAgent(Buffer.from(await polled.arrayBuffer())).errorResponse, null, 'no error in the answer');
  const limited = await post({ authorization: 'Bearer fleet-key' }, 2);
  t.equal(limited.status, 429, 'the per-agent limit of the plugin applies');
  t.ok(Number(limited.headers.get('retry-after')) >= 30, 'with Retry-After');

  const health = await fetch(`${url}/health`);
  t.equal(health.status, 200, 'the host\'s own routes are untouched by the plugin\'s hooks');
  t.same(await health.json(), { ok: true });
  await store.flush();
  t.equal((await store.getAgent(uidToString(agent)))?.sequenceNum, 1, 'the polls were stored');
});
