// The rollout store contract on the embedded SQLite store: each test on a fresh data directory.
import t from 'tap';
import { SqliteStore } from '../../src/store/sqlite';
import { temporaryDirectory } from '../helpers/server';
import { rolloutContract } from './rollout-contract';

rolloutContract(t, async () => {
  const dataDir = temporaryDirectory('opamp-rollout-store-');
  return {
    shared: false,
    open: async (options = {}) => new SqliteStore({ dataDir, writeBatchMs: options.writeBatchMs }),
  };
});
