// The poll path against its two baselines, the same load over growing fleets, and the
// open-loop latency at the rate of 100,000 agents polling every 30 s.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteStore } from '../src/store/sqlite';
import { seededRecord, writeBodies } from './bodies';
import { runOpenLoop, ServerUnderTest } from './children';
import { measureInRounds, ratioSpread, roundRatio, typical, type Contender, type Measured } from './rounds';
import type { Settings } from './settings';
import { fixed, ratioOf, times, verdict, type Section } from './table';
import type { ServerKind, ServerProcessOptions } from './server-process';

/** Any 32 bytes: without an offer the server only stores what agents report. */
const NO_OFFER_HASH = Buffer.alloc(32, 0xab);

/** Starts the servers, measures them in interleaved rounds, and stops them whatever happens. */
async function compare(
  entries: Array<{ kind: ServerKind; options: ServerProcessOptions; bodiesDirectory: string }>,
  settings: Settings,
): Promise<Measured[][]> {
  const started: ServerUnderTest[] = [];
  try {
    const contenders: Contender[] = [];
    for (const entry of entries) {
      const server = await ServerUnderTest.start(entry.kind, entry.options);
      started.push(server);
      contenders.push({ server, bodiesDirectory: entry.bodiesDirectory });
    }
    return await measureInRounds(contenders, settings);
  } finally {
    for (const server of started) await server.stop();
  }
}

/** One server alone, in the same rounds: its typical figures. */
export async function measureServer(kind: ServerKind, options: ServerProcessOptions, bodiesDirectory: string, settings: Settings): Promise<Measured> {
  const [rounds] = await compare([{ kind, options, bodiesDirectory }], settings);
  return typical(rounds!);
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
  const [bareHttpRounds, bareFastifyRounds, oursRounds] = await compare([
    { kind: 'bare-http', options: {}, bodiesDirectory: bodies.directory },
    { kind: 'bare-fastify', options: {}, bodiesDirectory: bodies.directory },
    { kind: 'ours', options: { flags: { 'data-dir': dataDirectory(settings, 'poll') } }, bodiesDirectory: bodies.directory },
  ], settings);
  const [bareHttp, bareFastify, ours] = [bareHttpRounds!, bareFastifyRounds!, oursRounds!].map(typical) as [Measured, Measured, Measured];
  const polls = (value: Measured): string => `${fixed(value.load.requestsPerSecond)}/s`;
  const cpu = (value: Measured): string => `${fixed(value.cpuMicrosPerPoll)} µs`;
  const milliseconds = (value: number): string => `${fixed(value, 2)} ms`;
  const rate = (value: Measured): number => value.load.requestsPerSecond;
  const cpuPerPoll = (value: Measured): number => value.cpuMicrosPerPoll;
  const cpuRatio = roundRatio(oursRounds!, bareHttpRounds!, cpuPerPoll);
  const pollsRatio = roundRatio(oursRounds!, bareFastifyRounds!, rate);
  return {
    title: `Poll path (${settings.agents} agents, ${settings.connections} connections, wrk closed loop)`,
    rows: [
      { figure: 'Polls/s vs bare Fastify', ours: polls(ours), baseline: polls(bareFastify), ratio: times(pollsRatio), target: '≥ 0.90x', result: verdict(pollsRatio >= 0.9) },
      { figure: 'Polls/s vs bare node:http', ours: polls(ours), baseline: polls(bareHttp), ratio: times(roundRatio(oursRounds!, bareHttpRounds!, rate)), target: '', result: '' },
      { figure: 'Server CPU per poll vs bare node:http', ours: cpu(ours), baseline: cpu(bareHttp), ratio: times(cpuRatio), target: '≤ 1.15x', result: verdict(cpuRatio <= 1.15) },
      { figure: 'Server CPU per poll vs bare Fastify', ours: cpu(ours), baseline: cpu(bareFastify), ratio: times(roundRatio(oursRounds!, bareFastifyRounds!, cpuPerPoll)), target: '', result: '' },
      { figure: 'p50 latency vs bare node:http / Fastify', ours: milliseconds(ours.load.p50Ms), baseline: `${milliseconds(bareHttp.load.p50Ms)} / ${milliseconds(bareFastify.load.p50Ms)}`, ratio: ratioOf(ours.load.p50Ms, bareHttp.load.p50Ms), target: '', result: '' },
      { figure: 'p99 latency vs bare node:http / Fastify', ours: milliseconds(ours.load.p99Ms), baseline: `${milliseconds(bareHttp.load.p99Ms)} / ${milliseconds(bareFastify.load.p99Ms)}`, ratio: ratioOf(ours.load.p99Ms, bareHttp.load.p99Ms), target: '', result: '' },
    ],
    notes: [
      `${bodies.count} pre-encoded bodies (${fixed(bodies.gzipShare * 100)}% gzip, answered with gzip); ours starts on an empty store, so each agent's first poll is a new agent.`,
      `${settings.rounds} rounds of ${settings.roundSeconds} s, the three servers in turn; figures are medians over the rounds and ratios the median of the per-round ratios (CPU vs bare node:http ranged ${ratioSpread(oursRounds!, bareHttpRounds!, cpuPerPoll)}, polls/s vs bare Fastify ${ratioSpread(oursRounds!, bareFastifyRounds!, rate)}).`,
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
  const fleets: Array<{ size: number; directory: string; bodiesDirectory: string; seedSeconds: number }> = [];
  for (const size of settings.fleetSizes) {
    const directory = dataDirectory(settings, `fleet-${size}`);
    const seedSeconds = await seedFleet(directory, size);
    // The same number of active agents at every size, spread over the whole fleet so the
    // lookups touch the whole table; seeded at sequence 1, so polls go on from 2.
    const active = range(settings.agents, Math.floor(size / settings.agents));
    const bodies = writeBodies(path.join(settings.scratch, `fleet-bodies-${size}`), active, { first: 2, last: settings.bodiesPerAgent + 1 }, NO_OFFER_HASH);
    fleets.push({ size, directory, bodiesDirectory: bodies.directory, seedSeconds });
  }
  // Every fleet size is served at once, each by its own server, measured in turn.
  const rounds = await compare(
    fleets.map((fleet) => ({ kind: 'ours' as const, options: { flags: { 'data-dir': fleet.directory } }, bodiesDirectory: fleet.bodiesDirectory })),
    settings,
  );
  const results = fleets.map((fleet, index) => ({ ...fleet, rounds: rounds[index]!, measured: typical(rounds[index]!) }));
  const first = results[0]!;
  const rate = (value: Measured): number => value.load.requestsPerSecond;
  const p99 = (value: Measured): number => value.load.p99Ms;
  const cpu = (value: Measured): number => value.cpuMicrosPerPoll;
  const rows: Section['rows'] = [];
  for (const result of results.slice(1)) {
    const last = result === results[results.length - 1];
    const throughput = roundRatio(result.rounds, first.rounds, rate);
    const latency = roundRatio(result.rounds, first.rounds, p99);
    rows.push(
      { figure: `Polls/s, ${fixed(result.size)} vs ${fixed(first.size)} agents stored`, ours: `${fixed(rate(result.measured))}/s`, baseline: `${fixed(rate(first.measured))}/s`, ratio: times(throughput), target: last ? '≥ 0.80x' : '', result: last ? verdict(throughput >= 0.8) : '' },
      { figure: `p99 latency, ${fixed(result.size)} vs ${fixed(first.size)} agents stored`, ours: `${fixed(p99(result.measured), 2)} ms`, baseline: `${fixed(p99(first.measured), 2)} ms`, ratio: times(latency), target: last ? '≤ 1.20x' : '', result: last ? verdict(latency <= 1.2) : '' },
      { figure: `CPU per poll, ${fixed(result.size)} vs ${fixed(first.size)} agents stored`, ours: `${fixed(cpu(result.measured))} µs`, baseline: `${fixed(cpu(first.measured))} µs`, ratio: times(roundRatio(result.rounds, first.rounds, cpu)), target: '', result: '' },
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
    largestFleetDirectory: largest.directory,
    section: {
      title: `Fleet scale (${settings.agents} active agents spread over the stored fleet, wrk closed loop)`,
      rows,
      notes: [
        `seeding through SqliteStore.putAgent + flush took ${results.map((result) => `${fixed(result.seedSeconds, 1)} s for ${fixed(result.size)}`).join(', ')}.`,
        `one server per fleet size, all running, measured in turn for ${settings.rounds} rounds of ${settings.roundSeconds} s; ratios are the median of the per-round ratios (p99 ${fixed(largest.size)} vs ${fixed(first.size)} ranged ${ratioSpread(largest.rounds, first.rounds, p99)}).`,
      ],
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
