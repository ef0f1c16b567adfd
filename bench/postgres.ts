// The PostgreSQL rows: the same poll path and fleet-scale loads with `--store postgres://`,
// held against a bare node:http baseline measured in the same run. Runs only when
// OPAMP_BENCH_POSTGRES_URL (or OPAMP_TEST_POSTGRES_URL) names a database; each run works in a
// schema of its own and drops it afterwards.
import path from 'node:path';
import { Client } from 'pg';
import { PostgresStore } from '../src/store/postgres';
import { seededRecord, writeBodies } from './bodies';
import { SHEDDING_OFF } from './settings';
import { measureServer, range } from './polls';
import type { Measured } from './rounds';
import type { Settings } from './settings';
import { fixed, ratioOf, verdict, type Section } from './table';

const NO_OFFER_HASH = Buffer.alloc(32, 0xab);

export function postgresUrl(): string | undefined {
  return process.env.OPAMP_BENCH_POSTGRES_URL ?? process.env.OPAMP_TEST_POSTGRES_URL;
}

async function withSchema<T>(url: string, body: (schemaUrl: string) => Promise<T>): Promise<T> {
  const schema = `bench_${process.pid}_${Date.now()}`;
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const schemaUrl = new URL(url);
    schemaUrl.searchParams.set('schema', schema);
    return await body(schemaUrl.toString());
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  }
}

async function seed(schemaUrl: string, count: number): Promise<void> {
  const store = await PostgresStore.open({ url: schemaUrl, writeBatchMs: 3_600_000 });
  const now = Date.now();
  for (let agent = 0; agent < count; agent += 1) {
    await store.putAgent(seededRecord(agent, now), false);
    // Batches of a few thousand rows keep each multi-row upsert reasonable.
    if (agent % 5_000 === 4_999) await store.flush();
  }
  await store.close();
}

export async function postgresRows(settings: Settings, url: string): Promise<Section> {
  const pollBodies = writeBodies(path.join(settings.scratch, 'pg-poll-bodies'), range(settings.agents), { first: 1, last: settings.bodiesPerAgent }, NO_OFFER_HASH);
  const bare = await measureServer('bare-http', {}, pollBodies.directory, settings);
  const empty = await withSchema(url, (schemaUrl) => measureServer('ours', { flags: { ...SHEDDING_OFF, store: schemaUrl } }, pollBodies.directory, settings));
  const sizes = [settings.fleetSizes[0]!, settings.fleetSizes[settings.fleetSizes.length - 1]!];
  const fleet: Measured[] = [];
  for (const size of sizes) {
    const active = range(settings.agents, Math.floor(size / settings.agents));
    const bodies = writeBodies(path.join(settings.scratch, `pg-fleet-bodies-${size}`), active, { first: 2, last: settings.bodiesPerAgent + 1 }, NO_OFFER_HASH);
    fleet.push(await withSchema(url, async (schemaUrl) => {
      await seed(schemaUrl, size);
      return measureServer('ours', { flags: { ...SHEDDING_OFF, store: schemaUrl } }, bodies.directory, settings);
    }));
  }
  const [small, large] = fleet as [Measured, Measured];
  return {
    title: `PostgreSQL store (${fixed(settings.agents)} active agents; rate limits and overload checks off; ${settings.connections} connections, wrk closed loop)`,
    rows: [
      { figure: 'Polls/s vs bare node:http', ours: `${fixed(empty.load.requestsPerSecond)}/s`, baseline: `${fixed(bare.load.requestsPerSecond)}/s`, ratio: ratioOf(empty.load.requestsPerSecond, bare.load.requestsPerSecond), target: '', result: '' },
      { figure: 'Server CPU per poll vs bare node:http', ours: `${fixed(empty.cpuMicrosPerPoll)} µs`, baseline: `${fixed(bare.cpuMicrosPerPoll)} µs`, ratio: ratioOf(empty.cpuMicrosPerPoll, bare.cpuMicrosPerPoll), target: '', result: '' },
      { figure: 'p99 latency vs bare node:http', ours: `${fixed(empty.load.p99Ms, 2)} ms`, baseline: `${fixed(bare.load.p99Ms, 2)} ms`, ratio: ratioOf(empty.load.p99Ms, bare.load.p99Ms), target: '', result: '' },
      { figure: `Polls/s, ${fixed(settings.agents)} agents polling: ${fixed(sizes[1]!)} vs ${fixed(sizes[0]!)} stored`, ours: `${fixed(large.load.requestsPerSecond)}/s`, baseline: `${fixed(small.load.requestsPerSecond)}/s`, ratio: ratioOf(large.load.requestsPerSecond, small.load.requestsPerSecond), target: '≥ 0.80x', result: verdict(large.load.requestsPerSecond / small.load.requestsPerSecond >= 0.8) },
      { figure: `p99 latency, ${fixed(settings.agents)} agents polling: ${fixed(sizes[1]!)} vs ${fixed(sizes[0]!)} stored`, ours: `${fixed(large.load.p99Ms, 2)} ms`, baseline: `${fixed(small.load.p99Ms, 2)} ms`, ratio: ratioOf(large.load.p99Ms, small.load.p99Ms), target: '≤ 1.20x', result: verdict(large.load.p99Ms / small.load.p99Ms <= 1.2) },
    ],
    notes: [
      'PostgreSQL runs on the same machine and shares its cores with the server and wrk; each run uses a fresh schema.',
      `shedding is off (1,000 agents cannot make a closed loop's rate within the per-agent limit), and the hot set is ${fixed(settings.agents)} agents however many are stored: these rows measure the store, not a fleet's load; the fleet rows above do that on SQLite.`,
    ],
  };
}
