// Proves the test agent behaves like the supervisor against a tiny scripted OpAMP server.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PackageStatusCode } from '../../src/agents/package-status';
import {
  AgentCapability,
  ServerToAgentFlag,
  decodeAgentToServer,
  encodeServerToAgent,
  type AgentToServer,
  type ServerToAgentInit,
} from '../../src/opamp/codec';
import { SupervisorAgent } from '../helpers/supervisor-agent';

const PACKAGE_BYTES = Buffer.from('pretend this is otelcol-contrib_0.111.0_linux_amd64.tar.gz');
const PACKAGE_SHA256 = createHash('sha256').update(PACKAGE_BYTES).digest();
const PACKAGE_HASH = Buffer.alloc(32, 7);
const ALL_PACKAGES_HASH = Buffer.alloc(32, 9);

interface FakeServer {
  url: string;
  /** Every AgentToServer received, and what else happened, in order. */
  log: Array<{ kind: 'opamp'; message: AgentToServer; body: Buffer } | { kind: 'download'; authorization?: string }>;
  /** Decides each answer; return a number to answer with that HTTP status instead. */
  answer: (message: AgentToServer, index: number) => ServerToAgentInit | number;
}

async function startFakeServer(t: Test): Promise<FakeServer> {
  const fake: FakeServer = { url: '', log: [], answer: (message) => ({ instanceUid: message.instanceUid }) };
  let opampCount = 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method === 'GET' && request.url === '/download/package.tar.gz') {
        fake.log.push({ kind: 'download', authorization: request.headers.authorization });
        if (request.headers.authorization !== 'Bearer download-token') {
          response.writeHead(401).end();
          return;
        }
        response.writeHead(200, { 'Content-Type': 'application/gzip' }).end(PACKAGE_BYTES);
        return;
      }
      if (request.method !== 'POST' || request.url !== '/v1/opamp') {
        response.writeHead(404).end();
        return;
      }
      let body = Buffer.concat(chunks);
      if (request.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const message = decodeAgentToServer(body);
      fake.log.push({ kind: 'opamp', message, body });
      const outcome = fake.answer(message, opampCount++);
      if (typeof outcome === 'number') {
        response.writeHead(outcome, outcome === 503 ? { 'Retry-After': '1' } : {}).end();
        return;
      }
      const encoded = Buffer.from(encodeServerToAgent(outcome));
      const gzip = /gzip/.test(request.headers['accept-encoding'] ?? '');
      response
        .writeHead(200, { 'Content-Type': 'application/x-protobuf', ...(gzip ? { 'Content-Encoding': 'gzip' } : {}) })
        .end(gzip ? gzipSync(encoded) : encoded);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

function offer(fake: FakeServer, overrides: { contentHash?: Buffer; allPackagesHash?: Buffer } = {}): ServerToAgentInit['packagesAvailable'] {
  return {
    allPackagesHash: overrides.allPackagesHash ?? ALL_PACKAGES_HASH,
    packages: {
      '': {
        type: 0,
        version: 'v0.111.0',
        hash: PACKAGE_HASH,
        file: {
          downloadUrl: `${fake.url}/download/package.tar.gz`,
          contentHash: overrides.contentHash ?? PACKAGE_SHA256,
          headers: { headers: [{ key: 'Authorization', value: 'Bearer download-token' }] },
        },
      },
    },
  };
}

function opampMessages(fake: FakeServer): AgentToServer[] {
  return fake.log.flatMap((entry) => (entry.kind === 'opamp' ? [entry.message] : []));
}

t.test('installs an offer one status per message, in the supervisor order', async (t) => {
  const fake = await startFakeServer(t);
  // A naive server that repeats the same offer on every answer: the agent must not restart.
  fake.answer = (message) => ({ instanceUid: message.instanceUid, packagesAvailable: offer(fake) });
  const agent = new SupervisorAgent({ serverUrl: fake.url, version: '0.110.0' });
  await agent.runUntil((a) => a.currentVersion === '0.111.0' && !a.installing, { maxPolls: 10 });
  await agent.poll(); // the description with the new version goes out after Installed

  const messages = opampMessages(fake);
  t.same(messages.map((message) => Number(message.sequenceNum)), messages.map((_, index) => index));
  for (const message of messages) {
    t.equal(
      Number(message.capabilities),
      AgentCapability.ReportsStatus | AgentCapability.AcceptsPackages | AgentCapability.ReportsPackageStatuses | AgentCapability.ReportsHealth,
    );
    t.notOk(message.agentDisconnect);
  }
  const first = messages[0];
  t.same(
    first?.agentDescription?.identifyingAttributes?.map((attribute) => [attribute.key, attribute.value?.stringValue]).slice(0, 2),
    [['service.name', 'otelcol-contrib'], ['service.version', '0.110.0']],
  );
  t.same(first?.agentDescription?.nonIdentifyingAttributes?.map((attribute) => attribute.key), ['os.type', 'host.arch', 'host.name']);

  const statuses = agent.statusesSent.map((status) => [status.status, status.downloadDetails?.downloadPercent]);
  t.same(statuses, [
    [PackageStatusCode.Downloading, 0],
    [PackageStatusCode.Downloading, 100],
    [PackageStatusCode.Installing, 100],
    [PackageStatusCode.Installed, 100],
  ]);
  const installed = agent.statusesSent[3];
  t.equal(installed?.agentHasVersion, 'v0.111.0');
  t.ok(Buffer.from(installed?.agentHasHash ?? []).equals(PACKAGE_HASH));
  t.ok(Buffer.from(installed?.serverOfferedHash ?? []).equals(PACKAGE_HASH));

  // Each status travelled alone, and the download happened between Downloading 0% and 100%.
  const kinds = fake.log.map((entry) =>
    entry.kind === 'download' ? 'GET' : String(entry.message.packageStatuses?.packages?.['']?.status ?? '-'),
  );
  t.same(kinds, ['-', String(PackageStatusCode.Downloading), 'GET', String(PackageStatusCode.Downloading), String(PackageStatusCode.Installing), String(PackageStatusCode.Installed), '-']);
  const withStatus = messages.filter((message) => message.packageStatuses);
  for (const message of withStatus) {
    t.ok(Buffer.from(message.packageStatuses?.serverProvidedAllPackagesHash ?? []).equals(ALL_PACKAGES_HASH));
  }
  const last = messages[messages.length - 1];
  t.equal(last?.agentDescription?.identifyingAttributes?.[1]?.value?.stringValue, '0.111.0');
  t.equal(agent.downloads, 1);
  t.equal(agent.offersReceived, messages.length);
  t.equal(agent.lastResponseEncoding, 'gzip');
  t.same(agent.errors, []);
});

t.test('reports a content hash mismatch and a failed install', async (t) => {
  const fake = await startFakeServer(t);
  fake.answer = (message, index) => ({
    instanceUid: message.instanceUid,
    ...(index === 0 ? { packagesAvailable: offer(fake, { contentHash: Buffer.alloc(32) }) } : {}),
  });
  const mismatch = new SupervisorAgent({ serverUrl: fake.url });
  await mismatch.runUntil((a) => a.statusesSent.length === 2, { maxPolls: 5 });
  t.match(mismatch.statusesSent[1], { status: PackageStatusCode.InstallFailed, errorMessage: 'content hash mismatch' });
  t.equal(mismatch.currentVersion, '0.110.0');

  const fake2 = await startFakeServer(t);
  fake2.answer = (message, index) => ({ instanceUid: message.instanceUid, ...(index === 0 ? { packagesAvailable: offer(fake2) } : {}) });
  const failing = new SupervisorAgent({ serverUrl: fake2.url, failInstall: 'signature verification failed' });
  await failing.runUntil((a) => !a.installing && a.statusesSent.length > 0, { maxPolls: 8 });
  t.same(failing.statusesSent.map((status) => status.status), [
    PackageStatusCode.Downloading,
    PackageStatusCode.Downloading,
    PackageStatusCode.Installing,
    PackageStatusCode.InstallFailed,
  ]);
  t.equal(failing.statusesSent[3]?.errorMessage, 'signature verification failed');
  t.equal(failing.currentVersion, '0.110.0');
});

t.test('a download refused by the server fails the install', async (t) => {
  const fake = await startFakeServer(t);
  const withoutHeaders = offer(fake);
  delete withoutHeaders?.packages?.['']?.file?.headers;
  fake.answer = (message, index) => ({ instanceUid: message.instanceUid, ...(index === 0 ? { packagesAvailable: withoutHeaders } : {}) });
  const agent = new SupervisorAgent({ serverUrl: fake.url });
  await agent.runUntil((a) => a.statusesSent.length === 2, { maxPolls: 5 });
  t.match(agent.statusesSent[1], { status: PackageStatusCode.InstallFailed, errorMessage: 'download failed: HTTP 401' });
});

t.test('resends the same request after 503 and records other failures', async (t) => {
  const fake = await startFakeServer(t);
  fake.answer = (message, index) => (index === 0 ? 503 : index === 2 ? 400 : { instanceUid: message.instanceUid });
  const agent = new SupervisorAgent({ serverUrl: fake.url, maxRetryDelayMs: 10, gzipRequests: true });
  await agent.poll();
  const bodies = fake.log.flatMap((entry) => (entry.kind === 'opamp' ? [entry.body] : []));
  t.equal(bodies.length, 2);
  t.ok(bodies[0]?.equals(bodies[1] as Buffer), 'identical bytes resent');
  t.equal(agent.retries, 1);
  const answer = await agent.poll();
  t.same(agent.errors, [{ kind: 'http', status: 400, message: `HTTP 400 from ${fake.url}/v1/opamp` }]);
  t.notOk(answer.packagesAvailable);
  t.equal(agent.received.length, 1);
});

t.test('honours new_instance_uid, ReportFullState and ignores an already processed offer', async (t) => {
  const fake = await startFakeServer(t);
  const newUid = Buffer.alloc(16, 0xab);
  fake.answer = (message, index) => {
    if (index === 0) return { instanceUid: message.instanceUid, agentIdentification: { newInstanceUid: newUid } };
    if (index === 1) return { instanceUid: message.instanceUid, flags: ServerToAgentFlag.ReportFullState };
    return { instanceUid: message.instanceUid };
  };
  const agent = new SupervisorAgent({ serverUrl: fake.url, acceptsPackages: false, headers: { Authorization: 'Bearer x' } });
  await agent.poll();
  await agent.poll();
  await agent.poll();
  await agent.poll();
  const messages = opampMessages(fake);
  t.ok(Buffer.from(messages[1]?.instanceUid ?? []).equals(newUid));
  t.ok(messages[1]?.agentDescription, 'the description follows the new uid');
  t.ok(messages[2]?.agentDescription && messages[2]?.health, 'full state after ReportFullState');
  t.notOk(messages[3]?.agentDescription, 'compressed again afterwards');
  t.equal(Number(messages[0]?.capabilities), AgentCapability.ReportsStatus | AgentCapability.ReportsHealth);

  const installer = await startFakeServer(t);
  installer.answer = (message) => ({ instanceUid: message.instanceUid, packagesAvailable: offer(installer) });
  const upgraded = new SupervisorAgent({ serverUrl: installer.url });
  await upgraded.runUntil((a) => a.currentVersion === '0.111.0', { maxPolls: 10 });
  const polls = await upgraded.runUntil(() => false, { maxPolls: 3 }).catch(() => 'exhausted');
  t.equal(polls, 'exhausted');
  t.equal(upgraded.downloads, 1, 'the same all_packages_hash is never processed twice');
});
