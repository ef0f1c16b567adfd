// Download tokens: with agent auth on, each offer carries an Authorization header bound to the
// agent and the file, valid for --download-token-lifetime; downloads without one get 401. The
// same test watches the metrics move as polls, offers and downloads happen.
import fs from 'node:fs';
import t from 'tap';
import { makeCollectorTarball } from '../fixtures/tarballs';
import { description, poll, startServer, temporaryDirectory, uid } from '../helpers/server';
import { call, keyFile, sample } from './helpers';

const AGENT_KEY = 'agent-key-0123456789abcdef';
const HOUR = 3_600_000;

async function releaseDirectory() {
  const dir = temporaryDirectory('opamp-tokens-');
  const amd64 = await makeCollectorTarball(dir, { distribution: 'otelcol-contrib', version: '0.111.0', os: 'linux', arch: 'amd64' });
  const arm64 = await makeCollectorTarball(dir, { distribution: 'otelcol-contrib', version: '0.111.0', os: 'linux', arch: 'arm64', extraFiles: { 'README.md': 'another build' } });
  const past = new Date(Date.now() - 60_000); // the directory source only takes files that stopped changing
  for (const file of [amd64, arm64]) fs.utimesSync(file.path, past, past);
  return { dir, amd64, arm64 };
}

function agentPoll(seed: number, arch: string) {
  return {
    instanceUid: uid(seed),
    sequenceNum: 0,
    capabilities: 0x1 | 0x8 | 0x10,
    agentDescription: description({ 'service.name': 'otelcol-contrib', 'service.version': '0.110.0' }, { 'os.type': 'linux', 'host.arch': arch }),
  };
}

t.test('offers carry a per-agent token; downloads need a valid one', async (t) => {
  const { dir, arm64 } = await releaseDirectory();
  let clock = Date.now();
  const server = await startServer(
    { 'packages-dir': dir, 'allow-unsigned': true, 'trusted-root-refresh': 'false', offer: 'latest', 'agent-keys-file': keyFile({ fleet: AGENT_KEY }) },
    { now: () => clock },
  );
  t.teardown(() => server.close());
  const auth = { authorization: `ApiKey ${AGENT_KEY}` };
  const metricsBefore = (await call(server.url, 'GET', '/metrics')).text;

  const first = await poll(server.url, agentPoll(10, 'amd64'), auth);
  const second = await poll(server.url, agentPoll(11, 'amd64'), auth);
  const offered = first.message!.packagesAvailable!.packages![''];
  const other = second.message!.packagesAvailable!.packages![''];
  const headers = offered!.file!.headers!.headers!;
  t.equal(headers.length, 1);
  t.equal(headers[0]!.key, 'Authorization');
  t.match(headers[0]!.value, /^Bearer [0-9a-f]{32}\.\d+\.[A-Za-z0-9_-]{43}$/);
  t.not(other!.file!.headers!.headers![0]!.value, headers[0]!.value, 'each agent has its own token');
  t.same(Buffer.from(other!.hash!), Buffer.from(offered!.hash!), 'the token is not part of the package hash');
  t.same(
    Buffer.from(second.message!.packagesAvailable!.allPackagesHash!),
    Buffer.from(first.message!.packagesAvailable!.allPackagesHash!),
    'nor of all_packages_hash',
  );

  const url = offered!.file!.downloadUrl!;
  const token = headers[0]!.value!;
  const missing = await fetch(url);
  t.equal(missing.status, 401, 'no token: 401');
  t.equal(missing.headers.get('www-authenticate'), 'Bearer');
  t.match(await missing.json(), { code: 'UNAUTHORIZED', error: /token is required/ });
  t.equal((await fetch(url, { headers: { authorization: `ApiKey ${AGENT_KEY}` } })).status, 401, 'an agent key is no download token');
  const good = await fetch(url, { headers: { authorization: token } });
  t.equal(good.status, 200, 'with the token: 200');
  const bytes = Buffer.from(await good.arrayBuffer());
  t.equal((await fetch(url, { method: 'HEAD', headers: { authorization: token } })).status, 200);

  const armUrl = url.replace(/\/v1\/packages\/[0-9a-f]{64}\/[^/]+$/, `/v1/packages/${arm64.sha256.toString('hex')}/${arm64.fileName}`);
  const wrongFile = await fetch(armUrl, { headers: { authorization: token } });
  t.equal(wrongFile.status, 401, 'a token for another file: 401');
  t.match(await wrongFile.json(), { error: /not valid for this file/ });
  const [uidHex, expiry, mac] = token.slice('Bearer '.length).split('.');
  const otherAgent = `Bearer ${uidHex!.replace(/^.{2}/, 'ff')}.${expiry}.${mac}`;
  t.equal((await fetch(url, { headers: { authorization: otherAgent } })).status, 401, 'moved to another agent: 401');
  const later = `Bearer ${uidHex}.${Number(expiry) + 3600}.${mac}`;
  t.equal((await fetch(url, { headers: { authorization: later } })).status, 401, 'a stretched expiry: 401');

  clock += 23 * HOUR;
  t.equal((await fetch(url, { headers: { authorization: token } })).status, 200, 'still valid after 23 h');
  clock += 2 * HOUR;
  const expired = await fetch(url, { headers: { authorization: token } });
  t.equal(expired.status, 401, 'expired after 24 h: 401');
  t.match(await expired.json(), { error: /expired/ });

  const metrics = (await call(server.url, 'GET', '/metrics')).text;
  t.equal(sample(metrics, 'opamp_polls_total', '{outcome="ok"}') - sample(metricsBefore, 'opamp_polls_total', '{outcome="ok"}'), 2, 'two polls');
  t.equal(sample(metrics, 'opamp_offers_sent_total'), 2, 'two offers');
  t.equal(sample(metrics, 'opamp_package_downloads_total', '{code="200"}'), 3, 'three served (GET, HEAD, GET)');
  t.equal(sample(metrics, 'opamp_package_downloads_total', '{code="401"}'), 6, 'six refused');
  t.equal(sample(metrics, 'opamp_package_download_bytes_total'), bytes.length * 2, 'bytes of the two GETs');
  t.equal(sample(metrics, 'opamp_catalog_packages', '{verdict="offerable"}'), 2);
  t.match(metrics, /http_request_duration_seconds_count\{method="POST",route="\/v1\/opamp",status_code="200"\} 2/);
  t.match(metrics, /opamp_store_operation_duration_seconds_count\{operation="getAgent"\} [1-9]/);
  // Both polls carried an offer, so both wrote at once: both are timed.
  const writes = (text: string): number => sample(text, 'opamp_store_operation_duration_seconds_count', '{operation="putAgent"}');
  const reads = (text: string): number => sample(text, 'opamp_store_operation_duration_seconds_count', '{operation="getAgent"}');
  t.equal(writes(metrics), 2, 'two writes timed');

  // A routine poll of a known agent: its record is in memory and its write joins the batch.
  const routine = await poll(server.url, { instanceUid: uid(10), sequenceNum: 1, capabilities: 0x1 | 0x8 | 0x10 }, auth);
  t.equal(routine.status, 200);
  t.notOk(routine.message!.packagesAvailable, 'nothing new to offer');
  const afterRoutine = (await call(server.url, 'GET', '/metrics')).text;
  t.equal(sample(afterRoutine, 'opamp_polls_total', '{outcome="ok"}') - sample(metrics, 'opamp_polls_total', '{outcome="ok"}'), 1, 'the poll is counted');
  t.equal(writes(afterRoutine), 2, 'its batched write waits on nothing and is not timed');
  t.equal(reads(afterRoutine), reads(metrics), 'nor is a record read from memory');
  // The clock moved 25 h since the polls, so both agents now count as offline.
  t.match(metrics, /opamp_agents\{state="offline",version="0.110.0"\} 2/);
});

t.test('without agent auth offers carry no headers and downloads need no token', async (t) => {
  const { dir } = await releaseDirectory();
  const server = await startServer({ 'packages-dir': dir, 'allow-unsigned': true, 'trusted-root-refresh': 'false', offer: 'latest' });
  t.teardown(() => server.close());
  const answer = await poll(server.url, agentPoll(20, 'amd64'));
  const file = answer.message!.packagesAvailable!.packages![''].file!;
  t.notOk(file.headers, 'no headers');
  t.equal((await fetch(file.downloadUrl!)).status, 200);
  const bad = await poll(server.url, { instanceUid: Buffer.alloc(3) });
  t.equal(bad.status, 400);
  const metrics = (await call(server.url, 'GET', '/metrics')).text;
  t.equal(sample(metrics, 'opamp_polls_total', '{outcome="BAD_INSTANCE_UID"}'), 1, 'refused polls counted by code');
});
