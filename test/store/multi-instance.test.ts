// Two real server processes on one PostgreSQL schema behind a proxy that alternates each agent's
// polls between them: the fleet must get the answers one instance would give. Runs dist/, so
// `npm run build` first (npm test does).
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { ServerToAgentFlag } from '../../src/opamp/codec';
import { makeCollectorTarball } from '../fixtures/tarballs';
import { startServeProcess, type ServeProcess } from '../helpers/cli';
import { poll, temporaryDirectory, uid } from '../helpers/server';
import { SupervisorAgent } from '../helpers/supervisor-agent';
import { waitFor } from '../helpers/wait';
import { POSTGRES_URL, SKIP_REASON, ownSchema, schemaUrl } from './postgres-helpers';
import { startProxy, type Proxy } from './proxy';

/** Well below the poll interval, as 1 s is below the agents' 30 s in production. */
const WRITE_BATCH_MS = 50;
const POLL_INTERVAL_MS = 150;
/** Instances reread rollouts every second (the service's default); this leaves room for one slow read. */
const ROLLOUT_REFRESH_SLACK_MS = 2500;

async function releaseDirectory(): Promise<string> {
  const directory = temporaryDirectory('opamp-multi-');
  const tarball = await makeCollectorTarball(directory, { distribution: 'otelcol-contrib', version: '0.111.0', os: 'linux', arch: 'amd64' });
  // The directory source only takes files that stopped changing.
  const past = new Date(Date.now() - 120_000);
  fs.utimesSync(tarball.path, past, past);
  return directory;
}

function fullStateRequests(agent: SupervisorAgent): number {
  return agent.received.filter((answer) => (Number(answer.flags ?? 0) & ServerToAgentFlag.ReportFullState) !== 0).length;
}

async function upgradeFleet(t: Test, proxy: Proxy, size: number, headers?: Record<string, string>): Promise<SupervisorAgent[]> {
  const fleet = Array.from({ length: size }, () => new SupervisorAgent({ serverUrl: proxy.url, version: '0.110.0', headers }));
  await Promise.all(fleet.map((agent) =>
    agent.runUntil((current) => current.currentVersion === '0.111.0' && !current.installing, { maxPolls: 30, intervalMs: POLL_INTERVAL_MS })));
  // A few quiet polls more: nothing may be offered again.
  for (let round = 0; round < 4; round += 1) {
    await Promise.all(fleet.map((agent) => agent.poll()));
    await sleep(POLL_INTERVAL_MS);
  }
  for (const agent of fleet) {
    t.same(agent.errors, [], 'no errors');
    t.equal(fullStateRequests(agent), 1, 'full state asked once, on the first poll only');
    t.equal(agent.offersReceived, 1, 'offered once');
    t.equal(agent.downloads, 1, 'downloaded once');
    const served = proxy.log.filter((entry) => entry.method === 'POST' && entry.instanceUid === agent.instanceUid.toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'));
    t.same(served.map((entry) => entry.backend), served.map((_, index) => index % 2), 'its polls alternated');
  }
  return fleet;
}

if (POSTGRES_URL === undefined) {
  t.plan(0, SKIP_REASON);
} else {
  t.test('an agent alternating between two instances gets the answers of one', async (t) => {
    const schema = await ownSchema(t, 'multi');
    const directory = await releaseDirectory();
    const proxy = await startProxy([]);
    t.teardown(() => proxy.close());
    const args = [
      '--store', schemaUrl(schema), '--write-batch-ms', String(WRITE_BATCH_MS), '--packages-dir', directory,
      '--allow-unsigned', '--trusted-root-refresh', 'false', '--offer', 'latest', '--public-url', proxy.url,
    ];
    // Started together: the migrations race, and the advisory lock must sort them out.
    const instances: ServeProcess[] = await Promise.all([startServeProcess(args), startServeProcess(args)]);
    t.teardown(() => Promise.all(instances.map((instance) => instance.stop())));
    proxy.backends = instances.map((instance) => instance.url);
    // Downloads go to the instance that did not answer the agent's last poll.
    const lastPoll = new Map<string, number>();
    proxy.choose = (request, instanceUid) => {
      if (request.method === 'POST' && instanceUid !== undefined) {
        const next = ((lastPoll.get(instanceUid) ?? 1) + 1) % 2;
        lastPoll.set(instanceUid, next);
        return next;
      }
      return instanceUid === undefined ? 0 : 1 - (lastPoll.get(instanceUid) ?? 0);
    };

    const open = await upgradeFleet(t, proxy, 4);
    const downloads = proxy.log.filter((entry) => entry.method === 'GET');
    t.ok(downloads.length >= open.length && downloads.every((entry) => entry.status === 200), 'downloads served');

    // An agent key made on one instance: the other starts to require it within its reload period.
    const created = await fetch(`${instances[0]!.url}/api/v1/agent-keys`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'fleet' }),
    });
    t.equal(created.status, 201);
    const { key } = (await created.json()) as { key: string };
    // A poll the other instance let in before its reload is an agent of the fleet, counted below.
    let acceptedBeforeReload = 0;
    const refused = await waitFor('the other instance to ask for the key', async () => {
      const status = (await poll(instances[1]!.url, { instanceUid: uid(900), sequenceNum: 0, capabilities: 1 })).status;
      if (status === 401) return status;
      acceptedBeforeReload = 1;
      return undefined;
    }, { timeoutMs: 15_000, intervalMs: 250 });
    t.equal(refused, 401, 'the other instance asks for the key too');
    const accepted = await poll(instances[1]!.url, { instanceUid: uid(901), sequenceNum: 0, capabilities: 1 }, { authorization: `ApiKey ${key}` });
    t.equal(accepted.status, 200, 'and accepts the key made on the first');

    // With keys on, offers carry download tokens; each is used at the instance that did not issue it.
    const before = proxy.log.length;
    await upgradeFleet(t, proxy, 3, { Authorization: `ApiKey ${key}` });
    const tokenDownloads = proxy.log.slice(before).filter((entry) => entry.method === 'GET');
    t.ok(tokenDownloads.length >= 3, 'downloads with tokens happened');
    t.ok(tokenDownloads.every((entry) => entry.status === 200), 'every token was accepted by the other instance');

    const listing = await fetch(`${instances[1]!.url}/api/v1/agents?limit=100`);
    const body = (await listing.json()) as { agents: unknown[] };
    t.equal(body.agents.length, open.length + 3 + 1 + acceptedBeforeReload, 'both instances wrote to one fleet');
  });

  t.test('a rollout across two instances: one wave share, one upgrade state, one pause', async (t) => {
    const schema = await ownSchema(t, 'multi_rollout');
    const directory = await releaseDirectory();
    const proxy = await startProxy([]);
    t.teardown(() => proxy.close());
    // No --offer: only the rollout offers anything, so every offer counted here is the rollout's.
    const args = [
      '--store', schemaUrl(schema), '--write-batch-ms', String(WRITE_BATCH_MS), '--packages-dir', directory,
      '--allow-unsigned', '--trusted-root-refresh', 'false', '--public-url', proxy.url,
    ];
    const instances: ServeProcess[] = await Promise.all([startServeProcess(args), startServeProcess(args)]);
    t.teardown(() => Promise.all(instances.map((instance) => instance.stop())));
    proxy.backends = instances.map((instance) => instance.url);
    const admin = async (instance: number, method: string, route: string, body?: unknown) => {
      const answer = await fetch(`${instances[instance]!.url}${route}`, {
        method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: answer.status, body: (await answer.json()) as RolloutView };
    };

    // Made before any agent is known: every agent is admitted late, by whichever instance it polls,
    // and the second wave waits an hour, so the first wave's share is all that may upgrade.
    const created = await admin(0, 'POST', '/api/v1/rollouts', { version: '0.111.0', waves: [{ percent: 30, min_wait_seconds: 3600 }, { percent: 100 }] });
    t.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    await sleep(ROLLOUT_REFRESH_SLACK_MS);
    const fleet = Array.from({ length: 20 }, () => new SupervisorAgent({ serverUrl: proxy.url, version: '0.110.0' }));
    const rounds = async (agents: SupervisorAgent[], count: number): Promise<void> => {
      for (let round = 0; round < count; round += 1) {
        // All at once: admissions race between the two instances.
        await Promise.all(agents.map((agent) => agent.poll()));
        await sleep(POLL_INTERVAL_MS);
      }
    };
    await rounds(fleet, 8);
    const upgraded = (agents: SupervisorAgent[]) => agents.filter((agent) => agent.currentVersion === '0.111.0').length;
    t.equal(upgraded(fleet), 6, 'ceil(30% of 20) upgraded');
    t.ok(fleet.every((agent) => agent.offersReceived <= 1 && agent.downloads <= 1), 'nobody offered or downloading twice');
    t.same(fleet.flatMap((agent) => agent.errors), []);
    await sleep(ROLLOUT_REFRESH_SLACK_MS);
    const views = await Promise.all([0, 1].map((instance) => admin(instance, 'GET', `/api/v1/rollouts/${id}`)));
    for (const view of views) {
      t.same(view.body.waves.map((wave) => wave.agents), [6, 14], 'the waves as one instance would fill them');
      t.equal(view.body.states.installed, 6, 'installed, as both instances see it');
      t.equal(view.body.states.scheduled, 14);
    }

    // A pause decided on the second instance holds on the first within its refresh interval.
    t.equal((await admin(1, 'POST', `/api/v1/rollouts/${id}/pause`)).status, 200);
    await sleep(ROLLOUT_REFRESH_SLACK_MS);
    t.equal((await admin(0, 'GET', `/api/v1/rollouts/${id}`)).body.status, 'paused', 'the first instance sees the pause');
    const late = Array.from({ length: 10 }, () => new SupervisorAgent({ serverUrl: proxy.url, version: '0.110.0' }));
    await rounds(late, 4);
    t.equal(late.reduce((sum, agent) => sum + agent.offersReceived, 0), 0, 'no instance offers anything while paused');
    t.ok(proxy.log.some((entry) => entry.backend === 0) && proxy.log.some((entry) => entry.backend === 1), 'both instances answered');

    t.equal((await admin(0, 'POST', `/api/v1/rollouts/${id}/resume`)).status, 200);
    await sleep(ROLLOUT_REFRESH_SLACK_MS);
    await rounds([...fleet, ...late], 8);
    t.equal(upgraded([...fleet, ...late]), 9, 'after the resume the first wave fills to ceil(30% of 30)');
    const after = await admin(1, 'GET', `/api/v1/rollouts/${id}`);
    t.same(after.body.waves.map((wave) => wave.agents), [9, 21]);
    t.ok([...fleet, ...late].every((agent) => agent.offersReceived <= 1 && agent.downloads <= 1), 'still nobody offered twice');
  });
}

/** The parts of GET /api/v1/rollouts/{id} this test reads. */
interface RolloutView {
  id: string;
  status: string;
  states: Record<string, number>;
  waves: Array<{ agents: number }>;
}
