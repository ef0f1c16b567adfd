// CPU per poll with every server answering the same offered rate. In the closed loop a slower
// server also leaves wrk idle more often, so more of its answers pay for waking wrk, and its
// CPU per poll grows with its own slowness; here every server gets the same polls at the same
// pace (open loop), so the figures compare the work per poll alone.
import path from 'node:path';
import { writeHeartbeats } from './bodies';
import { runOpenLoop, ServerUnderTest } from './children';
import { dataDirectory, range, seedFleet } from './polls';
import { cpuMicros } from './proc';
import type { ServerKind, ServerProcessOptions } from './server-process';
import type { Settings } from './settings';
import { fixed, times, type Row, type Section } from './table';

const AGENTS = 30_000;
/** Well under what every contender can answer on this machine, and above a large fleet's rate. */
const RATE = 8_000;
const WARMUP_SECONDS = 3;

interface Contender {
  name: string;
  kind: ServerKind;
  options: ServerProcessOptions;
}

/** CPU µs per poll of one server over a whole open-loop run (warm-up included). */
async function cpuPerPoll(contender: Contender, bodiesDirectory: string, seconds: number): Promise<number> {
  const server = await ServerUnderTest.start(contender.kind, contender.options);
  try {
    const before = cpuMicros(server.pid);
    const result = await runOpenLoop({
      url: `${server.url}/v1/opamp`, bodiesDirectory, rate: RATE, warmupSeconds: WARMUP_SECONDS, durationSeconds: seconds, sockets: 64, decode: false,
    });
    if (result.errors + result.non200 > 0) throw new Error(`${contender.name}: ${result.errors + result.non200} errors/non-200 at ${RATE} polls/s`);
    return (cpuMicros(server.pid) - before) / (RATE * (WARMUP_SECONDS + seconds));
  } finally {
    await server.stop();
  }
}

export async function equalRate(settings: Settings): Promise<Section> {
  const seconds = settings.quick ? 4 : 10;
  const rounds = settings.quick ? 1 : 2;
  const fleet = dataDirectory(settings, 'equal-rate');
  await seedFleet(fleet, AGENTS);
  const perAgent = Math.ceil((RATE * (WARMUP_SECONDS + seconds) * rounds) / AGENTS);
  const bodies = writeHeartbeats(path.join(settings.scratch, 'equal-rate-bodies'), range(AGENTS), { first: 2, last: 1 + perAgent });
  const contenders: Contender[] = [
    { name: 'bare Fastify', kind: 'bare-fastify', options: {} },
    { name: 'bare Fastify coalescing', kind: 'bare-fastify-coalesced', options: {} },
    { name: 'ours', kind: 'ours', options: { agentKey: true, flags: { 'data-dir': fleet } } },
    { name: 'ours, coalescing off', kind: 'ours', options: { agentKey: true, flags: { 'data-dir': fleet, 'coalesce-answers': 'false' } } },
  ];
  // Rounds alternate the contenders; each server starts afresh, on the same seeded file (ours
  // writes only last-seen times and sequence numbers to it, which the next run goes on from).
  const figures = new Map<string, number[]>();
  for (let round = 0; round < rounds; round += 1) {
    for (const contender of contenders) {
      const value = await cpuPerPoll(contender, bodies.directory, seconds);
      figures.set(contender.name, [...(figures.get(contender.name) ?? []), value]);
    }
  }
  const mean = (name: string): number => {
    const values = figures.get(name)!;
    return values.reduce((sum, value) => sum + value, 0) / values.length;
  };
  const row = (ours: string, baseline: string): Row => ({
    figure: `CPU per poll, ${ours} vs ${baseline}`,
    ours: `${fixed(mean(ours))} µs`,
    baseline: `${fixed(mean(baseline))} µs`,
    ratio: times(mean(ours) / mean(baseline)),
    target: '',
    result: '',
  });
  return {
    title: `CPU per poll at an equal rate (${fixed(RATE)} polls/s offered to every server, open loop, ${fixed(AGENTS)} agents in rotation, server defaults, agent key on)`,
    rows: [
      row('ours', 'bare Fastify'),
      row('ours', 'bare Fastify coalescing'),
      row('ours, coalescing off', 'bare Fastify'),
      row('bare Fastify coalescing', 'bare Fastify'),
    ],
    notes: [
      `each server in its own run: ${WARMUP_SECONDS} s of warm-up and ${seconds} s measured at the same rate, CPU (user + system, /proc) over the whole run divided by every poll sent; ${rounds} round(s), contenders alternating, figures are the mean. No targets here: the issue's targets are the closed-loop rows above, and these show how much of their gap is the closed loop's.`,
    ],
  };
}
