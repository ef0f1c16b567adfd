// The PostgreSQL store's schema and how it gets there. Each migration runs once, in order, in
// its own transaction, recorded in schema_migrations; an advisory lock around the whole run
// lets several instances start at the same moment without two of them applying the same step.
import type { Pool, PoolClient } from 'pg';

/**
 * The columns that filters and batched writes touch are kept beside the record: `attributes` is
 * a copy of the description that PostgreSQL can always read (see postgres-sql.ts), and
 * last_seen_ms and sequence_num are updated by a batch without rewriting the record.
 * Uids sort in the "C" collation so that pages follow byte order, as SQLite's do.
 */
export const MIGRATIONS: string[] = [
  `CREATE TABLE agents (
     instance_uid TEXT COLLATE "C" PRIMARY KEY,
     last_seen_ms BIGINT NOT NULL,
     sequence_num BIGINT NOT NULL,
     disconnected BOOLEAN NOT NULL,
     attributes JSON,
     record TEXT NOT NULL
   );
   CREATE INDEX agents_last_seen ON agents (last_seen_ms);
   CREATE TABLE package_status_history (
     id BIGSERIAL PRIMARY KEY,
     instance_uid TEXT COLLATE "C" NOT NULL,
     at_ms BIGINT NOT NULL,
     change TEXT NOT NULL
   );
   CREATE INDEX package_status_history_agent ON package_status_history (instance_uid, id);
   CREATE TABLE server_secrets (
     name TEXT PRIMARY KEY,
     value BYTEA NOT NULL,
     created_ms BIGINT NOT NULL
   );
   CREATE TABLE agent_keys (
     name TEXT COLLATE "C" PRIMARY KEY,
     key_sha256 TEXT NOT NULL UNIQUE,
     created_ms BIGINT NOT NULL
   );
   -- An attribute as text, read the way the SQLite store reads it: identifying first unless
   -- absent or null, booleans as 1 and 0, objects and arrays as their JSON text.
   CREATE FUNCTION opamp_attribute_text(attributes JSON, key TEXT) RETURNS TEXT
     LANGUAGE sql IMMUTABLE AS $$
       SELECT CASE json_typeof(picked.value)
                WHEN 'boolean' THEN CASE WHEN picked.value::text = 'true' THEN '1' ELSE '0' END
                ELSE picked.value #>> '{}' END
         FROM (SELECT CASE WHEN json_typeof(attributes -> 'identifying' -> key) <> 'null'
                           THEN attributes -> 'identifying' -> key
                           ELSE attributes -> 'nonIdentifying' -> key END AS value) AS picked
     $$;`,
  // 2: rollouts, as in the SQLite store (sqlite-rollout-schema.ts). `position` keeps the order
  // of creation for rollouts made in the same millisecond, as SQLite's rowid does.
  `CREATE TABLE rollouts (
     id TEXT COLLATE "C" PRIMARY KEY,
     position BIGSERIAL NOT NULL,
     created_ms BIGINT NOT NULL,
     updated_ms BIGINT NOT NULL,
     status TEXT NOT NULL,
     reason TEXT,
     resumed_ms BIGINT,
     spec TEXT NOT NULL
   );
   CREATE TABLE rollout_waves (
     rollout_id TEXT COLLATE "C" NOT NULL,
     wave INTEGER NOT NULL,
     opened_ms BIGINT,
     admitted INTEGER NOT NULL,
     PRIMARY KEY (rollout_id, wave)
   );
   CREATE TABLE rollout_members (
     rollout_id TEXT COLLATE "C" NOT NULL,
     instance_uid TEXT COLLATE "C" NOT NULL,
     wave INTEGER NOT NULL,
     not_before_ms BIGINT NOT NULL,
     generation INTEGER NOT NULL,
     state TEXT NOT NULL,
     state_ms BIGINT NOT NULL,
     from_version TEXT NOT NULL,
     detail TEXT NOT NULL,
     PRIMARY KEY (rollout_id, instance_uid)
   );
   CREATE INDEX rollout_members_state ON rollout_members (rollout_id, state, state_ms);
   CREATE TABLE rollout_state_history (
     id BIGSERIAL PRIMARY KEY,
     instance_uid TEXT COLLATE "C" NOT NULL,
     at_ms BIGINT NOT NULL,
     change TEXT NOT NULL
   );
   CREATE INDEX rollout_state_history_agent ON rollout_state_history (instance_uid, id);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Schema names go into SQL text (search_path, CREATE SCHEMA), so only plain identifiers pass. */
export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(`the schema name ${JSON.stringify(schema)} must be letters, digits and _ (at most 63)`);
  }
  return schema;
}

async function inTransaction(client: PoolClient, work: () => Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    await work();
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Brings the schema to SCHEMA_VERSION; returns the versions applied by this call. */
export async function migrate(pool: Pool, schema: string | undefined): Promise<number[]> {
  const client = await pool.connect();
  const lockName = `opamp-package-server migrations ${schema ?? 'default'}`;
  try {
    // Session-level: held across the per-migration transactions, released in finally.
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [lockName]);
    try {
      if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS "${checkSchemaName(schema)}"`);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY,
        applied_at_ms BIGINT NOT NULL
      )`);
      const result = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations');
      const current = result.rows[0]?.version ?? 0;
      if (current > SCHEMA_VERSION) {
        throw new Error(`the store was written by a newer version (schema ${current}, this build knows ${SCHEMA_VERSION})`);
      }
      const applied: number[] = [];
      for (let version = current; version < SCHEMA_VERSION; version += 1) {
        await inTransaction(client, async () => {
          await client.query(MIGRATIONS[version]!);
          await client.query('INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)', [version + 1, Date.now()]);
        });
        applied.push(version + 1);
      }
      return applied;
    } finally {
      // A lost connection releases the lock by itself; the migration's own error matters more.
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [lockName]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
}
