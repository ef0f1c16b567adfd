// The shared store: PostgreSQL through a pg Pool, for several server instances behind one
// address. Durable writes (new agents, descriptions, package statuses, offers, history, keys)
// go at once; routine ones (last seen, sequence number) are gathered per agent and written as
// one statement per window. A batch only moves those two columns forward, so it can never undo
// a durable write that another instance made in the meantime.
import { Pool, type PoolClient, type PoolConfig } from 'pg';
import { ServerError } from '../errors';
import { BatchQueue } from './batch-queue';
import { checkSchemaName, migrate } from './postgres-schema';
import {
  AGENT_COLUMNS,
  COUNT_BY_STATE_AND_VERSION,
  appendHistory,
  inTransaction,
  attributesColumn,
  filterSql,
  recordOfRow,
  type AgentRow,
} from './postgres-sql';
import type { AgentRecord, AgentState, PackageStatusChange } from '../agents/records';
import type { AgentCount, AgentQuery, AgentStore, StoredAgentKey } from './types';
import { PostgresRolloutStore } from './postgres-rollouts';
import type { RolloutStore } from './rollouts';


export interface PostgresStoreOptions {
  /** postgres:// or postgresql:// URL; a `schema` query parameter names the schema to use. */
  url: string;
  /** Overrides the URL's schema parameter; created if missing. Default: the server's search_path. */
  schema?: string;
  writeBatchMs?: number;
  /** Called when a batched write fails; the batch is kept and retried. */
  onError?: (error: unknown) => void;
  poolSize?: number;
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

/** pg does not know the `schema` parameter: it is taken out of the URL and applied as search_path. */
export function splitSchema(url: string): { connectionString: string; schema: string | undefined } {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') ?? undefined;
  parsed.searchParams.delete('schema');
  return { connectionString: parsed.toString(), schema };
}

const UPSERT_AGENT = `
  INSERT INTO agents (instance_uid, last_seen_ms, sequence_num, disconnected, attributes, record)
  VALUES ($1, $2, $3, $4, $5, $6)
  ON CONFLICT (instance_uid) DO UPDATE SET
    last_seen_ms = excluded.last_seen_ms, sequence_num = excluded.sequence_num,
    disconnected = excluded.disconnected, attributes = excluded.attributes, record = excluded.record`;

/**
 * One statement for a whole batch, whatever its size (arrays, not one parameter per value). An
 * agent missing from the table is inserted whole; an existing row only moves forward in time.
 */
const WRITE_BATCH = `
  INSERT INTO agents (instance_uid, last_seen_ms, sequence_num, disconnected, attributes, record)
  SELECT batch.uid, batch.seen, batch.sequence, batch.disconnected, batch.attributes::json, batch.record
    FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::boolean[], $5::text[], $6::text[])
      AS batch (uid, seen, sequence, disconnected, attributes, record)
  ON CONFLICT (instance_uid) DO UPDATE SET last_seen_ms = excluded.last_seen_ms, sequence_num = excluded.sequence_num
    WHERE (agents.last_seen_ms, agents.sequence_num) <= (excluded.last_seen_ms, excluded.sequence_num)`;

export class PostgresStore implements AgentStore {
  private readonly pool: Pool;
  /** Routine writes, one statement a batch; no two batches overlap. */
  private readonly batch: BatchQueue<AgentRecord, Promise<void>>;
  private readonly pending: Map<string, AgentRecord>;
  private closed = false;

  private constructor(pool: Pool, options: PostgresStoreOptions) {
    this.pool = pool;
    this.batch = new BatchQueue({
      write: (records) => this.writeBatch(records),
      intervalMs: options.writeBatchMs ?? 1000,
      onError: options.onError ?? (() => undefined),
    });
    this.pending = this.batch.entries;
  }

  /** Connects, migrates and returns the store; fails with STORE_FAILURE naming the database. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const shown = redactUrl(options.url);
    let pool: Pool | undefined;
    try {
      const split = splitSchema(options.url);
      const schema = options.schema ?? split.schema;
      const config: PoolConfig = { connectionString: split.connectionString, max: options.poolSize ?? 10 };
      if (schema !== undefined) config.options = `-c search_path=${checkSchemaName(schema)}`;
      pool = new Pool(config);
      // An idle client that loses its server must not crash the process; the next query reports it.
      pool.on('error', (error) => options.onError?.(error));
      await migrate(pool, schema);
      return new PostgresStore(pool, options);
    } catch (error) {
      await pool?.end().catch(() => undefined);
      throw new ServerError('STORE_FAILURE', `cannot open the PostgreSQL store at ${shown}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** The pool, for stores of other tables in this database. */
  get handle(): Pool {
    return this.pool;
  }

  /** The rollout store in this same database, so that agents and rollouts share one truth. */
  rolloutStore(): RolloutStore {
    return new PostgresRolloutStore(this.pool);
  }

  private transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, work);
  }

  private async writeBatch(records: AgentRecord[]): Promise<void> {
    await this.pool.query(WRITE_BATCH, [
      records.map((record) => record.instanceUid),
      records.map((record) => record.lastSeenMs),
      records.map((record) => record.sequenceNum),
      records.map((record) => record.disconnected),
      records.map((record) => attributesColumn(record.description)),
      records.map((record) => JSON.stringify(record)),
    ]);
  }

  private async writePending(): Promise<void> {
    await this.batch.write();
  }

  private async write(record: AgentRecord): Promise<void> {
    await this.pool.query(UPSERT_AGENT, [
      record.instanceUid,
      record.lastSeenMs,
      record.sequenceNum,
      record.disconnected,
      attributesColumn(record.description),
      JSON.stringify(record),
    ]);
  }

  /** Only a batched record not yet written: anything else may have changed on another instance. */
  peekAgent(instanceUid: string): AgentRecord | undefined {
    return this.pending.get(instanceUid);
  }

  async getAgent(instanceUid: string): Promise<AgentRecord | undefined> {
    const waiting = this.pending.get(instanceUid);
    if (waiting) return waiting;
    const result = await this.pool.query<AgentRow>(`SELECT ${AGENT_COLUMNS} FROM agents WHERE instance_uid = $1`, [instanceUid]);
    const row = result.rows[0];
    return row === undefined ? undefined : recordOfRow(row);
  }

  putAgent(record: AgentRecord, durable: boolean): Promise<void> | void {
    if (!durable) {
      this.pending.set(record.instanceUid, record);
      return;
    }
    const waiting = this.pending.get(record.instanceUid);
    this.pending.delete(record.instanceUid);
    return this.write(record).catch((error: unknown) => {
      // This poll is refused, but the routine write that waited was already answered: keep it
      // for the next batch, unless a newer one took its place meanwhile.
      if (waiting !== undefined && !this.pending.has(record.instanceUid)) this.pending.set(record.instanceUid, waiting);
      throw error;
    });
  }

  async deleteAgent(instanceUid: string): Promise<boolean> {
    // A batch already on its way may carry this agent: were the delete to run first, the
    // batch's upsert would insert the agent again after it.
    await this.batch.idle();
    const waiting = this.pending.delete(instanceUid);
    return this.transaction(async (client) => {
      await client.query('DELETE FROM package_status_history WHERE instance_uid = $1', [instanceUid]);
      const deleted = await client.query('DELETE FROM agents WHERE instance_uid = $1', [instanceUid]);
      return (deleted.rowCount ?? 0) > 0 || waiting;
    });
  }

  async countAgents(): Promise<number> {
    await this.writePending();
    const result = await this.pool.query<{ total: number }>('SELECT count(*)::integer AS total FROM agents');
    return result.rows[0]!.total;
  }

  async listAgents(options: { limit: number; afterInstanceUid?: string }): Promise<AgentRecord[]> {
    return this.queryAgents({ ...options, nowMs: 0, offlineAfterMs: 0 });
  }

  async queryAgents(query: AgentQuery): Promise<AgentRecord[]> {
    await this.writePending();
    const params: unknown[] = [];
    const clauses = filterSql(query.filter ?? {}, query.nowMs - query.offlineAfterMs, params);
    if (query.afterInstanceUid !== undefined) {
      params.push(query.afterInstanceUid);
      clauses.push(`instance_uid > $${params.length}`);
    }
    const where = clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '';
    params.push(query.limit);
    const sql = `SELECT ${AGENT_COLUMNS} FROM agents ${where} ORDER BY instance_uid LIMIT $${params.length}`;
    const result = await this.pool.query<AgentRow>(sql, params);
    return result.rows.map(recordOfRow);
  }

  async countAgentsByStateAndVersion(nowMs: number, offlineAfterMs: number): Promise<AgentCount[]> {
    await this.writePending();
    const result = await this.pool.query<AgentCount & { state: AgentState }>(COUNT_BY_STATE_AND_VERSION, [nowMs - offlineAfterMs]);
    return result.rows;
  }

  async forgetAgentsUnseenSince(cutoffMs: number): Promise<number> {
    // Batched records carry the freshest last-seen time: write them first so none is lost.
    await this.writePending();
    return this.transaction(async (client) => {
      await client.query(
        'DELETE FROM package_status_history WHERE instance_uid IN (SELECT instance_uid FROM agents WHERE last_seen_ms < $1)',
        [cutoffMs],
      );
      const deleted = await client.query('DELETE FROM agents WHERE last_seen_ms < $1', [cutoffMs]);
      return deleted.rowCount ?? 0;
    });
  }

  async addPackageStatusChanges(changes: PackageStatusChange[]): Promise<void> {
    if (changes.length === 0) return;
    await this.transaction(async (client) => {
      await appendHistory(client, 'package_status_history', changes);
    });
  }

  async listPackageStatusChanges(instanceUid: string, limit: number): Promise<PackageStatusChange[]> {
    const result = await this.pool.query<{ change: string }>(
      'SELECT change FROM package_status_history WHERE instance_uid = $1 ORDER BY id DESC LIMIT $2',
      [instanceUid, limit],
    );
    return result.rows.map((row) => JSON.parse(row.change) as PackageStatusChange);
  }

  async getOrCreateSecret(name: string, create: () => Buffer): Promise<Buffer> {
    const select = 'SELECT value FROM server_secrets WHERE name = $1';
    const existing = await this.pool.query<{ value: Buffer }>(select, [name]);
    if (existing.rows[0]) return existing.rows[0].value;
    // Two instances may both get here: the first insert wins and both read back its value.
    await this.pool.query(
      'INSERT INTO server_secrets (name, value, created_ms) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING',
      [name, create(), Date.now()],
    );
    const created = await this.pool.query<{ value: Buffer }>(select, [name]);
    return created.rows[0]!.value;
  }

  async listAgentKeys(): Promise<StoredAgentKey[]> {
    const result = await this.pool.query<{ name: string; key_sha256: string; created_ms: string }>(
      'SELECT name, key_sha256, created_ms FROM agent_keys ORDER BY name',
    );
    return result.rows.map((row) => ({ name: row.name, keySha256: row.key_sha256, createdAtMs: Number(row.created_ms) }));
  }

  async addAgentKey(key: StoredAgentKey): Promise<boolean> {
    // No conflict target: a taken name and a taken key both make it a no-op.
    const result = await this.pool.query(
      'INSERT INTO agent_keys (name, key_sha256, created_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [key.name, key.keySha256, key.createdAtMs],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async deleteAgentKey(name: string): Promise<boolean> {
    const result = await this.pool.query('DELETE FROM agent_keys WHERE name = $1', [name]);
    return (result.rowCount ?? 0) > 0;
  }

  async flush(): Promise<void> {
    await this.writePending();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.batch.stop();
    try {
      await this.writePending();
    } finally {
      this.closed = true;
      await this.pool.end();
    }
  }
}
