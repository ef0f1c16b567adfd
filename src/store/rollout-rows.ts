// The rows of the rollout tables as both stores read them, and the records made of them. The
// tables have the same columns in SQLite and PostgreSQL; only BIGINT columns differ in what the
// driver hands over (a number from better-sqlite3, text from pg), so they are read with Number().
import type {
  RolloutMember,
  RolloutRecord,
  RolloutSpec,
  RolloutStatus,
  UpgradeDetail,
  UpgradeState,
  UpgradeStateChange,
} from '../rollouts/types';
import type { Transition } from './rollouts';

/** A BIGINT column: a number from SQLite, text from PostgreSQL. */
type Big = number | string;

export interface RolloutRow {
  id: string;
  created_ms: Big;
  updated_ms: Big;
  status: RolloutStatus;
  reason: string | null;
  resumed_ms: Big | null;
  spec: string;
}

export interface WaveRow {
  rollout_id: string;
  wave: number;
  opened_ms: Big | null;
  admitted: number;
}

export interface MemberRow {
  rollout_id: string;
  instance_uid: string;
  wave: number;
  not_before_ms: Big;
  generation: number;
  state: UpgradeState;
  state_ms: Big;
  from_version: string;
  detail: string;
}

export const ROLLOUT_COLUMNS = 'id, created_ms, updated_ms, status, reason, resumed_ms, spec';
export const WAVE_COLUMNS = 'rollout_id, wave, opened_ms, admitted';
export const MEMBER_COLUMNS = 'rollout_id, instance_uid, wave, not_before_ms, generation, state, state_ms, from_version, detail';

export function memberOf(row: MemberRow): RolloutMember {
  return {
    rolloutId: row.rollout_id,
    instanceUid: row.instance_uid,
    wave: row.wave,
    notBeforeMs: Number(row.not_before_ms),
    generation: row.generation,
    state: row.state,
    stateAtMs: Number(row.state_ms),
    fromVersion: row.from_version,
    detail: JSON.parse(row.detail) as UpgradeDetail,
  };
}

/** A member's columns in MEMBER_COLUMNS order. */
export function memberValues(member: RolloutMember): [string, string, number, number, number, UpgradeState, number, string, string] {
  return [
    member.rolloutId, member.instanceUid, member.wave, member.notBeforeMs, member.generation,
    member.state, member.stateAtMs, member.fromVersion, JSON.stringify(member.detail),
  ];
}

/** `waves` are the rollout's rows in wave order. */
export function rolloutOf(row: RolloutRow, waves: WaveRow[]): RolloutRecord {
  return {
    id: row.id,
    spec: JSON.parse(row.spec) as RolloutSpec,
    status: row.status,
    reason: row.reason ?? undefined,
    createdAtMs: Number(row.created_ms),
    updatedAtMs: Number(row.updated_ms),
    resumedAtMs: row.resumed_ms === null ? undefined : Number(row.resumed_ms),
    waves: waves.map((wave) => ({ openedAtMs: wave.opened_ms === null ? undefined : Number(wave.opened_ms), admitted: wave.admitted })),
  };
}

/** The records of `rollouts`, given the wave rows of all of them ordered by rollout and wave. */
export function rolloutsOf(rollouts: RolloutRow[], waveRows: WaveRow[]): RolloutRecord[] {
  const waves = new Map<string, WaveRow[]>();
  for (const row of waveRows) {
    const list = waves.get(row.rollout_id) ?? [];
    list.push(row);
    waves.set(row.rollout_id, list);
  }
  return rollouts.map((row) => rolloutOf(row, waves.get(row.id) ?? []));
}

/** The history entry of a member's admission: it enters its first state from none. */
export function admissionChange(member: RolloutMember): UpgradeStateChange {
  return {
    instanceUid: member.instanceUid, rolloutId: member.rolloutId, atMs: member.stateAtMs,
    fromState: undefined, toState: member.state, detail: member.detail,
  };
}

/** The history entry of an applied transition. */
export function transitionChange(rolloutId: string, instanceUid: string, transition: Transition): UpgradeStateChange {
  return {
    instanceUid, rolloutId, atMs: transition.atMs, fromState: transition.expectState, toState: transition.state, detail: transition.detail,
  };
}
