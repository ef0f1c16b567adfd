// The protocol rules of POST /v1/opamp, driven over HTTP against the real server.
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { SERVER_CAPABILITIES, uidToString } from '../../src/opamp/codec';
import type { AgentRecord } from '../../src/agents/records';
import { description, poll, startServer, uid } from '../helpers/server';

const FULL_STATE = 0x1;

t.test('every successful answer carries the instance uid and capabilities 0x19', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const agent = uid(1);
  for (let sequenceNum = 0; sequenceNum < 3; sequenceNum += 1) {
    const answer = await poll(server.url, { instanceUid: agent, sequenceNum, capabilities: 1 });
    t.equal(answer.status, 200);
    t.equal(answer.headers.get('content-type'), 'application/x-protobuf');
    t.same(Buffer.from(answer.message!.instanceUid), agent);
    t.equal(Number(answer.message!.capabilities), SERVER_CAPABILITIES);
    t.equal(SERVER_CAPABILITIES, 0x19);
    t.notOk(answer.message!.errorResponse);
    t.notOk(answer.message!.packagesAvailable, 'no package offer to an agent without AcceptsPackages');
  }
});

t.test('ReportFullState: new agent, sequence gap, but not a retry of the last message', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const agent = uid(2);
  const flagsOf = async (sequenceNum: number) =>
    Number((await poll(server.url, { instanceUid: agent, sequenceNum, capabilities: 1 })).message!.flags) & FULL_STATE;
  t.equal(await flagsOf(0), FULL_STATE, 'unknown agent is asked for its full state');
  t.equal(await flagsOf(1), 0, 'next number: nothing asked');
  t.equal(await flagsOf(1), 0, 'same number again is a retry: answered, nothing asked');
  t.equal(await flagsOf(2), 0);
  t.equal(await flagsOf(5), FULL_STATE, 'a gap asks for full state');
  t.equal(await flagsOf(6), 0);
  t.equal(await flagsOf(3), FULL_STATE, 'going backwards asks for full state');
});

t.test('omitted sub-messages keep the stored values; capabilities 0 keeps the last', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const agent = uid(3);
  await poll(server.url, {
    instanceUid: agent,
    sequenceNum: 0,
    capabilities: 0x801,
    agentDescription: description({ 'service.name': 'otelcol-contrib' }, { 'os.type': 'linux' }),
    health: { healthy: true, status: 'StatusOK' },
  });
  await poll(server.url, { instanceUid: agent, sequenceNum: 1 });
  const record = await server.store.getAgent(uidToString(agent));
  t.equal(record?.capabilities, 0x801);
  t.equal(record?.sequenceNum, 1);
  t.same(record?.description?.identifying, { 'service.name': 'otelcol-contrib' });
  t.same(record?.description?.nonIdentifying, { 'os.type': 'linux' });
  t.equal(record?.health?.healthy, true);
  t.equal(record?.health?.status, 'StatusOK');
});

t.test('package statuses are kept with download details and hashes', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const agent = uid(4);
  await poll(server.url, {
    instanceUid: agent,
    capabilities: 0x19,
    packageStatuses: {
      serverProvidedAllPackagesHash: Buffer.from('abcd', 'hex'),
      packages: {
        '': {
          name: '',
          status: 4,
          serverOfferedVersion: 'v0.111.0',
          serverOfferedHash: Buffer.from('0102', 'hex'),
          downloadDetails: { downloadPercent: 42.5, downloadBytesPerSecond: 1000 },
        },
      },
    },
  });
  const record = await server.store.getAgent(uidToString(agent));
  t.same(record?.packageStatuses?.packages[''], {
    name: '',
    status: 4,
    agentHasVersion: '',
    agentHasHash: '',
    serverOfferedVersion: 'v0.111.0',
    serverOfferedHash: '0102',
    errorMessage: '',
    downloadPercent: 42.5,
    downloadBytesPerSecond: 1000,
  });
  t.equal(record?.packageStatuses?.serverProvidedAllPackagesHash, 'abcd');
});

t.test('agent_disconnect marks the agent disconnected; the next message clears it', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const agent = uid(5);
  await poll(server.url, { instanceUid: agent, capabilities: 1 });
  const answer = await poll(server.url, { instanceUid: agent, sequenceNum: 1, capabilities: 1, agentDisconnect: {} });
  t.equal(answer.status, 200, 'a disconnect is answered normally');
  t.equal((await server.store.getAgent(uidToString(agent)))?.disconnected, true);
  await poll(server.url, { instanceUid: agent, sequenceNum: 2, capabilities: 1 });
  t.equal((await server.store.getAgent(uidToString(agent)))?.disconnected, false);
});

t.test('RequestInstanceUid: a new 16-byte UUIDv7 is given and the record moves to it', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const temporary = uid(6);
  await poll(server.url, {
    instanceUid: temporary,
    capabilities: 1,
    agentDescription: description({ 'service.name': 'moving' }),
  });
  const answer = await poll(server.url, { instanceUid: temporary, sequenceNum: 1, capabilities: 1, flags: 1 });
  t.equal(answer.status, 200);
  t.same(Buffer.from(answer.message!.instanceUid), temporary, 'the answer still names the uid that was sent');
  const fresh = Buffer.from(answer.message!.agentIdentification!.newInstanceUid!);
  t.equal(fresh.byteLength, 16);
  t.equal(fresh[6]! >> 4, 7, 'UUID version 7');
  t.equal(fresh[8]! >> 6, 2, 'RFC 9562 variant');
  t.notOk(await server.store.getAgent(uidToString(temporary)), 'nothing left under the temporary uid');
  const moved = await server.store.getAgent(uidToString(fresh));
  t.same(moved?.description?.identifying, { 'service.name': 'moving' });
  const next = await poll(server.url, { instanceUid: fresh, sequenceNum: 2, capabilities: 1 });
  t.equal(Number(next.message!.flags) & FULL_STATE, 0, 'the agent continues under its new uid without a gap');
});

t.test('two processes using one instance_uid: the later one is given a new uid', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const shared = uid(7);
  const first = await poll(server.url, {
    instanceUid: shared,
    capabilities: 1,
    agentDescription: description({ 'service.name': 'otelcol' }, { 'host.name': 'alpha' }),
  });
  t.notOk(first.message!.agentIdentification);
  const second = await poll(server.url, {
    instanceUid: shared,
    capabilities: 1,
    agentDescription: description({ 'service.name': 'otelcol' }, { 'host.name': 'beta' }),
  });
  const fresh = second.message!.agentIdentification?.newInstanceUid;
  t.ok(fresh && fresh.byteLength === 16, 'the duplicate gets a new uid');
  t.notSame(Buffer.from(fresh!), shared);
  const original = await server.store.getAgent(uidToString(shared));
  t.equal(original?.description?.nonIdentifying['host.name'], 'alpha', 'the first agent keeps its record');
  const copy = await server.store.getAgent(uidToString(Buffer.from(fresh!)));
  t.equal(copy?.description?.nonIdentifying['host.name'], 'beta');
  const same = await poll(server.url, {
    instanceUid: shared,
    sequenceNum: 1,
    capabilities: 1,
    agentDescription: description({ 'service.name': 'otelcol', 'service.version': '2' }, { 'host.name': 'alpha' }),
  });
  t.notOk(same.message!.agentIdentification, 'the same host changing its version is not a duplicate');
});

t.test('the same message twice gets two answers', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const message = { instanceUid: uid(8), sequenceNum: 0, capabilities: 1 };
  const one = await poll(server.url, message);
  const two = await poll(server.url, message);
  t.equal(one.status, 200);
  t.equal(two.status, 200);
});

t.test('idle keep-alive outlives the 30 s poll interval', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const answer = await poll(server.url, { instanceUid: uid(9), capabilities: 1 });
  const keepAlive = answer.headers.get('keep-alive') ?? '';
  const seconds = Number(/timeout=(\d+)/.exec(keepAlive)?.[1]);
  t.ok(seconds > 30, `keep-alive timeout ${seconds}s is above the agents' 30 s poll`);
});

t.test('a fault inside one poll answers that poll 500 with an error body; the next poll works', async (t) => {
  let faults = 1;
  const server = await startServer({}, {
    offers: {
      offerFor: () => {
        if (faults > 0) {
          faults -= 1;
          throw new Error('offer source broke');
        }
        return undefined;
      },
    },
  });
  t.teardown(() => server.close());
  const message = { instanceUid: uid(40), sequenceNum: 0, capabilities: 0x1 | 0x8 /* AcceptsPackages */ };
  const failed = await poll(server.url, message);
  t.equal(failed.status, 500);
  // The exception's text stays in the log (issue 16): the agent is told the code and a request id.
  t.match(failed.message?.errorResponse?.errorMessage, /^the server failed to answer \(INTERNAL, request \S+\)$/);
  t.same(Buffer.from(failed.message!.instanceUid), uid(40), 'the error names the agent');
  const next = await poll(server.url, message);
  t.equal(next.status, 200, 'the server carries on');
  t.notOk(next.message!.errorResponse);
});

t.test('download progress waits for the batch; a new package status is on disk before the answer', async (t) => {
  const server = await startServer({ 'write-batch-ms': '60000' });
  t.teardown(() => server.close());
  const agent = uid(41);
  const statuses = (status: number, downloadPercent: number) => ({
    serverProvidedAllPackagesHash: Buffer.from('abcd', 'hex'),
    packages: { '': { name: '', status, serverOfferedVersion: 'v0.111.0', downloadDetails: { downloadPercent, downloadBytesPerSecond: 1000 } } },
  });
  // What another process reading the file sees: the record as last written, not as held in memory.
  const onDisk = () => {
    const file = new Database(path.join(server.config.dataDir, 'opamp-package-server.sqlite'), { readonly: true });
    try {
      const row = file.prepare('SELECT record FROM agents WHERE instance_uid = ?').get(uidToString(agent)) as { record: string };
      return (JSON.parse(row.record) as AgentRecord).packageStatuses?.packages[''];
    } finally {
      file.close();
    }
  };
  await poll(server.url, { instanceUid: agent, sequenceNum: 0, capabilities: 0x19, packageStatuses: statuses(4, 10) });
  t.equal(onDisk()?.downloadPercent, 10, 'the first report is written at once');
  await poll(server.url, { instanceUid: agent, sequenceNum: 1, capabilities: 0x19, packageStatuses: statuses(4, 60) });
  t.equal(onDisk()?.downloadPercent, 10, 'progress alone is not written yet');
  t.equal((await server.store.getAgent(uidToString(agent)))?.packageStatuses?.packages['']?.downloadPercent, 60, 'but the server knows it');
  await poll(server.url, { instanceUid: agent, sequenceNum: 2, capabilities: 0x19, packageStatuses: statuses(2, 100) });
  t.same([onDisk()?.status, onDisk()?.downloadPercent], [2, 100], 'installing: written before the answer');
});
