// The store contract on the embedded SQLite store: each test on a fresh data directory.
import t from 'tap';
import { SqliteStore } from '../../src/store/sqlite';
import { temporaryDirectory } from '../helpers/server';
import { storeContract } from './contract';

storeContract(t, async () => {
  const dataDir = temporaryDirectory('opamp-store-');
  return {
    shared: false,
    open: async (options = {}) => new SqliteStore({ dataDir, writeBatchMs: options.writeBatchMs }),
  };
});
