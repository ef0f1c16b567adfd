// The embedded store's file and schema: opening it, migrations in order (the file's user_version counts
// them), rows as records, and the WHERE clauses of agent listings.
import Database from 'better-sqlite3';
import { DEFAULT_DISTRIBUTION } from '../agents/platform';
import { ServerError } from '../errors';
import type { AgentRecord, AgentState } from '../agents/records';
import { ROLLOUT_TABLES } from './sqlite-rollout-schema';
import { containsPattern, type AgentFilter } from './types';

export const SCHEMA_VERSION = 6;

export const MIGRATIONS: string[] = [
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
  // A routine poll changes only the last-seen time and the sequence number: with both in
  // columns it writes no JSON. The columns win over the same fields inside `record`.
  `ALTER TABLE agents ADD COLUMN sequence_num INTEGER NOT NULL DEFAULT 0;
   UPDATE agents SET sequence_num = coalesce(json_extract(record, '$.sequenceNum'), 0);`,
  // The two columns a routine poll moves get a narrow table of their own. Updated in the wide
  // row, each batched write rewrote a kilobyte-long cell and logged a whole page per agent
  // (measured: about 20 µs of CPU per agent written, WAL and checkpoint included; 5-8 µs here).
  // `agents` stays as a view of both, so every reading query is unchanged.
  `CREATE TABLE agent_activity (
     instance_uid TEXT PRIMARY KEY,
     last_seen_ms INTEGER NOT NULL,
     sequence_num INTEGER NOT NULL
   ) WITHOUT ROWID;
   INSERT INTO agent_activity (instance_uid, last_seen_ms, sequence_num)
     SELECT instance_uid, last_seen_ms, sequence_num FROM agents;
   ALTER TABLE agents DROP COLUMN last_seen_ms;
   ALTER TABLE agents DROP COLUMN sequence_num;
   ALTER TABLE agents RENAME TO agent_records;
   CREATE VIEW agents AS
     SELECT records.instance_uid AS instance_uid, activity.last_seen_ms AS last_seen_ms,
            activity.sequence_num AS sequence_num, records.record AS record
       FROM agent_records AS records JOIN agent_activity AS activity ON activity.instance_uid = records.instance_uid;`,
];

/** Opens (or creates) the store's file in WAL mode and brings its schema up to this build's. */
export function openSqliteFile(file: string): Database.Database {
  let database: Database.Database | undefined;
  try {
    database = new Database(file);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('busy_timeout = 5000');
    // Checkpoints run in a worker (sqlite-checkpointer.ts), never inside a poll's write.
    database.pragma('wal_autocheckpoint = 0');
    migrate(database);
    return database;
  } catch (error) {
    database?.close();
    throw new ServerError('STORE_FAILURE', `cannot open the SQLite store at ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function migrate(database: Database.Database): void {
  const current = database.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(`the store was written by a newer version (schema ${current}, this build knows ${SCHEMA_VERSION})`);
  }
  for (let version = current; version < SCHEMA_VERSION; version += 1) {
    database.transaction(() => {
      database.exec(MIGRATIONS[version]!);
      database.pragma(`user_version = ${version + 1}`);
    })();
  }
}

export interface AgentRow {
  record: string;
  last_seen_ms: number;
  sequence_num: number;
}

export function rowToRecord(row: AgentRow): AgentRecord {
  const record = JSON.parse(row.record) as AgentRecord;
  record.lastSeenMs = row.last_seen_ms;
  record.sequenceNum = row.sequence_num;
  return record;
}

export /** Attribute text as offers.ts reads it: identifying first, then non-identifying. */
function attributeSql(key: string, params: unknown[]): string {
  // SQLite compares a quoted path step with the key as the JSON text spells it (a backslash is
  // `\\`, a double quote `\"`), so the step is spelled the way JSON.stringify wrote the record;
  // a double quote inside it then cannot end the step.
  const step = JSON.stringify(key).slice(1, -1);
  params.push(`$.description.identifying."${step}"`, `$.description.nonIdentifying."${step}"`);
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
export function filterSql(filter: AgentFilter, onlineSinceMs: number, params: unknown[]): string[] {
  const clauses: string[] = [];
  if (filter.state) clauses.push(stateSql(filter.state, onlineSinceMs, params));
  if (filter.version !== undefined) {
    const bare = filter.version.replace(/^v/, '');
    clauses.push(`${attributeSql('service.version', params)} IN (?, ?)`);
    params.push(bare, `v${bare}`);
  }
  if (filter.distribution !== undefined) {
    clauses.push(`coalesce(${attributeSql('service.name', params)}, ?) = ?`);
    params.push(DEFAULT_DISTRIBUTION, filter.distribution);
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
  if (filter.search !== undefined) {
    const pattern = containsPattern(filter.search);
    params.push(pattern);
    clauses.push(`(instance_uid LIKE ? ESCAPE '\\' OR lower(CAST(${attributeSql('host.name', params)} AS TEXT)) LIKE ? ESCAPE '\\')`);
    params.push(pattern);
  }
  return clauses;
}
