// The pure rollout pieces: selectors, wave membership and late admission, wave opening,
// upgrade-state transitions, stuck detection and the failure ratio.
import t from 'tap';
import { selects } from '../../src/rollouts/selector';
import { failureRatio, isStuck, nextState, observe, pauseReason } from '../../src/rollouts/state';
import type { RolloutMember, RolloutRecord, WaveSpec } from '../../src/rollouts/types';
import { cumulativeShare, planMembers, waveForLateAgent, waveToOpen } from '../../src/rollouts/waves';
import type { AgentRecord } from '../../src/agents/records';

const description = (identifying: Record<string, string>, nonIdentifying: Record<string, string> = {}) => ({ identifying, nonIdentifying });
const waves = (...percents: number[]): WaveSpec[] => percents.map((percent) => ({ percent, minSuccessRatio: 0.9, minWaitMs: 0 }));

t.test('selectors: every given part must match', async (t) => {
  const agent = description({ 'service.name': 'otelcol-contrib', 'service.version': '0.110.0', region: 'eu' }, { 'os.type': 'linux', 'host.arch': 'x86_64' });
  t.ok(selects({}, agent));
  t.ok(selects({ version: '>=0.100.0 <0.111.0', arch: ['amd64'], os: ['Linux'], attributes: { region: ['us', 'eu'] } }, agent));
  t.notOk(selects({ version: '>=0.111.0' }, agent));
  t.notOk(selects({ attributes: { region: 'us' } }, agent));
  t.notOk(selects({ distribution: 'otelcol' }, agent));
  t.notOk(selects({ version: '*' }, description({})), 'an unknown version is not in any range');
  const arm = description({}, { 'os.type': 'linux', 'host.arch': 'arm32' });
  t.ok(selects({ arch: ['arm'] }, arm), 'GOARCH arm selects an agent reporting arm32');
  t.ok(selects({ arch: ['armv7'] }, arm), 'and so does the asset name');
  t.notOk(selects({ arch: ['arm64'] }, arm));
});

t.test('waves: ceil shares by rank, the same on every run; late agents never overfill a wave', async (t) => {
  const uids = Array.from({ length: 10 }, (_value, index) => `00000000-0000-7000-8000-${String(index).padStart(12, '0')}`);
  const spec = waves(10, 50, 100);
  const placed = planMembers({ rolloutId: 'r', waves: spec, startMs: 0, durationMs: undefined }, uids);
  t.same([0, 1, 2].map((wave) => placed.filter((item) => item.wave === wave).length), [1, 4, 5]);
  t.same(planMembers({ rolloutId: 'r', waves: spec, startMs: 0, durationMs: undefined }, [...uids].reverse()), placed, 'order-independent');
  t.not(JSON.stringify(planMembers({ rolloutId: 'other', waves: spec, startMs: 0, durationMs: undefined }, uids)), JSON.stringify(placed));
  const spread = planMembers({ rolloutId: 'r', waves: waves(100), startMs: 1000, durationMs: 10_000 }, uids);
  t.same(spread.map((item) => item.notBeforeMs), [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000]);

  const admitted = [0, 0, 0];
  for (let count = 1; count <= 200; count += 1) {
    admitted[waveForLateAgent(spec, admitted)]! += 1;
    let cumulative = 0;
    for (let wave = 0; wave < spec.length; wave += 1) {
      cumulative += admitted[wave]!;
      t.ok(cumulative <= cumulativeShare(spec, wave, count), `after ${count}: wave ${wave} within its share`);
    }
  }
  t.same(admitted, [20, 80, 100]);
});

t.test('the next wave opens after the success ratio and the wait', async (t) => {
  const rollout = (openedAtMs: number | undefined): RolloutRecord => ({
    id: 'r', status: 'active', reason: undefined, createdAtMs: 0, updatedAtMs: 0, resumedAtMs: undefined,
    spec: { version: '1.0.0', selector: {}, waves: [{ percent: 50, minSuccessRatio: 0.5, minWaitMs: 1000 }, { percent: 100, minSuccessRatio: 0.9, minWaitMs: 0 }], durationMs: undefined, startMs: 0, maxFailureRatio: 0.1, allowDowngrade: false },
    waves: [{ openedAtMs, admitted: 4 }, { openedAtMs: undefined, admitted: 4 }],
  });
  t.equal(waveToOpen(rollout(0), [{ installed: 2, offered: 2 }, {}], 999), undefined, 'not before the wait');
  t.equal(waveToOpen(rollout(0), [{ installed: 1, offered: 3 }, {}], 5000), undefined, 'not under the ratio');
  t.equal(waveToOpen(rollout(0), [{ installed: 2, offered: 2 }, {}], 1000), 1);
  t.equal(waveToOpen(rollout(undefined), [{ installed: 4 }, {}], 5000), undefined, 'not while the first is closed');
});

t.test('upgrade states follow what the agent reports', async (t) => {
  const member: RolloutMember = { rolloutId: 'r', instanceUid: 'u', wave: 0, notBeforeMs: 0, generation: 0, state: 'scheduled', stateAtMs: 0, fromVersion: '0.110.0', detail: {} };
  const record = (version: string, status?: number, extra: Record<string, unknown> = {}): AgentRecord => ({
    instanceUid: 'u', capabilities: 0, sequenceNum: 0, description: description({ 'service.version': version }), health: undefined,
    packageStatuses: status === undefined ? undefined : {
      packages: { '': { name: '', status, agentHasVersion: '', agentHasHash: '', serverOfferedVersion: 'v0.112.0', serverOfferedHash: 'aa', errorMessage: '', ...extra } },
      serverProvidedAllPackagesHash: '', errorMessage: '',
    },
    lastOffer: undefined, firstSeenMs: 0, lastSeenMs: 0, disconnected: false,
  });
  const seen = (version: string, status?: number, extra?: Record<string, unknown>) => observe(record(version, status, extra), '0.112.0', 'aa');
  const quiet = seen('0.110.0');
  t.same(nextState(member, '0.112.0', quiet, quiet, true), { state: 'offered', detail: {} });
  t.equal(nextState(member, '0.112.0', quiet, quiet, false), undefined);
  t.same(nextState({ ...member, state: 'offered' }, '0.112.0', quiet, seen('0.110.0', 4, { downloadPercent: 40 }), false),
    { state: 'downloading', detail: { downloadPercent: 40, downloadBytesPerSecond: 0 } });
  t.same(nextState({ ...member, state: 'installing' }, '0.112.0', quiet, seen('0.110.0', 3, { errorMessage: 'bad' }), false),
    { state: 'failed', detail: { errorMessage: 'bad' } });
  t.same(nextState({ ...member, state: 'installing' }, '0.112.0', seen('0.110.0', 0), seen('0.112.0', 0), false), { state: 'installed', detail: {} });
  const stuckSame = seen('0.110.0', 4, { downloadPercent: 40 });
  t.equal(nextState({ ...member, state: 'stuck' }, '0.112.0', stuckSame, stuckSame, false), undefined, 'repeating itself keeps a stuck agent stuck');
  t.equal(nextState({ ...member, state: 'installed' }, '0.112.0', seen('0.112.0'), seen('0.110.0'), false)?.state, 'rolled_back');
  t.equal(observe(record('0.110.0', 3), '0.112.0', 'bb').state, undefined, 'a status about another hash says nothing');

  t.ok(isStuck({ state: 'downloading', stateAtMs: 0 }, 7_200_000, 7_200_000));
  t.notOk(isStuck({ state: 'failed', stateAtMs: 0 }, 9e9, 7_200_000));
});

t.test('failure ratio counts failures since the last resume', async (t) => {
  const counts = [
    { state: 'scheduled' as const, count: 5, recent: 5 },
    { state: 'installed' as const, count: 8, recent: 8 },
    { state: 'failed' as const, count: 2, recent: 0 },
  ];
  t.same(failureRatio(counts), { offered: 10, failing: 0, ratio: 0 });
  const rollout = { status: 'active', spec: { maxFailureRatio: 0.1 } } as RolloutRecord;
  t.equal(pauseReason(rollout, counts), undefined);
  t.match(pauseReason(rollout, [...counts, { state: 'stuck', count: 2, recent: 2 }]), /failure ratio 0\.167/);
});
