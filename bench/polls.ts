// The poll path against its two baselines, the same load over growing fleets, and the
// open-loop latency at the rate of 100,000 agents polling every 30 s.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteStore } from '../src/store/sqlite';
import { seededRecord, writeBodies } from './bodies';
import { runOpenLoop, ServerUnderTest } from './children';
import { residentMegabytes } from './proc';
import type { Settings } from './settings';
import { fixed, ratioOf, verdict, type Section } from './table';
import { runWrk, type WrkResult } from './wrk';
import type { ServerKind, ServerProcessOptions } from './server-process';

/** Any 32 bytes: without an offer the server only stores what agents report. */
const NO_OFFER_HASH = Buffer.alloc(32, 0xab);

export interface Measured {
  load: WrkResult;
  cpuMicrosPerPoll: number;
  residentMegabytes: number;
}

/** Warm-up run, then a measured run between two readings of the server's CPU time. */
async function measure(server: ServerUnderTest, bodiesDirectory: string, settings: Settings): Promise<Measured> {
  const run = { url: `${server.url}/v1/opamp`, connections: settings.connections, threads: settings.wrkThreads, bodiesDirectory };
  await runWrk({ ...run, seconds: settings.warmupSeconds }, settings.scratch);
  const before = await server.stats();
  const load = await runWrk({ ...run, seconds: settings.seconds }, settings.scratch);
  const after = await server.stats();
  if (load.socketErrors > 0 || load.statusErrors > 0) {
    throw new Error(`${server.kind}: ${load.socketErrors} socket errors and ${load.statusErrors} non-2xx answers`);
  }
  return { load, cpuMicrosPerPoll: (after.cpuMicros - before.cpuMicros) / load.requests, residentMegabytes: residentMegabytes(server.pid) };
}

export async function measureServer(kind: ServerKind, options: ServerProcessOptions, bodiesDirectory: string, settings: Settings): Promise<Measured> {
  const server = await ServerUnderTest.start(kind, options);
  try {
    return await measure(server, bodiesDirectory, settings);
  } finally {
    await server.stop();
  }
}

const dataDirectory = (settings: Settings, name: string): string => fs.mkdtempSync(path.join(settings.scratch, `${name}-`));
export const range = (count: number, step = 1): number[] => Array.from({ length: count }, (_, index) => index * step);

export async function pollPath(settings: Settings): Promise<Section> {
  const bodies = writeBodies(
    path.join(settings.scratch, 'poll-bodies'),
    range(settings.agents),
    { first: 1, last: settings.bodiesPerAgent },
    NO_OFFER_HASH,
  );
  const bareHttp = await measureServer('bare-http', {}, bodies.directory, settings);
  const bareFastify = await measureServer('bare-fastify', {}, bodies.directory, settings);
  const ours = await measureServer('ours', { flags: { 'data-dir': dataDirectory(settings, 'poll') } }, bodies.directory, settings);
  const polls = (value: Measured): string => `${fixed(value.load.requestsPerSecond)}/s`;
  const cpu = (value: Measured): string => `${fixed(value.cpuMicrosPerPoll)} µs`;
  const milliseconds = (value: number): string => `${fixed(value, 2)} ms`;
  const cpuRatio = ours.cpuMicrosPerPoll / bareHttp.cpuMicrosPerPoll;
  const pollsRatio = ours.load.requestsPerSecond / bareFastify.load.requestsPerSecond;
  return {
    title: `Poll path (${settings.agents} agents, ${settings.connections} connections, wrk closed loop)`,
    rows: [
      { figure: 'Polls/s vs bare Fastify', ours: polls(ours), baseline: polls(bareFastify), ratio: ratioOf(ours.load.requestsPerSecond, bareFastify.load.requestsPerSecond), target: '≥ 0.90x', result: verdict(pollsRatio >= 0.9) },
      { figure: 'Polls/s vs bare node:http', ours: polls(ours), baseline: polls(bareHttp), ratio: ratioOf(ours.load.requestsPerSecond, bareHttp.load.requestsPerSecond), target: '', result: '' },
      { figure: 'Server CPU per poll vs bare node:http', ours: cpu(ours), baseline: cpu(bareHttp), ratio: ratioOf(ours.cpuMicrosPerPoll, bareHttp.cpuMicrosPerPoll), target: '≤ 1.15x', result: verdict(cpuRatio <= 1.15) },
      { figure: 'Server CPU per poll vs bare Fastify', ours: cpu(ours), baseline: cpu(bareFastify), ratio: ratioOf(ours.cpuMicrosPerPoll, bareFastify.cpuMicrosPerPoll), target: '', result: '' },
      { figure: 'p50 latency vs bare node:http / Fastify', ours: milliseconds(ours.load.p50Ms), baseline: `${milliseconds(bareHttp.load.p50Ms)} / ${milliseconds(bareFastify.load.p50Ms)}`, ratio: ratioOf(ours.load.p50Ms, bareHttp.load.p50Ms), target: '', result: '' },
      { figure: 'p99 latency vs bare node:http / Fastify', ours: milliseconds(ours.load.p99Ms), baseline: `${milliseconds(bareHttp.load.p99Ms)} / ${milliseconds(bareFastify.load.p99Ms)}`, ratio: ratioOf(ours.load.p99Ms, bareHttp.load.p99Ms), target: '', result: '' },
    ],
    notes: [
      `${bodies.count} pre-encoded bodies (${fixed(bodies.gzipShare * 100)}% gzip, answered with gzip); ours starts on an empty store, so each agent's first poll is a new agent.`,
    ],
  };
}

/** Writes `count` agents straight into a store through its own API, in one batch. */
async function seedFleet(directory: string, count: number): Promise<number> {
  const started = performance.now();
  const store = new SqliteStore({ dataDir: directory, writeBatchMs: 3_600_000 });
  const now = Date.now();
  for (let agent = 0; agent < count; agent += 1) await store.putAgent(seededRecord(agent, now), false);
  await store.flush();
  await store.close();
  return (performance.now() - started) / 1000;
}

export interface FleetOutcome {
  section: Section;
  /** The data directory holding the largest fleet, reused by the open-loop run. */
  largestFleetDirectory: string;
}

export async function fleetScale(settings: Settings): Promise<FleetOutcome> {
  const results: Array<{ size: number; measured: Measured; seedSeconds: number }> = [];
  let largestFleetDirectory = '';
  for (const size of settings.fleetSizes) {
    const directory = dataDirectory(settings, `fleet-${size}`);
    const seedSeconds = await seedFleet(directory, size);
    // The same number of active agents at every size, spread over the whole fleet so the
    // lookups touch the whole table; seeded at sequence 1, so polls go on from 2.
    const active = range(settings.agents, Math.floor(size / settings.agents));
    const bodies = writeBodies(path.join(settings.scratch, `fleet-bodies-${size}`), active, { first: 2, last: settings.bodiesPerAgent + 1 }, NO_OFFER_HASH);
    const measured = await measureServer('ours', { flags: { 'data-dir': directory } }, bodies.directory, settings);
    results.push({ size, measured, seedSeconds });
    largestFleetDirectory = directory;
  }
  const first = results[0]!;
  const rows: Section['rows'] = [];
  for (const result of results.slice(1)) {
    const last = result === results[results.length - 1];
    const throughput = result.measured.load.requestsPerSecond / first.measured.load.requestsPerSecond;
    const p99 = result.measured.load.p99Ms / first.measured.load.p99Ms;
    rows.push(
      { figure: `Polls/s, ${fixed(result.size)} vs ${fixed(first.size)} agents stored`, ours: `${fixed(result.measured.load.requestsPerSecond)}/s`, baseline: `${fixed(first.measured.load.requestsPerSecond)}/s`, ratio: ratioOf(result.measured.load.requestsPerSecond, first.measured.load.requestsPerSecond), target: last ? '≥ 0.80x' : '', result: last ? verdict(throughput >= 0.8) : '' },
      { figure: `p99 latency, ${fixed(result.size)} vs ${fixed(first.size)} agents stored`, ours: `${fixed(result.measured.load.p99Ms, 2)} ms`, baseline: `${fixed(first.measured.load.p99Ms, 2)} ms`, ratio: ratioOf(result.measured.load.p99Ms, first.measured.load.p99Ms), target: last ? '≤ 1.20x' : '', result: last ? verdict(p99 <= 1.2) : '' },
      { figure: `CPU per poll, ${fixed(result.size)} vs ${fixed(first.size)} agents stored`, ours: `${fixed(result.measured.cpuMicrosPerPoll)} µs`, baseline: `${fixed(first.measured.cpuMicrosPerPoll)} µs`, ratio: ratioOf(result.measured.cpuMicrosPerPoll, first.measured.cpuMicrosPerPoll), target: '', result: '' },
    );
  }
  const largest = results[results.length - 1]!;
  rows.push({
    figure: `Resident memory (VmRSS) after load, ${fixed(largest.size)} vs ${fixed(first.size)} agents`,
    ours: `${fixed(largest.measured.residentMegabytes)} MB`,
    baseline: `${fixed(first.measured.residentMegabytes)} MB`,
    ratio: ratioOf(largest.measured.residentMegabytes, first.measured.residentMegabytes),
    target: '< 300 MB',
    result: verdict(largest.measured.residentMegabytes < 300),
  });
  return {
    largestFleetDirectory,
    section: {
      title: `Fleet scale (${settings.agents} active agents spread over the stored fleet, wrk closed loop)`,
      rows,
      notes: [`seeding through SqliteStore.putAgent + flush took ${results.map((result) => `${fixed(result.seedSeconds, 1)} s for ${fixed(result.size)}`).join(', ')}.`],
    },
  };
}

export async function openLoop(settings: Settings, fleetDirectory: string): Promise<Section> {
  const size = settings.fleetSizes[settings.fleetSizes.length - 1]!;
  // Every poll from a different agent of the stored fleet, as 100k agents on a 30 s interval
  // would look: seeded at sequence 1, each sends sequence 2 (three in ten bodies per agent
  // would need more than the run sends).
  const bodies = writeBodies(path.join(settings.scratch, 'open-loop-bodies'), range(size), { first: 2, last: 2 }, NO_OFFER_HASH);
  const load = { bodiesDirectory: bodies.directory, rate: settings.openLoopRate, warmupSeconds: settings.warmupSeconds, durationSeconds: settings.openLoopSeconds, sockets: 64, decode: false };
  const run = async (kind: ServerKind, options: ServerProcessOptions) => {
    const server = await ServerUnderTest.start(kind, options);
    try {
      return await runOpenLoop({ ...load, url: server.url });
    } finally {
      await server.stop();
    }
  };
  const bare = await run('bare-http', {});
  const ours = await run('ours', { flags: { 'data-dir': fleetDirectory } });
  const text = (value: number): string => `${fixed(value, 2)} ms`;
  return {
    title: `Open loop (${fixed(settings.openLoopRate)} polls/s offered for ${settings.openLoopSeconds} s, ${fixed(size)} agents stored)`,
    rows: [
      { figure: 'p99 latency from the scheduled send', ours: text(ours.p99Ms), baseline: text(bare.p99Ms), ratio: ratioOf(ours.p99Ms, bare.p99Ms), target: '< 10 ms', result: verdict(ours.p99Ms < 10 && ours.errors === 0 && ours.non200 === 0) },
      { figure: 'p50 / p99.9 / max latency', ours: `${text(ours.p50Ms)} / ${text(ours.p999Ms)} / ${text(ours.maxMs)}`, baseline: `${text(bare.p50Ms)} / ${text(bare.p999Ms)} / ${text(bare.maxMs)}`, ratio: '', target: '', result: '' },
      { figure: 'Polls/s answered (offered rate held?)', ours: `${fixed(ours.achievedRate)}/s`, baseline: `${fixed(bare.achievedRate)}/s`, ratio: ratioOf(ours.achievedRate, bare.achievedRate), target: '', result: '' },
    ],
    notes: [
      `open-loop generator: bench/open-loop.ts in its own Node process (node:http keep-alive agent, ≤ 64 sockets, 1 ms timer); latency counts from each request's scheduled instant, so coordinated omission is included. ${ours.errors + ours.non200} errors/non-200 for ours, ${bare.errors + bare.non200} for the baseline (bare node:http).`,
    ],
  };
}
