// The agent store's prepared statements, made once when the store opens: each is compiled by
// SQLite once and reused by every poll, listing and key change.
import type Database from 'better-sqlite3';
import type { AgentState } from '../agents/records';
import type { AgentRow } from './sqlite-schema';

export function prepareAgentStatements(database: Database.Database) {
  return {
    get: database.prepare<[string], AgentRow>(
      'SELECT record, last_seen_ms, sequence_num FROM agents WHERE instance_uid = ?',
    ),
    // `agents` is a view of the two tables (sqlite-schema.ts): writes go to each table.
    putRecord: database.prepare<[string, string]>(
      `INSERT INTO agent_records (instance_uid, record) VALUES (?, ?)
       ON CONFLICT (instance_uid) DO UPDATE SET record = excluded.record`,
    ),
    putActivity: database.prepare<[string, number, number]>(
      `INSERT INTO agent_activity (instance_uid, last_seen_ms, sequence_num) VALUES (?, ?, ?)
       ON CONFLICT (instance_uid) DO UPDATE SET last_seen_ms = excluded.last_seen_ms, sequence_num = excluded.sequence_num`,
    ),
    touch: database.prepare<[number, number, string]>(
      'UPDATE agent_activity SET last_seen_ms = ?, sequence_num = ? WHERE instance_uid = ?',
    ),
    delete: database.prepare<[string]>('DELETE FROM agent_records WHERE instance_uid = ?'),
    deleteActivity: database.prepare<[string]>('DELETE FROM agent_activity WHERE instance_uid = ?'),
    count: database.prepare<[], { total: number }>('SELECT COUNT(*) AS total FROM agents'),
    listFirst: database.prepare<[number], AgentRow>(
      'SELECT record, last_seen_ms, sequence_num FROM agents ORDER BY instance_uid LIMIT ?',
    ),
    listAfter: database.prepare<[string, number], AgentRow>(
      'SELECT record, last_seen_ms, sequence_num FROM agents WHERE instance_uid > ? ORDER BY instance_uid LIMIT ?',
    ),
    countByStateAndVersion: database.prepare<[number], { state: AgentState; version: string; count: number }>(
      `SELECT CASE WHEN json_extract(record, '$.disconnected') = 1 THEN 'disconnected'
                   WHEN last_seen_ms > ? THEN 'online' ELSE 'offline' END AS state,
              CAST(coalesce(json_extract(record, '$.description.identifying."service.version"'),
                            json_extract(record, '$.description.nonIdentifying."service.version"'), '') AS TEXT) AS version,
              COUNT(*) AS count
         FROM agents GROUP BY state, version`,
    ),
    forgetHistory: database.prepare<[number]>(
      'DELETE FROM package_status_history WHERE instance_uid IN (SELECT instance_uid FROM agents WHERE last_seen_ms < ?)',
    ),
    forget: database.prepare<[number]>(
      'DELETE FROM agent_records WHERE instance_uid IN (SELECT instance_uid FROM agent_activity WHERE last_seen_ms < ?)',
    ),
    forgetActivity: database.prepare<[number]>('DELETE FROM agent_activity WHERE last_seen_ms < ?'),
    deleteHistory: database.prepare<[string]>('DELETE FROM package_status_history WHERE instance_uid = ?'),
    addHistory: database.prepare<[string, number, string]>(
      'INSERT INTO package_status_history (instance_uid, at_ms, change) VALUES (?, ?, ?)',
    ),
    trimHistory: database.prepare<[string, string, number]>(
      `DELETE FROM package_status_history WHERE instance_uid = ? AND id <= (
         SELECT id FROM package_status_history WHERE instance_uid = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
    ),
    listHistory: database.prepare<[string, number], { change: string }>(
      'SELECT change FROM package_status_history WHERE instance_uid = ? ORDER BY id DESC LIMIT ?',
    ),
    createSecret: database.prepare<[string, Buffer, number]>(
      'INSERT OR IGNORE INTO server_secrets (name, value, created_ms) VALUES (?, ?, ?)',
    ),
    getSecret: database.prepare<[string], { value: Buffer }>('SELECT value FROM server_secrets WHERE name = ?'),
    listKeys: database.prepare<[], { name: string; key_sha256: string; created_ms: number }>(
      'SELECT name, key_sha256, created_ms FROM agent_keys ORDER BY name',
    ),
    addKey: database.prepare<[string, string, number]>(
      'INSERT OR IGNORE INTO agent_keys (name, key_sha256, created_ms) VALUES (?, ?, ?)',
    ),
    deleteKey: database.prepare<[string]>('DELETE FROM agent_keys WHERE name = ?'),
  };
}

export type AgentStatements = ReturnType<typeof prepareAgentStatements>;
