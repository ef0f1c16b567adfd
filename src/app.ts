// buildApp assembles the server from a resolved configuration: store, package catalog, routes.
// main.ts starts it; tests build it on an ephemeral port and drive it over HTTP.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { ServeConfig } from './config';
import { registerOpampRoute, type OfferProvider } from './opamp/transport';
import { registerDownloadRoute } from './packages/download';
import { createPackageServices, type PackageServices } from './packages/setup';
import { SqliteStore } from './store/sqlite';
import type { AgentStore } from './store/types';

/** Idle kept-alive connections stay open past the agents' 30 s poll, so none is closed under a reuse. */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** 30 s (the spec's minimum) plus up to 30 s of jitter, so a reconnect storm comes back spread out. */
export function retryAfterWithJitter(): number {
  return 30 + Math.floor(Math.random() * 31);
}

export interface BuiltApp {
  app: FastifyInstance;
  store: AgentStore;
  logger: Logger;
  packages: PackageServices | undefined;
}

export interface BuildOptions {
  /** A logger to use instead of pino on stdout (tests pass a silent or capturing one). */
  logger?: Logger;
  offers?: OfferProvider;
}

export async function buildApp(config: ServeConfig, options: BuildOptions = {}): Promise<BuiltApp> {
  const logger = options.logger ?? pino({ level: config.logLevel });
  // Policy and trusted root are checked before anything opens, so a bad option fails fast.
  const packages = await createPackageServices(config, logger);
  const store = new SqliteStore({
    dataDir: config.dataDir,
    onError: (error) => logger.error({ err: error }, 'batched store write failed; will retry'),
  });
  const app: FastifyInstance = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast only widens the instance's generic type.
    loggerInstance: logger as FastifyBaseLogger,
    // A line per poll would drown the log; the OpAMP route logs what matters itself.
    logController: new LogController({ disableRequestLogging: true }),
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    trustProxy: config.trustProxy,
    // The OpAMP route answers its own 503 while stopping, as a ServerToAgent with Retry-After.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  });
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onClose', async () => {
    await packages?.catalog.close();
    await store.close();
  });

  await registerOpampRoute(app, {
    store,
    offers: options.offers ?? packages?.offers,
    maxMessageBytes: config.maxMessageBytes,
    maxResponseBytes: config.maxResponseBytes,
    offlineAfterMs: config.agentOfflineAfter,
    publicUrl: config.publicUrl,
    trustProxy: config.trustProxy,
    isClosing: () => closing,
    retryAfterSeconds: retryAfterWithJitter,
  });
  if (packages) await registerDownloadRoute(app, { catalog: packages.catalog });
  return { app, store, logger, packages };
}
