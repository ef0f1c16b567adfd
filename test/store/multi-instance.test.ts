// Two real server processes on one PostgreSQL schema behind a proxy that alternates each agent's
// polls between them: the fleet must get the answers one instance would give. Runs dist/, so
// `npm run build` first (npm test does).
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { ServerToAgentFlag } from '../../src/opamp/codec';
import { makeCollectorTarball } from '../fixtures/tarballs';
import { startServeProcess, type ServeProcess } from '../helpers/cli';
import { poll, temporaryDirectory, uid } from '../helpers/server';
import { SupervisorAgent } from '../helpers/supervisor-agent';
import { POSTGRES_URL, SKIP_REASON, ownSchema, schemaUrl } from './postgres-helpers';
import { startProxy, type Proxy } from './proxy';

/** Well below the poll interval, as 1 s is below the agents' 30 s in production. */
const WRITE_BATCH_MS = 50;
const POLL_INTERVAL_MS = 150;

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

type Test = Parameters<Parameters<typeof t.test>[1]>[0];

if (POSTGRES_URL === undefined) {
  t.skip(SKIP_REASON);
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
    const deadline = Date.now() + 15_000;
    let refused = 0;
    let acceptedBeforeReload = 0;
    while (Date.now() < deadline) {
      refused = (await poll(instances[1]!.url, { instanceUid: uid(900), sequenceNum: 0, capabilities: 1 })).status;
      if (refused === 401) break;
      acceptedBeforeReload = 1;
      await sleep(250);
    }
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
}
