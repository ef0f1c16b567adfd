// The rollout store on PostgreSQL, sharing the agent store's pool (its tables come from
// migration 2 in postgres-schema.ts). Several instances write here at once: status changes and
// transitions are single conditional UPDATEs (PostgreSQL rechecks their WHERE against the row
// it finally locks), and an admission locks its rollout's wave rows before reading the counts,
// so no two instances can both see room for one more in the same wave.
import type { Pool, PoolClient } from 'pg';
import type { RolloutMember, RolloutRecord, RolloutStatus, UpgradeStateChange } from '../rollouts/types';
import { appendHistory, inTransaction } from './postgres-sql';
import { MEMBER_COLUMNS, ROLLOUT_COLUMNS, WAVE_COLUMNS, memberOf, memberValues, rolloutOf, rolloutsOf } from './rollout-rows';
import { admissionChange, transitionChange, type MemberRow, type RolloutRow, type WaveRow } from './rollout-rows';
import type { MemberCount, MemberQuery, RolloutStore, Transition } from './rollouts';

/** One statement for any number of members: arrays, not a parameter per value. */
const INSERT_MEMBERS = `
  INSERT INTO rollout_members (${MEMBER_COLUMNS})
  SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::bigint[], $5::integer[], $6::text[], $7::bigint[], $8::text[], $9::text[])
  ON CONFLICT DO NOTHING`;

/** The parameters of INSERT_MEMBERS: one array a column, in MEMBER_COLUMNS order. */
function memberArrays(members: RolloutMember[]): unknown[][] {
  const rows = members.map(memberValues);
  return MEMBER_COLUMNS.split(', ').map((_, column) => rows.map((row) => row[column]));
}

/** Appends changes in the given order and keeps the newest per agent. */
function addHistory(client: PoolClient, changes: UpgradeStateChange[]): Promise<void> {
  return appendHistory(client, 'rollout_state_history', changes);
}

export class PostgresRolloutStore implements RolloutStore {
  private readonly pool: Pool;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  private transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, work);
  }

  async createRollout(rollout: RolloutRecord, members: RolloutMember[]): Promise<void> {
    await this.transaction(async (client) => {
      await client.query(
        'INSERT INTO rollouts (id, created_ms, updated_ms, status, reason, spec) VALUES ($1, $2, $3, $4, $5, $6)',
        [rollout.id, rollout.createdAtMs, rollout.updatedAtMs, rollout.status, rollout.reason ?? null, JSON.stringify(rollout.spec)],
      );
      await client.query(
        `INSERT INTO rollout_waves (${WAVE_COLUMNS})
         SELECT $1::text, wave.position - 1, wave.opened, wave.admitted
           FROM unnest($2::bigint[], $3::integer[]) WITH ORDINALITY AS wave (opened, admitted, position)`,
        [rollout.id, rollout.waves.map((wave) => wave.openedAtMs ?? null), rollout.waves.map((wave) => wave.admitted)],
      );
      if (members.length > 0) await client.query(INSERT_MEMBERS, memberArrays(members));
      await addHistory(client, members.map(admissionChange));
    });
  }

  async getRollout(id: string): Promise<RolloutRecord | undefined> {
    const rollout = await this.pool.query<RolloutRow>(`SELECT ${ROLLOUT_COLUMNS} FROM rollouts WHERE id = $1`, [id]);
    const row = rollout.rows[0];
    if (row === undefined) return undefined;
    const waves = await this.pool.query<WaveRow>(`SELECT ${WAVE_COLUMNS} FROM rollout_waves WHERE rollout_id = $1 ORDER BY wave`, [id]);
    return rolloutOf(row, waves.rows);
  }

  async listRollouts(): Promise<RolloutRecord[]> {
    // Waves first: a rollout created between the two reads then shows no waves for one refresh
    // at most, rather than a wave list belonging to nothing.
    const waveRows = await this.pool.query<WaveRow>(`SELECT ${WAVE_COLUMNS} FROM rollout_waves ORDER BY rollout_id, wave`);
    const rollouts = await this.pool.query<RolloutRow>(`SELECT ${ROLLOUT_COLUMNS} FROM rollouts ORDER BY created_ms DESC, position DESC`);
    return rolloutsOf(rollouts.rows, waveRows.rows);
  }

  async setRolloutStatus(id: string, from: RolloutStatus[], to: RolloutStatus, reason: string | undefined, atMs: number): Promise<boolean> {
    // One statement: a concurrent change makes PostgreSQL recheck `status = ANY` on the new row.
    // Leaving a pause for active is a resume: failures before it count as acknowledged.
    const result = await this.pool.query(
      `UPDATE rollouts SET status = $1, reason = $2, updated_ms = $3,
              resumed_ms = CASE WHEN status = 'paused' AND $1 = 'active' THEN $3 ELSE resumed_ms END
        WHERE id = $4 AND status = ANY($5::text[])`,
      [to, reason ?? null, atMs, id, from],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async openWave(id: string, wave: number, atMs: number): Promise<boolean> {
    const result = await this.pool.query(
      'UPDATE rollout_waves SET opened_ms = $1 WHERE rollout_id = $2 AND wave = $3 AND opened_ms IS NULL',
      [atMs, id, wave],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async getMember(rolloutId: string, instanceUid: string): Promise<RolloutMember | undefined> {
    const result = await this.pool.query<MemberRow>(
      `SELECT ${MEMBER_COLUMNS} FROM rollout_members WHERE rollout_id = $1 AND instance_uid = $2`,
      [rolloutId, instanceUid],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : memberOf(row);
  }

  async admitMember(rolloutId: string, instanceUid: string, place: (admitted: number[]) => RolloutMember): Promise<RolloutMember> {
    return this.transaction(async (client) => {
      // The wave rows are locked (always in wave order, so two admissions cannot deadlock) before
      // anything is read: a second admission waits here, then sees this one's member and count.
      const waves = await client.query<WaveRow>(
        `SELECT ${WAVE_COLUMNS} FROM rollout_waves WHERE rollout_id = $1 ORDER BY wave FOR UPDATE`,
        [rolloutId],
      );
      const existing = await client.query<MemberRow>(
        `SELECT ${MEMBER_COLUMNS} FROM rollout_members WHERE rollout_id = $1 AND instance_uid = $2`,
        [rolloutId, instanceUid],
      );
      if (existing.rows[0] !== undefined) return memberOf(existing.rows[0]);
      const member = place(waves.rows.map((wave) => wave.admitted));
      await client.query(INSERT_MEMBERS, memberArrays([member]));
      await client.query('UPDATE rollout_waves SET admitted = admitted + 1 WHERE rollout_id = $1 AND wave = $2', [rolloutId, member.wave]);
      await addHistory(client, [admissionChange(member)]);
      return member;
    });
  }

  async transitionMember(rolloutId: string, instanceUid: string, transition: Transition): Promise<boolean> {
    return this.transaction(async (client) => {
      const result = await client.query(
        `UPDATE rollout_members SET state = $1, state_ms = $2, detail = $3, generation = coalesce($4, generation)
          WHERE rollout_id = $5 AND instance_uid = $6 AND state = $7 AND state_ms = $8`,
        [
          transition.state, transition.atMs, JSON.stringify(transition.detail), transition.generation ?? null,
          rolloutId, instanceUid, transition.expectState, transition.expectStateAtMs,
        ],
      );
      const applied = (result.rowCount ?? 0) > 0;
      if (applied) {
        await addHistory(client, [transitionChange(rolloutId, instanceUid, transition)]);
      }
      return applied;
    });
  }

  async countMembers(rolloutId: string, sinceMs: number): Promise<MemberCount[]> {
    const result = await this.pool.query<MemberCount>(
      `SELECT wave, state, count(*)::integer AS count, (count(*) FILTER (WHERE state_ms > $1))::integer AS recent
         FROM rollout_members WHERE rollout_id = $2 GROUP BY wave, state ORDER BY wave, state`,
      [sinceMs, rolloutId],
    );
    return result.rows;
  }

  async queryMembers(rolloutId: string, query: MemberQuery): Promise<RolloutMember[]> {
    const params: unknown[] = [rolloutId];
    const clauses = ['rollout_id = $1'];
    const add = (clause: (placeholder: string) => string, value: unknown): void => {
      params.push(value);
      clauses.push(clause(`$${params.length}`));
    };
    // An empty list matches nothing, as SQLite's IN (NULL) does.
    if (query.states !== undefined) add((placeholder) => `state = ANY(${placeholder}::text[])`, query.states);
    if (query.changedAtOrBeforeMs !== undefined) add((placeholder) => `state_ms <= ${placeholder}`, query.changedAtOrBeforeMs);
    if (query.instanceUids !== undefined) add((placeholder) => `instance_uid = ANY(${placeholder}::text[])`, query.instanceUids);
    if (query.afterInstanceUid !== undefined) add((placeholder) => `instance_uid > ${placeholder}`, query.afterInstanceUid);
    params.push(query.limit);
    const sql = `SELECT ${MEMBER_COLUMNS} FROM rollout_members WHERE ${clauses.join(' AND ')} ORDER BY instance_uid LIMIT $${params.length}`;
    const result = await this.pool.query<MemberRow>(sql, params);
    return result.rows.map(memberOf);
  }

  async listStateChanges(instanceUid: string, limit: number): Promise<UpgradeStateChange[]> {
    const result = await this.pool.query<{ change: string }>(
      'SELECT change FROM rollout_state_history WHERE instance_uid = $1 ORDER BY id DESC LIMIT $2',
      [instanceUid, limit],
    );
    return result.rows.map((row) => JSON.parse(row.change) as UpgradeStateChange);
  }
}
