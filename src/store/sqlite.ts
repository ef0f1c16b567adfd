// The embedded store: one SQLite file in WAL mode. Records are JSON rows keyed by instance uid,
// with the columns that listings filter on kept beside them. Routine writes (last seen,
// sequence number) are batched into one transaction per window; durable ones go at once.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ServerError } from '../errors';
import { startCheckpointer, type Checkpointer } from './sqlite-checkpointer';
import { ROLLOUT_TABLES } from './sqlite-rollout-schema';
import type {
  AgentCount,
  AgentFilter,
  AgentQuery,
  AgentRecord,
  AgentState,
  AgentStore,
  PackageStatusChange,
  StoredAgentKey,
} from './types';

const SCHEMA_VERSION = 4;
/** Rows per transaction of a batch: small enough that one chunk never stalls a poll for long. */
const BATCH_CHUNK_ROWS = 250;
/** How often the worker copies the write-ahead log into the database file. */
const CHECKPOINT_INTERVAL_MS = 500;
/** History rows kept per agent: enough to follow a few upgrades, bounded against a flapping agent. */
const HISTORY_PER_AGENT = 100;

const MIGRATIONS: string[] = [
  `CREATE TABLE agents (
     instance_uid TEXT PRIMARY KEY,
     last_seen_ms INTEGER NOT NULL,
     record TEXT NOT NULL
   );
   CREATE INDEX agents_last_seen ON agents (last_seen_ms);`,
  `CREATE TABLE package_status_history (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     instance_uid TEXT NOT NULL,
     at_ms INTEGER NOT NULL,
     change TEXT NOT NULL
   );
   CREATE INDEX package_status_history_agent ON package_status_history (instance_uid, id);
   CREATE TABLE server_secrets (
     name TEXT PRIMARY KEY,
     value BLOB NOT NULL,
     created_ms INTEGER NOT NULL
   );
   CREATE TABLE agent_keys (
     name TEXT PRIMARY KEY,
     key_sha256 TEXT NOT NULL UNIQUE,
     created_ms INTEGER NOT NULL
   );`,
  // Every poll moves last_seen_ms; keeping it indexed made each batched write cost several
  // times more, for the benefit of rare listings that scan the table quickly anyway.
  `DROP INDEX IF EXISTS agents_last_seen;`,
  ROLLOUT_TABLES,
];

/** Attribute text as offers.ts reads it: identifying first, then non-identifying. */
function attributeSql(key: string, params: unknown[]): string {
  // A double quote would end the quoted JSON path step; such keys cannot be filtered on.
  if (key.includes('"')) throw new ServerError('BAD_REQUEST', 'attribute: a key may not contain a double quote');
  params.push(`$.description.identifying."${key}"`, `$.description.nonIdentifying."${key}"`);
  return 'coalesce(json_extract(record, ?), json_extract(record, ?))';
}

function stateSql(state: AgentState, onlineSinceMs: number, params: unknown[]): string {
  if (state === 'disconnected') return "json_extract(record, '$.disconnected') = 1";
  params.push(onlineSinceMs);
  return state === 'online'
    ? "json_extract(record, '$.disconnected') = 0 AND last_seen_ms > ?"
    : "json_extract(record, '$.disconnected') = 0 AND last_seen_ms <= ?";
}

/** The WHERE clause of a listing; parameters are pushed in the order the text uses them. */
function filterSql(filter: AgentFilter, onlineSinceMs: number, params: unknown[]): string[] {
  const clauses: string[] = [];
  if (filter.state) clauses.push(stateSql(filter.state, onlineSinceMs, params));
  if (filter.version !== undefined) {
    const bare = filter.version.replace(/^v/, '');
    clauses.push(`${attributeSql('service.version', params)} IN (?, ?)`);
    params.push(bare, `v${bare}`);
  }
  if (filter.distribution !== undefined) {
    clauses.push(`coalesce(${attributeSql('service.name', params)}, 'otelcol-contrib') = ?`);
    params.push(filter.distribution);
  }
  if (filter.os !== undefined) {
    clauses.push(`lower(${attributeSql('os.type', params)}) = ?`);
    params.push(filter.os.toLowerCase());
  }
  if (filter.arch !== undefined && filter.arch.length > 0) {
    clauses.push(`lower(${attributeSql('host.arch', params)}) IN (${filter.arch.map(() => '?').join(', ')})`);
    params.push(...filter.arch.map((arch) => arch.toLowerCase()));
  }
  if (filter.attribute !== undefined) {
    clauses.push(`CAST(${attributeSql(filter.attribute.key, params)} AS TEXT) = ?`);
    params.push(filter.attribute.value);
  }
  return clauses;
}

export interface SqliteStoreOptions {
  dataDir: string;
  writeBatchMs?: number;
  /** Called when a batched write fails; the batch is kept and retried. */
  onError?: (error: unknown) => void;
}

export class SqliteStore implements AgentStore {
  private readonly database: Database.Database;
  private readonly pending = new Map<string, AgentRecord>();
  private readonly timer: NodeJS.Timeout;
  private readonly statements;
  private readonly queries = new Map<string, Database.Statement<unknown[], { record: string }>>();
  private closed = false;
  private draining = false;
  private readonly onError: (error: unknown) => void;
  private durable = new Map<string, { record: AgentRecord; resolve: () => void; reject: (error: unknown) => void }>();
  private durableScheduled = false;
  private readonly checkpointer: Checkpointer;

  constructor(options: SqliteStoreOptions) {
    fs.mkdirSync(options.dataDir, { recursive: true });
    const file = path.join(options.dataDir, 'opamp-package-server.sqlite');
    try {
      this.database = new Database(file);
      this.database.pragma('journal_mode = WAL');
      this.database.pragma('synchronous = NORMAL');
      this.database.pragma('busy_timeout = 5000');
      // Checkpoints run in a worker (sqlite-checkpointer.ts), never inside a poll's write.
      this.database.pragma('wal_autocheckpoint = 0');
      this.migrate();
    } catch (error) {
      throw new ServerError('STORE_FAILURE', `cannot open the SQLite store at ${file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    this.statements = {
      get: this.database.prepare<[string], { record: string }>('SELECT record FROM agents WHERE instance_uid = ?'),
      put: this.database.prepare<[string, number, string]>(
        `INSERT INTO agents (instance_uid, last_seen_ms, record) VALUES (?, ?, ?)
         ON CONFLICT (instance_uid) DO UPDATE SET last_seen_ms = excluded.last_seen_ms, record = excluded.record`,
      ),
      delete: this.database.prepare<[string]>('DELETE FROM agents WHERE instance_uid = ?'),
      count: this.database.prepare<[], { total: number }>('SELECT COUNT(*) AS total FROM agents'),
      listFirst: this.database.prepare<[number], { record: string }>(
        'SELECT record FROM agents ORDER BY instance_uid LIMIT ?',
      ),
      listAfter: this.database.prepare<[string, number], { record: string }>(
        'SELECT record FROM agents WHERE instance_uid > ? ORDER BY instance_uid LIMIT ?',
      ),
      countByStateAndVersion: this.database.prepare<[number], { state: AgentState; version: string; count: number }>(
        `SELECT CASE WHEN json_extract(record, '$.disconnected') = 1 THEN 'disconnected'
                     WHEN last_seen_ms > ? THEN 'online' ELSE 'offline' END AS state,
                CAST(coalesce(json_extract(record, '$.description.identifying."service.version"'),
                              json_extract(record, '$.description.nonIdentifying."service.version"'), '') AS TEXT) AS version,
                COUNT(*) AS count
           FROM agents GROUP BY state, version`,
      ),
      forgetHistory: this.database.prepare<[number]>(
        'DELETE FROM package_status_history WHERE instance_uid IN (SELECT instance_uid FROM agents WHERE last_seen_ms < ?)',
      ),
      forget: this.database.prepare<[number]>('DELETE FROM agents WHERE last_seen_ms < ?'),
      deleteHistory: this.database.prepare<[string]>('DELETE FROM package_status_history WHERE instance_uid = ?'),
      addHistory: this.database.prepare<[string, number, string]>(
        'INSERT INTO package_status_history (instance_uid, at_ms, change) VALUES (?, ?, ?)',
      ),
      trimHistory: this.database.prepare<[string, string, number]>(
        `DELETE FROM package_status_history WHERE instance_uid = ? AND id <= (
           SELECT id FROM package_status_history WHERE instance_uid = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
      ),
      listHistory: this.database.prepare<[string, number], { change: string }>(
        'SELECT change FROM package_status_history WHERE instance_uid = ? ORDER BY id DESC LIMIT ?',
      ),
      createSecret: this.database.prepare<[string, Buffer, number]>(
        'INSERT OR IGNORE INTO server_secrets (name, value, created_ms) VALUES (?, ?, ?)',
      ),
      getSecret: this.database.prepare<[string], { value: Buffer }>('SELECT value FROM server_secrets WHERE name = ?'),
      listKeys: this.database.prepare<[], { name: string; key_sha256: string; created_ms: number }>(
        'SELECT name, key_sha256, created_ms FROM agent_keys ORDER BY name',
      ),
      addKey: this.database.prepare<[string, string, number]>(
        'INSERT OR IGNORE INTO agent_keys (name, key_sha256, created_ms) VALUES (?, ?, ?)',
      ),
      deleteKey: this.database.prepare<[string]>('DELETE FROM agent_keys WHERE name = ?'),
    };
    this.onError = options.onError ?? (() => undefined);
    this.timer = setInterval(() => this.writePendingSafely(), options.writeBatchMs ?? 1000);
    this.checkpointer = startCheckpointer(file, CHECKPOINT_INTERVAL_MS, this.onError);
    this.timer.unref();
  }

  private migrate(): void {
    const current = this.database.pragma('user_version', { simple: true }) as number;
    if (current > SCHEMA_VERSION) {
      throw new Error(`the store was written by a newer version (schema ${current}, this build knows ${SCHEMA_VERSION})`);
    }
    for (let version = current; version < SCHEMA_VERSION; version += 1) {
      this.database.transaction(() => {
        this.database.exec(MIGRATIONS[version]!);
        this.database.pragma(`user_version = ${version + 1}`);
      })();
    }
  }

  /** Writes batched records, all of them or at most `limit`, in one transaction. */
  private writePending(limit = Infinity): void {
    if (this.pending.size === 0 || this.closed) return;
    const records: AgentRecord[] = [];
    for (const record of this.pending.values()) {
      if (records.length >= limit) break;
      records.push(record);
    }
    this.database.transaction(() => {
      for (const record of records) this.write(record);
    })();
    // Cleared only once written: a failed batch stays pending and is tried again.
    for (const record of records) {
      if (this.pending.get(record.instanceUid) === record) this.pending.delete(record.instanceUid);
    }
  }

  /**
   * The timer's batch write, in chunks with the event loop free between them, so thousands of
   * batched records never hold up the polls in flight. A failure (disk full, locked file) is
   * reported, never thrown, and the records stay pending.
   */
  private writePendingSafely(): void {
    if (this.draining) return;
    this.draining = true;
    const step = (): void => {
      try {
        this.writePending(BATCH_CHUNK_ROWS);
      } catch (error) {
        this.draining = false;
        this.onError(error);
        return;
      }
      if (this.pending.size > 0 && !this.closed) setImmediate(step);
      else this.draining = false;
    };
    step();
  }

  /** Durable writes queued in one turn of the event loop go in one transaction. */
  private writeDurable(): void {
    this.durableScheduled = false;
    const waiting = this.durable;
    this.durable = new Map();
    const settle = [...waiting.values()];
    try {
      this.database.transaction(() => {
        for (const entry of settle) this.write(entry.record);
      })();
    } catch (error) {
      for (const entry of settle) entry.reject(error);
      return;
    }
    for (const entry of settle) entry.resolve();
  }

  private write(record: AgentRecord): void {
    this.statements.put.run(record.instanceUid, record.lastSeenMs, JSON.stringify(record));
  }

  async getAgent(instanceUid: string): Promise<AgentRecord | undefined> {
    const waiting = this.durable.get(instanceUid)?.record ?? this.pending.get(instanceUid);
    if (waiting) return waiting;
    const row = this.statements.get.get(instanceUid);
    return row === undefined ? undefined : (JSON.parse(row.record) as AgentRecord);
  }

  async putAgent(record: AgentRecord, durable: boolean): Promise<void> {
    if (!durable) {
      // A durable write of the same agent still queued carries older data: this one replaces it.
      if (this.durable.has(record.instanceUid)) return this.putAgent(record, true);
      this.pending.set(record.instanceUid, record);
      return;
    }
    this.pending.delete(record.instanceUid);
    // Resolved once committed, so the agent is answered only after its state is on disk.
    return new Promise<void>((resolve, reject) => {
      const earlier = this.durable.get(record.instanceUid);
      this.durable.set(record.instanceUid, {
        record,
        resolve: () => {
          earlier?.resolve();
          resolve();
        },
        reject: (error) => {
          earlier?.reject(error);
          reject(error);
        },
      });
      if (!this.durableScheduled) {
        this.durableScheduled = true;
        setImmediate(() => this.writeDurable());
      }
    });
  }

  async deleteAgent(instanceUid: string): Promise<boolean> {
    if (this.durable.has(instanceUid)) this.writeDurable();
    const waiting = this.pending.delete(instanceUid);
    return this.database.transaction(() => {
      this.statements.deleteHistory.run(instanceUid);
      return this.statements.delete.run(instanceUid).changes > 0 || waiting;
    })();
  }

  /** Everything queued, durable and batched, written now: listings then see every agent. */
  private writeAll(): void {
    if (this.durable.size > 0) this.writeDurable();
    this.writePending();
  }

  async countAgents(): Promise<number> {
    this.writeAll();
    return this.statements.count.get()!.total;
  }

  async listAgents(options: { limit: number; afterInstanceUid?: string }): Promise<AgentRecord[]> {
    this.writeAll();
    const rows =
      options.afterInstanceUid === undefined
        ? this.statements.listFirst.all(options.limit)
        : this.statements.listAfter.all(options.afterInstanceUid, options.limit);
    return rows.map((row) => JSON.parse(row.record) as AgentRecord);
  }

  async queryAgents(query: AgentQuery): Promise<AgentRecord[]> {
    this.writeAll();
    const params: unknown[] = [];
    const clauses = filterSql(query.filter ?? {}, query.nowMs - query.offlineAfterMs, params);
    if (query.afterInstanceUid !== undefined) {
      clauses.push('instance_uid > ?');
      params.push(query.afterInstanceUid);
    }
    const where = clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '';
    params.push(query.limit);
    const sql = `SELECT record FROM agents ${where} ORDER BY instance_uid LIMIT ?`;
    let statement = this.queries.get(sql);
    if (statement === undefined) {
      statement = this.database.prepare<unknown[], { record: string }>(sql);
      // The filters combine in a bounded number of ways, so the cache stays small.
      this.queries.set(sql, statement);
    }
    return statement.all(...params).map((row) => JSON.parse(row.record) as AgentRecord);
  }

  async countAgentsByStateAndVersion(nowMs: number, offlineAfterMs: number): Promise<AgentCount[]> {
    this.writeAll();
    return this.statements.countByStateAndVersion.all(nowMs - offlineAfterMs);
  }

  async forgetAgentsUnseenSince(cutoffMs: number): Promise<number> {
    // Batched records carry the freshest last-seen time: write them first so none is lost.
    this.writeAll();
    return this.database.transaction(() => {
      this.statements.forgetHistory.run(cutoffMs);
      return this.statements.forget.run(cutoffMs).changes;
    })();
  }

  async addPackageStatusChanges(changes: PackageStatusChange[]): Promise<void> {
    if (changes.length === 0) return;
    this.database.transaction(() => {
      for (const change of changes) this.statements.addHistory.run(change.instanceUid, change.atMs, JSON.stringify(change));
      for (const uid of new Set(changes.map((change) => change.instanceUid))) {
        this.statements.trimHistory.run(uid, uid, HISTORY_PER_AGENT);
      }
    })();
  }

  async listPackageStatusChanges(instanceUid: string, limit: number): Promise<PackageStatusChange[]> {
    return this.statements.listHistory.all(instanceUid, limit).map((row) => JSON.parse(row.change) as PackageStatusChange);
  }

  async getOrCreateSecret(name: string, create: () => Buffer): Promise<Buffer> {
    const existing = this.statements.getSecret.get(name);
    if (existing) return existing.value;
    this.statements.createSecret.run(name, create(), Date.now());
    return this.statements.getSecret.get(name)!.value;
  }

  async listAgentKeys(): Promise<StoredAgentKey[]> {
    return this.statements.listKeys.all().map((row) => ({
      name: row.name,
      keySha256: row.key_sha256,
      createdAtMs: row.created_ms,
    }));
  }

  async addAgentKey(key: StoredAgentKey): Promise<boolean> {
    return this.statements.addKey.run(key.name, key.keySha256, key.createdAtMs).changes > 0;
  }

  async deleteAgentKey(name: string): Promise<boolean> {
    return this.statements.deleteKey.run(name).changes > 0;
  }

  /** The open database, for stores of other tables on the same file (rollouts). */
  get handle(): Database.Database {
    return this.database;
  }

  async flush(): Promise<void> {
    this.writeAll();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.writeAll();
    this.closed = true;
    clearInterval(this.timer);
    await this.checkpointer.stop();
    // One last full checkpoint, so the database file alone holds everything.
    this.database.pragma('wal_checkpoint(TRUNCATE)');
    this.database.close();
  }
}
