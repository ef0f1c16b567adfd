// The pure protocol rules, driven directly: when an offer goes out, what must be written at once
// rather than batched, and the rules the poll service and the rollouts take from the same module.
import t from 'tap';
import { proto } from '../../src/opamp/codec';
import {
  acceptsPackages,
  agentCapabilities,
  applyPoll,
  instanceUidText,
  offerCapabilities,
  sameRecordValue,
  validInstanceUid,
  type Offer,
  type PollContext,
} from '../../src/opamp/protocol';
import { eligibility } from '../../src/rollouts/plan';
import type { RolloutSpec } from '../../src/rollouts/types';
import type { AgentRecord } from '../../src/agents/records';
import { uid } from '../helpers/server';

const ACCEPTS_PACKAGES = 0x8 | 0x10 | 0x1;

function offer(version: string, hashHex: string): Offer {
  return {
    version,
    allPackagesHash: hashHex,
    packagesAvailable: { packages: { '': { version, type: 0 } }, allPackagesHash: Buffer.from(hashHex, 'hex') },
  };
}

function context(current: Offer | undefined, nowMs = 1_000_000): PollContext {
  return { nowMs, offlineAfterMs: 90_000, generateInstanceUid: () => uid(999), offerFor: () => current };
}

function message(fields: Record<string, unknown>) {
  return proto.AgentToServer.fromObject({ instanceUid: uid(1), capabilities: ACCEPTS_PACKAGES, ...fields });
}

t.test('an offer goes out once per change, and again when the agent reports another hash', async (t) => {
  const first = offer('v1.0.0', 'aa');
  let result = applyPoll(undefined, message({ sequenceNum: 0 }), context(first));
  t.ok(result.response.packagesAvailable, 'new agent: offered');
  t.ok(result.offerSent);
  t.ok(result.durable, 'the offer sent is written at once');
  let record: AgentRecord = result.record;

  result = applyPoll(record, message({ sequenceNum: 1 }), context(first));
  t.notOk(result.response.packagesAvailable, 'same offer, nothing reported: not resent');
  t.notOk(result.durable, 'a plain poll is batched');
  record = result.record;

  result = applyPoll(record, message({ sequenceNum: 2, packageStatuses: { serverProvidedAllPackagesHash: Buffer.from('aa', 'hex') } }), context(first));
  t.notOk(result.response.packagesAvailable, 'agent reports the current hash: not resent');
  record = result.record;

  result = applyPoll(record, message({ sequenceNum: 3, packageStatuses: { serverProvidedAllPackagesHash: Buffer.from('bb', 'hex') } }), context(first));
  t.ok(result.response.packagesAvailable, 'agent reports another hash: offered again');
  record = result.record;

  result = applyPoll(record, message({ sequenceNum: 4, packageStatuses: {} }), context(first));
  t.ok(result.response.packagesAvailable, 'package statuses without a hash count as different');
  record = result.record;

  const second = offer('v2.0.0', 'cc');
  result = applyPoll(record, message({ sequenceNum: 5 }), context(second));
  t.ok(result.response.packagesAvailable, 'the offer changed: sent');
  t.equal(result.record.lastOffer?.allPackagesHash, 'cc');
  record = result.record;

  result = applyPoll(record, message({ sequenceNum: 9 }), context(second));
  t.equal(Number(result.response.flags), 1, 'gap: full state asked');
  t.ok(result.response.packagesAvailable, 'and the offer goes with it');
});

t.test('no offer without AcceptsPackages in the message being answered', async (t) => {
  const current = offer('v1.0.0', 'aa');
  const first = applyPoll(undefined, message({ capabilities: 0x1 }), context(current));
  t.notOk(first.response.packagesAvailable);
  const bare = applyPoll(first.record, message({ sequenceNum: 1, capabilities: 0 }), context(current));
  t.notOk(bare.response.packagesAvailable, 'a bare poll (capabilities 0) is not AcceptsPackages');
  t.equal(bare.record.capabilities, 0x1, 'but the stored capabilities stay');
});

t.test('a rollout takes an agent on under the same rule the offer is sent by', async (t) => {
  const spec: RolloutSpec = {
    version: '1.1.0', selector: {}, waves: [{ percent: 100, minSuccessRatio: 0.9, minWaitMs: 0 }],
    startMs: 0, durationMs: undefined, allowDowngrade: false, maxFailureRatio: 1,
  };
  const current = offer('v1.1.0', 'aa');
  const known = applyPoll(undefined, message({ capabilities: ACCEPTS_PACKAGES, agentDescription: { identifyingAttributes: [] } }), context(undefined)).record;
  const hasArtifact = () => true;
  for (const capabilities of [0, 0x1, ACCEPTS_PACKAGES]) {
    const poll = message({ sequenceNum: 1, capabilities });
    const answer = applyPoll(known, poll, context(current));
    const admitted = eligibility(spec, { description: known.description, capabilities: offerCapabilities(poll) }, hasArtifact) === 'member';
    t.equal(admitted, Boolean(answer.response.packagesAvailable), `capabilities ${capabilities}: admitted exactly when offered`);
    t.equal(answer.record.capabilities, capabilities || ACCEPTS_PACKAGES, 'the record keeps the last non-zero capabilities');
    t.equal(agentCapabilities(poll, known), answer.record.capabilities);
  }
  t.equal(eligibility(spec, known, hasArtifact), 'member', 'a plan over the store reads the stored capabilities');
  t.equal(eligibility(spec, { ...known, capabilities: 0x1 }, hasArtifact), 'no_package_capability');
  t.ok(acceptsPackages(0x8));
  t.notOk(acceptsPackages(0x17));
});

t.test('one instance_uid rule: 16 bytes or refused', async (t) => {
  for (const length of [0, 15, 17, 32]) {
    const poll = message({ instanceUid: Buffer.alloc(length, 1) });
    t.equal(validInstanceUid(poll), undefined, `${length} bytes is not a uid`);
    t.equal(instanceUidText(poll), undefined);
    t.throws(() => applyPoll(undefined, poll, context(undefined)), { code: 'BAD_INSTANCE_UID', message: new RegExp(`got ${length}$`) });
  }
  const valid = message({});
  t.same(validInstanceUid(valid), uid(1));
  t.equal(instanceUidText(valid), '00000000-0000-7000-8000-000000000001');
  t.equal(applyPoll(undefined, valid, context(undefined)).record.instanceUid, instanceUidText(valid));
});

t.test('changes that must survive a crash are durable', async (t) => {
  const created = applyPoll(undefined, message({ capabilities: 1 }), context(undefined));
  t.ok(created.durable, 'a new agent');
  const withHealth = applyPoll(created.record, message({ sequenceNum: 1, capabilities: 1, health: { healthy: true } }), context(undefined));
  t.ok(withHealth.durable, 'health');
  const capabilities = applyPoll(withHealth.record, message({ sequenceNum: 2, capabilities: 3 }), context(undefined));
  t.ok(capabilities.durable, 'capabilities changed');
  const disconnect = applyPoll(capabilities.record, message({ sequenceNum: 3, capabilities: 3, agentDisconnect: {} }), context(undefined));
  t.ok(disconnect.durable, 'disconnect');
  t.equal(disconnect.record.lastSeenMs, 1_000_000, 'last seen from the clock given');
});

t.test('download progress alone goes with the batch; any other status change is durable', async (t) => {
  const statuses = (status: number, percent: number, version = '1.0.0') => ({
    serverProvidedAllPackagesHash: Buffer.from('bb', 'hex'),
    packages: { '': { name: '', agentHasVersion: version, serverOfferedVersion: '1.1.0', status, downloadDetails: { downloadPercent: percent, downloadBytesPerSecond: 1e6 } } },
  });
  const DOWNLOADING = 4;
  const first = applyPoll(undefined, message({ capabilities: 1 }), context(undefined));
  const started = applyPoll(first.record, message({ sequenceNum: 1, capabilities: 1, packageStatuses: statuses(DOWNLOADING, 10) }), context(undefined));
  t.ok(started.durable, 'the first status report');
  const progressed = applyPoll(started.record, message({ sequenceNum: 2, capabilities: 1, packageStatuses: statuses(DOWNLOADING, 60) }), context(undefined));
  t.notOk(progressed.durable, 'only the percentage moved');
  t.equal(progressed.record.packageStatuses?.packages['']?.downloadPercent, 60, 'but the record holds it, for the batch');
  t.not(progressed.record.packageStatuses, started.record.packageStatuses, 'as a new object, so the store writes the whole record');
  const installing = applyPoll(progressed.record, message({ sequenceNum: 3, capabilities: 1, packageStatuses: statuses(2, 100) }), context(undefined));
  t.ok(installing.durable, 'a new status');
  const installed = applyPoll(installing.record, message({ sequenceNum: 4, capabilities: 1, packageStatuses: statuses(2, 100, '1.1.0') }), context(undefined));
  t.ok(installed.durable, 'a new version, same status');
  const another = { ...statuses(2, 100, '1.1.0'), packages: { ...statuses(2, 100, '1.1.0').packages, extra: { name: 'extra', status: 0 } } };
  t.ok(applyPoll(installed.record, message({ sequenceNum: 5, capabilities: 1, packageStatuses: another }), context(undefined)).durable, 'another package');
});

t.test('an offline agent reappearing elsewhere is not a duplicate', async (t) => {
  const description = (host: string) => ({ nonIdentifyingAttributes: [{ key: 'host.name', value: { stringValue: host } }] });
  const first = applyPoll(undefined, message({ agentDescription: description('alpha') }), context(undefined, 0));
  const later = applyPoll(first.record, message({ sequenceNum: 1, agentDescription: description('beta') }), context(undefined, 200_000));
  t.notOk(later.response.agentIdentification, 'the uid moved hosts after the first went offline');
  t.equal(later.record.description?.nonIdentifying['host.name'], 'beta');
});

t.test('a report equal to what is stored changes nothing that must be written at once', async (t) => {
  const description = {
    identifyingAttributes: [{ key: 'service.name', value: { stringValue: 'otelcol-contrib' } }],
    nonIdentifyingAttributes: [{ key: 'host.name', value: { stringValue: 'web-1' } }],
  };
  const statuses = { serverProvidedAllPackagesHash: Buffer.from('bb', 'hex'), packages: { '': { name: '', agentHasVersion: '1.0.0', status: 0 } } };
  const first = applyPoll(undefined, message({ sequenceNum: 1, agentDescription: description, packageStatuses: statuses }), context(undefined));
  const stored = first.record;

  const resent = applyPoll(stored, message({ sequenceNum: 2, agentDescription: description, packageStatuses: statuses }), context(undefined));
  t.notOk(resent.durable, 'the same description and statuses again: batched');
  t.equal(resent.record.description, stored.description, 'the stored description is kept as it is');
  t.equal(resent.record.packageStatuses, stored.packageStatuses, 'and the stored statuses');

  const renamed = { ...description, nonIdentifyingAttributes: [{ key: 'host.name', value: { stringValue: 'web-2' } }] };
  const changed = applyPoll(resent.record, message({ sequenceNum: 3, agentDescription: renamed }), context(undefined));
  t.ok(changed.durable, 'a changed description is written at once');
  t.equal(changed.record.description?.nonIdentifying['host.name'], 'web-2');

  // The same statuses again, naming a hash other than the offer's: the offer still goes out.
  const current = offer('v2.0.0', 'cc');
  const withOffer = applyPoll(resent.record, message({ sequenceNum: 3 }), context(current));
  const repeated = applyPoll(withOffer.record, message({ sequenceNum: 4, packageStatuses: statuses }), context(current));
  t.ok(repeated.response.packagesAvailable, 'an unchanged report of another hash still gets the offer again');
});

t.test('stored and reported values compare by content, as their JSON would', async (t) => {
  const description = () => ({ identifying: { 'service.name': 'otelcol' }, nonIdentifying: { list: [1, 'two', null, { deep: true }], 'host.name': 'a' } });
  t.ok(sameRecordValue(description(), description()), 'equal nested content');
  t.ok(sameRecordValue(JSON.parse(JSON.stringify(description())), description()), 'a record read back from JSON equals the reported one');
  const cases: Array<[string, unknown, unknown]> = [
    ['another value deep down', description(), { ...description(), nonIdentifying: { list: [1, 'two', null, { deep: false }], 'host.name': 'a' } }],
    ['an extra key', { a: 1 }, { a: 1, b: 2 }],
    ['a missing key with the same count', { a: 1, b: undefined }, { a: 1, c: undefined }],
    ['a key left undefined against one absent', { a: 1, b: undefined }, { a: 1 }],
    ['an array against an object with the same keys', ['x'], { 0: 'x' }],
    ['array order', [1, 2], [2, 1]],
    ['null against an object', null, {}],
    ['a number against its text', 1, '1'],
    ['0 against false', 0, false],
  ];
  for (const [name, left, right] of cases) {
    t.notOk(sameRecordValue(left, right), name);
    t.notOk(sameRecordValue(right, left), `${name} (swapped)`);
  }
  t.ok(sameRecordValue(Number.NaN, Number.NaN), 'NaN equals itself');
});

t.test('a client certificate subject is kept; a new one is written at once, the same one batched', async (t) => {
  const withSubject = (subject: string | undefined): PollContext => ({ ...context(undefined), clientCertificateSubject: subject });
  let result = applyPoll(undefined, message({ sequenceNum: 0 }), withSubject('CN=agent-1'));
  t.equal(result.record.clientCertificateSubject, 'CN=agent-1');
  result = applyPoll(result.record, message({ sequenceNum: 1 }), withSubject('CN=agent-1'));
  t.notOk(result.durable, 'the same certificate again: a routine poll');
  result = applyPoll(result.record, message({ sequenceNum: 2 }), withSubject('CN=agent-1-renewed'));
  t.ok(result.durable, 'another certificate: written at once');
  result = applyPoll(result.record, message({ sequenceNum: 3 }), withSubject(undefined));
  t.equal(result.record.clientCertificateSubject, undefined, 'a poll without a certificate clears it: the view shows the latest connection');
  t.ok(result.durable);
});
