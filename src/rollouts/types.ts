// The shapes of rollouts as the pure rollout logic, the store and the admin API share them.
// Times are milliseconds since the epoch; versions are bare semver (no leading `v`).

export interface RolloutSelector {
  /** Attribute (identifying or not) whose text equals the value, or one of the values. */
  attributes?: Record<string, string | string[]>;
  /** service.name; agents without one count as DEFAULT_DISTRIBUTION (agents/platform.ts). */
  distribution?: string;
  os?: string[];
  arch?: string[];
  /** A semver range the agent's service.version must satisfy. */
  version?: string;
}

export interface WaveSpec {
  /** Cumulative share of the selected agents, 1-100; the last wave is 100. */
  percent: number;
  /** Share of the wave that must have installed before the next wave opens. */
  minSuccessRatio: number;
  /** Time the wave stays open before the next one may open. */
  minWaitMs: number;
}

export interface RolloutSpec {
  version: string;
  selector: RolloutSelector;
  waves: WaveSpec[];
  /** Spreads first offers evenly over this period from startMs (then there is one wave). */
  durationMs: number | undefined;
  startMs: number;
  maxFailureRatio: number;
  allowDowngrade: boolean;
}

export type RolloutStatus = 'active' | 'paused' | 'cancelled';

export interface RolloutRecord {
  id: string;
  spec: RolloutSpec;
  status: RolloutStatus;
  /** Why the rollout is paused or cancelled (an operator, or the failure ratio). */
  reason: string | undefined;
  createdAtMs: number;
  updatedAtMs: number;
  /** The last resume: failures older than it were acknowledged and no longer pause the rollout. */
  resumedAtMs: number | undefined;
  /** Per wave: when it opened (undefined: not yet) and how many agents it admitted. */
  waves: Array<{ openedAtMs: number | undefined; admitted: number }>;
}

export type UpgradeState =
  | 'scheduled'
  | 'offered'
  | 'downloading'
  | 'installing'
  | 'installed'
  | 'failed'
  | 'stuck'
  | 'rolled_back';

export const UPGRADE_STATES: UpgradeState[] = [
  'scheduled', 'offered', 'downloading', 'installing', 'installed', 'failed', 'stuck', 'rolled_back',
];

/** Details that go with a state: download progress, the agent's error message. */
export interface UpgradeDetail {
  downloadPercent?: number;
  downloadBytesPerSecond?: number;
  errorMessage?: string;
}

/** One agent in one rollout. */
export interface RolloutMember {
  rolloutId: string;
  instanceUid: string;
  wave: number;
  /** Not offered before this time (duration spreading); startMs otherwise. */
  notBeforeMs: number;
  /** Bumped by a retry, so the offer hashes differently and the supervisor takes it again. */
  generation: number;
  state: UpgradeState;
  /** When the state last changed (stuck detection counts from here). */
  stateAtMs: number;
  /** service.version when the agent was admitted; a return to it after installing is a roll-back. */
  fromVersion: string;
  detail: UpgradeDetail;
}

/** One change of an agent's upgrade state, kept in its history. */
export interface UpgradeStateChange {
  instanceUid: string;
  rolloutId: string;
  atMs: number;
  fromState: UpgradeState | undefined;
  toState: UpgradeState;
  detail: UpgradeDetail;
}

/** What the rollouts decided for one poll, before the (synchronous) offer lookup. */
export type OfferDecision =
  /** No explicit rollout selects the agent: the `--offer` default applies. */
  | { kind: 'default' }
  /** A rollout selects the agent but offers nothing now (paused, cancelled, wave not open...). */
  | { kind: 'hold'; rolloutId: string }
  | { kind: 'offer'; rolloutId: string; version: string; generation: number; allowDowngrade: boolean };
