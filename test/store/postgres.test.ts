// The store contract on PostgreSQL, each test in a schema of its own; plus what only a shared
// database has: migrations raced by several instances at once.
import t from 'tap';
import { Client, Pool } from 'pg';
import { PostgresStore } from '../../src/store/postgres';
import { SCHEMA_VERSION, migrate } from '../../src/store/postgres-schema';
import { storeContract } from './contract';
import { POSTGRES_URL, SKIP_REASON, ownSchema, schemaUrl } from './postgres-helpers';

if (POSTGRES_URL === undefined) {
  t.plan(0, SKIP_REASON);
} else {
  storeContract(t, async (t) => {
    const schema = await ownSchema(t, 'contract');
    return {
      shared: true,
      open: (options = {}) => PostgresStore.open({ url: schemaUrl(schema), writeBatchMs: options.writeBatchMs }),
      stallBatchAt: async (instanceUid) => {
        const holder = new Client({ connectionString: POSTGRES_URL, options: `-c search_path=${schema}` });
        await holder.connect();
        await holder.query('BEGIN');
        await holder.query('SELECT 1 FROM agents WHERE instance_uid = $1 FOR UPDATE', [instanceUid]);
        const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        // Activity is read from a connection of its own: inside the holder's transaction it would
        // be the snapshot taken at its first read.
        const watcher = new Client({ connectionString: POSTGRES_URL });
        await watcher.connect();
        return {
          waiting: async () => {
            const blocked = await watcher.query<{ count: number }>(
              'SELECT count(*)::integer AS count FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
              [holderPid],
            );
            return blocked.rows[0]!.count > 0;
          },
          release: async () => {
            await holder.query('ROLLBACK');
            await Promise.all([holder.end(), watcher.end()]);
          },
        };
      },
    };
  });

  t.test('five instances starting together migrate once', async (t) => {
    const schema = await ownSchema(t, 'migrate');
    const pools = Array.from({ length: 5 }, () => new Pool({ connectionString: POSTGRES_URL, options: `-c search_path=${schema}` }));
    t.teardown(() => Promise.all(pools.map((pool) => pool.end())));
    const applied = await Promise.all(pools.map((pool) => migrate(pool, schema)));
    t.same(applied.flat(), Array.from({ length: SCHEMA_VERSION }, (_, index) => index + 1), 'each version applied by exactly one');
    const rows = await pools[0]!.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    t.same(rows.rows.map((row) => row.version), Array.from({ length: SCHEMA_VERSION }, (_, index) => index + 1));
    t.same(await migrate(pools[1]!, schema), [], 'a later start has nothing to do');
  });

  t.test('a schema from a newer build is refused, naming the database without its password', async (t) => {
    const schema = await ownSchema(t, 'newer');
    const store = await PostgresStore.open({ url: schemaUrl(schema) });
    await store.close();
    const pool = new Pool({ connectionString: POSTGRES_URL, options: `-c search_path=${schema}` });
    await pool.query('INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, 0)', [SCHEMA_VERSION + 1]);
    await pool.end();
    const url = new URL(schemaUrl(schema));
    url.password = 'secret-password';
    const error = await PostgresStore.open({ url: url.toString() }).then(
      () => undefined,
      (failure: unknown) => failure as Error & { code?: string },
    );
    t.equal(error?.code, 'STORE_FAILURE');
    t.match(error?.message, /newer version/);
    t.notMatch(error?.message, /secret-password/, 'the password is not in the message');
  });

  t.test('an unreachable database fails the start with STORE_FAILURE', async (t) => {
    await t.rejects(PostgresStore.open({ url: 'postgres://postgres@127.0.0.1:1/test' }), { code: 'STORE_FAILURE' });
  });
}
