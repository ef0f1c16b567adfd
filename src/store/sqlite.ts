// The embedded store: one SQLite file in WAL mode. Records are JSON rows keyed by instance uid,
// with the columns that listings filter on kept beside them. Routine writes (last seen,
// sequence number) are batched into one transaction per window and touch only those two
// columns; durable ones go at once. The process owns the file, so the latest record of every
// agent it has seen is also kept parsed in memory (up to a bound) and a poll reads no row.
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { BatchQueue } from './batch-queue';
import { keptOf, onlyTouched, type Kept } from './sqlite-kept';
import { InternedStrings } from './interned';
import { startCheckpointer, type Checkpointer } from './sqlite-checkpointer';
import { filterSql, openSqliteFile, rowToRecord, type AgentRow } from './sqlite-schema';
import { prepareAgentStatements, type AgentStatements } from './sqlite-statements';
import type { AgentRecord, PackageStatusChange } from '../agents/records';
import { HISTORY_PER_AGENT, type AgentCount, type AgentQuery, type AgentStore, type StoredAgentKey } from './types';
import { SqliteRolloutStore } from './sqlite-rollouts';
import type { RolloutStore } from './rollouts';

/** Parsed records kept in memory: about 1 KB of resident memory each in the bench fleet (110 MB for 100k). */
const DEFAULT_CACHED_AGENTS = 200_000;
/**
 * Rows per transaction of a batch: small enough that one chunk never stalls a poll for long. A
 * routine row is a narrow row of agent_activity (migration 6); when it rewrote the whole JSON
 * record, chunks of 250 held polls behind their commit (closed-loop p99 at 100k agents 1.23-1.50x
 * the 1k store's) and 50 was the size; a narrow row costs a quarter to half as much CPU.
 */
const BATCH_CHUNK_ROWS = 250;
/** How often the worker copies the write-ahead log into the database file. */
const CHECKPOINT_INTERVAL_MS = 500;

export interface SqliteStoreOptions {
  dataDir: string;
  writeBatchMs?: number;
  /**
   * Routine fields are held until the oldest has waited this many ms, then all written in one
   * round (default: every batch), so an agent is written about once per this interval.
   * Listings, flush and close write everything at once all the same.
   */
  routineWriteMs?: number;
  /** Agents whose parsed record is kept in memory (default 200,000); beyond it, the oldest go. */
  maxCachedAgents?: number;
  /** Called when a batched write fails; the batch is kept and retried. */
  onError?: (error: unknown) => void;
}

export class SqliteStore implements AgentStore {
  private readonly database: Database.Database;
  /** Batched writes: the agents whose `Kept` is queued. */
  private readonly batch: BatchQueue<Kept, void>;
  /** The batch's entries; only an agent pushed out of `cache` is looked for here by a poll. */
  private readonly pending: Map<string, Kept>;
  /** The latest record of each agent, as written or about to be: reads come from here first. */
  private readonly cache = new Map<string, Kept>();
  private readonly maxCachedAgents: number;
  private readonly statements: AgentStatements;
  private readonly queries = new Map<string, Database.Statement<unknown[], AgentRow>>();
  private closed = false;
  private readonly onError: (error: unknown) => void;
  private durable = new Map<string, { record: AgentRecord; full: true; resolve: () => void; reject: (error: unknown) => void }>();
  /** Writes rows in one transaction: whole records, or only the two columns a routine poll moves. */
  private readonly writeRows: (rows: Array<{ record: AgentRecord; full: boolean }>) => void;
  private durableScheduled = false;
  private readonly checkpointer: Checkpointer;
  private readonly interned = new InternedStrings();

  constructor(options: SqliteStoreOptions) {
    fs.mkdirSync(options.dataDir, { recursive: true });
    const file = path.join(options.dataDir, 'opamp-package-server.sqlite');
    this.database = openSqliteFile(file);
    this.statements = prepareAgentStatements(this.database);
    this.onError = options.onError ?? (() => undefined);
    const { touch } = this.statements;
    // Made once: better-sqlite3 builds a wrapper each time transaction() is called.
    this.writeRows = this.database.transaction((rows: Array<{ record: AgentRecord; full: boolean }>) => {
      for (const { record, full } of rows) {
        if (full) this.write(record);
        else touch.run(record.lastSeenMs, record.sequenceNum, record.instanceUid);
      }
    });
    this.maxCachedAgents = options.maxCachedAgents ?? DEFAULT_CACHED_AGENTS;
    const intervalMs = options.writeBatchMs ?? 1000;
    this.batch = new BatchQueue<Kept, void>({
      write: (rows) => {
        this.writeRows(rows);
        // Synchronous: no poll can queue an agent again between the write and this.
        for (const row of rows) row.queued = false;
      },
      intervalMs,
      holdTicks: Math.max(0, Math.ceil((options.routineWriteMs ?? 0) / intervalMs) - 1),
      queuedTick: (entry) => entry.queuedTick,
      chunkRows: BATCH_CHUNK_ROWS,
      onError: this.onError,
    });
    this.pending = this.batch.entries;
    this.checkpointer = startCheckpointer(file, CHECKPOINT_INTERVAL_MS, this.onError);
    this.loadRecentAgents();
  }

  /** Durable writes queued in one turn of the event loop go in one transaction. */
  private writeDurable(): void {
    this.durableScheduled = false;
    const waiting = this.durable;
    this.durable = new Map();
    const settle = [...waiting.values()];
    try {
      this.writeRows(settle);
    } catch (error) {
      // Not on disk, so not the agent's state either: the next read goes back to the file.
      for (const entry of settle) this.cache.delete(entry.record.instanceUid);
      for (const entry of settle) entry.reject(error);
      return;
    }
    for (const entry of settle) entry.resolve();
  }

  private write(record: AgentRecord): void {
    this.statements.putRecord.run(record.instanceUid, JSON.stringify(record));
    this.statements.putActivity.run(record.instanceUid, record.lastSeenMs, record.sequenceNum);
  }

  /**
   * Every agent polls again within its interval after a restart, so their records are read at
   * start (the most recently seen first, up to the bound) rather than one by one under load, where
   * each would be parsed inside a poll and promoted by the garbage collector in the middle of it.
   */
  private loadRecentAgents(): void {
    // Oldest first, so that the bound pushes out the least recently seen.
    const rows = this.database
      .prepare<[number], AgentRow>(
        `SELECT record, last_seen_ms, sequence_num FROM (
           SELECT record, last_seen_ms, sequence_num FROM agents ORDER BY last_seen_ms DESC LIMIT ?
         ) ORDER BY last_seen_ms`,
      )
      .iterate(this.maxCachedAgents);
    for (const row of rows) {
      const record = rowToRecord(row);
      this.interned.description(record.description);
      this.cache.set(record.instanceUid, keptOf(record));
    }
  }

  /**
   * The store keeps its own shallow copy, never the caller's object. V8 pretenures an allocation
   * site whose objects mostly survive: were the records the handler makes on every poll kept now
   * and then (new agents, changes), all of them would be born in the old generation and fill it
   * (measured in isolation: 240 bytes of old space per poll; 24 with the copy; 1.4 with
   * pretenuring turned off). A description new to the store has its values shared.
   */
  private keptCopy(record: AgentRecord, previous: AgentRecord | undefined): AgentRecord {
    if (record.description !== previous?.description) this.interned.description(record.description);
    return { ...record };
  }

  /** Keeps `kept` in memory, the agent's `Kept` not being there already. */
  private remember(uid: string, kept: Kept): void {
    if (this.cache.size >= this.maxCachedAgents) {
      // The oldest remembered goes first: in a fleet larger than the bound every agent polls
      // as often as every other, so nothing smarter would keep more hits.
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(uid, kept);
  }

  peekAgent(instanceUid: string): AgentRecord | undefined {
    // A record pushed out of memory may still wait for its write. The kept record itself, not a
    // copy (see AgentStore.peekAgent): a routine write moves its last-seen time and sequence
    // number in place.
    return (this.cache.get(instanceUid) ?? this.pending.get(instanceUid))?.record ?? this.durable.get(instanceUid)?.record;
  }

  async getAgent(instanceUid: string): Promise<AgentRecord | undefined> {
    const known = this.peekAgent(instanceUid);
    // A copy: what getAgent gives is the caller's to keep.
    if (known) return { ...known };
    const row = this.statements.get.get(instanceUid);
    if (row === undefined) return undefined;
    const record = rowToRecord(row);
    this.interned.description(record.description);
    this.remember(instanceUid, keptOf(record));
    // The kept record is moved in place by routine writes; the caller gets its own.
    return { ...record };
  }

  // Not async: a batched write, most polls' only write, returns nothing to wait for, and a
  // durable one returns its own promise without wrapping it in another.
  putAgent(record: AgentRecord, durable: boolean): Promise<void> | void {
    const uid = record.instanceUid;
    if (!durable) {
      // A durable write of the same agent still queued carries older data: this one replaces it.
      if (this.durable.size > 0 && this.durable.has(uid)) return this.putAgent(record, true);
      const kept = this.cache.get(uid);
      if (kept === undefined) {
        // Not in memory, so it may differ from its row in anything: written whole. A write still
        // queued for a record pushed out of memory is taken over.
        const waiting = this.pending.get(uid);
        const taken = waiting ?? keptOf(record);
        taken.record = this.keptCopy(record, undefined);
        this.queue(uid, taken, true);
        this.remember(uid, taken);
        return;
      }
      const previous = kept.record;
      // Only the two columns are written when nothing else moved since the last record.
      const full = !onlyTouched(previous, record);
      if (full) {
        kept.record = this.keptCopy(record, previous);
      } else {
        // A routine write moves the two fields of the record already kept rather than keeping
        // the new object: one new long-lived object per poll would be promoted out of the young
        // generation and grow the old one under load (measured: 230 MB resident at start with
        // 100k agents, 410 MB after 15 s at 44k polls/s).
        previous.lastSeenMs = record.lastSeenMs;
        previous.sequenceNum = record.sequenceNum;
      }
      this.queue(uid, kept, full);
      return;
    }
    const waiting = this.unqueue(uid);
    const known = this.cache.get(uid);
    const kept = known ?? waiting ?? keptOf(record);
    kept.record = this.keptCopy(record, known?.record);
    if (known === undefined) this.remember(uid, kept);
    // Resolved once committed, so the agent is answered only after its state is on disk.
    return new Promise<void>((resolve, reject) => {
      const earlier = this.durable.get(uid);
      this.durable.set(uid, {
        record: kept.record,
        full: true,
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

  /**
   * Puts the agent in the batch, or updates its queued write in place: batches are written
   * synchronously, so no write is holding it, and a poll of an agent already queued allocates
   * nothing. `full` sticks until the row is written.
   */
  private queue(uid: string, kept: Kept, full: boolean): void {
    if (kept.queued) {
      kept.full ||= full;
      return;
    }
    kept.queued = true;
    kept.full = full;
    kept.queuedTick = this.batch.tick;
    this.pending.set(uid, kept);
  }

  /** Takes the agent's write out of the batch, if queued; returns what was queued. */
  private unqueue(uid: string): Kept | undefined {
    const queued = this.pending.get(uid);
    if (queued === undefined) return undefined;
    queued.queued = false;
    this.pending.delete(uid);
    return queued;
  }

  async deleteAgent(instanceUid: string): Promise<boolean> {
    if (this.durable.has(instanceUid)) this.writeDurable();
    const waiting = this.unqueue(instanceUid) !== undefined;
    this.cache.delete(instanceUid);
    return this.database.transaction(() => {
      this.statements.deleteHistory.run(instanceUid);
      this.statements.deleteActivity.run(instanceUid);
      return this.statements.delete.run(instanceUid).changes > 0 || waiting;
    })();
  }

  /** Everything queued, durable and batched, written now: listings then see every agent. */
  private writeAll(): void {
    if (this.durable.size > 0) this.writeDurable();
    this.batch.write();
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
    return rows.map(rowToRecord);
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
    const sql = `SELECT record, last_seen_ms, sequence_num FROM agents ${where} ORDER BY instance_uid LIMIT ?`;
    let statement = this.queries.get(sql);
    if (statement === undefined) {
      statement = this.database.prepare<unknown[], AgentRow>(sql);
      // The filters combine in a bounded number of ways, so the cache stays small.
      this.queries.set(sql, statement);
    }
    return statement.all(...params).map(rowToRecord);
  }

  async countAgentsByStateAndVersion(nowMs: number, offlineAfterMs: number): Promise<AgentCount[]> {
    this.writeAll();
    return this.statements.countByStateAndVersion.all(nowMs - offlineAfterMs);
  }

  async forgetAgentsUnseenSince(cutoffMs: number): Promise<number> {
    // Batched records carry the freshest last-seen time: write them first so none is lost.
    this.writeAll();
    const forgotten = this.database.transaction(() => {
      this.statements.forgetHistory.run(cutoffMs);
      const changes = this.statements.forget.run(cutoffMs).changes;
      this.statements.forgetActivity.run(cutoffMs);
      return changes;
    })();
    for (const [uid, kept] of this.cache) {
      if (kept.record.lastSeenMs < cutoffMs) this.cache.delete(uid);
    }
    return forgotten;
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

  /** The open database, for stores of other tables on the same file. */
  get handle(): Database.Database {
    return this.database;
  }

  /** The rollout store on this same file, so that agents and rollouts share one truth. */
  rolloutStore(): RolloutStore {
    return new SqliteRolloutStore(this.database);
  }

  async flush(): Promise<void> {
    this.writeAll();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.writeAll();
    this.closed = true;
    this.batch.stop();
    await this.checkpointer.stop();
    // One last full checkpoint, so the database file alone holds everything.
    this.database.pragma('wal_checkpoint(TRUNCATE)');
    this.database.close();
  }
}
