// The rollout store contract. Asynchronous like the agent store: the embedded SQLite store
// answers at once, a shared PostgreSQL store will not. Every update that two instances might
// race on is conditional, so waves never overfill and a transition is applied once.
import type {
  RolloutMember,
  RolloutRecord,
  RolloutStatus,
  UpgradeDetail,
  UpgradeState,
  UpgradeStateChange,
} from '../rollouts/types';

/** Members of one wave in one state. */
export interface MemberCount {
  wave: number;
  state: UpgradeState;
  count: number;
  /** How many of them entered the state after `sinceMs` of the query. */
  recent: number;
}

export interface MemberQuery {
  states?: UpgradeState[];
  /** Only members whose state changed at or before this time. */
  changedAtOrBeforeMs?: number;
  instanceUids?: string[];
  limit: number;
  /** Only members whose uid sorts after this one. */
  afterInstanceUid?: string;
}

export interface Transition {
  /** The state and its time as read: the update applies only if they still hold. */
  expectState: UpgradeState;
  expectStateAtMs: number;
  state: UpgradeState;
  detail: UpgradeDetail;
  atMs: number;
  /** A new generation (a retry); the member keeps its own otherwise. */
  generation?: number;
}

export interface RolloutStore {
  /** Stores a new rollout with the members placed at its creation, in one transaction. */
  createRollout(rollout: RolloutRecord, members: RolloutMember[]): Promise<void>;
  getRollout(id: string): Promise<RolloutRecord | undefined>;
  /** Every rollout, newest first. */
  listRollouts(): Promise<RolloutRecord[]>;
  /**
   * Changes the status only from one of `from`; false when it was in none of them. Going from
   * paused to active records the time as resumedAtMs.
   */
  setRolloutStatus(id: string, from: RolloutStatus[], to: RolloutStatus, reason: string | undefined, atMs: number): Promise<boolean>;
  /** Opens a wave once; false when it was already open. */
  openWave(id: string, wave: number, atMs: number): Promise<boolean>;
  getMember(rolloutId: string, instanceUid: string): Promise<RolloutMember | undefined>;
  /**
   * Admits an agent that was not placed at creation. `place` sees the admitted counts per wave
   * inside the transaction and returns the member to insert; an existing member is returned
   * unchanged instead.
   */
  admitMember(rolloutId: string, instanceUid: string, place: (admitted: number[]) => RolloutMember): Promise<RolloutMember>;
  /** Applies a transition if the member is still as read, with its history entry; false otherwise. */
  transitionMember(rolloutId: string, instanceUid: string, transition: Transition): Promise<boolean>;
  countMembers(rolloutId: string, sinceMs: number): Promise<MemberCount[]>;
  queryMembers(rolloutId: string, query: MemberQuery): Promise<RolloutMember[]>;
  /** An agent's latest upgrade-state changes across rollouts, newest first. */
  listStateChanges(instanceUid: string, limit: number): Promise<UpgradeStateChange[]>;
}
