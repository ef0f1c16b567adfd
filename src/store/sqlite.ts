// The embedded store: one SQLite file in WAL mode. Records are JSON rows keyed by instance uid,
// with the columns that listings filter on kept beside them. Routine writes (last seen,
// sequence number) are batched into one transaction per window; durable ones go at once.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ServerError } from '../errors';
import type { AgentRecord, AgentStore } from './types';

const SCHEMA_VERSION = 1;

const MIGRATIONS: string[] = [
  `CREATE TABLE agents (
     instance_uid TEXT PRIMARY KEY,
     last_seen_ms INTEGER NOT NULL,
     record TEXT NOT NULL
   );
   CREATE INDEX agents_last_seen ON agents (last_seen_ms);`,
];

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
  private closed = false;
  private readonly onError: (error: unknown) => void;

  constructor(options: SqliteStoreOptions) {
    fs.mkdirSync(options.dataDir, { recursive: true });
    const file = path.join(options.dataDir, 'opamp-package-server.sqlite');
    try {
      this.database = new Database(file);
      this.database.pragma('journal_mode = WAL');
      this.database.pragma('synchronous = NORMAL');
      this.database.pragma('busy_timeout = 5000');
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
    };
    this.onError = options.onError ?? (() => undefined);
    this.timer = setInterval(() => this.writePendingSafely(), options.writeBatchMs ?? 1000);
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

  private writePending(): void {
    if (this.pending.size === 0 || this.closed) return;
    const records = [...this.pending.values()];
    this.database.transaction(() => {
      for (const record of records) this.write(record);
    })();
    // Cleared only once written: a failed batch stays pending and is tried again.
    for (const record of records) {
      if (this.pending.get(record.instanceUid) === record) this.pending.delete(record.instanceUid);
    }
  }

  /** The timer's batch write: a failure (disk full, locked file) is reported, never thrown. */
  private writePendingSafely(): void {
    try {
      this.writePending();
    } catch (error) {
      this.onError(error);
    }
  }

  private write(record: AgentRecord): void {
    this.statements.put.run(record.instanceUid, record.lastSeenMs, JSON.stringify(record));
  }

  async getAgent(instanceUid: string): Promise<AgentRecord | undefined> {
    const waiting = this.pending.get(instanceUid);
    if (waiting) return waiting;
    const row = this.statements.get.get(instanceUid);
    return row === undefined ? undefined : (JSON.parse(row.record) as AgentRecord);
  }

  async putAgent(record: AgentRecord, durable: boolean): Promise<void> {
    if (durable) {
      this.pending.delete(record.instanceUid);
      this.write(record);
    } else {
      this.pending.set(record.instanceUid, record);
    }
  }

  async deleteAgent(instanceUid: string): Promise<boolean> {
    const waiting = this.pending.delete(instanceUid);
    return this.statements.delete.run(instanceUid).changes > 0 || waiting;
  }

  async countAgents(): Promise<number> {
    this.writePending();
    return this.statements.count.get()!.total;
  }

  async listAgents(options: { limit: number; afterInstanceUid?: string }): Promise<AgentRecord[]> {
    this.writePending();
    const rows =
      options.afterInstanceUid === undefined
        ? this.statements.listFirst.all(options.limit)
        : this.statements.listAfter.all(options.afterInstanceUid, options.limit);
    return rows.map((row) => JSON.parse(row.record) as AgentRecord);
  }

  async flush(): Promise<void> {
    this.writePending();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.writePending();
    this.closed = true;
    clearInterval(this.timer);
    this.database.close();
  }
}
