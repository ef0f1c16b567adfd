// Racing polls for one agent, on both stores (PostgreSQL when OPAMP_TEST_POSTGRES_URL is set):
// the same uid from two connections at once, round after round, and a RequestInstanceUid racing
// a plain poll. The stored record ends whole, its sequence number never goes backwards, and each
// offer reaches the agent exactly once: no answer repeats it, and what the record says was sent
// was sent.
import fs from 'node:fs';
import http from 'node:http';
import t, { type Test } from 'tap';
import { decodeServerToAgent, encodeAgentToServer, uidToString, type AgentToServerInit, type ServerToAgent } from '../../src/opamp/codec';
import { makeCollectorTarball } from '../fixtures/tarballs';
import { description, uid } from '../helpers/server';
import { ownSchema, POSTGRES_URL, schemaUrl, SKIP_REASON } from '../store/postgres-helpers';
import { fleet, type Fleet } from '../rollouts/helpers';
import { ACCEPTS_PACKAGES, hex } from '../e2e/helpers';
import { waitFor } from '../helpers/wait';

t.setTimeout(300_000);

const ROUNDS = 60;

/** A client holding one keep-alive connection: two of them poll over two connections at once. */
function connection(url: string): { poll(message: AgentToServerInit): Promise<ServerToAgent>; close(): void } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return {
    poll: (message) => new Promise((resolve, reject) => {
      const call = http.request(`${url}/v1/opamp`, { method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf' } }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          if (response.statusCode !== 200) reject(new Error(`poll answered ${response.statusCode}`));
          else resolve(decodeServerToAgent(Buffer.concat(chunks)));
        });
      });
      call.on('error', reject);
      call.end(encodeAgentToServer(message));
    }),
    close: () => agent.destroy(),
  };
}

const describe = () => description({ 'service.name': 'otelcol-contrib', 'service.version': '0.110.0' }, { 'os.type': 'linux', 'host.arch': 'amd64', 'host.name': 'racer' });

/** Versions offered in these answers, in order; '' for none. */
const offered = (answers: ServerToAgent[]): string[] => answers.map((answer) => answer.packagesAvailable?.packages?.['']?.version ?? '');

async function sameUidTwice(t: Test, server: Fleet): Promise<void> {
  const [left, right] = [connection(server.server.url), connection(server.server.url)];
  t.teardown(() => {
    left.close();
    right.close();
  });
  const agent = uid(7100);
  const text = uidToString(agent);
  const answers: ServerToAgent[] = [];
  let stored = -1;
  let lastOfferHash = '';
  let lastRound = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    if (round === ROUNDS / 2) {
      // A new release mid-run: the racing pairs after it must carry it once between them.
      const tarball = await makeCollectorTarball(server.config.packagesDir!, { distribution: 'otelcol-contrib', version: '0.113.0', os: 'linux', arch: 'amd64' });
      const past = new Date(Date.now() - 120_000);
      fs.utimesSync(tarball.path, past, past);
      // The rounds must not outrun the catalog: on a fast machine the remaining rounds took less
      // time than the directory watch's debounce and scan, and the release came in later, during
      // the next test, as a second offer there.
      await waitFor('the catalog to list 0.113.0', async () => JSON.stringify((await server.admin('GET', '/api/v1/packages')).body).includes('0.113.0'));
    }
    // Both connections send the same message at once: a retry racing its original.
    const message: AgentToServerInit = {
      instanceUid: agent, sequenceNum: round, capabilities: ACCEPTS_PACKAGES, ...(round === 0 ? { agentDescription: describe() } : {}),
    };
    const pair = await Promise.all([left.poll(message), right.poll(message)]);
    lastRound = round;
    answers.push(...pair);
    for (const answer of pair) {
      const hash = hex(answer.packagesAvailable?.allPackagesHash);
      if (hash !== '') lastOfferHash = hash;
    }
    const detail = await server.admin('GET', `/api/v1/agents/${text}`);
    t.equal(detail.status, 200);
    if (detail.body.sequence_num < stored) t.fail(`round ${round}: the sequence number went back from ${stored} to ${detail.body.sequence_num}`);
    stored = detail.body.sequence_num;
    if ((detail.body.last_offer?.all_packages_hash ?? '') !== lastOfferHash) {
      t.fail(`round ${round}: the record says ${detail.body.last_offer?.all_packages_hash} was offered, the answers ${lastOfferHash}`);
    }
    if (round > ROUNDS / 2 && offered(answers).includes('v0.113.0')) break;
  }
  t.equal(stored, lastRound, 'the record holds the last round');
  const versions = offered(answers).filter((version) => version !== '');
  t.same(versions, ['v0.112.0', 'v0.113.0'], 'each offer went out once, in one answer of its racing pair');
  t.equal(answers.filter((answer) => answer.flags).length, 1, 'full state asked once, of the new agent, not of the racing retry');
  const detail = await server.admin('GET', `/api/v1/agents/${text}`);
  t.match(detail.body, { description: { non_identifying: { 'host.name': 'racer' } }, last_offer: { version: 'v0.113.0' } }, 'the record is whole');
  const listed = await server.admin('GET', '/api/v1/agents?search=racer');
  t.same(listed.body.agents.map((row: { instance_uid: string }) => row.instance_uid), [text], 'one agent, listed once');
}

async function newUidRacingPoll(t: Test, server: Fleet, seed: number): Promise<void> {
  const [left, right] = [connection(server.server.url), connection(server.server.url)];
  t.teardown(() => {
    left.close();
    right.close();
  });
  const agent = uid(seed);
  const first = await left.poll({ instanceUid: agent, sequenceNum: 0, capabilities: ACCEPTS_PACKAGES, agentDescription: describe() });
  t.ok(first.packagesAvailable, 'the new agent is offered the release');
  // The agent asks for a new uid on one connection while a poll under the old one is in flight.
  const [renamed, plain] = await Promise.all([
    left.poll({ instanceUid: agent, sequenceNum: 1, capabilities: ACCEPTS_PACKAGES, flags: 0x1 }),
    right.poll({ instanceUid: agent, sequenceNum: 1, capabilities: ACCEPTS_PACKAGES }),
  ]);
  const newUid = renamed.agentIdentification?.newInstanceUid;
  t.equal(newUid?.byteLength, 16, 'a new uid is given');
  // The racing poll is answered before the move (no identification) or after it (the same new uid).
  const told = plain.agentIdentification?.newInstanceUid;
  t.ok(told == null || Buffer.from(told).equals(Buffer.from(newUid!)), 'a poll answered after the move is told the same new uid, never another');
  const next = await left.poll({ instanceUid: newUid!, sequenceNum: 2, capabilities: ACCEPTS_PACKAGES });
  t.notOk(next.packagesAvailable, 'under the new uid the offer already sent is not sent again');
  t.notOk(next.flags, 'nor is full state asked: the record moved whole');
  t.same(offered([renamed, plain]), ['', ''], 'neither racing answer repeats the offer');
  const moved = await server.admin('GET', `/api/v1/agents/${uidToString(newUid!)}`);
  t.match(moved.body, { sequence_num: 2, description: { non_identifying: { 'host.name': 'racer' } }, last_offer: { version: first.packagesAvailable?.packages?.['']?.version } });
  const old = await server.admin('GET', `/api/v1/agents/${uidToString(agent)}`);
  t.equal(old.status, 404, 'the old uid is gone, not left behind or brought back by the racing poll');
}

const stores: Array<[string, string | false]> = [['SQLite', false], ['PostgreSQL', POSTGRES_URL ? false : SKIP_REASON]];
for (const [name, skip] of stores) {
  t.test(`racing polls, ${name} store`, { skip }, async (t) => {
    const flags: Record<string, string> = name === 'PostgreSQL' ? { store: schemaUrl(await ownSchema(t, 'racing')) } : {};
    const server = await fleet(t, { offer: 'latest', ...flags });
    await t.test('one uid from two connections at once, round after round', (t) => sameUidTwice(t, server));
    for (let attempt = 0; attempt < 10; attempt += 1) {
      await t.test(`RequestInstanceUid racing a poll (${attempt + 1})`, (t) => newUidRacingPoll(t, server, 7200 + attempt));
    }
  });
}
