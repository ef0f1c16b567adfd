// openapi/admin.yaml against the running server, both ways: every route the app registers is in
// one of the two documents and every documented operation is a route; each admin route carries
// exactly the document's parameters, body and responses; and every answer seen here is
// documented with its status and matches the documented schema.
import fs from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import t from 'tap';
import { parse } from 'yaml';
import { fastifyPath, loadAdminDocument } from '../../src/admin/openapi';
import { makeCollectorTarball } from '../fixtures/tarballs';
import { description, poll, startServer, temporaryDirectory, uid } from '../helpers/server';
import { call, keyFile, type AdminAnswer } from './helpers';

const root = path.join(__dirname, '..', '..');
const adminDocument = loadAdminDocument();
// The agent-facing document, read as plain JSON to list its operations.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const opampDocument: any = parse(fs.readFileSync(path.join(root, 'openapi/opamp.yaml'), 'utf8'));
const ADMIN_KEY = 'admin-key-0123456789abcdef';

function operationsOf(paths: Record<string, Record<string, unknown>>): string[] {
  return Object.entries(paths).flatMap(([documentPath, item]) =>
    Object.keys(item)
      .filter((key) => ['get', 'put', 'post', 'delete', 'patch', 'head'].includes(key))
      .map((method) => `${method.toUpperCase()} ${fastifyPath(documentPath)}`),
  );
}

t.test('the admin document is OpenAPI 3.1 and served as JSON', async (t) => {
  t.match(adminDocument.raw.openapi, /^3\.1\./);
  const server = await startServer();
  t.teardown(() => server.close());
  const served = await call(server.url, 'GET', '/api/v1/openapi.json');
  t.equal(served.status, 200);
  t.match(served.headers.get('content-type'), /application\/json/);
  t.same(served.body, adminDocument.raw, 'the document as written, $refs and all');
});

t.test('routes and documents agree both ways: paths, methods, status codes and schemas', async (t) => {
  const dir = temporaryDirectory('openapi-admin-');
  const tarball = await makeCollectorTarball(dir, { distribution: 'otelcol-contrib', version: '0.111.0', os: 'linux', arch: 'amd64' });
  const past = new Date(Date.now() - 60_000);
  fs.utimesSync(tarball.path, past, past);
  const server = await startServer({
    'packages-dir': dir, 'allow-unsigned': true, 'trusted-root-refresh': 'false', 'admin-keys-file': keyFile({ ops: ADMIN_KEY }),
  });
  t.teardown(() => server.close());

  const documented = new Set([
    ...operationsOf(adminDocument.raw.paths as Record<string, Record<string, unknown>>),
    ...operationsOf(opampDocument.paths),
  ]);
  const registered = new Set(server.routes.map((route) => `${route.method} ${route.url}`));
  for (const operation of registered) t.ok(documented.has(operation), `route ${operation} is documented`);
  for (const operation of documented) t.ok(registered.has(operation), `documented ${operation} is a route`);

  for (const operation of adminDocument.operations()) {
    const route = server.routes.find((candidate) => candidate.method === operation.method && candidate.url === fastifyPath(operation.path));
    const expected = adminDocument.routeSchema(operation.method, operation.path) as Record<string, Record<string, unknown>>;
    const actual = (route?.schema ?? {}) as Record<string, Record<string, unknown>>;
    const name = `${operation.method} ${operation.path}`;
    t.same(Object.keys(actual.response ?? {}).sort(), Object.keys(expected.response ?? {}).sort(), `${name}: the same status codes`);
    for (const part of ['params', 'querystring', 'body', 'response']) {
      t.same(actual[part], expected[part], `${name}: the same ${part} schema`);
    }
    t.ok(Object.keys(expected.response ?? {}).some((status) => status.startsWith('2')), `${name}: documents its success`);
  }
});

t.test('every answer is documented with its status and matches its schema', async (t) => {
  const server = await startServer({ 'admin-keys-file': keyFile({ ops: ADMIN_KEY }) });
  t.teardown(() => server.close());
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const raw = adminDocument.raw as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
  const seen = new Set<string>();

  const check = async (method: string, documentPath: string, concrete: string, options: Parameters<typeof call>[3] = {}): Promise<AdminAnswer> => {
    const answer = await call(server.url, method, concrete, { key: ADMIN_KEY, ...options });
    const name = `${method} ${concrete} -> ${answer.status}`;
    // The document's own schemas, with $refs resolved against it, validate the answer.
    const resolved = adminDocument.routeSchema(method, documentPath) as {
      response: Record<string, { content?: Record<string, { schema: object }> }>;
    };
    const response = resolved.response[String(answer.status)];
    t.ok(raw.paths[documentPath]?.[method.toLowerCase()]?.responses[String(answer.status)], `${name} is documented`);
    const type = (answer.headers.get('content-type') ?? '').split(';')[0]!;
    const content = response?.content?.[type];
    t.ok(content, `${name}: ${type} is documented`);
    if (content && type === 'application/json') {
      const valid = ajv.validate(content.schema, answer.body);
      t.ok(valid, `${name} matches the schema ${valid ? '' : ajv.errorsText()}`);
    }
    seen.add(`${method} ${documentPath} ${answer.status}`);
    return answer;
  };

  const agent = uid(9);
  const agentText = '00000000-0000-7000-8000-000000000009';
  await poll(server.url, {
    instanceUid: agent,
    capabilities: 0x11,
    agentDescription: description({ 'service.name': 'otelcol-contrib', 'service.version': '0.110.0', 'bytes.value': 'x' }, { 'os.type': 'linux' }),
    health: { healthy: false, status: 'degraded', lastError: 'boom' },
    packageStatuses: { packages: { '': { agentHasVersion: 'v0.110.0', status: 2, downloadDetails: { downloadPercent: 50 } } } },
  });
  await check('GET', '/api/status', '/api/status', { key: undefined });
  await check('GET', '/api/v1/openapi.json', '/api/v1/openapi.json', { key: undefined });
  await check('GET', '/metrics', '/metrics');
  await check('GET', '/metrics', '/metrics', { key: undefined });
  await check('GET', '/api/v1/agents', '/api/v1/agents?limit=1');
  await check('GET', '/api/v1/agents', '/api/v1/agents?limit=0');
  await check('GET', '/api/v1/agents', '/api/v1/agents', { key: 'wrong' });
  await check('GET', '/api/v1/agents/{instance_uid}', `/api/v1/agents/${agentText}`);
  await check('GET', '/api/v1/agents/{instance_uid}', '/api/v1/agents/nope');
  await check('GET', '/api/v1/agents/{instance_uid}', '/api/v1/agents/00000000-0000-7000-8000-0000000000ff');
  await check('GET', '/api/v1/packages', '/api/v1/packages');
  await check('GET', '/api/v1/agent-keys', '/api/v1/agent-keys');
  await check('POST', '/api/v1/agent-keys', '/api/v1/agent-keys', { body: { name: 'a' } });
  await check('POST', '/api/v1/agent-keys', '/api/v1/agent-keys', { body: { name: 'a' } });
  await check('POST', '/api/v1/agent-keys', '/api/v1/agent-keys', { body: { name: '' } });
  await check('GET', '/api/v1/agent-keys', '/api/v1/agent-keys');
  await check('DELETE', '/api/v1/agent-keys/{name}', '/api/v1/agent-keys/a');
  await check('DELETE', '/api/v1/agent-keys/{name}', '/api/v1/agent-keys/a');
  await check('DELETE', '/api/v1/agent-keys/{name}', '/api/v1/agent-keys/a%20b');
  await check('DELETE', '/api/v1/agents/{instance_uid}', `/api/v1/agents/${agentText}`);
  await check('DELETE', '/api/v1/agents/{instance_uid}', `/api/v1/agents/${agentText}`);

  for (const expected of ['GET /api/v1/agents 200', 'GET /api/v1/agents 400', 'GET /api/v1/agents 401', 'POST /api/v1/agent-keys 409', 'GET /api/v1/agents/{instance_uid} 404']) {
    t.ok(seen.has(expected), `${expected} was produced`);
  }
});

t.test('/api/status: healthy with store, catalog and trusted root; 503 when the store fails', async (t) => {
  const dir = temporaryDirectory('status-packages-');
  const tarball = await makeCollectorTarball(dir, { distribution: 'otelcol-contrib', version: '0.111.0', os: 'linux', arch: 'amd64' });
  const past = new Date(Date.now() - 60_000);
  fs.utimesSync(tarball.path, past, past);
  const server = await startServer({ 'packages-dir': dir, 'allow-unsigned': true, 'trusted-root-refresh': 'false' });
  t.teardown(() => server.close());
  const healthy = await call(server.url, 'GET', '/api/status');
  t.equal(healthy.status, 200);
  t.match(healthy.body, {
    name: 'opamp-package-server',
    status: 'HEALTHY',
    version: { number: '0.1.0' },
    store: { status: 'ok', agents: 0, error: null },
    catalog: { configured: true, packages: 1, offerable: 1, rejected: 0 },
    trusted_root: { source: /embedded|public-good|tuf|file/i },
    agent_auth: 'off',
    admin_auth: 'loopback',
  });
  await server.store.close();
  const degraded = await call(server.url, 'GET', '/api/status');
  t.equal(degraded.status, 503);
  t.match(degraded.body, { status: 'DEGRADED', store: { status: 'failing', agents: null, error: String } });
});

t.test('the admin API speaks one naming style: every field of every body and answer is snake_case', async (t) => {
  // Answers are serialized from these schemas, which drop any field they do not list, so the
  // document's property names are the names a client can ever see.
  const names = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (typeof node !== 'object' || node === null) return;
    const schema = node as Record<string, unknown>;
    if (typeof schema.properties === 'object' && schema.properties !== null) {
      for (const name of Object.keys(schema.properties)) names.add(name);
    }
    if (Array.isArray(schema.required)) for (const name of schema.required) names.add(String(name));
    Object.values(schema).forEach(walk);
  };
  const raw = adminDocument.raw as { components: { schemas: unknown }; paths: unknown };
  walk(raw.components.schemas);
  walk(raw.paths);
  t.ok(names.has('next_cursor') && names.has('rollout_history'), 'the walk reaches the answers');
  const other = [...names].filter((name) => !/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(name));
  t.same(other, [], 'no camelCase or other style');
});

t.test('the query parameters handlers count on being filled in have a default in the document', async (t) => {
  const { DEFAULTED_QUERY } = await import('../../src/admin/types');
  for (const [documentPath, names] of Object.entries(DEFAULTED_QUERY)) {
    const schema = adminDocument.routeSchema('GET', documentPath).querystring as { properties: Record<string, { default?: unknown }> };
    for (const name of names) t.not(schema.properties[name]?.default, undefined, `GET ${documentPath} ${name}`);
  }
});
