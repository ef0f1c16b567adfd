// Per-agent upgrade state, derived from what the agent reports: its package status for the
// offer the rollout made and its service.version. Pure. A transition happens only when what the
// agent reports changed, so a stuck agent that keeps repeating itself stays stuck.
import { PackageStatusCode } from '../agents/package-status';
import { reportedVersion } from '../agents/platform';
import type { AgentRecord } from '../agents/records';
import type { RolloutMember, RolloutRecord, UpgradeDetail, UpgradeState } from './types';

/** What one agent record says about one rollout's offer. */
export interface Observation {
  /** service.version without `v`. */
  version: string | undefined;
  /** The state the report implies, when it implies one. */
  state: UpgradeState | undefined;
  detail: UpgradeDetail;
}

/** Reads the record against the offered version (bare) and package hash (hex). */
export function observe(record: AgentRecord | undefined, target: string, offeredHashHex: string): Observation {
  const version = reportedVersion(record?.description);
  if (version === target) return { version, state: 'installed', detail: {} };
  const status = record?.packageStatuses?.packages[''];
  // A status about another offer (an older generation, another rollout) says nothing of this one.
  if (status === undefined || status.serverOfferedHash !== offeredHashHex) return { version, state: undefined, detail: {} };
  switch (status.status) {
    case PackageStatusCode.Downloading:
      return {
        version,
        state: 'downloading',
        detail: { downloadPercent: status.downloadPercent ?? 0, downloadBytesPerSecond: status.downloadBytesPerSecond ?? 0 },
      };
    // Installed but not yet confirmed by service.version counts as installing too: the collector
    // has still to restart.
    case PackageStatusCode.InstallPending:
    case PackageStatusCode.Installing:
    case PackageStatusCode.Installed:
      return { version, state: 'installing', detail: {} };
    case PackageStatusCode.InstallFailed:
      return { version, state: 'failed', detail: { errorMessage: status.errorMessage || 'install failed' } };
    default:
      return { version, state: undefined, detail: {} };
  }
}

function sameObservation(left: Observation, right: Observation): boolean {
  return left.version === right.version && left.state === right.state && JSON.stringify(left.detail) === JSON.stringify(right.detail);
}

/** The member's next state and detail, or undefined when it does not change. */
export function nextState(
  member: RolloutMember,
  target: string,
  before: Observation,
  after: Observation,
  offerSent: boolean,
): { state: UpgradeState; detail: UpgradeDetail } | undefined {
  const change = (state: UpgradeState, detail: UpgradeDetail) =>
    state === member.state && JSON.stringify(detail) === JSON.stringify(member.detail) ? undefined : { state, detail };
  if (sameObservation(before, after) && !offerSent) return undefined;
  switch (member.state) {
    case 'installed':
      if (after.version !== undefined && after.version !== target) {
        return change('rolled_back', { errorMessage: `reports ${after.version} after installing ${target}` });
      }
      return undefined;
    case 'failed':
    case 'rolled_back':
      // Only a confirmed install moves these on; anything else waits for a retry.
      return after.state === 'installed' ? change('installed', {}) : undefined;
    default:
      if (after.state !== undefined && !sameObservation(before, after)) return change(after.state, after.detail);
      if (offerSent && member.state === 'scheduled') return change('offered', {});
      return undefined;
  }
}

const IN_PROGRESS: UpgradeState[] = ['offered', 'downloading', 'installing'];

/** Offered or in progress with no change for stuckAfterMs. */
export function isStuck(member: Pick<RolloutMember, 'state' | 'stateAtMs'>, nowMs: number, stuckAfterMs: number): boolean {
  return IN_PROGRESS.includes(member.state) && nowMs - member.stateAtMs >= stuckAfterMs;
}

/** Whether the rollout should offer its package to this member now. */
export function mayOffer(rollout: RolloutRecord, member: RolloutMember, nowMs: number): boolean {
  if (rollout.status !== 'active' || nowMs < rollout.spec.startMs || nowMs < member.notBeforeMs) return false;
  const opened = rollout.waves[member.wave]?.openedAtMs;
  if (opened === undefined || opened > nowMs) return false;
  // A stuck agent keeps its offer (it may still be working on it); failed ones wait for a retry.
  return ['scheduled', 'offered', 'downloading', 'installing', 'stuck'].includes(member.state);
}

/**
 * Failed plus stuck among the members that were offered. Only failures that arose after the
 * last resume (`recent`) count: a resume acknowledges the ones before it.
 */
export function failureRatio(counts: Array<{ state: UpgradeState; count: number; recent: number }>): {
  offered: number;
  failing: number;
  ratio: number;
} {
  let offered = 0;
  let failing = 0;
  for (const { state, count, recent } of counts) {
    if (state !== 'scheduled') offered += count;
    if (state === 'failed' || state === 'stuck') failing += recent;
  }
  return { offered, failing, ratio: offered === 0 ? 0 : failing / offered };
}

/** Why the rollout must pause itself now, or undefined. */
export function pauseReason(
  rollout: RolloutRecord,
  counts: Array<{ state: UpgradeState; count: number; recent: number }>,
): string | undefined {
  if (rollout.status !== 'active') return undefined;
  const { offered, failing, ratio } = failureRatio(counts);
  if (offered === 0 || ratio <= rollout.spec.maxFailureRatio) return undefined;
  return `failure ratio ${ratio.toFixed(3)} (${failing} failed or stuck of ${offered} offered) is over max_failure_ratio ${rollout.spec.maxFailureRatio}`;
}
