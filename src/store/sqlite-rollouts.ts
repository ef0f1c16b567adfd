// The rollout store on the embedded SQLite database, sharing the agent store's file and
// connection (its tables come from the agent store's migrations). Conditional updates and
// IMMEDIATE transactions keep several processes on one file in agreement.
import type Database from 'better-sqlite3';
import type {
  RolloutMember,
  RolloutRecord,
  RolloutSpec,
  RolloutStatus,
  UpgradeDetail,
  UpgradeState,
  UpgradeStateChange,
} from '../rollouts/types';
import type { MemberCount, MemberQuery, RolloutStore, Transition } from './rollouts';
import { HISTORY_PER_AGENT } from './types';


interface RolloutRow {
  id: string;
  created_ms: number;
  updated_ms: number;
  status: RolloutStatus;
  reason: string | null;
  resumed_ms: number | null;
  spec: string;
}

interface WaveRow {
  wave: number;
  opened_ms: number | null;
  admitted: number;
}

interface MemberRow {
  rollout_id: string;
  instance_uid: string;
  wave: number;
  not_before_ms: number;
  generation: number;
  state: UpgradeState;
  state_ms: number;
  from_version: string;
  detail: string;
}

function memberOf(row: MemberRow): RolloutMember {
  return {
    rolloutId: row.rollout_id,
    instanceUid: row.instance_uid,
    wave: row.wave,
    notBeforeMs: row.not_before_ms,
    generation: row.generation,
    state: row.state,
    stateAtMs: row.state_ms,
    fromVersion: row.from_version,
    detail: JSON.parse(row.detail) as UpgradeDetail,
  };
}

export class SqliteRolloutStore implements RolloutStore {
  private readonly database: Database.Database;
  private readonly statements;

  constructor(database: Database.Database) {
    this.database = database;
    const prepare = <P extends unknown[], R = unknown>(sql: string) => database.prepare<P, R>(sql);
    this.statements = {
      insertRollout: prepare<[string, number, number, string, string | null, string]>(
        'INSERT INTO rollouts (id, created_ms, updated_ms, status, reason, spec) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      insertWave: prepare<[string, number, number | null, number]>(
        'INSERT INTO rollout_waves (rollout_id, wave, opened_ms, admitted) VALUES (?, ?, ?, ?)',
      ),
      insertMember: prepare<[string, string, number, number, number, string, number, string, string]>(
        `INSERT INTO rollout_members (rollout_id, instance_uid, wave, not_before_ms, generation, state, state_ms, from_version, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      getRollout: prepare<[string], RolloutRow>('SELECT * FROM rollouts WHERE id = ?'),
      listRollouts: prepare<[], RolloutRow>('SELECT * FROM rollouts ORDER BY created_ms DESC, rowid DESC'),
      waves: prepare<[string], WaveRow>('SELECT wave, opened_ms, admitted FROM rollout_waves WHERE rollout_id = ? ORDER BY wave'),
      allWaves: prepare<[], WaveRow & { rollout_id: string }>('SELECT rollout_id, wave, opened_ms, admitted FROM rollout_waves ORDER BY rollout_id, wave'),
      setStatus: prepare<[RolloutStatus, string | null, number, number | null, string]>(
        'UPDATE rollouts SET status = ?, reason = ?, updated_ms = ?, resumed_ms = coalesce(?, resumed_ms) WHERE id = ?',
      ),
      openWave: prepare<[number, string, number]>(
        'UPDATE rollout_waves SET opened_ms = ? WHERE rollout_id = ? AND wave = ? AND opened_ms IS NULL',
      ),
      addAdmitted: prepare<[string, number]>('UPDATE rollout_waves SET admitted = admitted + 1 WHERE rollout_id = ? AND wave = ?'),
      getMember: prepare<[string, string], MemberRow>('SELECT * FROM rollout_members WHERE rollout_id = ? AND instance_uid = ?'),
      transition: prepare<[string, number, string, number, string, string, string, number]>(
        `UPDATE rollout_members SET state = ?, state_ms = ?, detail = ?, generation = ?
          WHERE rollout_id = ? AND instance_uid = ? AND state = ? AND state_ms = ?`,
      ),
      count: prepare<[number, string], MemberCount>(
        `SELECT wave, state, COUNT(*) AS count, SUM(state_ms > ?) AS recent
           FROM rollout_members WHERE rollout_id = ? GROUP BY wave, state ORDER BY wave`,
      ),
      addHistory: prepare<[string, number, string]>('INSERT INTO rollout_state_history (instance_uid, at_ms, change) VALUES (?, ?, ?)'),
      trimHistory: prepare<[string, string, number]>(
        `DELETE FROM rollout_state_history WHERE instance_uid = ? AND id <= (
           SELECT id FROM rollout_state_history WHERE instance_uid = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
      ),
      listHistory: prepare<[string, number], { change: string }>(
        'SELECT change FROM rollout_state_history WHERE instance_uid = ? ORDER BY id DESC LIMIT ?',
      ),
    };
  }

  private recordOf(row: RolloutRow, waves: WaveRow[]): RolloutRecord {
    return {
      id: row.id,
      spec: JSON.parse(row.spec) as RolloutSpec,
      status: row.status,
      reason: row.reason ?? undefined,
      createdAtMs: row.created_ms,
      updatedAtMs: row.updated_ms,
      resumedAtMs: row.resumed_ms ?? undefined,
      waves: waves.map((wave) => ({ openedAtMs: wave.opened_ms ?? undefined, admitted: wave.admitted })),
    };
  }

  private insertMember(member: RolloutMember): boolean {
    return this.statements.insertMember.run(
      member.rolloutId, member.instanceUid, member.wave, member.notBeforeMs, member.generation,
      member.state, member.stateAtMs, member.fromVersion, JSON.stringify(member.detail),
    ).changes > 0;
  }

  private addHistory(changes: UpgradeStateChange[]): void {
    for (const change of changes) this.statements.addHistory.run(change.instanceUid, change.atMs, JSON.stringify(change));
    for (const uid of new Set(changes.map((change) => change.instanceUid))) this.statements.trimHistory.run(uid, uid, HISTORY_PER_AGENT);
  }

  async createRollout(rollout: RolloutRecord, members: RolloutMember[]): Promise<void> {
    this.database.transaction(() => {
      this.statements.insertRollout.run(
        rollout.id, rollout.createdAtMs, rollout.updatedAtMs, rollout.status, rollout.reason ?? null, JSON.stringify(rollout.spec),
      );
      rollout.waves.forEach((wave, index) => this.statements.insertWave.run(rollout.id, index, wave.openedAtMs ?? null, wave.admitted));
      for (const member of members) this.insertMember(member);
      this.addHistory(members.map((member) => ({
        instanceUid: member.instanceUid, rolloutId: member.rolloutId, atMs: member.stateAtMs,
        fromState: undefined, toState: member.state, detail: member.detail,
      })));
    }).immediate();
  }

  async getRollout(id: string): Promise<RolloutRecord | undefined> {
    const row = this.statements.getRollout.get(id);
    return row === undefined ? undefined : this.recordOf(row, this.statements.waves.all(id));
  }

  async listRollouts(): Promise<RolloutRecord[]> {
    const waves = new Map<string, WaveRow[]>();
    for (const row of this.statements.allWaves.all()) {
      const list = waves.get(row.rollout_id) ?? [];
      list.push(row);
      waves.set(row.rollout_id, list);
    }
    return this.statements.listRollouts.all().map((row) => this.recordOf(row, waves.get(row.id) ?? []));
  }

  async setRolloutStatus(id: string, from: RolloutStatus[], to: RolloutStatus, reason: string | undefined, atMs: number): Promise<boolean> {
    return this.database.transaction(() => {
      const row = this.statements.getRollout.get(id);
      if (row === undefined || !from.includes(row.status)) return false;
      // Leaving a pause for active is a resume: failures before it count as acknowledged.
      const resumed = row.status === 'paused' && to === 'active' ? atMs : null;
      return this.statements.setStatus.run(to, reason ?? null, atMs, resumed, id).changes > 0;
    }).immediate();
  }

  async openWave(id: string, wave: number, atMs: number): Promise<boolean> {
    return this.statements.openWave.run(atMs, id, wave).changes > 0;
  }

  async getMember(rolloutId: string, instanceUid: string): Promise<RolloutMember | undefined> {
    const row = this.statements.getMember.get(rolloutId, instanceUid);
    return row === undefined ? undefined : memberOf(row);
  }

  async admitMember(rolloutId: string, instanceUid: string, place: (admitted: number[]) => RolloutMember): Promise<RolloutMember> {
    // IMMEDIATE takes the write lock before reading the counts, so two processes cannot both
    // see room for one more in the same wave.
    return this.database.transaction(() => {
      const existing = this.statements.getMember.get(rolloutId, instanceUid);
      if (existing !== undefined) return memberOf(existing);
      const member = place(this.statements.waves.all(rolloutId).map((wave) => wave.admitted));
      this.insertMember(member);
      this.statements.addAdmitted.run(rolloutId, member.wave);
      this.addHistory([{ instanceUid, rolloutId, atMs: member.stateAtMs, fromState: undefined, toState: member.state, detail: member.detail }]);
      return member;
    }).immediate();
  }

  async transitionMember(rolloutId: string, instanceUid: string, transition: Transition): Promise<boolean> {
    return this.database.transaction(() => {
      const row = this.statements.getMember.get(rolloutId, instanceUid);
      if (row === undefined) return false;
      const applied = this.statements.transition.run(
        transition.state, transition.atMs, JSON.stringify(transition.detail), transition.generation ?? row.generation,
        rolloutId, instanceUid, transition.expectState, transition.expectStateAtMs,
      ).changes > 0;
      if (applied) {
        this.addHistory([{
          instanceUid, rolloutId, atMs: transition.atMs, fromState: transition.expectState, toState: transition.state, detail: transition.detail,
        }]);
      }
      return applied;
    }).immediate();
  }

  async countMembers(rolloutId: string, sinceMs: number): Promise<MemberCount[]> {
    return this.statements.count.all(sinceMs, rolloutId);
  }

  async queryMembers(rolloutId: string, query: MemberQuery): Promise<RolloutMember[]> {
    const clauses = ['rollout_id = ?'];
    const params: unknown[] = [rolloutId];
    if (query.states !== undefined) {
      clauses.push(`state IN (${query.states.map(() => '?').join(', ') || 'NULL'})`);
      params.push(...query.states);
    }
    if (query.changedAtOrBeforeMs !== undefined) {
      clauses.push('state_ms <= ?');
      params.push(query.changedAtOrBeforeMs);
    }
    if (query.instanceUids !== undefined) {
      clauses.push(`instance_uid IN (${query.instanceUids.map(() => '?').join(', ') || 'NULL'})`);
      params.push(...query.instanceUids);
    }
    if (query.afterInstanceUid !== undefined) {
      clauses.push('instance_uid > ?');
      params.push(query.afterInstanceUid);
    }
    params.push(query.limit);
    const sql = `SELECT * FROM rollout_members WHERE ${clauses.join(' AND ')} ORDER BY instance_uid LIMIT ?`;
    return this.database.prepare<unknown[], MemberRow>(sql).all(...params).map(memberOf);
  }

  async listStateChanges(instanceUid: string, limit: number): Promise<UpgradeStateChange[]> {
    return this.statements.listHistory.all(instanceUid, limit).map((row) => JSON.parse(row.change) as UpgradeStateChange);
  }
}
