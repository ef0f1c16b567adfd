// Chooses the store from --store: the embedded SQLite file in --data-dir, or a shared
// PostgreSQL database that several instances use at once; and the rollout store beside it.
import type { Logger } from 'pino';
import type { ServeConfig } from '../config';
import { PostgresStore, redactUrl } from './postgres';
import { PostgresRolloutStore } from './postgres-rollouts';
import type { RolloutStore } from './rollouts';
import { SqliteStore } from './sqlite';
import { SqliteRolloutStore } from './sqlite-rollouts';
import type { AgentStore } from './types';

export function isPostgresUrl(text: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(text);
}

/** Where the store lives, fit for a log line (no password). */
export function describeStore(config: Pick<ServeConfig, 'store' | 'dataDir'>): string {
  return isPostgresUrl(config.store) ? redactUrl(config.store) : `sqlite in ${config.dataDir}`;
}

export async function openStore(
  config: Pick<ServeConfig, 'store' | 'dataDir' | 'writeBatchMs'>,
  logger: Logger,
): Promise<AgentStore> {
  const onError = (error: unknown): void => logger.error({ err: error }, 'batched store write failed; will retry');
  if (isPostgresUrl(config.store)) {
    const store = await PostgresStore.open({ url: config.store, writeBatchMs: config.writeBatchMs, onError });
    logger.info({ store: redactUrl(config.store) }, 'store: PostgreSQL');
    return store;
  }
  return new SqliteStore({ dataDir: config.dataDir, writeBatchMs: config.writeBatchMs, onError });
}

/** The rollout store on the agent store's own database (file or pool), so both share one truth. */
export function openRolloutStore(store: AgentStore): RolloutStore {
  // instanceof sees through the metrics proxy, which forwards prototype lookups to the store.
  if (store instanceof PostgresStore) return new PostgresRolloutStore(store.handle);
  if (store instanceof SqliteStore) return new SqliteRolloutStore(store.handle);
  throw new Error('the agent store has no rollout store beside it');
}
