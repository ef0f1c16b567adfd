// The rollout store contract as tests: every behaviour of a RolloutStore, run against each
// implementation (sqlite-rollouts.test.ts, postgres-rollouts.test.ts). On a shared database the
// races that several instances run into are tested with two stores on one schema.
import type { Test } from 'tap';
import type { RolloutMember, RolloutRecord, UpgradeState } from '../../src/rollouts/types';
import type { MemberCount, RolloutStore } from '../../src/store/rollouts';
import type { Backing, BackingFactory } from './contract';
import { uidOf } from './contract';

const NOW = 1_700_000_000_000;

/** An agent store and the rollout store beside it, closed when `t` ends. */
async function opened(t: Test, backing: Backing): Promise<RolloutStore> {
  const agents = await backing.open({ writeBatchMs: 60_000 });
  t.teardown(() => agents.close());
  return agents.rolloutStore();
}

/** Two rollout stores on the same data: separate instances where the backing allows it. */
async function pair(t: Test, backing: Backing): Promise<[RolloutStore, RolloutStore]> {
  const first = await opened(t, backing);
  return [first, backing.shared ? await opened(t, backing) : first];
}

function rolloutRecord(id: string, overrides: Partial<RolloutRecord> = {}): RolloutRecord {
  return {
    id,
    spec: {
      version: '0.112.0', selector: { os: ['linux'] }, durationMs: undefined, startMs: NOW, maxFailureRatio: 0.1, allowDowngrade: false,
      waves: [{ percent: 25, minSuccessRatio: 0.9, minWaitMs: 0 }, { percent: 100, minSuccessRatio: 0.9, minWaitMs: 60_000 }],
    },
    status: 'active',
    reason: undefined,
    createdAtMs: NOW,
    updatedAtMs: NOW,
    resumedAtMs: undefined,
    waves: [{ openedAtMs: NOW, admitted: 0 }, { openedAtMs: undefined, admitted: 0 }],
    ...overrides,
  };
}

function member(rolloutId: string, seed: number, overrides: Partial<RolloutMember> = {}): RolloutMember {
  return {
    rolloutId, instanceUid: uidOf(seed), wave: 0, notBeforeMs: NOW, generation: 0, state: 'scheduled', stateAtMs: NOW,
    fromVersion: '0.110.0', detail: {}, ...overrides,
  };
}

/** As it comes back: JSON has no undefined. */
function stored<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function sorted(counts: MemberCount[]): MemberCount[] {
  return [...counts].sort((a, b) => a.wave - b.wave || a.state.localeCompare(b.state));
}

const R1 = '00000000-0000-7000-9000-000000000001';
const R2 = '00000000-0000-7000-9000-000000000002';
const R3 = '00000000-0000-7000-9000-000000000003';

export function rolloutContract(t: Test, makeBacking: BackingFactory): void {
  const test = (name: string, body: (t: Test, backing: Backing) => Promise<void>): void => {
    t.test(name, async (t) => body(t, await makeBacking(t)));
  };

  test('a rollout is stored with its waves and members, and listed newest first', async (t, backing) => {
    const [store, other] = await pair(t, backing);
    t.equal(await store.getRollout(R1), undefined, 'unknown rollout');
    t.same(await store.listRollouts(), []);
    const first = rolloutRecord(R1, { waves: [{ openedAtMs: NOW, admitted: 2 }, { openedAtMs: undefined, admitted: 1 }] });
    await store.createRollout(first, [member(R1, 1), member(R1, 2), member(R1, 3, { wave: 1, notBeforeMs: NOW + 5, detail: { errorMessage: 'x' } })]);
    t.same(await other.getRollout(R1), stored(first), 'read back whole, by another instance too');
    t.same(await other.getMember(R1, uidOf(3)), member(R1, 3, { wave: 1, notBeforeMs: NOW + 5, detail: { errorMessage: 'x' } }));
    t.equal(await other.getMember(R1, uidOf(4)), undefined);
    // Two in the same millisecond keep their order of creation; a later one comes first.
    await store.createRollout(rolloutRecord(R3), []);
    await store.createRollout(rolloutRecord(R2, { createdAtMs: NOW + 1, updatedAtMs: NOW + 1, spec: { ...first.spec, durationMs: 60_000 } }), []);
    t.same((await other.listRollouts()).map((rollout) => rollout.id), [R2, R3, R1]);
    t.same((await other.listRollouts())[2], stored(first), 'listed with the waves');
    t.same((await other.listStateChanges(uidOf(1), 10)).map((change) => [change.rolloutId, change.fromState ?? null, change.toState]),
      [[R1, null, 'scheduled']], 'placement is in the history');
  });

  test('status changes only from the given states; a resume records its time', async (t, backing) => {
    const [store, other] = await pair(t, backing);
    await store.createRollout(rolloutRecord(R1), []);
    t.equal(await store.setRolloutStatus(R2, ['active'], 'paused', 'x', NOW), false, 'unknown rollout');
    t.equal(await store.setRolloutStatus(R1, ['paused'], 'active', undefined, NOW + 1), false, 'not paused');
    t.ok(await store.setRolloutStatus(R1, ['active'], 'paused', 'failure ratio 0.5', NOW + 2));
    let seen = await other.getRollout(R1);
    t.match(seen, { status: 'paused', reason: 'failure ratio 0.5', updatedAtMs: NOW + 2 }, 'the pause is seen by the other instance');
    t.equal(seen?.resumedAtMs, undefined, 'a pause is no resume');
    t.equal(await other.setRolloutStatus(R1, ['active'], 'paused', 'again', NOW + 3), false, 'the other cannot pause it twice');
    t.ok(await other.setRolloutStatus(R1, ['paused'], 'active', undefined, NOW + 4));
    seen = await store.getRollout(R1);
    t.match(seen, { status: 'active', updatedAtMs: NOW + 4, resumedAtMs: NOW + 4 });
    t.equal(seen?.reason, undefined);
    t.ok(await store.setRolloutStatus(R1, ['active', 'paused'], 'cancelled', 'cancelled by ops', NOW + 5));
    t.equal((await other.getRollout(R1))?.resumedAtMs, NOW + 4, 'a cancel keeps the last resume');
    t.equal(await store.setRolloutStatus(R1, ['active', 'paused'], 'active', undefined, NOW + 6), false, 'cancelled stays cancelled');
  });

  test('a wave opens once', async (t, backing) => {
    const [store, other] = await pair(t, backing);
    await store.createRollout(rolloutRecord(R1), []);
    const opened = await Promise.all([store.openWave(R1, 1, NOW + 10), other.openWave(R1, 1, NOW + 11)]);
    t.same(opened.filter(Boolean).length, 1, 'one of two racing opens wins');
    t.equal(await store.openWave(R1, 0, NOW + 12), false, 'the first wave was open from the start');
    t.equal(await store.openWave(R1, 5, NOW + 12), false, 'no such wave');
    t.ok([NOW + 10, NOW + 11].includes((await other.getRollout(R1))!.waves[1]!.openedAtMs!));
  });

  test('an admission sees the counts, is counted, and is done once', async (t, backing) => {
    const [store, other] = await pair(t, backing);
    await store.createRollout(rolloutRecord(R1, { waves: [{ openedAtMs: NOW, admitted: 1 }, { openedAtMs: undefined, admitted: 0 }] }), [member(R1, 1)]);
    const seen: number[][] = [];
    const admitted = await other.admitMember(R1, uidOf(2), (counts) => {
      seen.push(counts);
      return member(R1, 2, { wave: 1, stateAtMs: NOW + 1 });
    });
    t.same(seen, [[1, 0]], 'place saw the admitted counts');
    t.same(admitted, member(R1, 2, { wave: 1, stateAtMs: NOW + 1 }));
    t.same((await store.getRollout(R1))!.waves.map((wave) => wave.admitted), [1, 1]);
    const again = await store.admitMember(R1, uidOf(2), () => t.fail('place is not called for a member') as never);
    t.same(again, admitted, 'an existing member comes back unchanged');
    t.same(await store.admitMember(R1, uidOf(1), () => member(R1, 1, { wave: 1 })), member(R1, 1), 'so does one placed at creation');
    t.same((await other.getRollout(R1))!.waves.map((wave) => wave.admitted), [1, 1], 'counted once');
    t.same((await store.listStateChanges(uidOf(2), 10)).map((change) => change.toState), ['scheduled']);
  });

  test('racing admissions never overfill a wave, nor admit one agent twice', async (t, backing) => {
    const [store, other] = await pair(t, backing);
    await store.createRollout(rolloutRecord(R1), []);
    const share = 10;
    // The wave's share is what place decides; the store must let it see counts no one else moves.
    const place = (seed: number) => (counts: number[]) => member(R1, seed, { wave: (counts[0] ?? 0) < share ? 0 : 1 });
    const seeds = Array.from({ length: 40 }, (_, index) => 100 + index);
    await Promise.all(seeds.flatMap((seed) => [store.admitMember(R1, uidOf(seed), place(seed)), other.admitMember(R1, uidOf(seed), place(seed))]));
    const members = await other.queryMembers(R1, { limit: 100 });
    t.equal(members.length, 40, 'each agent admitted once');
    t.equal(members.filter((candidate) => candidate.wave === 0).length, share, 'the first wave holds exactly its share');
    t.same((await store.getRollout(R1))!.waves.map((wave) => wave.admitted), [share, 40 - share], 'the counts match the members');
    const history = await Promise.all(seeds.map((seed) => store.listStateChanges(uidOf(seed), 10)));
    t.ok(history.every((changes) => changes.length === 1), 'one admission in each history');
  });

  test('a transition applies only to the member as read, with its history', async (t, backing) => {
    const [store, other] = await pair(t, backing);
    await store.createRollout(rolloutRecord(R1), [member(R1, 1, { generation: 2 })]);
    const offered = { expectState: 'scheduled' as UpgradeState, expectStateAtMs: NOW, state: 'offered' as UpgradeState, detail: {}, atMs: NOW + 1 };
    t.equal(await store.transitionMember(R1, uidOf(9), offered), false, 'unknown member');
    const raced = await Promise.all([store.transitionMember(R1, uidOf(1), offered), other.transitionMember(R1, uidOf(1), offered)]);
    t.equal(raced.filter(Boolean).length, 1, 'two instances applying the same transition: once');
    t.equal(await store.transitionMember(R1, uidOf(1), { ...offered, expectStateAtMs: NOW + 1 }), false, 'state no longer as read');
    t.ok(await other.transitionMember(R1, uidOf(1), {
      expectState: 'offered', expectStateAtMs: NOW + 1, state: 'downloading', detail: { downloadPercent: 40, downloadBytesPerSecond: 1000 }, atMs: NOW + 2,
    }));
    t.same(await store.getMember(R1, uidOf(1)), member(R1, 1, {
      generation: 2, state: 'downloading', stateAtMs: NOW + 2, detail: { downloadPercent: 40, downloadBytesPerSecond: 1000 },
    }), 'the generation is kept');
    t.ok(await store.transitionMember(R1, uidOf(1), {
      expectState: 'downloading', expectStateAtMs: NOW + 2, state: 'scheduled', detail: {}, atMs: NOW + 3, generation: 3,
    }));
    t.equal((await other.getMember(R1, uidOf(1)))?.generation, 3, 'a retry sets a new generation');
    const history = await other.listStateChanges(uidOf(1), 10);
    t.same(history.map((change) => [change.fromState ?? null, change.toState, change.atMs]), [
      ['downloading', 'scheduled', NOW + 3], ['offered', 'downloading', NOW + 2], ['scheduled', 'offered', NOW + 1], [null, 'scheduled', NOW],
    ], 'newest first');
    t.same(history[1]?.detail, { downloadPercent: 40, downloadBytesPerSecond: 1000 });
    t.same((await other.listStateChanges(uidOf(1), 2)).map((change) => change.toState), ['scheduled', 'downloading'], 'limited');
  });

  test('the history keeps the last 100 changes of an agent across rollouts', async (t, backing) => {
    const store = await opened(t, backing);
    await store.createRollout(rolloutRecord(R1), [member(R1, 1)]);
    await store.createRollout(rolloutRecord(R2), [member(R2, 1), member(R2, 2)]);
    let state: UpgradeState = 'scheduled';
    for (let step = 1; step <= 110; step += 1) {
      const next: UpgradeState = state === 'scheduled' ? 'offered' : 'scheduled';
      t.ok(await store.transitionMember(R1, uidOf(1), { expectState: state, expectStateAtMs: NOW + step - 1, state: next, detail: {}, atMs: NOW + step }));
      state = next;
    }
    const kept = await store.listStateChanges(uidOf(1), 1000);
    t.equal(kept.length, 100);
    t.equal(kept[0]?.atMs, NOW + 110, 'the newest kept');
    t.equal((await store.listStateChanges(uidOf(2), 1000)).length, 1, 'another agent keeps its own');
  });

  test('members are counted per wave and state, with those changed since a time', async (t, backing) => {
    const store = await opened(t, backing);
    t.same(await store.countMembers(R1, 0), [], 'unknown rollout');
    await store.createRollout(rolloutRecord(R1), [
      member(R1, 1, { state: 'installed', stateAtMs: NOW + 10 }), member(R1, 2, { state: 'failed', stateAtMs: NOW + 5 }),
      member(R1, 3, { state: 'failed', stateAtMs: NOW + 20 }), member(R1, 4, { wave: 1 }), member(R1, 5, { wave: 1 }),
    ]);
    await store.createRollout(rolloutRecord(R2), [member(R2, 1)]);
    t.same(sorted(await store.countMembers(R1, NOW + 5)), [
      { wave: 0, state: 'failed', count: 2, recent: 1 },
      { wave: 0, state: 'installed', count: 1, recent: 1 },
      { wave: 1, state: 'scheduled', count: 2, recent: 0 },
    ]);
    t.same(sorted(await store.countMembers(R1, -1)).map((row) => row.recent), [2, 1, 2], 'everything is recent since -1');
  });

  test('members are queried by state, age and uid, in uid order, a page at a time', async (t, backing) => {
    const store = await opened(t, backing);
    await store.createRollout(rolloutRecord(R1), [
      member(R1, 5, { state: 'offered', stateAtMs: NOW - 100 }), member(R1, 1, { state: 'offered', stateAtMs: NOW }),
      member(R1, 3, { state: 'downloading', stateAtMs: NOW - 50 }), member(R1, 2), member(R1, 4, { state: 'failed' }),
    ]);
    await store.createRollout(rolloutRecord(R2), [member(R2, 6)]);
    const uids = (members: RolloutMember[]) => members.map((candidate) => candidate.instanceUid);
    t.same(uids(await store.queryMembers(R1, { limit: 10 })), [1, 2, 3, 4, 5].map(uidOf), 'all, in uid order');
    t.same(uids(await store.queryMembers(R1, { limit: 2 })), [1, 2].map(uidOf), 'a page');
    t.same(uids(await store.queryMembers(R1, { limit: 2, afterInstanceUid: uidOf(2) })), [3, 4].map(uidOf), 'the next page');
    t.same(uids(await store.queryMembers(R1, { states: ['offered', 'downloading'], limit: 10 })), [1, 3, 5].map(uidOf));
    t.same(uids(await store.queryMembers(R1, { states: ['offered', 'downloading'], changedAtOrBeforeMs: NOW - 50, limit: 10 })), [3, 5].map(uidOf));
    t.same(uids(await store.queryMembers(R1, { instanceUids: [uidOf(4), uidOf(6)], limit: 10 })), [uidOf(4)], 'only this rollout\'s');
    t.same(await store.queryMembers(R1, { states: [], limit: 10 }), [], 'no state, no member');
    t.same(await store.queryMembers(R1, { instanceUids: [], limit: 10 }), []);
    t.same((await store.queryMembers(R1, { states: ['failed'], limit: 10 }))[0], member(R1, 4, { state: 'failed' }), 'whole members');
  });
}
