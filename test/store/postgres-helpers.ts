// PostgreSQL for the store tests: the URL comes from OPAMP_TEST_POSTGRES_URL (.ci/run sets it),
// and every test gets a schema of its own, dropped when the test file ends.
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { Test } from 'tap';

export const POSTGRES_URL = process.env.OPAMP_TEST_POSTGRES_URL;

export const SKIP_REASON =
  'PostgreSQL tests skipped: OPAMP_TEST_POSTGRES_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test; .ci/run sets it)';

/** A fresh schema name, unique to this process and call. */
export function schemaName(label: string): string {
  return `opamp_test_${label}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** The URL of `schema`, as --store takes it. */
export function schemaUrl(schema: string): string {
  const url = new URL(POSTGRES_URL!);
  url.searchParams.set('schema', schema);
  return url.toString();
}

/** Creates the schema now and drops it (with everything in it) when `t` ends. */
export async function ownSchema(t: Test, label: string): Promise<string> {
  const schema = schemaName(label);
  await run(`CREATE SCHEMA "${schema}"`);
  t.teardown(() => run(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
  return schema;
}

async function run(sql: string): Promise<void> {
  const client = new Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
