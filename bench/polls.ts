// Polls of a fleet with the server's defaults, against the bare Fastify and node:http routes in
// the same rounds, at 1,000 to 100,000 agents each polling in turn; and the open-loop latency at
// the rate of 100,000 agents polling every 30 s.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqliteStore } from '../src/store/sqlite';
import { seededRecord, writeHeartbeats, type BodySet } from './bodies';
import { runOpenLoop, ServerUnderTest } from './children';
import { measureInRounds, ratioSpread, roundRatio, typical, type Contender, type Measured } from './rounds';
import type { Settings } from './settings';
import { fixed, ratioOf, times, verdict, type Row, type Section } from './table';
import type { ServerKind, ServerProcessOptions } from './server-process';

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

export const dataDirectory = (settings: Settings, name: string): string => fs.mkdtempSync(path.join(settings.scratch, `${name}-`));
export const range = (count: number, step = 1): number[] => Array.from({ length: count }, (_, index) => index * step);

/**
 * Writes `count` agents straight into a store through its own API, in one batch. An earlier
 * build (OPAMP_BENCH_BEFORE) seeds with its own store, so its data directory has the schema it
 * knows rather than one written by a later migration.
 */
export async function seedFleet(directory: string, count: number, build?: string): Promise<number> {
  const started = performance.now();
  // The earlier build's module has the same constructor and putAgent/flush/close contract.
  const Store: typeof SqliteStore = build
    ? // eslint-disable-next-line @typescript-eslint/no-require-imports -- another build, chosen at run time
      (require(path.resolve(build, 'dist/src/store/sqlite.js')) as { SqliteStore: typeof SqliteStore }).SqliteStore
    : SqliteStore;
  const store = new Store({ dataDir: directory, writeBatchMs: 3_600_000 });
  const now = Date.now();
  for (let agent = 0; agent < count; agent += 1) await store.putAgent(seededRecord(agent, now), false);
  await store.flush();
  await store.close();
  return (performance.now() - started) / 1000;
}

/**
 * Closed-loop polls a second the bodies are made for, over a server's whole share of the run. A
 * faster server starts them again: each agent's next poll sends a lower sequence number, which
 * ours answers with ReportFullState and nothing more. Bodies for 60,000 polls/s would make each
 * wrk start 6 s longer (it formats every request in Lua first), with the resumed server idling
 * through it and its timers counted, so the wrap is the smaller error.
 */
const MOST_POLLS_PER_SECOND = 8_000;

/** The server's default --routine-write-ms and --write-batch-ms, and a second to spare. */
const ROUTINE_ROWS_SETTLE_MS = 12_000;

/** Seconds the open-loop run sends unrecorded polls first, whatever the mode. */
const OPEN_LOOP_WARMUP_SECONDS = 3;

export interface FleetOutcome {
  section: Section;
  /** A copy of the largest fleet as seeded, for the open-loop run. */
  largestFleetDirectory: string;
}

/**
 * Ours with its defaults (rate limits, overload checks, an agent key, sent by the load) against
 * fleets whose every agent polls in rotation, beside the bare Fastify and node:http routes, all
 * in the same rounds. A fleet sends heartbeats: nothing has changed since its full report.
 */
export async function fleetPolls(settings: Settings): Promise<FleetOutcome> {
  const sizes = [1_000, ...settings.fleetSizes];
  const secondsPerServer = settings.warmupSeconds + settings.rounds * settings.roundSeconds;
  const fleets: Array<{ size: number; directory: string; bodies: BodySet; seedSeconds: number }> = [];
  let largestCopy = '';
  for (const size of sizes) {
    const directory = dataDirectory(settings, `fleet-${size}`);
    const seedSeconds = await seedFleet(directory, size);
    if (size === sizes[sizes.length - 1]) {
      largestCopy = dataDirectory(settings, `open-loop-${size}`);
      fs.cpSync(directory, largestCopy, { recursive: true });
    }
    // Seeded at sequence 1: polls go on from 2, every agent in turn.
    const last = 2 + Math.ceil((MOST_POLLS_PER_SECOND * secondsPerServer) / size);
    const bodies = writeHeartbeats(path.join(settings.scratch, `fleet-bodies-${size}`), range(size), { first: 2, last });
    fleets.push({ size, directory, bodies, seedSeconds });
  }
  const reference = fleets.find((fleet) => fleet.size === 30_000) ?? fleets[fleets.length - 1]!;
  const before = process.env.OPAMP_BENCH_BEFORE;
  let beforeDirectory: string | undefined;
  if (before) {
    beforeDirectory = dataDirectory(settings, 'before');
    await seedFleet(beforeDirectory, reference.size, before);
  }
  const entries: Array<{ kind: ServerKind; options: ServerProcessOptions; bodiesDirectory: string }> = [
    { kind: 'bare-http', options: {}, bodiesDirectory: reference.bodies.directory },
    { kind: 'bare-fastify', options: {}, bodiesDirectory: reference.bodies.directory },
    { kind: 'bare-fastify-coalesced', options: {}, bodiesDirectory: reference.bodies.directory },
    ...fleets.map((fleet) => ({
      kind: 'ours' as const,
      // 1,000 agents cannot make a closed loop's rate within the default 60 polls a minute each:
      // that row alone runs with the per-agent limit off (and says so).
      options: { agentKey: true, flags: { 'data-dir': fleet.directory, ...(fleet.size < 10_000 ? { 'rate-limit-per-agent': 'off' } : {}) } },
      bodiesDirectory: fleet.bodies.directory,
    })),
  ];
  // Ours with the coalescing of answers switched off, on a copy of the reference fleet: what
  // that feature is worth, and what ours costs without it.
  const uncoalescedDirectory = dataDirectory(settings, 'uncoalesced');
  fs.cpSync(reference.directory, uncoalescedDirectory, { recursive: true });
  entries.push({ kind: 'ours', options: { agentKey: true, flags: { 'data-dir': uncoalescedDirectory, 'coalesce-answers': 'false' } }, bodiesDirectory: reference.bodies.directory });
  // A second process of the plain bare route and of ours on the reference fleet (its own copy).
  // Processes of one build and the same flags differed by up to 13% in the same rounds
  // (BENCHMARKS.md, 2026-12-07), so the targets' ratios must not rest on one process of each.
  const referenceIndex = fleets.indexOf(reference);
  const secondDirectory = dataDirectory(settings, 'second');
  fs.cpSync(reference.directory, secondDirectory, { recursive: true });
  // Where each doubled contender's first and second process sit in `entries`.
  const bareFastifyEntry = 1;
  const oursReferenceEntry = 3 + referenceIndex;
  const secondOf = new Map<number, number>([[bareFastifyEntry, entries.length], [oursReferenceEntry, entries.length + 1]]);
  entries.push(
    { kind: 'bare-fastify', options: {}, bodiesDirectory: reference.bodies.directory },
    { kind: 'ours', options: { agentKey: true, flags: { 'data-dir': secondDirectory } }, bodiesDirectory: reference.bodies.directory },
  );
  if (before && beforeDirectory) {
    entries.push({ kind: 'ours', options: { agentKey: true, build: before, flags: { 'data-dir': beforeDirectory } }, bodiesDirectory: reference.bodies.directory });
  }
  const measured = await compare(entries, settings);
  // Every contender's rounds, twice over: a doubled contender's second process fills the second
  // half, a single one repeats its own. Round i of one half was measured seconds from round i
  // of the same half of every other, so per-round ratios still pair servers measured together.
  const rounds = measured.map((first, index) => {
    const second = secondOf.get(index);
    return [...first, ...(second === undefined ? first : measured[second]!)];
  });
  const [bareHttpRounds, bareFastifyRounds, coalescedRounds] = [rounds[0]!, rounds[1]!, rounds[2]!];
  const oursRounds = fleets.map((_fleet, index) => rounds[3 + index]!);
  const uncoalescedRounds = rounds[3 + fleets.length]!;
  const rate = (value: Measured): number => value.load.requestsPerSecond;
  const cpu = (value: Measured): number => value.cpuMicrosPerPoll;
  const polls = (value: Measured): string => `${fixed(rate(value))}/s`;
  const micros = (value: Measured): string => `${fixed(cpu(value))} µs`;
  const bareFastify = typical(bareFastifyRounds);
  const bareHttp = typical(bareHttpRounds);
  const rows: Section['rows'] = [];
  const targets: Record<number, { polls?: number; cpu?: number; memory?: number }> = {
    30_000: { polls: 0.8, cpu: 1.35 },
    100_000: { polls: 0.75, memory: 300 },
  };
  for (const [index, fleet] of fleets.entries()) {
    const ours = typical(oursRounds[index]!);
    const target = targets[fleet.size] ?? {};
    const name = fleet.size === 1_000 ? '1,000 agents (former poll-path row; per-agent limit off)' : `${fixed(fleet.size)} agents`;
    const pollsRatio = roundRatio(oursRounds[index]!, bareFastifyRounds, rate);
    const cpuRatio = roundRatio(oursRounds[index]!, bareFastifyRounds, cpu);
    rows.push(
      { figure: `Polls/s, ${name} vs bare Fastify`, ours: polls(ours), baseline: polls(bareFastify), ratio: times(pollsRatio), target: target.polls ? `≥ ${target.polls.toFixed(2)}x` : '', result: target.polls ? verdict(pollsRatio >= target.polls) : '' },
      { figure: `CPU per poll, ${name} vs bare Fastify`, ours: micros(ours), baseline: micros(bareFastify), ratio: times(cpuRatio), target: target.cpu ? `≤ ${target.cpu.toFixed(2)}x` : '', result: target.cpu ? verdict(cpuRatio <= target.cpu) : '' },
    );
    if (target.memory) {
      rows.push({ figure: `Resident memory (VmRSS) after load, ${name}`, ours: `${fixed(ours.residentMegabytes)} MB`, baseline: '', ratio: '', target: `< ${target.memory} MB`, result: verdict(ours.residentMegabytes < target.memory) });
    }
    if (fleet === reference) {
      // Like for like: the bare route writing its answers the way ours does by default, and ours
      // writing each answer at once as the bare route does. The targets hold for both pairs.
      const likeRate = roundRatio(oursRounds[index]!, coalescedRounds, rate);
      const likeCpu = roundRatio(oursRounds[index]!, coalescedRounds, cpu);
      const offRate = roundRatio(uncoalescedRounds, bareFastifyRounds, rate);
      const offCpu = roundRatio(uncoalescedRounds, bareFastifyRounds, cpu);
      const coalesced = typical(coalescedRounds);
      const uncoalesced = typical(uncoalescedRounds);
      const like = 'vs bare Fastify coalescing its answers too (like for like)';
      const off = `${name}, coalescing off (--coalesce-answers false) vs bare Fastify`;
      rows.push(
        { figure: `Polls/s, ${name} ${like}`, ours: polls(ours), baseline: polls(coalesced), ratio: times(likeRate), target: `≥ ${target.polls!.toFixed(2)}x`, result: verdict(likeRate >= target.polls!) },
        { figure: `CPU per poll, ${name} ${like}`, ours: micros(ours), baseline: micros(coalesced), ratio: times(likeCpu), target: `≤ ${target.cpu!.toFixed(2)}x`, result: verdict(likeCpu <= target.cpu!) },
        { figure: `Polls/s, ${off}`, ours: polls(uncoalesced), baseline: polls(bareFastify), ratio: times(offRate), target: `≥ ${target.polls!.toFixed(2)}x`, result: verdict(offRate >= target.polls!) },
        { figure: `CPU per poll, ${off}`, ours: micros(uncoalesced), baseline: micros(bareFastify), ratio: times(offCpu), target: `≤ ${target.cpu!.toFixed(2)}x`, result: verdict(offCpu <= target.cpu!) },
      );
      // The verdict on the 30,000-agent targets: the coalescing must not be what meets them.
      const polled = [pollsRatio, likeRate, offRate].every((ratio) => ratio >= target.polls!);
      const costed = [cpuRatio, likeCpu, offCpu].every((ratio) => ratio <= target.cpu!);
      rows.push({ figure: `${name}: both targets, in all three pairs above`, ours: '', baseline: '', ratio: '', target: 'all met', result: verdict(polled && costed) });
      rows.push(
        { figure: `Polls/s, ${name} vs bare node:http`, ours: polls(ours), baseline: polls(bareHttp), ratio: times(roundRatio(oursRounds[index]!, bareHttpRounds, rate)), target: '', result: '' },
        { figure: `p50 / p99 latency, ${name} (bare Fastify)`, ours: `${fixed(ours.load.p50Ms, 2)} / ${fixed(ours.load.p99Ms, 2)} ms`, baseline: `${fixed(bareFastify.load.p50Ms, 2)} / ${fixed(bareFastify.load.p99Ms, 2)} ms`, ratio: ratioOf(ours.load.p99Ms, bareFastify.load.p99Ms), target: '', result: '' },
      );
    }
  }
  rows.push({ figure: 'Bare Fastify route coalescing its answers vs the same route writing each at once', ours: polls(typical(coalescedRounds)), baseline: polls(bareFastify), ratio: times(roundRatio(coalescedRounds, bareFastifyRounds, rate)), target: '', result: '' });
  rows.push({ figure: 'Bare Fastify route vs bare node:http route', ours: polls(bareFastify), baseline: polls(bareHttp), ratio: times(roundRatio(bareFastifyRounds, bareHttpRounds, rate)), target: '', result: '' });
  if (before) {
    const beforeRounds = rounds[rounds.length - 1]!;
    const ratio = roundRatio(oursRounds[referenceIndex]!, beforeRounds, rate);
    rows.push(
      { figure: `Polls/s, ${fixed(reference.size)} agents vs the earlier build (OPAMP_BENCH_BEFORE)`, ours: polls(typical(oursRounds[referenceIndex]!)), baseline: polls(typical(beforeRounds)), ratio: times(ratio), target: '≥ 0.90x', result: verdict(ratio >= 0.9) },
      { figure: `CPU per poll, ${fixed(reference.size)} agents vs the earlier build (OPAMP_BENCH_BEFORE)`, ours: micros(typical(oursRounds[referenceIndex]!)), baseline: micros(typical(beforeRounds)), ratio: times(roundRatio(oursRounds[referenceIndex]!, beforeRounds, cpu)), target: '', result: '' },
    );
  }
  return {
    largestFleetDirectory: largestCopy,
    section: {
      title: `Polls of a fleet (server defaults, agent key on; every stored agent polls in rotation; ${settings.connections} connections, wrk closed loop)`,
      rows,
      notes: [
        `heartbeat bodies as opamp-go sends them once nothing changed (uid, sequence, capabilities; ${fixed(reference.bodies.count)} bodies for ${fixed(reference.size)} agents), each with Authorization: Bearer <key> and, as Go's http.Client adds it, Accept-Encoding: gzip (every server gzips its answer); the bare routes decode and encode the same bytes and ignore the key.`,
        'ours writes the answers that are ready in one turn of the event loop back to back at its end (--coalesce-answers, on by default); on loopback that saves most of the cost of waking the load generator once per answer. "Bare Fastify" is the plain route, each answer written at once, as the targets name it; the like-for-like rows weigh ours against the bare route coalescing in the same way, and ours with coalescing off against the plain route. A target is met only when it holds in all three pairs.',
        `seeding through SqliteStore.putAgent + flush took ${fleets.map((fleet) => `${fixed(fleet.seedSeconds, 1)} s for ${fixed(fleet.size)}`).join(', ')}.`,
        `${entries.length} servers running at once, measured in turn for ${settings.rounds} rounds of ${settings.roundSeconds} s; figures are medians over the rounds and ratios the median of the per-round ratios (polls/s at ${fixed(reference.size)} vs bare Fastify ranged ${ratioSpread(oursRounds[referenceIndex]!, bareFastifyRounds, rate)}).`,
        `ours at ${fixed(reference.size)} agents and the plain bare Fastify route run as two processes each, and their figures pool both (processes of the same server differ by up to 13%): polls/s of the first pair ${times(roundRatio(measured[oursReferenceEntry]!, measured[bareFastifyEntry]!, rate))}, of the second ${times(roundRatio(measured[secondOf.get(oursReferenceEntry)!]!, measured[secondOf.get(bareFastifyEntry)!]!, rate))}.`,
        before ? `the earlier build is the one in ${before} (OPAMP_BENCH_BEFORE), with the same defaults, key and load; its target (at most 10% fewer polls/s) is the issue's for the node:http route (45ed1af), and a check against regressions for any other build.` : 'set OPAMP_BENCH_BEFORE to the directory of an earlier build (with dist/) to add it as a contender.',
      ],
    },
  };
}

export async function openLoop(settings: Settings, fleetDirectory: string): Promise<Section> {
  const size = settings.fleetSizes[settings.fleetSizes.length - 1]!;
  // A server started for this run spends its first second or two loading 100k records and
  // compiling its poll path; at 3,300 polls/s that start leaves a queue which a 1 s warm-up
  // (--quick) would record as the steady state's tail (measured: p99 208-681 ms after 1 s,
  // 3-4 ms after 2 s or more). The figure is the steady state, so both modes warm up 3 s.
  const warmupSeconds = Math.max(settings.warmupSeconds, OPEN_LOOP_WARMUP_SECONDS);
  // Every poll from a different agent of the stored fleet, as 100k agents on a 30 s interval
  // would look: seeded at sequence 1, each sends heartbeats from sequence 2 on.
  const perAgent = Math.ceil((settings.openLoopRate * (warmupSeconds + settings.openLoopSeconds)) / size);
  const bodies = writeHeartbeats(path.join(settings.scratch, 'open-loop-bodies'), range(size), { first: 2, last: 1 + perAgent });
  const load = { bodiesDirectory: bodies.directory, rate: settings.openLoopRate, warmupSeconds, durationSeconds: settings.openLoopSeconds, sockets: 64, decode: false };
  const run = async (kind: ServerKind, options: ServerProcessOptions) => {
    const server = await ServerUnderTest.start(kind, options);
    try {
      const started = await server.stats();
      const result = await runOpenLoop({ ...load, url: server.url });
      // Every answer, warm-up included, against the CPU of the whole run: at this pace each
      // poll is its agent's only one in the window, so ours writes a row for every poll. The
      // rows held when the load stops are written within the hold (10 s) and a batch: counted
      // too, so that a build writing them later in the run is not flattered.
      await sleep(ROUTINE_ROWS_SETTLE_MS);
      const cpuMicrosPerPoll = ((await server.stats()).cpuMicros - started.cpuMicros) / Math.max(1, result.answers);
      return { ...result, cpuMicrosPerPoll };
    } finally {
      await server.stop();
    }
  };
  const bare = await run('bare-http', {});
  const ours = await run('ours', { agentKey: true, flags: { 'data-dir': fleetDirectory } });
  const before = process.env.OPAMP_BENCH_BEFORE;
  let earlier: Awaited<ReturnType<typeof run>> | undefined;
  if (before) {
    const beforeDirectory = dataDirectory(settings, 'open-loop-before');
    await seedFleet(beforeDirectory, size, before);
    earlier = await run('ours', { agentKey: true, build: before, flags: { 'data-dir': beforeDirectory } });
  }
  const text = (value: number): string => `${fixed(value, 2)} ms`;
  const micros = (value: number): string => `${fixed(value)} µs`;
  return {
    title: `Open loop (${fixed(settings.openLoopRate)} polls/s offered for ${settings.openLoopSeconds} s, ${fixed(size)} agents stored and polling, server defaults, agent key on)`,
    rows: [
      { figure: 'p99 latency from the scheduled send', ours: text(ours.p99Ms), baseline: text(bare.p99Ms), ratio: ratioOf(ours.p99Ms, bare.p99Ms), target: '< 10 ms', result: verdict(ours.p99Ms < 10 && ours.errors === 0 && ours.non200 === 0) },
      { figure: 'p50 / p99.9 / max latency', ours: `${text(ours.p50Ms)} / ${text(ours.p999Ms)} / ${text(ours.maxMs)}`, baseline: `${text(bare.p50Ms)} / ${text(bare.p999Ms)} / ${text(bare.maxMs)}`, ratio: '', target: '', result: '' },
      { figure: 'Polls/s answered (offered rate held?)', ours: `${fixed(ours.achievedRate)}/s`, baseline: `${fixed(bare.achievedRate)}/s`, ratio: ratioOf(ours.achievedRate, bare.achievedRate), target: '', result: '' },
      { figure: 'CPU per poll at a fleet\'s pace (each agent polls once in 30 s, so every poll writes its row)', ours: micros(ours.cpuMicrosPerPoll), baseline: micros(bare.cpuMicrosPerPoll), ratio: ratioOf(ours.cpuMicrosPerPoll, bare.cpuMicrosPerPoll), target: '', result: '' },
      ...(earlier
        ? ([
            { figure: 'p99 latency vs the earlier build (OPAMP_BENCH_BEFORE)', ours: text(ours.p99Ms), baseline: text(earlier.p99Ms), ratio: ratioOf(ours.p99Ms, earlier.p99Ms), target: '', result: '' },
            { figure: 'CPU per poll at a fleet\'s pace vs the earlier build', ours: micros(ours.cpuMicrosPerPoll), baseline: micros(earlier.cpuMicrosPerPoll), ratio: ratioOf(ours.cpuMicrosPerPoll, earlier.cpuMicrosPerPoll), target: '', result: '' },
          ] satisfies Row[])
        : []),
    ],
    notes: [
      `open-loop generator: bench/open-loop.ts in its own Node process, after ${warmupSeconds} s of unrecorded warm-up at the same rate (node:http keep-alive agent, ≤ 64 sockets, 1 ms timer); latency counts from each request's scheduled instant, so coordinated omission is included. CPU per poll is the server's whole run (warm-up included, checkpoint worker included) over every answer, and 12 s after the load so that the rows still held are written and counted. ${ours.errors + ours.non200} errors/non-200 for ours, ${bare.errors + bare.non200} for the baseline (bare node:http).`,
    ],
  };
}
