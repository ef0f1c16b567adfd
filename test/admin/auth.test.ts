// Agent and admin keys: who is refused and who is let in, on both surfaces, and keys rotated
// through their files and through the API while the server runs.
import fs from 'node:fs';
import t from 'tap';
import { poll, startServer, uid } from '../helpers/server';
import { call, capturingLogger, keyFile, waitFor, writeKeyFile } from './helpers';

const AGENT_KEY = 'agent-key-0123456789abcdef';
const ADMIN_KEY = 'admin-key-0123456789abcdef';
const FAST = { keyFileIntervalMs: 50 };

t.test('agent keys from the file: refusals and acceptances on /v1/opamp', async (t) => {
  const agentFile = keyFile({ fleet: AGENT_KEY });
  const adminFile = keyFile({ ops: ADMIN_KEY });
  const { logger, lines } = capturingLogger();
  const server = await startServer({ 'agent-keys-file': agentFile, 'admin-keys-file': adminFile }, { ...FAST, logger });
  t.teardown(() => server.close());
  const message = { instanceUid: uid(1), sequenceNum: 0, capabilities: 1 };

  const refused = await poll(server.url, message);
  t.equal(refused.status, 401, 'no key: 401');
  t.equal(refused.headers.get('www-authenticate'), 'ApiKey, Bearer');
  t.equal(refused.message?.errorResponse?.type, 1, 'a ServerToAgent error body');
  t.match(refused.message?.errorResponse?.errorMessage, /agent key/);
  t.equal((await poll(server.url, message, { authorization: 'ApiKey wrong-key' })).status, 401, 'wrong key: 401');
  t.equal((await poll(server.url, message, { authorization: `ApiKey ${ADMIN_KEY}` })).status, 401, 'an admin key is no agent key');
  t.equal((await poll(server.url, message, { authorization: `Basic ${AGENT_KEY}` })).status, 401, 'other schemes are refused');
  t.equal(await server.store.countAgents(), 0, 'nothing refused was stored');

  t.equal((await poll(server.url, message, { authorization: `ApiKey ${AGENT_KEY}` })).status, 200, 'ApiKey accepted');
  t.equal((await poll(server.url, { ...message, sequenceNum: 1 }, { authorization: `Bearer ${AGENT_KEY}` })).status, 200, 'Bearer accepted');

  // Rotation: a new key replaces the old one in the file.
  writeKeyFile(agentFile, { fleet: 'rotated-key-0123456789' });
  await waitFor(async () => (await poll(server.url, message, { authorization: `ApiKey ${AGENT_KEY}` })).status === 401, 'the old key to stop working');
  t.equal((await poll(server.url, message, { authorization: 'ApiKey rotated-key-0123456789' })).status, 200, 'the new key works');

  // A broken edit keeps the keys in force rather than locking every agent out.
  fs.writeFileSync(agentFile, 'no colon on this line\n');
  const rejected = (line: Record<string, unknown>) => line.file === agentFile && /keeping the keys in force/.test(String(line.msg));
  await waitFor(() => lines.some(rejected), 'the broken key file to be read and rejected');
  t.equal((await poll(server.url, message, { authorization: 'ApiKey rotated-key-0123456789' })).status, 200, 'a bad file keeps the old keys');
});

t.test('admin keys: refusals and acceptances on the admin API, rotation through the file', async (t) => {
  const adminFile = keyFile({ ops: ADMIN_KEY });
  const agentFile = keyFile({ fleet: AGENT_KEY });
  const { logger, lines } = capturingLogger();
  const server = await startServer({ 'agent-keys-file': agentFile, 'admin-keys-file': adminFile }, { ...FAST, logger });
  t.teardown(() => server.close());

  const none = await call(server.url, 'GET', '/api/v1/agents');
  t.equal(none.status, 401, 'no key: 401 even from loopback once admin keys exist');
  t.equal(none.headers.get('www-authenticate'), 'ApiKey, Bearer');
  t.match(none.body, { code: 'UNAUTHORIZED', error: /admin key/ });
  t.equal((await call(server.url, 'GET', '/api/v1/agents', { key: AGENT_KEY })).status, 401, 'an agent key is no admin key');
  t.equal((await call(server.url, 'GET', '/metrics', { key: AGENT_KEY })).status, 401, '/metrics needs an admin key');
  t.equal((await call(server.url, 'GET', '/api/v1/agents', { key: ADMIN_KEY })).status, 200, 'ApiKey accepted');
  t.equal((await call(server.url, 'GET', '/api/v1/agents', { key: ADMIN_KEY, scheme: 'Bearer' })).status, 200, 'Bearer accepted');
  t.equal((await call(server.url, 'GET', '/metrics', { key: ADMIN_KEY })).status, 200);
  t.equal((await call(server.url, 'GET', '/api/status')).status, 200, '/api/status needs no key');
  t.equal((await call(server.url, 'GET', '/api/v1/openapi.json')).status, 200, 'the document needs no key');

  const logged = lines.filter((line) => line.msg === 'admin call');
  t.ok(logged.some((line) => line.adminKey === 'ops' && line.statusCode === 200), 'calls are logged with the key name');
  t.ok(logged.some((line) => line.adminKey === null && line.statusCode === 401), 'refused calls are logged too');

  writeKeyFile(adminFile, { ops2: 'second-admin-key-0123456789' });
  await waitFor(async () => (await call(server.url, 'GET', '/api/v1/agents', { key: ADMIN_KEY })).status === 401, 'the old admin key to stop working');
  t.equal((await call(server.url, 'GET', '/api/v1/agents', { key: 'second-admin-key-0123456789' })).status, 200);
});

t.test('agent keys through the API: auth turns on with the first key and off with the last', async (t) => {
  const fileKey = 'file-key-0123456789abcdef';
  const server = await startServer({}, FAST);
  t.teardown(() => server.close());
  const message = { instanceUid: uid(2), sequenceNum: 0, capabilities: 1 };
  t.equal((await poll(server.url, message)).status, 200, 'no key exists: polls are open');

  const created = await call(server.url, 'POST', '/api/v1/agent-keys', { body: { name: 'site-a' } });
  t.equal(created.status, 201);
  t.match(created.body, { name: 'site-a', key: /^[A-Za-z0-9_-]{43}$/, created_at: String });
  t.equal((await poll(server.url, message)).status, 401, 'a key exists: polls need one');
  t.equal((await poll(server.url, message, { authorization: `ApiKey ${created.body.key}` })).status, 200);

  const chosen = await call(server.url, 'POST', '/api/v1/agent-keys', { body: { name: 'site-b', key: fileKey } });
  t.equal(chosen.status, 201, 'a key may be given');
  t.equal((await poll(server.url, { ...message, sequenceNum: 1 }, { authorization: `Bearer ${fileKey}` })).status, 200);
  t.equal((await call(server.url, 'POST', '/api/v1/agent-keys', { body: { name: 'site-a' } })).status, 409, 'a taken name: 409');
  t.equal((await call(server.url, 'POST', '/api/v1/agent-keys', { body: { name: 'site-c', key: fileKey } })).status, 409, 'a taken key: 409');
  const bad = await call(server.url, 'POST', '/api/v1/agent-keys', { body: { name: 'site-d', key: 'short' } });
  t.equal(bad.status, 400);
  t.match(bad.body.error, /body\/key/, 'the message names the field');
  t.equal((await call(server.url, 'POST', '/api/v1/agent-keys', { body: {} })).status, 400, 'a missing name: 400');

  const listed = await call(server.url, 'GET', '/api/v1/agent-keys');
  t.same(listed.body.keys.map((key: { name: string }) => key.name), ['site-a', 'site-b']);
  t.equal(listed.body.enforced, true);
  t.notMatch(listed.text, created.body.key, 'keys are never listed');

  // Polls in a row with one key: the second and third find it remembered as the last accepted.
  for (const sequenceNum of [3, 4, 5]) {
    t.equal((await poll(server.url, { ...message, sequenceNum }, { authorization: `ApiKey ${created.body.key}` })).status, 200);
  }
  t.equal((await call(server.url, 'DELETE', '/api/v1/agent-keys/site-a')).status, 200);
  t.equal((await poll(server.url, message, { authorization: `ApiKey ${created.body.key}` })).status, 401, 'a revoked key is refused, though it was the last one accepted');
  t.equal((await call(server.url, 'DELETE', '/api/v1/agent-keys/site-a')).status, 404, 'gone already: 404');
  t.equal((await call(server.url, 'DELETE', '/api/v1/agent-keys/site-b')).status, 200);
  t.equal((await poll(server.url, { ...message, sequenceNum: 2 })).status, 200, 'no key left: polls are open again');
});

t.test('a file key cannot be deleted through the API; --agent-auth none ignores keys', async (t) => {
  const agentFile = keyFile({ fleet: AGENT_KEY });
  const server = await startServer({ 'agent-keys-file': agentFile }, FAST);
  t.teardown(() => server.close());
  t.equal((await call(server.url, 'DELETE', '/api/v1/agent-keys/fleet')).status, 409);
  t.equal((await call(server.url, 'POST', '/api/v1/agent-keys', { body: { name: 'fleet' } })).status, 409);

  const open = await startServer({ 'agent-keys-file': agentFile, 'agent-auth': 'none' });
  t.teardown(() => open.close());
  t.equal((await poll(open.url, { instanceUid: uid(3), capabilities: 1 })).status, 200, 'no key needed');
  t.equal((await call(open.url, 'GET', '/api/status')).body.agent_auth, 'off');
});

t.test('without admin keys the admin API answers only local, unforwarded requests; the start log says so', async (t) => {
  const { logger, lines } = capturingLogger();
  const server = await startServer({}, { logger });
  t.teardown(() => server.close());
  t.equal((await call(server.url, 'GET', '/api/v1/agents')).status, 200, 'loopback');
  const forwarded = await call(server.url, 'GET', '/api/v1/agents', { headers: { 'x-forwarded-for': '203.0.113.9' } });
  t.equal(forwarded.status, 403, 'forwarded through a local proxy: 403');
  t.match(forwarded.body, { code: 'FORBIDDEN', error: /loopback/ });
  t.ok(lines.some((line) => /admin API answers only on loopback/.test(String(line.msg))), 'start log: loopback only');
  t.ok(lines.some((line) => line.level === 40 && /no agent key/.test(String(line.msg))), 'start warning: no agent key');
  t.ok(lines.some((line) => line.msg === 'admin call' && line.adminKey === 'loopback'), 'logged as loopback');
});
