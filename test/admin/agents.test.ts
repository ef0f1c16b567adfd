// The fleet listing: filters, opaque cursors over a few thousand agents, one agent's details
// with its package status history, and forgetting agents by hand and by age.
import t from 'tap';
import { uidToString } from '../../src/opamp/codec';
import type { AgentRecord } from '../../src/agents/records';
import { description, poll, startServer, uid } from '../helpers/server';
import { call, waitFor } from './helpers';

const DAY = 86_400_000;

function seededRecord(index: number, nowMs: number): AgentRecord {
  return {
    instanceUid: uidToString(uid(100_000 + index)),
    capabilities: 1,
    sequenceNum: 0,
    description: {
      identifying: { 'service.name': 'otelcol-contrib', 'service.version': index % 2 === 0 ? '0.110.0' : 'v0.111.0' },
      nonIdentifying: { 'os.type': index % 3 === 0 ? 'windows' : 'linux', 'host.arch': index % 5 === 0 ? 'aarch64' : 'x86_64', 'host.name': `host-${index}` },
    },
    health: undefined,
    packageStatuses: undefined,
    lastOffer: undefined,
    firstSeenMs: nowMs - DAY,
    // Every seventh has been silent for an hour; every eleventh said goodbye.
    lastSeenMs: index % 7 === 0 ? nowMs - 3_600_000 : nowMs,
    disconnected: index % 11 === 0,
  };
}

async function collect(url: string, query: string, limit: number): Promise<{ uids: string[]; pages: number }> {
  const uids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const suffix: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
    const page = await call(url, 'GET', `/api/v1/agents?limit=${limit}${query}${suffix}`);
    if (page.status !== 200) throw new Error(page.text);
    uids.push(...page.body.agents.map((agent: { instance_uid: string }) => agent.instance_uid));
    cursor = page.body.next_cursor;
    pages += 1;
  } while (cursor !== null);
  return { uids, pages };
}

t.test('pagination and filters over 3000 agents', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const nowMs = Date.now();
  const total = 3000;
  const records = Array.from({ length: total }, (_, index) => seededRecord(index, nowMs));
  for (const record of records) await server.store.putAgent(record, false);

  const all = await collect(server.url, '', 250);
  t.equal(all.uids.length, total, 'every agent once');
  t.equal(new Set(all.uids).size, total, 'no duplicates across pages');
  t.same(all.uids, [...all.uids].sort(), 'in uid order');
  t.equal(all.pages, 12);

  const expect = (predicate: (index: number) => boolean) => records.filter((_, index) => predicate(index)).length;
  const cases: Array<[string, number]> = [
    ['&version=0.111.0', expect((index) => index % 2 === 1)],
    ['&version=v0.110.0', expect((index) => index % 2 === 0)],
    ['&os=Windows', expect((index) => index % 3 === 0)],
    ['&arch=arm64', expect((index) => index % 5 === 0)],
    ['&arch=amd64&os=linux', expect((index) => index % 5 !== 0 && index % 3 !== 0)],
    ['&distribution=otelcol-contrib', total],
    ['&distribution=otelcol-k8s', 0],
    ['&attribute=host.name%3Dhost-42', 1],
    ['&status=disconnected', expect((index) => index % 11 === 0)],
    ['&status=offline', expect((index) => index % 11 !== 0 && index % 7 === 0)],
    ['&status=online', expect((index) => index % 11 !== 0 && index % 7 !== 0)],
    ['&status=online&version=0.110.0', expect((index) => index % 11 !== 0 && index % 7 !== 0 && index % 2 === 0)],
    // host-42 and host-420 to host-429; the search box of the console.
    ['&search=HOST-42', 11],
    [`&search=${records[17]!.instanceUid.slice(-6).toUpperCase()}`, 1],
    ['&search=host-4&os=windows', expect((index) => String(index).startsWith('4') && index % 3 === 0)],
    // LIKE's wildcards are plain characters here.
    ['&search=host_42', 0],
    ['&search=%25', 0],
  ];
  for (const [query, count] of cases) {
    const filtered = await collect(server.url, query, 400);
    t.equal(filtered.uids.length, count, `${query}: ${count}`);
  }
  const fleet = await call(server.url, 'GET', '/api/v1/fleet');
  t.equal(fleet.status, 200);
  t.same(fleet.body.by_state, {
    online: expect((index) => index % 11 !== 0 && index % 7 !== 0),
    offline: expect((index) => index % 11 !== 0 && index % 7 === 0),
    disconnected: expect((index) => index % 11 === 0),
  }, 'the fleet by state, as the filters count it');
  t.same(fleet.body.by_version, [
    { version: '0.110.0', agents: total / 2 },
    { version: 'v0.111.0', agents: total / 2 },
  ], 'by version as reported');
  t.equal(fleet.body.agents, total);
  const platform = (os: string, arch: string) => fleet.body.by_platform.find((row: { os: string; arch: string }) => row.os === os && row.arch === arch)?.agents;
  t.equal(platform('windows', 'arm64'), expect((index) => index % 3 === 0 && index % 5 === 0), 'aarch64 counts as arm64');
  t.equal(platform('linux', 'amd64'), expect((index) => index % 3 !== 0 && index % 5 !== 0));
  t.equal(fleet.body.by_platform.length, 4);
  const agentsOf = fleet.body.by_platform.map((row: { agents: number }) => row.agents);
  t.same(agentsOf, [...agentsOf].sort((left: number, right: number) => right - left), 'largest first');

  const first = await call(server.url, 'GET', '/api/v1/agents?limit=2&status=offline');
  t.same(first.body.agents.map((agent: { state: string }) => agent.state), ['offline', 'offline'], 'the state shown agrees with the filter');

  for (const [query, field] of [
    ['?status=sleeping', 'status'],
    ['?limit=5000', 'limit'],
    ['?limit=ten', 'limit'],
    ['?cursor=not-a-cursor', 'cursor'],
    ['?attribute=novalue', 'attribute'],
  ]) {
    const answer = await call(server.url, 'GET', `/api/v1/agents${query}`);
    t.equal(answer.status, 400, `${query}: 400`);
    t.match(answer.body, { code: 'BAD_REQUEST', error: new RegExp(`querystring/${field}`) }, `${query}: the message names ${field}`);
  }
});

t.test('one agent: details, capabilities by name, last offer and package status history', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const agent = uid(7);
  const text = uidToString(agent);
  const statuses = (status: number, version: string, errorMessage = '') => ({
    packages: { '': { name: '', agentHasVersion: version, status, serverOfferedVersion: 'v0.111.0', errorMessage } },
  });
  const base = { instanceUid: agent, capabilities: 0x1 | 0x10 | 0x800 };
  await poll(server.url, {
    ...base,
    sequenceNum: 0,
    agentDescription: description({ 'service.name': 'otelcol-contrib', 'service.version': '0.110.0' }, { 'os.type': 'linux', 'host.arch': 'amd64' }),
    health: { healthy: true, status: 'StatusOK' },
    packageStatuses: statuses(0, 'v0.110.0'),
  });
  await poll(server.url, { ...base, sequenceNum: 1, packageStatuses: statuses(4, 'v0.110.0') });
  await poll(server.url, { ...base, sequenceNum: 2, packageStatuses: statuses(4, 'v0.110.0') });
  await poll(server.url, { ...base, sequenceNum: 3 });
  await poll(server.url, { ...base, sequenceNum: 4, packageStatuses: statuses(3, 'v0.110.0', 'checksum mismatch') });
  await poll(server.url, { ...base, sequenceNum: 5, packageStatuses: statuses(0, 'v0.111.0') });

  const detail = await call(server.url, 'GET', `/api/v1/agents/${text.toUpperCase()}`);
  t.equal(detail.status, 200, 'upper case is accepted');
  t.match(detail.body, {
    instance_uid: text,
    state: 'online',
    distribution: 'otelcol-contrib',
    version: '0.110.0',
    os: 'linux',
    arch: 'amd64',
    capabilities: ['ReportsStatus', 'ReportsPackageStatuses', 'ReportsHealth'],
    capabilities_mask: 0x811,
    client_certificate_subject: null,
    sequence_num: 5,
    healthy: true,
    health: { healthy: true, status: 'StatusOK' },
    last_offer: null,
    package_statuses: { packages: [{ name: '', status: 'installed', agent_has_version: 'v0.111.0' }] },
  });
  t.same(
    detail.body.history.map((change: Record<string, string | null>) => [change.from_status, change.to_status, change.to_version, change.error_message]),
    [
      ['install_failed', 'installed', 'v0.111.0', ''],
      ['downloading', 'install_failed', 'v0.110.0', 'checksum mismatch'],
      ['installed', 'downloading', 'v0.110.0', ''],
      [null, 'installed', 'v0.110.0', ''],
    ],
    'one row per change, newest first; repeats and omitted statuses add none',
  );
  t.equal((await call(server.url, 'GET', '/api/v1/agents/not-a-uid')).status, 400);
  t.match((await call(server.url, 'GET', '/api/v1/agents/not-a-uid')).body.error, /params\/instance_uid/);
  t.equal((await call(server.url, 'GET', `/api/v1/agents/${uidToString(uid(8))}`)).status, 404);

  t.equal((await call(server.url, 'DELETE', `/api/v1/agents/${text}`)).status, 200, 'forgotten');
  t.equal((await call(server.url, 'GET', `/api/v1/agents/${text}`)).status, 404);
  t.equal((await call(server.url, 'DELETE', `/api/v1/agents/${text}`)).status, 404, 'twice: 404');
  t.same(await server.store.listPackageStatusChanges(text, 10), [], 'its history went with it');
  const back = await poll(server.url, { ...base, sequenceNum: 6 });
  t.equal(Number(back.message!.flags) & 1, 1, 'a forgotten agent that polls again is asked for full state');
});

t.test('--forget-agents-after forgets agents unseen for that long', async (t) => {
  let clock = Date.now();
  const server = await startServer({}, { now: () => clock });
  t.teardown(() => server.close());
  await poll(server.url, { instanceUid: uid(1), capabilities: 1 });
  clock += 10 * DAY;
  await poll(server.url, { instanceUid: uid(2), capabilities: 1 });
  clock += 21 * DAY;
  t.equal(await server.forgetStaleAgents(), 1, 'the default is 30 days');
  const left = await call(server.url, 'GET', '/api/v1/agents');
  t.same(left.body.agents.map((agent: { instance_uid: string }) => agent.instance_uid), [uidToString(uid(2))]);

  const quick = await startServer({ 'forget-agents-after': '1s' });
  t.teardown(() => quick.close());
  await poll(quick.url, { instanceUid: uid(3), capabilities: 1 });
  t.equal(await quick.store.countAgents(), 1);
  await waitFor(async () => (await quick.store.countAgents()) === 0, 'the timer to forget the agent');
  t.equal(await quick.store.countAgents(), 0, 'the timer forgot it');
});
