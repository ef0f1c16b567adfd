// Closed-loop measurement in interleaved rounds. On a shared machine the speed available to a
// process drifts by tens of percent over a minute; measuring one server after the other lets
// that drift land on one side of a ratio. Here every server under comparison is started at
// once and they take turns, round after round, so each round's ratio compares servers measured
// seconds apart, and the median over the rounds drops the rounds another tenant disturbed.
import type { ServerUnderTest } from './children';
import { cpuMicros, residentMegabytes } from './proc';
import type { Settings } from './settings';
import { runWrk, type WrkResult } from './wrk';

export interface Measured {
  load: WrkResult;
  cpuMicrosPerPoll: number;
  residentMegabytes: number;
}

export interface Contender {
  server: ServerUnderTest;
  bodiesDirectory: string;
  /** Bodies sent to this server so far; each run goes on from there. */
  sent?: number;
}

/** Longer than @fastify/under-pressure's sample interval of the event-loop delay (1 s). */
const RESUME_SETTLE_MS = 1_500;

/**
 * One load run, with only this server running: the others are stopped (SIGSTOP) meanwhile, so
 * what one defers (held writes, checkpoints, timers) runs on its own turn and counts in its own
 * figures rather than slowing another's. Its CPU time (user + system, all threads) is read from
 * the kernel while it is still stopped, so the work it catches up on when resumed is counted.
 */
async function measureOnce(contender: Contender, seconds: number, settings: Settings): Promise<Measured> {
  const { server, bodiesDirectory } = contender;
  const run = {
    url: `${server.url}/v1/opamp`, connections: settings.connections, threads: settings.wrkThreads, bodiesDirectory, seconds,
    startAt: contender.sent ?? 0,
  };
  const before = cpuMicros(server.pid);
  server.resume();
  // A process stopped for half a minute sees its event loop as delayed that long when it runs
  // again, and sheds polls as overloaded (as it should after a real stall) until the next
  // sample of the delay, a second later; the load starts once that has passed.
  await new Promise((resolve) => setTimeout(resolve, RESUME_SETTLE_MS));
  let load: WrkResult;
  let after: number;
  try {
    load = await runWrk(run, settings.scratch);
    after = cpuMicros(server.pid);
  } finally {
    server.pause();
  }
  // Requests still in flight when wrk stopped are not counted: the next run sends them again,
  // which the server takes as retries, rather than skipping a sequence number.
  contender.sent = (contender.sent ?? 0) + load.requests;
  if (load.socketErrors > 0 || load.statusErrors > 0) {
    throw new Error(`${server.kind}: ${load.socketErrors} socket errors and ${load.statusErrors} non-2xx answers`);
  }
  return { load, cpuMicrosPerPoll: (after - before) / load.requests, residentMegabytes: residentMegabytes(server.pid) };
}

/** Warms every contender up, then measures them in turn for `settings.rounds` rounds: [contender][round]. */
export async function measureInRounds(contenders: Contender[], settings: Settings): Promise<Measured[][]> {
  for (const contender of contenders) contender.server.pause();
  try {
    for (const contender of contenders) await measureOnce(contender, settings.warmupSeconds, settings);
    const results: Measured[][] = contenders.map(() => []);
    for (let round = 0; round < settings.rounds; round += 1) {
      for (const [index, contender] of contenders.entries()) {
        results[index]!.push(await measureOnce(contender, settings.roundSeconds, settings));
      }
    }
    return results;
  } finally {
    for (const contender of contenders) contender.server.resume();
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** A contender's figures over its rounds: the median of each, and its memory after the last. */
export function typical(rounds: Measured[]): Measured {
  const load = (pick: (result: WrkResult) => number): number => median(rounds.map((round) => pick(round.load)));
  const last = rounds[rounds.length - 1]!;
  return {
    load: {
      ...last.load,
      requests: rounds.reduce((sum, round) => sum + round.load.requests, 0),
      requestsPerSecond: load((result) => result.requestsPerSecond),
      megabytesPerSecond: load((result) => result.megabytesPerSecond),
      p50Ms: load((result) => result.p50Ms),
      p90Ms: load((result) => result.p90Ms),
      p99Ms: load((result) => result.p99Ms),
      maxMs: Math.max(...rounds.map((round) => round.load.maxMs)),
    },
    cpuMicrosPerPoll: median(rounds.map((round) => round.cpuMicrosPerPoll)),
    residentMegabytes: last.residentMegabytes,
  };
}

/** The ratio of one figure, taken round by round (same round, seconds apart) and then the median. */
export function roundRatio(ours: Measured[], baseline: Measured[], figure: (measured: Measured) => number): number {
  return median(ours.map((round, index) => figure(round) / figure(baseline[index]!)));
}

/** The per-round ratios, lowest to highest, so a reader can see how much the machine moved. */
export function ratioSpread(ours: Measured[], baseline: Measured[], figure: (measured: Measured) => number): string {
  const ratios = ours.map((round, index) => figure(round) / figure(baseline[index]!)).sort((left, right) => left - right);
  return `${ratios[0]!.toFixed(2)}-${ratios[ratios.length - 1]!.toFixed(2)}x`;
}
