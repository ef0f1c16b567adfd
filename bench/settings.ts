// How long and how hard each part of the bench runs; `--quick` shortens every run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Flags of the parts that measure something other than the poll path under a fleet's load
 * (offers, downloads, PostgreSQL): shedding off, so a burst from few agents is not refused.
 */
export const SHEDDING_OFF = {
  'rate-limit-per-agent': 'off', 'overload-event-loop-delay': 'off', 'overload-heap-used': 'off', 'overload-store-latency': 'off',
} as const;

/** The agent key of runs with agent auth on; the load generators always send it. */
export const BENCH_AGENT_KEY = 'bench-agent-key-0123456789abcdef';
/** What every poll of the load carries, as an agent with a key sends it (ignored where auth is off). */
export const BENCH_AUTHORIZATION = `Bearer ${BENCH_AGENT_KEY}`;

export interface Settings {
  quick: boolean;
  /** `--only poll,downloads`: run just these parts (names as in the progress lines); empty: all. */
  only: string[];
  /** Closed-loop measurements: rounds, each server loaded in turn for `roundSeconds`. */
  rounds: number;
  roundSeconds: number;
  /** Unrecorded wrk run before each measured one (JIT, connections, page cache). */
  warmupSeconds: number;
  connections: number;
  wrkThreads: number;
  /** Simulated agents of the PostgreSQL rows. */
  agents: number;
  /** Bodies per agent: enough that a run rarely wraps around to sequence 1. */
  bodiesPerAgent: number;
  /** Fleets whose every agent polls in rotation (plus a 1,000-agent row). */
  fleetSizes: number[];
  openLoopRate: number;
  openLoopSeconds: number;
  offersRate: number;
  offersSeconds: number;
  downloadSeconds: number;
  downloadBytes: number;
  scratch: string;
}

export function settingsFrom(argv: string[]): Settings {
  const quick = argv.includes('--quick');
  const onlyIndex = argv.indexOf('--only');
  const only = onlyIndex >= 0 ? (argv[onlyIndex + 1] ?? '').split(',').map((name) => name.trim()).filter(Boolean) : [];
  return {
    quick,
    only,
    rounds: quick ? 3 : 5,
    roundSeconds: quick ? 2 : 4,
    warmupSeconds: quick ? 1 : 3,
    connections: 32,
    wrkThreads: 1,
    agents: 1000,
    bodiesPerAgent: quick ? 40 : 150,
    fleetSizes: [10_000, 30_000, 100_000],
    openLoopRate: 3_300,
    openLoopSeconds: quick ? 5 : 20,
    offersRate: 2_000,
    offersSeconds: quick ? 4 : 10,
    downloadSeconds: quick ? 3 : 8,
    downloadBytes: 100e6,
    scratch: fs.mkdtempSync(path.join(os.tmpdir(), 'opamp-bench-')),
  };
}
