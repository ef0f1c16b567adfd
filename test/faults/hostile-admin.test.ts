// Hostile input to the admin API, on both stores (PostgreSQL when OPAMP_TEST_POSTGRES_URL is
// set): attribute filters and searches holding quotes, LIKE wildcards, backslashes and SQL match
// literally and nothing else; tampered cursors get 400; rollout bodies out of range, oversized or
// pathological get 400 naming the field. "In bounded time" is shown by an answer arriving at all
// within tap's timeout, never by a timing assertion.
import t, { type Test } from 'tap';
import { uidToString } from '../../src/opamp/codec';
import { description, poll, uid } from '../helpers/server';
import { ownSchema, POSTGRES_URL, schemaUrl, SKIP_REASON } from '../store/postgres-helpers';
import { fleet, type Fleet } from '../rollouts/helpers';

t.setTimeout(300_000);

/** Attribute values that mean something to SQL, LIKE, JSON paths or URLs; each agent holds one. */
const VALUES = [
  "it's", 'say "hi"', '""', "''", '100%', '%', '_', '%%', 'a%b', 'aXb', 'a_b', 'acb', '\\', '\\\\', 'back\\slash', 'back\\\\slash',
  '\\%', '\\_', "'; DROP TABLE agents; --", "' OR '1'='1", '" OR ""="', '$.description', '$1', '?', ':name', '*', '[0]',
  '{"a":1}', 'null', 'NULL', '1', 'true', 'a=b', '&x=y', '#hash', ' padded ', 'ünï©ødé 🚀', 'line\nbreak', 'tab\there', 'x'.repeat(900),
];

/** Keys of the same kind. */
const KEYS = ["key'quote", 'key"dq', '"', 'key%', 'key_', 'k.e.y', 'key\\back', '$.probe', 'key[0]', 'key*', 'key with space', 'ключ', '--', 'probe '];

const agentUid = (index: number) => uidToString(uid(5000 + index));

async function listed(server: Fleet, query: string): Promise<{ status: number; uids: string[]; error?: string }> {
  const answer = await server.admin('GET', `/api/v1/agents?limit=1000&${query}`);
  if (answer.status !== 200) return { status: answer.status, uids: [], error: answer.body?.error };
  return { status: 200, uids: answer.body.agents.map((agent: { instance_uid: string }) => agent.instance_uid).sort() };
}

async function attributeFilters(t: Test, server: Fleet): Promise<void> {
  for (const [index, value] of VALUES.entries()) {
    const answer = await poll(server.server.url, {
      instanceUid: uid(5000 + index),
      sequenceNum: 0,
      agentDescription: description({ 'service.name': 'otelcol-contrib' }, { probe: value, 'host.name': `host ${value}` }),
    });
    t.equal(answer.status, 200);
  }
  for (const [index, key] of KEYS.entries()) {
    await poll(server.server.url, {
      instanceUid: uid(6000 + index),
      sequenceNum: 0,
      agentDescription: description({ 'service.name': 'otelcol-contrib', [key]: 'keyed' }),
    });
  }
  for (const [index, value] of VALUES.entries()) {
    const found = await listed(server, `attribute=${encodeURIComponent(`probe=${value}`)}`);
    t.same(found, { status: 200, uids: [agentUid(index)] }, `attribute=probe=${JSON.stringify(value.slice(0, 40))} finds its agent only`);
  }
  for (const [index, key] of KEYS.entries()) {
    const found = await listed(server, `attribute=${encodeURIComponent(`${key}=keyed`)}`);
    t.same(found, { status: 200, uids: [uidToString(uid(6000 + index))] }, `key ${JSON.stringify(key)} matched literally`);
  }

  // The console's search: text anywhere in the uid or host.name, in any case, wildcards literal.
  for (const value of VALUES.filter((candidate) => candidate.length <= 256)) {
    const needle = value.toLowerCase();
    const expected = VALUES.flatMap((other, index) =>
      agentUid(index).includes(needle) || `host ${other}`.toLowerCase().includes(needle) ? [agentUid(index)] : []);
    // Keyed agents have no host.name; only their uid can hold the text.
    expected.push(...KEYS.flatMap((_, index) => (uidToString(uid(6000 + index)).includes(needle) ? [uidToString(uid(6000 + index))] : [])));
    const found = await listed(server, `search=${encodeURIComponent(value)}`);
    t.same(found, { status: 200, uids: expected.sort() }, `search=${JSON.stringify(value.slice(0, 40))}: ${expected.length} agents`);
  }
}

async function tamperedCursors(t: Test, server: Fleet): Promise<void> {
  const first = await server.admin('GET', '/api/v1/agents?limit=2');
  const cursor: string = first.body.next_cursor;
  t.type(cursor, 'string');
  t.equal((await server.admin('GET', `/api/v1/agents?limit=2&cursor=${cursor}`)).status, 200, 'the cursor as given works');
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const tampered = [
    cursor.slice(0, -2),
    `${cursor}AA`,
    cursor.replace(/[A-Za-z]/, (letter) => (letter === 'A' ? 'B' : 'A')),
    '',
    '!!!',
    encode({ after: "' OR 1=1 --" }),
    encode({ after: 12 }),
    encode({ after: ['00000000-0000-7000-8000-000000001388'] }),
    encode({ after: { $gt: '' } }),
    encode(JSON.parse('{"__proto__": {"after": "00000000-0000-7000-8000-000000001388"}}')),
    encode('00000000-0000-7000-8000-000000001388'),
    encode({ after: '00000000-0000-7000-8000-000000001388%' }),
    encode({ after: '00000000-0000-7000-8000-00000000138' }),
    'A'.repeat(5000),
  ];
  for (const value of tampered) {
    const answer = await server.admin('GET', `/api/v1/agents?limit=2&cursor=${encodeURIComponent(value)}`);
    t.equal(answer.status, 400, `cursor ${JSON.stringify(value.slice(0, 40))}: 400`);
    t.match(answer.body?.error, /querystring\/cursor/, 'naming the cursor');
  }
}

async function rolloutBodies(t: Test, server: Fleet): Promise<void> {
  const base = { version: '0.112.0' };
  const many = <T>(count: number, make: (index: number) => T): T[] => Array.from({ length: count }, (_, index) => make(index));
  const cases: Array<[string, unknown, RegExp]> = [
    ['a negative percent', { ...base, waves: [{ percent: -5 }, { percent: 100 }] }, /body\/waves\/0\/percent/],
    ['a zero percent', { ...base, waves: [{ percent: 0 }, { percent: 100 }] }, /body\/waves\/0\/percent/],
    ['a percent over 100', { ...base, waves: [{ percent: 150 }] }, /body\/waves\/0\/percent/],
    ['percent as the text NaN', { ...base, waves: [{ percent: 'NaN' }] }, /body\/waves\/0\/percent/],
    ['waves that do not grow', { ...base, waves: [{ percent: 50 }, { percent: 50 }, { percent: 100 }] }, /body\/waves/],
    ['waves that shrink', { ...base, waves: [{ percent: 60 }, { percent: 30 }, { percent: 100 }] }, /body\/waves/],
    ['10,000 waves', { ...base, waves: many(10_000, (index) => ({ percent: ((index + 1) / 10_000) * 100 })) }, /body\/waves/],
    ['a success ratio over 1', { ...base, waves: [{ percent: 100, min_success_ratio: 1.5 }] }, /body\/waves\/0\/min_success_ratio/],
    ['a wait of 10^300 seconds', { ...base, waves: [{ percent: 100, min_wait_seconds: 1e300 }] }, /body\/waves\/0\/min_wait_seconds/],
    ['a failure ratio over 1', { ...base, max_failure_ratio: 1.01 }, /body\/max_failure_ratio/],
    ['a negative failure ratio', { ...base, max_failure_ratio: -0.1 }, /body\/max_failure_ratio/],
    ['a duration of 10^300 seconds', { ...base, rollout_duration_seconds: 1e300 }, /body\/rollout_duration_seconds/],
    ['a start time centuries ahead', { ...base, start_time: '2500-01-01T00:00:00Z' }, /body\/start_time/],
    ['a start time centuries ago', { ...base, start_time: '1600-01-01T00:00:00Z' }, /body\/start_time/],
    ['a start time that is not a time', { ...base, start_time: 'tomorrow' }, /body\/start_time/],
    ['50,000 operating systems', { ...base, selector: { os: many(50_000, (index) => `os-${index}`) } }, /body\/selector\/os/],
    ['50,000 architectures', { ...base, selector: { arch: many(50_000, () => 'amd64') } }, /body\/selector\/arch/],
    ['20,000 attributes', { ...base, selector: { attributes: Object.fromEntries(many(20_000, (index) => [`key-${index}`, 'v'] as const)) } }, /body\/selector\/attributes/],
    ['an attribute with 50,000 values', { ...base, selector: { attributes: { 'host.name': many(50_000, (index) => `h${index}`) } } }, /body\/selector\/attributes/],
    ['a version range of 100,000 characters', { ...base, selector: { version: '>=1.0.0 '.repeat(12_500) } }, /body\/selector\/version/],
    ['a version range of 5,000 alternatives', { ...base, selector: { version: many(5000, (index) => `1.${index}.x`).join(' || ') } }, /body\/selector\/version/],
    ['a version range that is no range', { ...base, selector: { version: '>>=1.2.3 <<' } }, /body\/selector\/version/],
    ['a version that is no version', { version: '1.2.3.4.5' }, /body\/version/],
    ['a version of 10,000 characters', { version: `1.2.3-${'a'.repeat(10_000)}` }, /body\/version/],
  ];
  for (const [what, body, field] of cases) {
    for (const route of ['/api/v1/rollouts', '/api/v1/rollouts/preview']) {
      const answer = await server.admin('POST', route, body);
      t.equal(answer.status, 400, `${what}: 400 from ${route}`);
      t.match(answer.body?.error, field, `${what}: the message names the field (${String(answer.body?.error).slice(0, 120)})`);
    }
  }
  // NaN is not JSON: refused as a body that does not parse.
  const nan = await fetch(`${server.server.url}/api/v1/rollouts`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"version":"0.112.0","waves":[{"percent":NaN}]}',
  });
  t.equal(nan.status, 400, 'a bare NaN: 400');
  // A body within every limit is still taken, so the limits are not what refused the others.
  const fine = await server.admin('POST', '/api/v1/rollouts/preview', {
    ...base,
    waves: [{ percent: 10 }, { percent: 100 }],
    selector: { os: ['linux'], arch: ['amd64'], version: '>=0.100.0 <0.112.0 || 0.99.x', attributes: { 'host.name': ["it's", '100%'] } },
    start_time: new Date(server.clock.nowMs + 86_400_000).toISOString(),
    max_failure_ratio: 1,
  });
  t.equal(fine.status, 200, `a body within the limits is previewed (${fine.text.slice(0, 200)})`);
  t.equal((await server.admin('GET', '/api/v1/rollouts')).body.rollouts.length, 0, 'no hostile rollout was created');
}

const stores: Array<[string, string | false]> = [['SQLite', false], ['PostgreSQL', POSTGRES_URL ? false : SKIP_REASON]];
for (const [name, skip] of stores) {
  t.test(`hostile admin input, ${name} store`, { skip }, async (t) => {
    const flags: Record<string, string> = name === 'PostgreSQL' ? { store: schemaUrl(await ownSchema(t, 'hostile_admin')) } : {};
    const server = await fleet(t, flags);
    await t.test('attribute filters and searches match literally', (t) => attributeFilters(t, server));
    await t.test('tampered cursors get 400', (t) => tamperedCursors(t, server));
    await t.test('rollouts out of range get 400 naming the field', (t) => rolloutBodies(t, server));
  });
}
