// The rollout store on the embedded SQLite database, sharing the agent store's file and
// connection (its tables come from the agent store's migrations). Conditional updates and
// IMMEDIATE transactions keep several processes on one file in agreement.
import type Database from 'better-sqlite3';
import type { RolloutMember, RolloutRecord, RolloutStatus, UpgradeStateChange } from '../rollouts/types';
import { MEMBER_COLUMNS, ROLLOUT_COLUMNS, WAVE_COLUMNS, memberOf, memberValues, rolloutOf, rolloutsOf } from './rollout-rows';
import { admissionChange, transitionChange, type MemberRow, type RolloutRow, type WaveRow } from './rollout-rows';
import type { MemberCount, MemberQuery, RolloutStore, Transition } from './rollouts';
import { HISTORY_PER_AGENT } from './types';

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
      insertMember: prepare<ReturnType<typeof memberValues>>(
        `INSERT INTO rollout_members (${MEMBER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      getRollout: prepare<[string], RolloutRow>(`SELECT ${ROLLOUT_COLUMNS} FROM rollouts WHERE id = ?`),
      listRollouts: prepare<[], RolloutRow>(`SELECT ${ROLLOUT_COLUMNS} FROM rollouts ORDER BY created_ms DESC, rowid DESC`),
      waves: prepare<[string], WaveRow>(`SELECT ${WAVE_COLUMNS} FROM rollout_waves WHERE rollout_id = ? ORDER BY wave`),
      allWaves: prepare<[], WaveRow>(`SELECT ${WAVE_COLUMNS} FROM rollout_waves ORDER BY rollout_id, wave`),
      setStatus: prepare<[RolloutStatus, string | null, number, number | null, string]>(
        'UPDATE rollouts SET status = ?, reason = ?, updated_ms = ?, resumed_ms = coalesce(?, resumed_ms) WHERE id = ?',
      ),
      openWave: prepare<[number, string, number]>(
        'UPDATE rollout_waves SET opened_ms = ? WHERE rollout_id = ? AND wave = ? AND opened_ms IS NULL',
      ),
      addAdmitted: prepare<[string, number]>('UPDATE rollout_waves SET admitted = admitted + 1 WHERE rollout_id = ? AND wave = ?'),
      getMember: prepare<[string, string], MemberRow>(`SELECT ${MEMBER_COLUMNS} FROM rollout_members WHERE rollout_id = ? AND instance_uid = ?`),
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

  private insertMember(member: RolloutMember): boolean {
    return this.statements.insertMember.run(...memberValues(member)).changes > 0;
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
      this.addHistory(members.map(admissionChange));
    }).immediate();
  }

  async getRollout(id: string): Promise<RolloutRecord | undefined> {
    const row = this.statements.getRollout.get(id);
    return row === undefined ? undefined : rolloutOf(row, this.statements.waves.all(id));
  }

  async listRollouts(): Promise<RolloutRecord[]> {
    return rolloutsOf(this.statements.listRollouts.all(), this.statements.allWaves.all());
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
      this.addHistory([admissionChange(member)]);
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
        this.addHistory([transitionChange(rolloutId, instanceUid, transition)]);
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
    const sql = `SELECT ${MEMBER_COLUMNS} FROM rollout_members WHERE ${clauses.join(' AND ')} ORDER BY instance_uid LIMIT ?`;
    return this.database.prepare<unknown[], MemberRow>(sql).all(...params).map(memberOf);
  }

  async listStateChanges(instanceUid: string, limit: number): Promise<UpgradeStateChange[]> {
    return this.statements.listHistory.all(instanceUid, limit).map((row) => JSON.parse(row.change) as UpgradeStateChange);
  }
}
