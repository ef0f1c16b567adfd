// The rollout store contract on PostgreSQL, each test in a schema of its own; the races between
// instances run with two stores (two pools) on that one schema.
import t from 'tap';
import { PostgresStore } from '../../src/store/postgres';
import { POSTGRES_URL, SKIP_REASON, ownSchema, schemaUrl } from './postgres-helpers';
import { rolloutContract } from './rollout-contract';

if (POSTGRES_URL === undefined) {
  t.plan(0, SKIP_REASON);
} else {
  rolloutContract(t, async (t) => {
    const schema = await ownSchema(t, 'rollouts');
    return {
      shared: true,
      open: (options = {}) => PostgresStore.open({ url: schemaUrl(schema), writeBatchMs: options.writeBatchMs }),
    };
  });
}
