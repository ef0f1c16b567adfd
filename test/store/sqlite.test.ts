// The store contract on the embedded SQLite store: each test on a fresh data directory.
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import type { AgentRecord } from '../../src/agents/records';
import { SqliteStore } from '../../src/store/sqlite';
import { MIGRATIONS } from '../../src/store/sqlite-schema';
import { temporaryDirectory } from '../helpers/server';
import { agentRecord, storeContract } from './contract';

storeContract(t, async () => {
  const dataDir = temporaryDirectory('opamp-store-');
  return {
    shared: false,
    open: async (options = {}) => new SqliteStore({ dataDir, writeBatchMs: options.writeBatchMs }),
  };
});

// The contract's clock: agentRecord() is last seen at this instant.
const NOW = 1_700_000_000_000;

t.test('a routine poll moves last-seen and sequence; a restart reads them back with the rest intact', async (t) => {
  const dataDir = temporaryDirectory('opamp-store-');
  const store = new SqliteStore({ dataDir, writeBatchMs: 60_000 });
  await store.putAgent(agentRecord(1), true);
  const read = (await store.getAgent(agentRecord(1).instanceUid))!;
  // What the poll handler does with an unchanged agent: the same objects, two fields moved.
  await store.putAgent({ ...read, sequenceNum: 2, lastSeenMs: NOW + 30_000 }, false);
  await store.putAgent({ ...read, sequenceNum: 3, lastSeenMs: NOW + 60_000 }, false);
  await store.close();

  const raw = new Database(path.join(dataDir, 'opamp-package-server.sqlite'), { readonly: true });
  const row = raw.prepare('SELECT record, last_seen_ms, sequence_num FROM agents').get() as { record: string; last_seen_ms: number; sequence_num: number };
  raw.close();
  t.same([row.last_seen_ms, row.sequence_num], [NOW + 60_000, 3], 'the columns hold the latest poll');
  t.equal((JSON.parse(row.record) as AgentRecord).sequenceNum, 1, 'the JSON was not rewritten for a routine poll');

  const reopened = new SqliteStore({ dataDir });
  t.teardown(() => reopened.close());
  t.same(await reopened.getAgent(agentRecord(1).instanceUid), JSON.parse(JSON.stringify(agentRecord(1, { sequenceNum: 3, lastSeenMs: NOW + 60_000 }))));
  const online = await reopened.queryAgents({ limit: 10, nowMs: NOW + 61_000, offlineAfterMs: 5000, filter: { state: 'online' } });
  t.same(online.map((agent) => agent.sequenceNum), [3], 'listings read the columns too');
});

/** A data directory holding one agent's row as a release at schema `version` wrote it. */
function olderStore(version: number, record: AgentRecord): string {
  const dataDir = temporaryDirectory('opamp-store-');
  const raw = new Database(path.join(dataDir, 'opamp-package-server.sqlite'));
  for (const migration of MIGRATIONS.slice(0, version)) raw.exec(migration);
  raw.pragma(`user_version = ${version}`);
  if (version >= 5) {
    raw.prepare('INSERT INTO agents (instance_uid, last_seen_ms, sequence_num, record) VALUES (?, ?, ?, ?)')
      .run(record.instanceUid, record.lastSeenMs, record.sequenceNum, JSON.stringify(record));
  } else {
    raw.prepare('INSERT INTO agents (instance_uid, last_seen_ms, record) VALUES (?, ?, ?)')
      .run(record.instanceUid, record.lastSeenMs, JSON.stringify(record));
  }
  raw.close();
  return dataDir;
}

t.test('a store written by an older schema opens with every agent, sequence number and last-seen time', async (t) => {
  for (const version of [4, 5]) {
    const record = agentRecord(2, { sequenceNum: 41, lastSeenMs: NOW + version });
    const migrated = new SqliteStore({ dataDir: olderStore(version, record) });
    t.teardown(() => migrated.close());
    t.same(await migrated.getAgent(record.instanceUid), JSON.parse(JSON.stringify(record)), `from schema ${version}`);
    // And the migrated row takes routine writes like a new one.
    await migrated.putAgent({ ...record, sequenceNum: 42, lastSeenMs: NOW + 100 }, false);
    await migrated.flush();
    const listed = await migrated.queryAgents({ limit: 10, nowMs: NOW + 101, offlineAfterMs: 5000, filter: { state: 'online' } });
    t.same(listed.map((agent) => [agent.sequenceNum, agent.lastSeenMs]), [[42, NOW + 100]], `written after migrating from schema ${version}`);
  }
});

t.test('more agents than the memory bound are all still read back', async (t) => {
  const dataDir = temporaryDirectory('opamp-store-');
  const store = new SqliteStore({ dataDir, maxCachedAgents: 2 });
  t.teardown(() => store.close());
  for (let seed = 10; seed < 15; seed += 1) await store.putAgent(agentRecord(seed, { sequenceNum: seed }), seed % 2 === 0);
  for (let seed = 10; seed < 15; seed += 1) {
    const read = await store.getAgent(agentRecord(seed).instanceUid);
    await store.putAgent({ ...read!, sequenceNum: seed + 100 }, false);
  }
  await store.flush();
  // Reopened under the same bound: two records are loaded at start, the rest read on demand.
  const reopened = new SqliteStore({ dataDir, maxCachedAgents: 2 });
  t.teardown(() => reopened.close());
  const sequences = [];
  for (let seed = 10; seed < 15; seed += 1) sequences.push((await reopened.getAgent(agentRecord(seed).instanceUid))?.sequenceNum);
  t.same(sequences, [110, 111, 112, 113, 114]);
});

t.test('a record read from its row does not change under its reader when the agent polls again', async (t) => {
  const dataDir = temporaryDirectory('opamp-store-');
  const writer = new SqliteStore({ dataDir });
  await writer.putAgent(agentRecord(1), true);
  await writer.putAgent(agentRecord(2, { lastSeenMs: NOW + 1000 }), true);
  await writer.close();
  // Room for one record at start: the most recently seen (agent 2); agent 1 is read from its row.
  const store = new SqliteStore({ dataDir, maxCachedAgents: 1 });
  t.teardown(() => store.close());
  const read = (await store.getAgent(agentRecord(1).instanceUid))!;
  await store.putAgent({ ...read, sequenceNum: 2, lastSeenMs: NOW + 2000 }, false);
  t.equal(read.sequenceNum, 1, 'what getAgent gave stays as it was');
  t.equal(read.lastSeenMs, NOW);
  t.equal((await store.getAgent(agentRecord(1).instanceUid))?.sequenceNum, 2, 'a new read sees the poll');
});

t.test('an agent pushed out of memory while its routine write waits keeps its latest state', async (t) => {
  const dataDir = temporaryDirectory('opamp-store-');
  // Room for one record, and a batch that waits until asked: every write below stays queued.
  const store = new SqliteStore({ dataDir, maxCachedAgents: 1, writeBatchMs: 3_600_000 });
  const first = agentRecord(1).instanceUid;
  await store.putAgent(agentRecord(1), true);
  await store.putAgent(agentRecord(1, { sequenceNum: 2, lastSeenMs: NOW + 1 }), false);
  await store.putAgent(agentRecord(2), true);
  t.equal(store.peekAgent(first)?.sequenceNum, 2, 'pushed out, it is still read from its queued write');
  await store.putAgent(agentRecord(1, { sequenceNum: 3, lastSeenMs: NOW + 2 }), false);
  t.equal(store.peekAgent(first)?.sequenceNum, 3, 'a poll takes over the queued write');
  await store.putAgent(agentRecord(2, { sequenceNum: 2, lastSeenMs: NOW + 2 }), false);
  await store.putAgent(agentRecord(1, { sequenceNum: 4, lastSeenMs: NOW + 3, disconnected: true }), true);
  await store.putAgent(agentRecord(1, { sequenceNum: 5, lastSeenMs: NOW + 4, disconnected: true }), false);
  t.equal((await store.getAgent(first))?.sequenceNum, 5, 'a routine write after a durable one is read back');
  await store.close();
  const reopened = new SqliteStore({ dataDir });
  t.teardown(() => reopened.close());
  const read = await reopened.getAgent(first);
  t.same([read?.sequenceNum, read?.lastSeenMs, read?.disconnected], [5, NOW + 4, true], 'and written with the durable change');
  t.same((await reopened.getAgent(agentRecord(2).instanceUid))?.sequenceNum, 2, 'the agent that pushed it out is written too');
});
