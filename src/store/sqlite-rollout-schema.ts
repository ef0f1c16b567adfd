// Migration 4 of the embedded store (src/store/sqlite.ts applies it in order): the rollout, its
// waves' admitted counts, one row per admitted agent with its upgrade state, and the history of
// those states. Kept here so the rollout tables sit beside the code that uses them.
export const ROLLOUT_TABLES = `CREATE TABLE rollouts (
     id TEXT PRIMARY KEY,
     created_ms INTEGER NOT NULL,
     updated_ms INTEGER NOT NULL,
     status TEXT NOT NULL,
     reason TEXT,
     resumed_ms INTEGER,
     spec TEXT NOT NULL
   );
   CREATE TABLE rollout_waves (
     rollout_id TEXT NOT NULL,
     wave INTEGER NOT NULL,
     opened_ms INTEGER,
     admitted INTEGER NOT NULL,
     PRIMARY KEY (rollout_id, wave)
   );
   CREATE TABLE rollout_members (
     rollout_id TEXT NOT NULL,
     instance_uid TEXT NOT NULL,
     wave INTEGER NOT NULL,
     not_before_ms INTEGER NOT NULL,
     generation INTEGER NOT NULL,
     state TEXT NOT NULL,
     state_ms INTEGER NOT NULL,
     from_version TEXT NOT NULL,
     detail TEXT NOT NULL,
     PRIMARY KEY (rollout_id, instance_uid)
   );
   CREATE INDEX rollout_members_state ON rollout_members (rollout_id, state, state_ms);
   CREATE TABLE rollout_state_history (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     instance_uid TEXT NOT NULL,
     at_ms INTEGER NOT NULL,
     change TEXT NOT NULL
   );
   CREATE INDEX rollout_state_history_agent ON rollout_state_history (instance_uid, id);`;
