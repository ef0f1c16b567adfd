// The store contract as tests: every behaviour of an AgentStore, run against each
// implementation (sqlite.test.ts, postgres.test.ts) so that callers cannot tell them apart.
import type { Test } from 'tap';
import type { AgentRecord, PackageStatusChange } from '../../src/agents/records';
import type { RolloutStore } from '../../src/store/rollouts';
import type { AgentStore } from '../../src/store/types';
import { settlesWithin, waitFor } from '../helpers/wait';

/** Where one test's data lives; every store opened from it sees the same agents. */
export interface Backing {
  /** An agent store on the data, with the rollout store that shares its database. */
  open(options?: { writeBatchMs?: number }): Promise<AgentStore & { rolloutStore(): RolloutStore }>;
  /** True when several instances share it at once (PostgreSQL). */
  shared: boolean;
  /**
   * Holds the row of an agent, as another transaction would, so that a batch writing that agent
   * waits in the middle of its statement until the returned release is called. Absent where a
   * batch is written in one synchronous step and nothing can run during it (SQLite).
   */
  stallBatchAt?(instanceUid: string): Promise<{ waiting(): Promise<boolean>; release(): Promise<void> }>;
}

export type BackingFactory = (t: Test) => Promise<Backing>;

const NOW = 1_700_000_000_000;
const OFFLINE_AFTER = 90_000;

/** A uid whose text sorts by `seed`. */
export function uidOf(seed: number): string {
  return `00000000-0000-7000-8000-${seed.toString(16).padStart(12, '0')}`;
}

export function agentRecord(seed: number, overrides: Partial<AgentRecord> = {}): AgentRecord {
  return {
    instanceUid: uidOf(seed),
    capabilities: 0x2003,
    sequenceNum: 1,
    description: {
      identifying: { 'service.name': 'otelcol-contrib', 'service.version': '0.110.0' },
      nonIdentifying: { 'os.type': 'linux', 'host.arch': 'amd64' },
    },
    health: { healthy: true, status: 'StatusOK', lastError: '', startTimeUnixNano: 1_700_000_000_000_000_000, statusTimeUnixNano: 0 },
    packageStatuses: undefined,
    lastOffer: undefined,
    firstSeenMs: NOW - 1000,
    lastSeenMs: NOW,
    disconnected: false,
    ...overrides,
  };
}

/** A record as it comes back: JSON has no undefined. */
function stored(record: AgentRecord): AgentRecord {
  return JSON.parse(JSON.stringify(record)) as AgentRecord;
}

function change(seed: number, index: number): PackageStatusChange {
  return {
    instanceUid: uidOf(seed), atMs: NOW + index, packageName: '', fromStatus: index === 0 ? undefined : 4, toStatus: 0,
    fromVersion: '0.110.0', toVersion: `0.111.${index}`, errorMessage: '',
  };
}

async function opened(t: Test, backing: Backing, writeBatchMs = 60_000): Promise<AgentStore> {
  const store = await backing.open({ writeBatchMs });
  t.teardown(() => store.close());
  return store;
}

/**
 * Reads as another instance would. A shared backing (PostgreSQL) is read by a second store kept
 * open; the embedded one is owned by one process, which keeps what it has read in memory, so
 * each read there opens the file afresh, as a restarted server would.
 */
async function elsewhere(t: Test, backing: Backing): Promise<Pick<AgentStore, 'getAgent'>> {
  if (backing.shared) return opened(t, backing);
  return {
    getAgent: async (instanceUid) => {
      const fresh = await backing.open();
      try {
        return await fresh.getAgent(instanceUid);
      } finally {
        await fresh.close();
      }
    },
  };
}

export function storeContract(t: Test, makeBacking: BackingFactory): void {
  const test = (name: string, body: (t: Test, backing: Backing) => Promise<void>): void => {
    t.test(name, async (t) => body(t, await makeBacking(t)));
  };

  test('a durable write is read back whole, by this store and by another on the same data', async (t, backing) => {
    const store = await opened(t, backing);
    t.equal(await store.getAgent(uidOf(1)), undefined, 'unknown agent');
    const record = agentRecord(1, {
      packageStatuses: {
        packages: { '': { name: '', status: 0, agentHasVersion: '0.110.0', agentHasHash: 'ab', serverOfferedVersion: '', serverOfferedHash: '', errorMessage: '', downloadPercent: 100 } },
        serverProvidedAllPackagesHash: 'cd', errorMessage: '',
      },
      lastOffer: { allPackagesHash: 'cd', version: '0.111.0', sentAtMs: NOW },
      clientCertificateSubject: 'O=acme, CN=agent-1',
    });
    await store.putAgent(record, true);
    t.same(await store.getAgent(record.instanceUid), stored(record));
    const other = await elsewhere(t, backing);
    t.same(await other.getAgent(record.instanceUid), stored(record), 'on disk at once');
    const changed = { ...record, sequenceNum: 2, health: undefined, disconnected: true };
    await store.putAgent(changed, true);
    t.same(await other.getAgent(record.instanceUid), stored(changed), 'overwritten whole');
  });

  test('odd attribute values survive: NUL, emoji, __proto__, nesting, big numbers', async (t, backing) => {
    const store = await opened(t, backing);
    const record = agentRecord(2, {
      description: {
        identifying: { 'service.name': 'a\u0000b', emoji: '\u{1F680}', nested: { list: [1, 'two', null, { bytes: 'AAE=' }] } },
        nonIdentifying: JSON.parse('{"__proto__": "plain", "big": 12345678901234567890, "flag": true}') as Record<string, never>,
      },
    });
    await store.putAgent(record, true);
    const other = await opened(t, backing);
    const back = await other.getAgent(record.instanceUid);
    t.same(back, stored(record));
    t.ok(Object.hasOwn(back!.description!.nonIdentifying, '__proto__'), '__proto__ stays a plain key');
    const all = await other.queryAgents({ limit: 10, nowMs: NOW, offlineAfterMs: OFFLINE_AFTER });
    t.equal(all.length, 1, 'listings still work with such a record');
  });

  test('batched writes: seen here at once, elsewhere after flush, and close writes them', async (t, backing) => {
    const store = await backing.open({ writeBatchMs: 60_000 });
    const other = await elsewhere(t, backing);
    await store.putAgent(agentRecord(3), true);
    const routine = agentRecord(3, { sequenceNum: 2, lastSeenMs: NOW + 5000 });
    await store.putAgent(routine, false);
    t.same(await store.getAgent(routine.instanceUid), routine, 'this store answers from its batch');
    t.equal((await other.getAgent(routine.instanceUid))?.sequenceNum, 1, 'not written yet');
    await store.flush();
    t.same(await other.getAgent(routine.instanceUid), stored(routine), 'written by flush');
    const later = agentRecord(3, { sequenceNum: 3, lastSeenMs: NOW + 6000 });
    await store.putAgent(later, false);
    await store.putAgent(agentRecord(4, { lastSeenMs: NOW + 6000 }), false);
    await store.close();
    t.same(await other.getAgent(later.instanceUid), stored(later), 'written by close');
    t.ok(await other.getAgent(uidOf(4)), 'an agent only ever batched is written whole');
  });

  test('peekAgent answers from memory with the latest record, never an older one', async (t, backing) => {
    const store = await opened(t, backing);
    const peek = store.peekAgent?.bind(store);
    if (peek === undefined) {
      t.plan(0, 'this store keeps nothing in memory: peekAgent does not apply');
      return;
    }
    t.equal(peek(uidOf(7)), undefined, 'unknown agent');
    await store.putAgent(agentRecord(7), true);
    const routine = agentRecord(7, { sequenceNum: 2, lastSeenMs: NOW + 1000 });
    await store.putAgent(routine, false);
    t.same(peek(routine.instanceUid), routine, 'the batched record, before it is written');
    await store.flush();
    const afterFlush = peek(routine.instanceUid);
    t.ok(afterFlush === undefined || afterFlush.sequenceNum === 2, 'after the batch is written: the same record, or ask getAgent');
    const durable = agentRecord(7, { sequenceNum: 3, lastSeenMs: NOW + 2000, disconnected: true });
    await store.putAgent(durable, true);
    const afterDurable = peek(durable.instanceUid);
    t.ok(afterDurable === undefined || afterDurable.sequenceNum === 3, 'a durable write is never shadowed by the batch before it');
    t.same(await store.getAgent(durable.instanceUid), stored(durable), 'getAgent agrees');
  });

  test('a record once read does not change under its reader when the agent polls again', async (t, backing) => {
    const store = await opened(t, backing);
    await store.putAgent(agentRecord(8), true);
    const first = await store.getAgent(uidOf(8));
    for (let sequence = 2; sequence <= 4; sequence += 1) {
      await store.putAgent(agentRecord(8, { sequenceNum: sequence, lastSeenMs: NOW + sequence }), false);
    }
    // What peekAgent gives may be the store's own, to be read at once (AgentStore.peekAgent).
    t.equal(first?.sequenceNum, 1, 'what getAgent gave stays as it was');
    const latest = await store.getAgent(uidOf(8));
    t.equal(latest?.sequenceNum, 4, 'a new read sees the latest');
    t.equal(latest?.lastSeenMs, NOW + 4);
    await store.flush();
    const other = await elsewhere(t, backing);
    t.equal((await other.getAgent(uidOf(8)))?.sequenceNum, 4, 'and so does the data, once the batch is written');
  });

  test('batched writes go out on their own after the window', async (t, backing) => {
    const store = await opened(t, backing, 50);
    const other = await opened(t, backing);
    await store.putAgent(agentRecord(5), false);
    const written = await waitFor('the batch to be written', () => other.getAgent(uidOf(5)), { timeoutMs: 3000 });
    t.equal(written.instanceUid, uidOf(5), 'written within a few windows');
  });

  test('a durable write replaces a batched one of the same agent', async (t, backing) => {
    const store = await opened(t, backing);
    await store.putAgent(agentRecord(6, { sequenceNum: 2 }), false);
    const durable = agentRecord(6, { sequenceNum: 3, lastSeenMs: NOW + 1, lastOffer: { allPackagesHash: 'ef', version: '0.111.0', sentAtMs: NOW } });
    await store.putAgent(durable, true);
    await store.flush();
    const other = await opened(t, backing);
    t.same(await other.getAgent(durable.instanceUid), stored(durable));
  });

  test('counts and listings include batched agents, pages follow uid order', async (t, backing) => {
    const store = await opened(t, backing);
    for (const seed of [30, 10, 20, 40, 0x2f]) await store.putAgent(agentRecord(seed), seed !== 20);
    t.equal(await store.countAgents(), 5);
    const first = await store.listAgents({ limit: 2 });
    t.same(first.map((record) => record.instanceUid), [uidOf(10), uidOf(20)]);
    const rest = await store.listAgents({ limit: 10, afterInstanceUid: uidOf(20) });
    t.same(rest.map((record) => record.instanceUid), [uidOf(30), uidOf(40), uidOf(0x2f)]);
    t.same(await store.listAgents({ limit: 10, afterInstanceUid: uidOf(0x2f) }), []);
  });

  test('queryAgents: every filter, alone and combined with a cursor', async (t, backing) => {
    const store = await opened(t, backing);
    const describe = (identifying: Record<string, unknown>, nonIdentifying: Record<string, unknown> = {}) =>
      ({ identifying, nonIdentifying }) as AgentRecord['description'];
    const records = [
      agentRecord(101),
      agentRecord(102, { lastSeenMs: NOW - OFFLINE_AFTER }),
      agentRecord(103, { disconnected: true }),
      agentRecord(104, { description: describe({ 'service.version': 'v0.111.0', 'service.name': 'otelcol-k8s' }, { 'os.type': 'Windows', 'host.arch': 'x86_64', 'host.name': 'Web-01' }) }),
      agentRecord(105, { description: undefined }),
      agentRecord(106, { description: describe({ 'service.version': null, team: 'blue', port: 4317, canary: true }, { 'service.version': '0.112.0', team: 'red', 'host.arch': 'ARM64' }) }),
      agentRecord(107, { description: describe({}, { team: 'red', labels: { a: 1 }, 'host.name': 'db_1' }) }),
    ];
    for (const record of records) await store.putAgent(record, record.instanceUid !== uidOf(107));
    const uids = async (filter: Parameters<AgentStore['queryAgents']>[0]['filter'], limit = 100, after?: string) =>
      (await store.queryAgents({ limit, afterInstanceUid: after, filter, nowMs: NOW, offlineAfterMs: OFFLINE_AFTER }))
        .map((record) => Number.parseInt(record.instanceUid.slice(-12), 16));
    t.same(await uids(undefined), [101, 102, 103, 104, 105, 106, 107], 'no filter');
    t.same(await uids({ state: 'online' }), [101, 104, 105, 106, 107]);
    t.same(await uids({ state: 'offline' }), [102], 'last seen exactly offline-after ago is offline');
    t.same(await uids({ state: 'disconnected' }), [103]);
    t.same(await uids({ version: '0.111.0' }), [104], 'a leading v on either side');
    t.same(await uids({ version: 'v0.110.0' }), [101, 102, 103]);
    t.same(await uids({ version: '0.112.0' }), [106], 'a null identifying value falls through');
    t.same(await uids({ distribution: 'otelcol-contrib' }), [101, 102, 103, 105, 106, 107], 'no service.name counts as contrib');
    t.same(await uids({ distribution: 'otelcol-k8s' }), [104]);
    t.same(await uids({ os: 'WINDOWS' }), [104], 'os ignores case');
    t.same(await uids({ arch: ['amd64', 'x86_64'] }), [101, 102, 103, 104]);
    t.same(await uids({ arch: ['arm64', 'aarch64'] }), [106], 'arch ignores case');
    t.same(await uids({ attribute: { key: 'team', value: 'blue' } }), [106], 'identifying wins');
    t.same(await uids({ attribute: { key: 'team', value: 'red' } }), [107]);
    t.same(await uids({ attribute: { key: 'port', value: '4317' } }), [106], 'numbers compare as text');
    t.same(await uids({ attribute: { key: 'canary', value: '1' } }), [106], 'booleans read as 1 and 0');
    t.same(await uids({ attribute: { key: 'labels', value: '{"a":1}' } }), [107], 'objects read as their JSON');
    t.same(await uids({ attribute: { key: 'absent', value: '' } }), []);
    t.same(await uids({ search: 'WEB' }), [104], 'search: host.name in any case');
    t.same(await uids({ search: '00069' }), [105], 'search: part of the instance uid');
    t.same(await uids({ search: '_' }), [107], 'search: LIKE wildcards are plain characters');
    t.same(await uids({ search: '%' }), []);
    t.same(await uids({ search: 'b', state: 'online' }, 1, uidOf(104)), [107], 'search with a filter and a cursor');
    t.same(await uids({ state: 'online', distribution: 'otelcol-contrib' }, 2), [101, 105], 'combined, limited');
    t.same(await uids({ state: 'online', distribution: 'otelcol-contrib' }, 2, uidOf(105)), [106, 107], 'next page');
    t.same(await uids({ attribute: { key: 'a"b', value: 'x' } }), [], 'a key with a double quote is just a key');
  });

  test('counts by state and version', async (t, backing) => {
    const store = await opened(t, backing);
    await store.putAgent(agentRecord(201), true);
    await store.putAgent(agentRecord(202), false);
    await store.putAgent(agentRecord(203, { lastSeenMs: NOW - OFFLINE_AFTER - 1 }), true);
    await store.putAgent(agentRecord(204, { disconnected: true }), true);
    await store.putAgent(agentRecord(205, { description: undefined }), true);
    const counts = await store.countAgentsByStateAndVersion(NOW, OFFLINE_AFTER);
    const sorted = [...counts].map((count) => ({ ...count })).sort((left, right) =>
      `${left.state}/${left.version}`.localeCompare(`${right.state}/${right.version}`));
    t.same(sorted, [
      { state: 'disconnected', version: '0.110.0', count: 1 },
      { state: 'offline', version: '0.110.0', count: 1 },
      { state: 'online', version: '', count: 1 },
      { state: 'online', version: '0.110.0', count: 2 },
    ]);
  });

  test('deleting an agent deletes its history; unknown agents are not deleted', async (t, backing) => {
    const store = await opened(t, backing);
    await store.putAgent(agentRecord(301), true);
    await store.addPackageStatusChanges([change(301, 0)]);
    t.equal(await store.deleteAgent(uidOf(301)), true);
    t.equal(await store.getAgent(uidOf(301)), undefined);
    t.same(await store.listPackageStatusChanges(uidOf(301), 10), []);
    t.equal(await store.deleteAgent(uidOf(301)), false);
    await store.putAgent(agentRecord(302), false);
    t.equal(await store.deleteAgent(uidOf(302)), true, 'an agent only in the batch');
    await store.flush();
    t.equal(await store.countAgents(), 0, 'and the batch does not bring it back');
  });

  test('an agent deleted while a batch with it is being written stays deleted', async (t, backing) => {
    const store = await opened(t, backing);
    // 702 was only ever batched; 701 is on disk and its row is where the batch is held up.
    await store.putAgent(agentRecord(701), true);
    await store.putAgent(agentRecord(702), false);
    await store.putAgent(agentRecord(701, { sequenceNum: 2, lastSeenMs: NOW + 1 }), false);
    const stall = await backing.stallBatchAt?.(uidOf(701));
    const writing = store.flush();
    if (stall !== undefined) await waitFor('the batch to wait on the held row', () => stall.waiting());
    const deleting = store.deleteAgent(uidOf(702));
    // A delete that does not wait for the batch finishes now, before the batch commits its row;
    // one that waits is still pending here, and the stall is let go either way.
    if (stall !== undefined) {
      await settlesWithin(deleting, 500);
      await stall.release();
    }
    await writing;
    t.equal(await deleting, true, 'the batched agent was deleted');
    await store.flush();
    t.equal(await store.getAgent(uidOf(702)), undefined, 'not read back by this store');
    const other = await elsewhere(t, backing);
    t.equal(await other.getAgent(uidOf(702)), undefined, 'nor from the data');
    t.equal((await other.getAgent(uidOf(701)))?.sequenceNum, 2, 'the rest of the batch was written');
  });

  test('forgetting agents unseen since a time, with their history, batched times counted', async (t, backing) => {
    const store = await opened(t, backing);
    await store.putAgent(agentRecord(401, { lastSeenMs: NOW - 10_000 }), true);
    await store.putAgent(agentRecord(402, { lastSeenMs: NOW - 10_000 }), true);
    await store.putAgent(agentRecord(402, { lastSeenMs: NOW, sequenceNum: 2 }), false);
    await store.putAgent(agentRecord(403, { lastSeenMs: NOW - 5000 }), true);
    await store.addPackageStatusChanges([change(401, 0), change(403, 0)]);
    t.equal(await store.forgetAgentsUnseenSince(NOW - 5000), 1, 'strictly before the cutoff');
    t.equal(await store.getAgent(uidOf(401)), undefined);
    t.same(await store.listPackageStatusChanges(uidOf(401), 10), []);
    t.equal((await store.listPackageStatusChanges(uidOf(403), 10)).length, 1);
    t.ok(await store.getAgent(uidOf(402)), 'its batched last-seen time saved it');
  });

  test('history: newest first, limited, kept to 100 per agent', async (t, backing) => {
    const store = await opened(t, backing);
    await store.addPackageStatusChanges([]);
    await store.addPackageStatusChanges([change(501, 0), change(502, 0), change(501, 1)]);
    t.same(await store.listPackageStatusChanges(uidOf(501), 10), [change(501, 1), change(501, 0)].map((item) => JSON.parse(JSON.stringify(item))));
    t.same((await store.listPackageStatusChanges(uidOf(501), 1)).map((item) => item.toVersion), ['0.111.1']);
    const many = Array.from({ length: 120 }, (_, index) => change(501, index + 2));
    await store.addPackageStatusChanges(many.slice(0, 60));
    await store.addPackageStatusChanges(many.slice(60));
    const kept = await store.listPackageStatusChanges(uidOf(501), 1000);
    t.equal(kept.length, 100);
    t.equal(kept[0]!.toVersion, '0.111.121', 'the newest kept');
    t.equal(kept[99]!.toVersion, '0.111.22', 'the oldest dropped');
    t.equal((await store.listPackageStatusChanges(uidOf(502), 10)).length, 1, 'other agents untouched');
  });

  test('secrets: created once, the same for every store on the data', async (t, backing) => {
    const store = await opened(t, backing);
    const other = await opened(t, backing);
    let created = 0;
    const make = (byte: number) => () => {
      created += 1;
      return Buffer.alloc(32, byte);
    };
    const [first, second] = await Promise.all([store.getOrCreateSecret('s', make(1)), other.getOrCreateSecret('s', make(2))]);
    t.ok(first.equals(second), 'two stores racing agree');
    const again = await store.getOrCreateSecret('s', make(3));
    t.ok(again.equals(first));
    t.ok(created <= 2, 'an existing secret is not made again');
    t.ok((await store.getOrCreateSecret('other', make(4))).equals(Buffer.alloc(32, 4)), 'names are separate');
  });

  test('agent keys: unique names and keys, listed by name, deleted once', async (t, backing) => {
    const store = await opened(t, backing);
    const other = await opened(t, backing);
    t.same(await store.listAgentKeys(), []);
    t.equal(await store.addAgentKey({ name: 'zeta', keySha256: 'aa', createdAtMs: NOW }), true);
    t.equal(await store.addAgentKey({ name: 'Alpha', keySha256: 'bb', createdAtMs: NOW + 1 }), true);
    t.equal(await other.addAgentKey({ name: 'zeta', keySha256: 'cc', createdAtMs: NOW }), false, 'name taken');
    t.equal(await other.addAgentKey({ name: 'beta', keySha256: 'aa', createdAtMs: NOW }), false, 'key taken');
    t.same(await other.listAgentKeys(), [
      { name: 'Alpha', keySha256: 'bb', createdAtMs: NOW + 1 },
      { name: 'zeta', keySha256: 'aa', createdAtMs: NOW },
    ], 'byte order of names');
    t.equal(await other.deleteAgentKey('zeta'), true);
    t.equal(await store.deleteAgentKey('zeta'), false);
    t.same((await store.listAgentKeys()).map((key) => key.name), ['Alpha']);
  });

  test('shared stores: a late batch never undoes another instance\'s durable write', async (t, backing) => {
    if (!backing.shared) {
      t.plan(0, 'one instance per store (SQLite): there is no other instance to race');
      return;
    }
    const first = await opened(t, backing);
    const second = await opened(t, backing);
    await first.putAgent(agentRecord(601), true);
    await first.putAgent(agentRecord(601, { sequenceNum: 2, lastSeenMs: NOW + 1000 }), false);
    const durable = agentRecord(601, {
      sequenceNum: 3, lastSeenMs: NOW + 2000, lastOffer: { allPackagesHash: 'ff', version: '0.111.0', sentAtMs: NOW + 2000 },
    });
    await second.putAgent(durable, true);
    await first.flush();
    t.same(await second.getAgent(uidOf(601)), stored(durable), 'the older batch was dropped');
    await second.putAgent(agentRecord(601, { sequenceNum: 4, lastSeenMs: NOW + 3000, lastOffer: durable.lastOffer }), false);
    await second.flush();
    const back = await first.getAgent(uidOf(601));
    t.equal(back?.sequenceNum, 4, 'a newer batch moves the sequence');
    t.same(back?.lastOffer, durable.lastOffer, 'and keeps the durable state');
  });
}
