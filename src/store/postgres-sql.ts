// The SQL text of agent listings on PostgreSQL, written to give the very answers the SQLite
// store gives (the contract suite runs both), and the conversions between rows and records.
import type { Pool, PoolClient } from 'pg';
import { DEFAULT_DISTRIBUTION } from '../agents/platform';
import type { AgentDescriptionRecord, AgentRecord, AgentState, AttributeValue } from '../agents/records';
import { HISTORY_PER_AGENT, containsPattern, type AgentFilter } from './types';

/** Pushes a parameter and returns its placeholder. */
function parameter(params: unknown[], value: unknown): string {
  params.push(value);
  return `$${params.length}`;
}

function attributeSql(key: string, params: unknown[]): string {
  return `opamp_attribute_text(attributes, ${parameter(params, key)})`;
}

function stateSql(state: AgentState, onlineSinceMs: number, params: unknown[]): string {
  if (state === 'disconnected') return 'disconnected';
  const since = parameter(params, onlineSinceMs);
  return state === 'online' ? `NOT disconnected AND last_seen_ms > ${since}` : `NOT disconnected AND last_seen_ms <= ${since}`;
}

/** The conditions of a listing, each one to be joined with AND. */
export function filterSql(filter: AgentFilter, onlineSinceMs: number, params: unknown[]): string[] {
  const clauses: string[] = [];
  if (filter.state) clauses.push(stateSql(filter.state, onlineSinceMs, params));
  if (filter.version !== undefined) {
    const bare = filter.version.replace(/^v/, '');
    const attribute = attributeSql('service.version', params);
    clauses.push(`${attribute} IN (${parameter(params, bare)}, ${parameter(params, `v${bare}`)})`);
  }
  if (filter.distribution !== undefined) {
    const attribute = attributeSql('service.name', params);
    clauses.push(`coalesce(${attribute}, ${parameter(params, DEFAULT_DISTRIBUTION)}::text) = ${parameter(params, filter.distribution)}`);
  }
  if (filter.os !== undefined) {
    clauses.push(`lower(${attributeSql('os.type', params)}) = ${parameter(params, filter.os.toLowerCase())}`);
  }
  if (filter.arch !== undefined && filter.arch.length > 0) {
    const attribute = attributeSql('host.arch', params);
    clauses.push(`lower(${attribute}) = ANY(${parameter(params, filter.arch.map((arch) => arch.toLowerCase()))}::text[])`);
  }
  if (filter.attribute !== undefined) {
    clauses.push(`${attributeSql(filter.attribute.key, params)} = ${parameter(params, filter.attribute.value)}`);
  }
  if (filter.search !== undefined) {
    const pattern = parameter(params, containsPattern(filter.search));
    const hostName = attributeSql('host.name', params);
    clauses.push(`(instance_uid LIKE ${pattern} ESCAPE '\\' OR lower(${hostName}) LIKE ${pattern} ESCAPE '\\')`);
  }
  return clauses;
}

export const COUNT_BY_STATE_AND_VERSION = `
  SELECT CASE WHEN disconnected THEN 'disconnected' WHEN last_seen_ms > $1 THEN 'online' ELSE 'offline' END AS state,
         coalesce(opamp_attribute_text(attributes, 'service.version'), '') AS version,
         count(*)::integer AS count
    FROM agents GROUP BY 1, 2`;

/** The columns every read selects, for `recordOfRow`. */
export const AGENT_COLUMNS = 'record, last_seen_ms, sequence_num';

export interface AgentRow {
  record: string;
  /** BIGINT arrives as text. */
  last_seen_ms: string;
  sequence_num: string;
}

/** A batch updates the two columns only, so they are the truth and overlay the record text. */
export function recordOfRow(row: AgentRow): AgentRecord {
  const record = JSON.parse(row.record) as AgentRecord;
  record.lastSeenMs = Number(row.last_seen_ms);
  record.sequenceNum = Number(row.sequence_num);
  return record;
}

/** PostgreSQL cannot read a JSON \u0000 as text; filters see U+FFFD there instead. */
function readable(value: AttributeValue): AttributeValue {
  if (typeof value === 'string') return value.replaceAll('\0', '\uFFFD');
  if (Array.isArray(value)) return value.map(readable);
  if (value !== null && typeof value === 'object') return readableObject(value);
  return value;
}

function readableObject(object: Record<string, AttributeValue>): Record<string, AttributeValue> {
  const copy: Record<string, AttributeValue> = {};
  for (const [key, value] of Object.entries(object)) {
    // defineProperty: a key named __proto__ must stay a plain key.
    Object.defineProperty(copy, key.replaceAll('\0', '\uFFFD'), { value: readable(value), enumerable: true, writable: true, configurable: true });
  }
  return copy;
}

/** The `attributes` column: the description as filters read it, or null without one. */
export function attributesColumn(description: AgentDescriptionRecord | undefined): string | null {
  if (description === undefined) return null;
  return JSON.stringify({
    identifying: readableObject(description.identifying),
    nonIdentifying: readableObject(description.nonIdentifying),
  });
}

/**
 * Appends history rows in the given order (unnest WITH ORDINALITY keeps it in the ids, which
 * is the order of listing) and keeps the newest HISTORY_PER_AGENT per agent. `table` is one of
 * this module's own table names, never input.
 */
export async function appendHistory(
  client: { query(text: string, values: unknown[]): Promise<unknown> },
  table: 'package_status_history' | 'rollout_state_history',
  changes: Array<{ instanceUid: string; atMs: number }>,
): Promise<void> {
  if (changes.length === 0) return;
  await client.query(
    `INSERT INTO ${table} (instance_uid, at_ms, change)
     SELECT change.uid, change.at, change.text
       FROM unnest($1::text[], $2::bigint[], $3::text[]) WITH ORDINALITY AS change (uid, at, text, position)
      ORDER BY change.position`,
    [changes.map((change) => change.instanceUid), changes.map((change) => change.atMs), changes.map((change) => JSON.stringify(change))],
  );
  await client.query(
    `DELETE FROM ${table} AS history
      USING unnest($1::text[]) AS agent (uid)
      WHERE history.instance_uid = agent.uid AND history.id <= (
        SELECT id FROM ${table} WHERE instance_uid = agent.uid ORDER BY id DESC LIMIT 1 OFFSET $2)`,
    [[...new Set(changes.map((change) => change.instanceUid))], HISTORY_PER_AGENT],
  );
}

/** Runs `work` in one transaction on a client of its own; rolls back when it throws. */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
