// Which selected agents a rollout takes on, and why the others are left out. Pure: the same
// classification serves the preview, the creation and the admission of agents that appear
// later, so a preview shows what the rollout then does.
import semver from 'semver';
import { agentPlatform } from '../agents/platform';
import type { AgentDescriptionRecord, AgentRecord } from '../agents/records';
import { acceptsPackages } from '../opamp/protocol';
import { selects } from './selector';
import type { RolloutSpec } from './types';
import { cumulativeShare, planMembers, type Placement } from './waves';

export type Eligibility =
  | 'member'
  | 'not_selected'
  | 'already_at_version'
  | 'no_artifact'
  | 'downgrade_refused'
  | 'no_package_capability';

/** Whether the catalog holds the version for this agent's platform. */
export type ArtifactCheck = (description: AgentDescriptionRecord | undefined, version: string) => boolean;

/**
 * Why an agent is or is not taken on. `capabilities` are the stored ones for a plan over the
 * store, and those of the message being answered when a poll admits the agent; both are read
 * with the protocol's own acceptsPackages.
 */
export function eligibility(spec: RolloutSpec, record: Pick<AgentRecord, 'description' | 'capabilities'>, hasArtifact: ArtifactCheck): Eligibility {
  if (!selects(spec.selector, record.description)) return 'not_selected';
  const current = agentPlatform(record.description).version;
  if (current !== undefined && semver.eq(current, spec.version)) return 'already_at_version';
  if (!acceptsPackages(record.capabilities)) return 'no_package_capability';
  if (!hasArtifact(record.description, spec.version)) return 'no_artifact';
  if (current !== undefined && semver.gt(current, spec.version) && !spec.allowDowngrade) return 'downgrade_refused';
  return 'member';
}

/** Whether the agent runs a version above the target (it would be downgraded). */
export function isDowngrade(spec: RolloutSpec, description: AgentDescriptionRecord | undefined): boolean {
  const current = agentPlatform(description).version;
  return current !== undefined && semver.gt(current, spec.version);
}

export interface RolloutPlan {
  /** Agents the selector matches. */
  matched: number;
  members: Array<Placement & { fromVersion: string }>;
  /** Agents taken on per wave. */
  perWave: number[];
  /** Uids by why they are left out. */
  excluded: Record<Exclude<Eligibility, 'member' | 'not_selected'>, string[]>;
  /** Members that run a higher version (only with allow_downgrade). */
  downgrades: string[];
}

export function planRollout(rolloutId: string, spec: RolloutSpec, agents: AgentRecord[], hasArtifact: ArtifactCheck): RolloutPlan {
  const excluded: RolloutPlan['excluded'] = {
    already_at_version: [], no_artifact: [], downgrade_refused: [], no_package_capability: [],
  };
  const chosen: AgentRecord[] = [];
  let matched = 0;
  for (const agent of agents) {
    const verdict = eligibility(spec, agent, hasArtifact);
    if (verdict === 'not_selected') continue;
    matched += 1;
    if (verdict === 'member') chosen.push(agent);
    else excluded[verdict].push(agent.instanceUid);
  }
  const byUid = new Map(chosen.map((agent) => [agent.instanceUid, agent]));
  const placements = planMembers(
    { rolloutId, waves: spec.waves, startMs: spec.startMs, durationMs: spec.durationMs },
    chosen.map((agent) => agent.instanceUid),
  );
  const members = placements.map((placement) => ({
    ...placement,
    fromVersion: agentPlatform(byUid.get(placement.instanceUid)?.description).version ?? '',
  }));
  const perWave = spec.waves.map((_wave, index) =>
    cumulativeShare(spec.waves, index, members.length) - (index === 0 ? 0 : cumulativeShare(spec.waves, index - 1, members.length)));
  const downgrades = chosen.filter((agent) => isDowngrade(spec, agent.description)).map((agent) => agent.instanceUid);
  return { matched, members, perWave, excluded, downgrades };
}
