// Who is in which wave, when each agent may be offered, and when the next wave opens. Pure:
// membership is decided by a hash of the rollout id and the agent's uid, so every instance and
// every restart ranks the fleet the same way without sharing anything but the counts.
import { createHash } from 'node:crypto';
import type { RolloutRecord, UpgradeState, WaveSpec } from './types';

/** The agent's rank key in a rollout: hex SHA-256 of the rollout id and the instance uid. */
export function rankKey(rolloutId: string, instanceUid: string): string {
  return createHash('sha256').update(rolloutId).update(instanceUid).digest('hex');
}

/** The rank key as a number in [0, 1), for spreading agents that arrive after the start. */
export function rankFraction(rolloutId: string, instanceUid: string): number {
  return parseInt(rankKey(rolloutId, instanceUid).slice(0, 12), 16) / 2 ** 48;
}

/** How many of `total` agents waves 0..k hold together: ceil(p_k x N). */
export function cumulativeShare(waves: WaveSpec[], wave: number, total: number): number {
  return Math.ceil((waves[wave]!.percent / 100) * total);
}

export interface Placement {
  instanceUid: string;
  wave: number;
  notBeforeMs: number;
}

export interface PlanInput {
  rolloutId: string;
  waves: WaveSpec[];
  startMs: number;
  durationMs: number | undefined;
}

/**
 * Places the agents selected when the rollout is created: ranked by their key, wave k takes
 * ranks up to ceil(p_k x N); with a duration, first offers are spread evenly by rank.
 */
export function planMembers(input: PlanInput, instanceUids: string[]): Placement[] {
  const ranked = [...instanceUids].sort((left, right) => {
    const a = rankKey(input.rolloutId, left);
    const b = rankKey(input.rolloutId, right);
    return a < b ? -1 : a > b ? 1 : 0;
  });
  const total = ranked.length;
  let wave = 0;
  return ranked.map((instanceUid, index) => {
    while (wave < input.waves.length - 1 && index >= cumulativeShare(input.waves, wave, total)) wave += 1;
    const notBeforeMs = input.durationMs === undefined
      ? input.startMs
      : input.startMs + Math.floor((index * input.durationMs) / Math.max(total, 1));
    return { instanceUid, wave, notBeforeMs };
  });
}

/**
 * The wave for an agent that appears after the start, given how many each wave admitted: the
 * first wave whose cumulative count is still under its share of the grown total. The last wave
 * (100%) always has room, so the answer is never empty.
 */
export function waveForLateAgent(waves: WaveSpec[], admitted: number[]): number {
  const total = admitted.reduce((sum, count) => sum + count, 0) + 1;
  let cumulative = 0;
  for (let wave = 0; wave < waves.length; wave += 1) {
    cumulative += admitted[wave] ?? 0;
    if (cumulative < cumulativeShare(waves, wave, total)) return wave;
  }
  return waves.length - 1;
}

/** When a late agent may first be offered: its place in the spread by its rank key. */
export function lateNotBefore(input: PlanInput, instanceUid: string): number {
  if (input.durationMs === undefined) return input.startMs;
  // A slot already passed means "at once", which is what a late agent should get.
  return input.startMs + Math.floor(rankFraction(input.rolloutId, instanceUid) * input.durationMs);
}

/** Members of one wave by upgrade state. */
export type WaveCounts = Partial<Record<UpgradeState, number>>;

export function countOf(counts: WaveCounts | undefined): number {
  return Object.values(counts ?? {}).reduce((sum, count) => sum + (count ?? 0), 0);
}

/**
 * The wave to open now, if any: the first unopened wave whose predecessor has reached its
 * success ratio and stayed open its minimum wait. An empty predecessor counts as succeeded.
 */
export function waveToOpen(rollout: RolloutRecord, counts: WaveCounts[], nowMs: number): number | undefined {
  const waves = rollout.spec.waves;
  for (let wave = 1; wave < waves.length; wave += 1) {
    if (rollout.waves[wave]?.openedAtMs !== undefined) continue;
    const previous = rollout.waves[wave - 1];
    const spec = waves[wave - 1]!;
    if (previous?.openedAtMs === undefined || previous.openedAtMs > nowMs) return undefined;
    if (nowMs - previous.openedAtMs < spec.minWaitMs) return undefined;
    const members = countOf(counts[wave - 1]);
    const installed = counts[wave - 1]?.installed ?? 0;
    if (members > 0 && installed / members < spec.minSuccessRatio) return undefined;
    return wave;
  }
  return undefined;
}
