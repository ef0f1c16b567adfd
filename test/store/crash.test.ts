// kill -9 during a burst of polls, then a restart on the same data, on each store: the store
// opens, what was answered before the last batch window is there, package and rollout state are
// intact and no agent downloads or installs its package again, nor is offered one it should not
// get. Runs dist/ (`npm run build` first).
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { PostgresStore } from '../../src/store/postgres';
import { uidToString } from '../../src/opamp/codec';
import { SqliteStore } from '../../src/store/sqlite';
import type { AgentStore } from '../../src/store/types';
import { makeCollectorTarball } from '../fixtures/tarballs';
import { startServeProcess } from '../helpers/cli';
import { poll, temporaryDirectory, uid } from '../helpers/server';
import { SupervisorAgent } from '../helpers/supervisor-agent';
import { POSTGRES_URL, SKIP_REASON, ownSchema, schemaUrl } from './postgres-helpers';
import { startProxy } from './proxy';

const WRITE_BATCH_MS = 200;
/** Time for one batch to reach the database after its window closes. */
const WRITE_SLACK_MS = 150;
const NEW_AGENTS = 40;

interface Timed {
  sentAtMs: number;
  answeredAtMs: number;
  ok: boolean;
}

const canonical = uidToString;

/** Lets the burst run for several batch windows, and long enough for arrivals even on a busy machine. */
async function waitForBurst(arrivals: Array<{ ok: boolean }>): Promise<void> {
  const startedAtMs = Date.now();
  const answered = () => arrivals.filter((arrival) => arrival.ok).length;
  while (Date.now() - startedAtMs < 3 * WRITE_BATCH_MS + 100 || (answered() <= 5 && Date.now() - startedAtMs < 15_000)) {
    await sleep(50);
  }
}

/** Restarts the server on the same data behind the proxy and lets the fleet poll a few rounds. */
async function restartAndReplay(
  t: Test,
  args: string[],
  proxy: { backends: string[] },
  fleet: SupervisorAgent[],
): Promise<Array<{ statuses: number; offers: number }>> {
  const second = await startServeProcess(args);
  t.teardown(() => second.stop());
  proxy.backends = [second.url];
  const before = fleet.map((agent) => ({ statuses: agent.statusesSent.length, offers: agent.offersReceived }));
  for (let round = 0; round < 3; round += 1) for (const agent of fleet) await agent.poll();
  return before;
}

async function crashAndRestart(t: Test, storeArgs: string[], openDirect: () => Promise<AgentStore>, seedBase: number): Promise<void> {
  const directory = temporaryDirectory('opamp-crash-');
  const tarball = await makeCollectorTarball(directory, { distribution: 'otelcol-contrib', version: '0.111.0', os: 'linux', arch: 'amd64' });
  const past = new Date(Date.now() - 120_000);
  fs.utimesSync(tarball.path, past, past);
  const proxy = await startProxy([]);
  t.teardown(() => proxy.close());
  const args = [
    ...storeArgs, '--write-batch-ms', String(WRITE_BATCH_MS), '--routine-write-ms', String(WRITE_BATCH_MS), '--packages-dir', directory, '--allow-unsigned',
    '--trusted-root-refresh', 'false', '--offer', 'latest', '--public-url', proxy.url,
    // The burst polls far faster than real agents, on a machine other tests keep busy: no shedding.
    '--rate-limit-per-agent', 'off', '--overload-event-loop-delay', 'off',
  ];
  const first = await startServeProcess(args);
  proxy.backends = [first.url];

  const fleet = Array.from({ length: 5 }, () => new SupervisorAgent({ serverUrl: proxy.url, version: '0.110.0', maxRetries: 2 }));
  await Promise.all(fleet.map((agent) => agent.runUntil((current) => current.currentVersion === '0.111.0' && !current.installing)));
  // Written by a batch window long before the kill: the burst outlasts several.
  const polledBeforeBurstMs = Date.now();
  for (const agent of fleet) await agent.poll();

  // The burst: the upgraded fleet keeps polling, new agents arrive, and the process dies mid-way.
  const routine = new Map<SupervisorAgent, Timed[]>(fleet.map((agent) => [agent, []]));
  const arrivals: Array<{ seed: number } & Timed> = [];
  let killed = false;
  const burst = [
    ...fleet.map(async (agent) => {
      while (!killed) {
        const sentAtMs = Date.now();
        const errors = agent.errors.length;
        await agent.poll();
        routine.get(agent)!.push({ sentAtMs, answeredAtMs: Date.now(), ok: agent.errors.length === errors });
      }
    }),
    (async () => {
      for (let index = 0; index < NEW_AGENTS && !killed; index += 1) {
        const seed = seedBase + index;
        const sentAtMs = Date.now();
        const answer = await poll(proxy.url, { instanceUid: uid(seed), sequenceNum: 0, capabilities: 1 }).catch(() => undefined);
        arrivals.push({ seed, sentAtMs, answeredAtMs: Date.now(), ok: answer?.status === 200 });
        await sleep(15);
      }
    })(),
  ];
  // Long enough for several batch windows, and for enough arrivals even on a busy machine.
  await waitForBurst(arrivals);
  const killedAtMs = Date.now();
  first.child.kill('SIGKILL');
  killed = true;
  await Promise.all(burst);
  await first.stop();

  const store = await openDirect();
  try {
    const answered = arrivals.filter((arrival) => arrival.ok);
    t.ok(answered.length > 5, `${answered.length} new agents were answered before the kill`);
    for (const arrival of answered) t.ok(await store.getAgent(canonical(uid(arrival.seed))), `new agent ${arrival.seed} is there`);
    const safeBeforeMs = killedAtMs - WRITE_BATCH_MS - WRITE_SLACK_MS;
    for (const agent of fleet) {
      const record = await store.getAgent(canonical(agent.instanceUid));
      const settled = routine.get(agent)!.filter((entry) => entry.ok && entry.answeredAtMs < safeBeforeMs).pop();
      // Each fleet agent polled just before the burst; a routine poll answered before the last
      // safe window moves the bar up to its own time.
      const bar = settled?.sentAtMs ?? polledBeforeBurstMs;
      t.ok(record, 'the fleet agent is there');
      t.ok(record!.lastSeenMs >= bar, settled ? 'last seen as of the last batch window before the kill' : 'last seen as of the poll just before the burst');
      t.equal(record?.packageStatuses?.packages['']?.status, 0, 'package state: installed');
      t.match(record?.lastOffer?.version, /^v?0\.111\.0$/, 'the offer sent is remembered');
    }
  } finally {
    await store.close();
  }

  const before = await restartAndReplay(t, args, proxy, fleet);
  fleet.forEach((agent, index) => {
    t.equal(agent.downloads, 1, 'not downloaded again');
    t.equal(agent.statusesSent.length, before[index]!.statuses, 'not installed again');
    t.equal(agent.currentVersion, '0.111.0');
    t.ok(agent.offersReceived <= before[index]!.offers + 1, 'at most the full-state answer repeats the same offer');
  });
}

/** A release directory with 0.111.0 for linux/amd64, old enough to be taken at once. */
async function releaseDirectory(): Promise<string> {
  const directory = temporaryDirectory('opamp-crash-');
  const tarball = await makeCollectorTarball(directory, { distribution: 'otelcol-contrib', version: '0.111.0', os: 'linux', arch: 'amd64' });
  const past = new Date(Date.now() - 120_000);
  fs.utimesSync(tarball.path, past, past);
  return directory;
}

/**
 * The same crash with an active rollout and no --offer: half the fleet is in an open first wave
 * (upgraded before the burst), half waits in a second wave that stays shut, and agents arriving
 * during the burst are admitted late. After the kill every admission answered is kept, the waves'
 * counts match their members, and after the restart no one is offered what it should not get.
 */
async function crashDuringRollout(t: Test, storeArgs: string[], openDirect: () => Promise<SqliteStore | PostgresStore>): Promise<void> {
  const proxy = await startProxy([]);
  t.teardown(() => proxy.close());
  const args = [
    ...storeArgs, '--write-batch-ms', String(WRITE_BATCH_MS), '--routine-write-ms', String(WRITE_BATCH_MS), '--packages-dir', await releaseDirectory(), '--allow-unsigned',
    '--trusted-root-refresh', 'false', '--public-url', proxy.url,
    // The burst polls far faster than real agents, on a machine other tests keep busy: no shedding.
    '--rate-limit-per-agent', 'off', '--overload-event-loop-delay', 'off',
  ];
  const first = await startServeProcess(args);
  proxy.backends = [first.url];
  const fleet = Array.from({ length: 6 }, () => new SupervisorAgent({ serverUrl: proxy.url, version: '0.110.0', maxRetries: 2 }));
  for (const agent of fleet) await agent.poll();
  const created = await fetch(`${first.url}/api/v1/rollouts`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ version: '0.111.0', waves: [{ percent: 50, min_wait_seconds: 3600 }, { percent: 100 }] }),
  });
  t.equal(created.status, 201);
  const id = ((await created.json()) as { id: string }).id;
  for (let round = 0; round < 8; round += 1) for (const agent of fleet) await agent.poll();
  const upgraded = fleet.filter((agent) => agent.currentVersion === '0.111.0');
  const waiting = fleet.filter((agent) => agent.currentVersion === '0.110.0');
  t.equal(upgraded.length, 3, 'the first wave upgraded');

  const arrivals: Array<{ agent: SupervisorAgent; ok: boolean }> = [];
  let killed = false;
  const burst = [
    ...fleet.map(async (agent) => {
      while (!killed) await agent.poll();
    }),
    (async () => {
      for (let index = 0; index < NEW_AGENTS && !killed; index += 1) {
        const agent = new SupervisorAgent({ serverUrl: proxy.url, version: '0.110.0', maxRetries: 0 });
        await agent.poll();
        arrivals.push({ agent, ok: agent.errors.length === 0 });
        await sleep(15);
      }
    })(),
  ];
  // Several batch windows, and enough arrivals even on a busy machine.
  await waitForBurst(arrivals);
  first.child.kill('SIGKILL');
  killed = true;
  await Promise.all(burst);
  await first.stop();

  const store = await openDirect();
  try {
    const rollouts = store.rolloutStore();
    const rollout = await rollouts.getRollout(id);
    t.equal(rollout?.status, 'active', 'the rollout is still active');
    const members = await rollouts.queryMembers(id, { limit: 1000 });
    t.same(rollout?.waves.map((wave) => wave.admitted), [0, 1].map((wave) => members.filter((member) => member.wave === wave).length),
      'each wave counts exactly its members');
    const answered = arrivals.filter((arrival) => arrival.ok);
    t.ok(answered.length > 5, `${answered.length} arrivals were answered before the kill`);
    for (const arrival of answered) t.ok(await rollouts.getMember(id, canonical(arrival.agent.instanceUid)), 'an answered arrival was admitted');
    for (const agent of upgraded) {
      t.equal((await rollouts.getMember(id, canonical(agent.instanceUid)))?.state, 'installed', 'upgrade state: installed');
      t.equal((await store.getAgent(canonical(agent.instanceUid)))?.packageStatuses?.packages['']?.status, 0, 'package state: installed');
    }
    for (const agent of waiting) t.equal((await rollouts.getMember(id, canonical(agent.instanceUid)))?.state, 'scheduled', 'still scheduled');
  } finally {
    await store.close();
  }

  const before = await restartAndReplay(t, args, proxy, fleet);
  fleet.forEach((agent, index) => {
    t.same(agent.errors.filter((error) => error.kind !== 'network' && error.kind !== 'http'), [], 'no server errors');
    t.equal(agent.statusesSent.length, before[index]!.statuses, 'not installed again');
    t.ok(agent.offersReceived <= before[index]!.offers + 1, 'at most the full-state answer repeats the same offer');
  });
  t.ok(upgraded.every((agent) => agent.downloads === 1 && agent.currentVersion === '0.111.0'), 'the first wave is not downloaded again');
  t.ok(waiting.every((agent) => agent.offersReceived === 0 && agent.downloads === 0), 'the shut wave is offered nothing, crash or not');
}

t.test('SQLite: kill -9 during a burst, restart on the same directory', async (t) => {
  const dataDir = temporaryDirectory('opamp-crash-data-');
  await crashAndRestart(t, ['--data-dir', dataDir], async () => new SqliteStore({ dataDir }), 5000);
});

t.test('PostgreSQL: kill -9 during a burst, restart on the same schema', async (t) => {
  if (POSTGRES_URL === undefined) {
    t.plan(0, SKIP_REASON);
    return;
  }
  const schema = await ownSchema(t, 'crash');
  await crashAndRestart(t, ['--store', schemaUrl(schema)], () => PostgresStore.open({ url: schemaUrl(schema) }), 6000);
});

t.test('SQLite: kill -9 during a burst and an active rollout', async (t) => {
  const dataDir = temporaryDirectory('opamp-crash-data-');
  await crashDuringRollout(t, ['--data-dir', dataDir], async () => new SqliteStore({ dataDir }));
});

t.test('PostgreSQL: kill -9 during a burst and an active rollout', async (t) => {
  if (POSTGRES_URL === undefined) {
    t.plan(0, SKIP_REASON);
    return;
  }
  const schema = await ownSchema(t, 'crash_rollout');
  await crashDuringRollout(t, ['--store', schemaUrl(schema)], () => PostgresStore.open({ url: schemaUrl(schema) }));
});
