// Fuzzes the OpAMP route with well over 100,000 random and mutated AgentToServer bodies: valid
// messages with bytes flipped, truncated, with oversized fields or deep nesting, random garbage,
// some of it gzip-wrapped. The server must never crash or answer 5xx; every rejection must be a
// 400/413/415 carrying a decodable ServerToAgent error; a valid poll must still work afterwards.
//
// Transport: most bodies go through `app.inject` (the real Fastify route, parser and error
// handler, without sockets) so 100k fit in well under two minutes on two cores; one body in
// HTTP_SHARE goes over a real kept-alive HTTP connection, so socket-level body handling
// (chunked reads, the size limit on the wire) is fuzzed too.
//
// Reproduce a failure with FUZZ_SEED=<the seed printed in the comment> npm test -- test/fuzz.test.ts
import http from 'node:http';
import zlib from 'node:zlib';
import t from 'tap';
import {
  decodeServerToAgent,
  encodeAgentToServer,
  type AgentToServerInit,
  type AnyValue,
  type ServerToAgent,
} from '../src/opamp/codec';
import { description, poll, startServer, uid } from './helpers/server';

/** FUZZ_BODIES may lower it for a quick local try; the suite runs the full count. */
const BODIES = Number(process.env.FUZZ_BODIES ?? 100_000);
const PARALLEL = 64;
const HTTP_SHARE = 20;
const LIMIT_BYTES = 64 * 1024;
const ALLOWED_REJECTIONS = new Set([400, 413, 415]);
/** Small on the wire, four times the limit once inflated. */
const GZIP_BOMB = zlib.gzipSync(Buffer.alloc(LIMIT_BYTES * 4));

t.setTimeout(170_000);

/** mulberry32: a tiny, fast 32-bit PRNG; enough to make every run reproducible from its seed. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 32);
const random = mulberry32(seed);
const below = (limit: number): number => Math.floor(random() * limit);
const chance = (probability: number): boolean => random() < probability;
const pick = <T>(items: readonly T[]): T => items[below(items.length)]!;

function randomBytes(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let index = 0; index < length; index += 1) bytes[index] = below(256);
  return bytes;
}

function randomText(length: number): string {
  let text = '';
  for (let index = 0; index < length; index += 1) text += String.fromCharCode(chance(0.9) ? 32 + below(95) : below(0x3000));
  return text;
}

function randomValue(depth: number): AnyValue {
  switch (below(depth > 0 ? 7 : 5)) {
    case 0:
      return { stringValue: randomText(below(40)) };
    case 1:
      return { intValue: below(2 ** 31) - 2 ** 30 };
    case 2:
      return { boolValue: chance(0.5) };
    case 3:
      return { doubleValue: random() * 1e9 };
    case 4:
      return { bytesValue: randomBytes(below(24)) };
    case 5:
      return { arrayValue: { values: Array.from({ length: below(3) }, () => randomValue(depth - 1)) } };
    default:
      return { kvlistValue: { values: Array.from({ length: below(3) }, () => ({ key: randomText(8), value: randomValue(depth - 1) })) } };
  }
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

/** Field `field` of wire type 2 (length-delimited) holding `payload`. */
function lengthDelimited(field: number, payload: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(payload.length), payload]);
}

/**
 * An AgentToServer whose description holds one AnyValue nested `depth` levels deep (array in
 * kvlist in array...). Written by hand: the generated encoder itself refuses deep messages.
 */
const nestedDescriptions = new Map<number, Buffer>();

function deeplyNested(instanceUid: Buffer, depth: number): Buffer {
  // Building a deep value copies it once per level; remembering each depth keeps that to once.
  let description = nestedDescriptions.get(depth);
  if (description === undefined) {
    description = nestedDescription(depth);
    nestedDescriptions.set(depth, description);
  }
  // AgentToServer: instance_uid 1, agent_description 3.
  return Buffer.concat([lengthDelimited(1, instanceUid), lengthDelimited(3, description)]);
}

function nestedDescription(depth: number): Buffer {
  // AnyValue: string_value 1, array_value 5, kvlist_value 6; ArrayValue and KeyValueList:
  // values 1; KeyValue: key 1, value 2.
  let value = lengthDelimited(1, Buffer.from('bottom'));
  for (let level = 0; level < depth; level += 1) {
    value = level % 2 === 0
      ? lengthDelimited(5, lengthDelimited(1, value))
      : lengthDelimited(6, lengthDelimited(1, Buffer.concat([lengthDelimited(1, Buffer.from('k')), lengthDelimited(2, value)])));
  }
  const keyValue = Buffer.concat([lengthDelimited(1, Buffer.from('deep')), lengthDelimited(2, value)]);
  // AgentDescription: identifying_attributes 1.
  return lengthDelimited(1, keyValue);
}

/** A well-formed message over a small pool of agents, so the store sees updates, not only inserts. */
function validMessage(): AgentToServerInit {
  const message: AgentToServerInit = {
    instanceUid: chance(0.97) ? uid(below(500)) : randomBytes(below(20)),
    sequenceNum: below(50),
    capabilities: below(0x10000),
    flags: chance(0.05) ? 1 : 0,
  };
  if (chance(0.4)) {
    message.agentDescription = {
      ...description({ 'service.name': pick(['otelcol-contrib', 'otelcol', randomText(6)]), 'host.name': `host-${below(5)}` }, { 'os.type': 'linux', 'host.arch': pick(['amd64', 'arm64', 'x86_64']) }),
    };
    message.agentDescription.nonIdentifyingAttributes!.push({ key: randomText(6), value: randomValue(3) });
  }
  if (chance(0.2)) {
    message.health = { healthy: chance(0.5), status: randomText(5), componentHealthMap: { pipeline: { healthy: true, attributes: [{ key: 'k', value: randomValue(2) }] } } };
  }
  if (chance(0.2)) {
    message.packageStatuses = {
      serverProvidedAllPackagesHash: randomBytes(below(40)),
      packages: { [pick(['', 'otelcol', randomText(4)])]: { name: randomText(4), status: below(8), agentHasVersion: randomText(6), agentHasHash: randomBytes(32) } },
    };
  }
  if (chance(0.05)) message.agentDisconnect = {};
  return message;
}

type Kind = 'valid' | 'flipped' | 'truncated' | 'oversized' | 'many-attributes' | 'deep' | 'garbage' | 'empty';

interface FuzzCase {
  kind: Kind;
  body: Buffer;
  headers: Record<string, string>;
}

function makeCase(): FuzzCase {
  // The costly kinds (a thousand attributes, 64 KiB fields) are drawn half as often.
  const kind = chance(0.08)
    ? pick<Kind>(['oversized', 'many-attributes'])
    : pick<Kind>(['valid', 'flipped', 'flipped', 'flipped', 'truncated', 'truncated', 'deep', 'deep', 'garbage', 'garbage', 'empty']);
  let body: Buffer;
  const valid = (): Buffer => Buffer.from(encodeAgentToServer(validMessage()));
  switch (kind) {
    case 'valid':
      body = valid();
      break;
    case 'flipped': {
      body = valid();
      for (let flips = 1 + below(8); flips > 0 && body.length > 0; flips -= 1) body[below(body.length)] = below(256);
      break;
    }
    case 'truncated': {
      const whole = valid();
      body = whole.subarray(0, below(whole.length));
      break;
    }
    case 'oversized': {
      const message = validMessage();
      // Mostly just under the limit (accepted or refused on content), sometimes over it (413).
      const size = chance(0.5) ? below(LIMIT_BYTES - 256) : LIMIT_BYTES + below(LIMIT_BYTES);
      message.agentDescription = { identifyingAttributes: [{ key: 'service.name', value: { stringValue: 'x'.repeat(size) } }] };
      body = Buffer.from(encodeAgentToServer(message));
      break;
    }
    case 'many-attributes': {
      const message = validMessage();
      const count = 900 + below(300);
      message.agentDescription = { identifyingAttributes: Array.from({ length: count }, (_, index) => ({ key: `a${index}`, value: { intValue: index } })) };
      body = Buffer.from(encodeAgentToServer(message));
      break;
    }
    case 'deep': {
      // Around the server's own nesting limit (32), and far past what the decoder allows.
      const depth = chance(0.5) ? 10 + below(40) : pick([100, 101, 250, 1000, 3000]);
      body = deeplyNested(uid(below(500)), depth);
      break;
    }
    case 'garbage':
      body = randomBytes(below(chance(0.9) ? 200 : 4000));
      break;
    case 'empty':
      body = Buffer.alloc(0);
      break;
  }
  const headers: Record<string, string> = { 'content-type': chance(0.97) ? 'application/x-protobuf' : pick(['application/json', 'text/plain', '']) };
  if (headers['content-type'] === '') delete headers['content-type'];
  if (chance(0.15)) {
    // Valid gzip of the body, gzip cut short, or a gzip bomb that inflates past the limit.
    const roll = random();
    body = roll < 0.8 ? zlib.gzipSync(body) : roll < 0.95 ? zlib.gzipSync(body).subarray(0, below(30)) : GZIP_BOMB;
    headers['content-encoding'] = chance(0.95) ? 'gzip' : pick(['br', 'deflate', 'GZIP']);
  }
  if (chance(0.2)) headers['accept-encoding'] = 'gzip';
  return { kind, body, headers };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function overHttp(agent: http.Agent, url: URL, item: FuzzCase): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { agent, host: url.hostname, port: url.port, path: '/v1/opamp', method: 'POST', headers: { ...item.headers, 'content-length': item.body.length } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(item.body);
  });
}

/** Why the answer breaks the contract, or undefined when it keeps it. */
function problemWith(answer: Answer): string | undefined {
  if (answer.status >= 500) return `HTTP ${answer.status}`;
  if (answer.status !== 200 && !ALLOWED_REJECTIONS.has(answer.status)) return `unexpected HTTP ${answer.status}`;
  if (answer.headers['content-type'] !== 'application/x-protobuf') return `content-type ${String(answer.headers['content-type'])}`;
  let message: ServerToAgent;
  try {
    const bytes = answer.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(answer.body) : answer.body;
    message = decodeServerToAgent(bytes);
  } catch (error) {
    return `undecodable ServerToAgent: ${(error as Error).message}`;
  }
  if (answer.status === 200 && message.errorResponse) return '200 with an error_response';
  if (answer.status !== 200 && !message.errorResponse?.errorMessage) return `HTTP ${answer.status} without an error_response message`;
  return undefined;
}

t.test('the OpAMP route survives random and mutated bodies', { timeout: 160_000 }, async (t) => {
  t.comment(`FUZZ_SEED=${seed}`);
  const server = await startServer({ 'max-message-bytes': '64KiB' });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  t.teardown(async () => {
    agent.destroy();
    await server.close();
  });
  const url = new URL(server.url);
  const statuses = new Map<string, number>();
  const failures: string[] = [];
  let sentOverHttp = 0;

  const one = async (index: number): Promise<void> => {
    const item = makeCase();
    let answer: Answer;
    if (index % HTTP_SHARE === 0) {
      sentOverHttp += 1;
      answer = await overHttp(agent, url, item);
    } else {
      const response = await server.app.inject({ method: 'POST', url: '/v1/opamp', headers: item.headers, payload: item.body });
      answer = { status: response.statusCode, headers: response.headers as Answer['headers'], body: response.rawPayload };
    }
    const key = `${item.kind} ${answer.status}`;
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
    const problem = problemWith(answer);
    if (problem !== undefined && failures.length < 20) {
      failures.push(`#${index} ${item.kind} ${JSON.stringify(item.headers)}: ${problem}; body starts ${item.body.subarray(0, 48).toString('hex')}`);
    }
  };

  const started = Date.now();
  for (let start = 0; start < BODIES; start += PARALLEL) {
    const batch: Array<Promise<void>> = [];
    for (let index = start; index < Math.min(BODIES, start + PARALLEL); index += 1) batch.push(one(index));
    await Promise.all(batch);
  }

  t.comment(`${BODIES} bodies in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.comment(`answers by kind and status: ${[...statuses].sort().map(([key, count]) => `${key}: ${count}`).join(', ')}`);
  t.same(failures, [], `every answer keeps the contract (FUZZ_SEED=${seed})`);
  t.ok(sentOverHttp >= BODIES / HTTP_SHARE, `${sentOverHttp} bodies went over real HTTP`);
  const total = [...statuses.values()].reduce((sum, count) => sum + count, 0);
  t.equal(total, BODIES, `${BODIES} bodies answered`);
  t.ok([...statuses.keys()].some((key) => key.endsWith(' 413')), 'some bodies were over the limit');

  const after = await poll(server.url, { instanceUid: uid(9_999_999), sequenceNum: 0, capabilities: 1 });
  t.equal(after.status, 200, `a valid poll right after still works (FUZZ_SEED=${seed})`);
  t.equal(Number(after.message?.capabilities ?? 0) > 0, true, 'and gets the server capabilities');
});
