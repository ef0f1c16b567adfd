// Chooses the store from --store: the embedded SQLite file in --data-dir, or a shared
// PostgreSQL database that several instances use at once; and the rollout store beside it.
import type { Logger } from 'pino';
import type { ServeConfig } from '../config';
import { PostgresStore, redactUrl } from './postgres';
import type { RolloutStore } from './rollouts';
import { SqliteStore } from './sqlite';
import type { AgentStore } from './types';

export function isPostgresUrl(text: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(text);
}

/** Where the store lives, fit for a log line (no password). */
export function describeStore(config: Pick<ServeConfig, 'store' | 'dataDir'>): string {
  return isPostgresUrl(config.store) ? redactUrl(config.store) : `sqlite in ${config.dataDir}`;
}

/** What openStore opened: the agent store and the rollout store on its database (file or pool). */
export interface OpenedStores {
  kind: 'sqlite' | 'postgres';
  agents: AgentStore;
  /** Shares the agent store's database and lives as long as it: closing `agents` closes both. */
  rollouts: RolloutStore;
}

export async function openStore(
  config: Pick<ServeConfig, 'store' | 'dataDir' | 'writeBatchMs'> & Partial<Pick<ServeConfig, 'routineWriteMs'>>,
  logger: Logger,
): Promise<OpenedStores> {
  const onError = (error: unknown): void => logger.error({ err: error }, 'batched store write failed; will retry');
  if (isPostgresUrl(config.store)) {
    const store = await PostgresStore.open({ url: config.store, writeBatchMs: config.writeBatchMs, onError });
    logger.info({ store: redactUrl(config.store) }, 'store: PostgreSQL');
    return { kind: 'postgres', agents: store, rollouts: store.rolloutStore() };
  }
  const store = new SqliteStore({ dataDir: config.dataDir, writeBatchMs: config.writeBatchMs, routineWriteMs: config.routineWriteMs, onError });
  return { kind: 'sqlite', agents: store, rollouts: store.rolloutStore() };
}
