// buildApp assembles the server from a resolved configuration: the store and the services on
// it, then each part (store life, metrics, OpAMP route, downloads, admin API) as a plugin.
// main.ts starts it; tests build it on an ephemeral port and drive it over HTTP.
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type https from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyHttpOptions, type FastifyInstance } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import pino, { type Logger } from 'pino';
import { adminApi } from './admin';
import { AdminKeys } from './admin/auth';
import { serverVersion } from './admin/openapi';
import { AgentKeys } from './auth/agent-keys';
import { DOWNLOAD_TOKEN_SECRET, DownloadTokens } from './auth/tokens';
import type { ServeConfig } from './config';
import { ServerError, retryAfterWithJitter } from './errors';
import { capConnections, fastifyListenerOptions, serverOptions } from './listener';
import { Metrics } from './metrics';
import { httpsOptions, manageTls } from './tls';
import { CONSOLE_PREFIX, consolePlugin } from './console/plugin';
import { createPollService } from './opamp/poll';
import { opampRoute, type OpampRouteOptions } from './opamp/route';
import type { OfferProvider } from './packages/offer-provider';
import { downloadRoute } from './packages/download';
import { createPackageServices, type PackageServices } from './packages/setup';
import { openStore } from './store/open';
import type { AgentStore } from './store/types';
import { RolloutService } from './rollouts/service';

export { KEEP_ALIVE_TIMEOUT_MS } from './listener';

export interface BuiltApp {
  app: FastifyInstance;
  store: AgentStore;
  logger: Logger;
  packages: PackageServices | undefined;
  metrics: Metrics;
  agentKeys: AgentKeys;
  /** Every route as registered, with its schema (the OpenAPI tests compare them with the documents). */
  routes: Array<{ method: string; url: string; schema: unknown }>;
  /** Forgets agents unseen for --forget-agents-after now (it also runs on a timer). */
  forgetStaleAgents(): Promise<number>;
  /** Rollouts, on the same store as the agents; tests call tick() to evaluate now. */
  rollouts: RolloutService;
}

export interface BuildOptions {
  /** A logger to use instead of pino on stdout (tests pass a silent or capturing one). */
  logger?: Logger;
  offers?: OfferProvider;
  /** The clock of polls, tokens and agent states (tests move it). */
  now?: () => number;
  /** How often key files are checked for changes (tests shorten it). */
  keyFileIntervalMs?: number;
  /** How often rollouts are reread from the store and evaluated (default 1 s). */
  rolloutRefreshMs?: number;
}

/** Between 1 s and 1 h: often enough for a short --forget-agents-after, rare for the default. */
function sweepIntervalMs(forgetAfterMs: number): number {
  return Math.min(Math.max(Math.floor(forgetAfterMs / 4), 1000), 3_600_000);
}

function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(header.trim())?.[1];
}

/**
 * HTTPS when --tls-cert is given, else HTTP, with the listener's limits either way. Fastify's
 * types tell the two apart by generics; the instance is typed as the HTTP one, whose API the
 * HTTPS server shares.
 */
function listenerProtocol(config: ServeConfig): Pick<FastifyHttpOptions<http.Server>, 'http'> {
  const tls = httpsOptions(config);
  if (tls === undefined) return { http: serverOptions(config) };
  return { https: { ...tls, ...serverOptions(config) } } as unknown as Pick<FastifyHttpOptions<http.Server>, 'http'>;
}

/**
 * Fastify's construction options, all in one place (listener, logging, proxy trust, closing).
 * Nothing is wrapped around Fastify's server: every route, POST /v1/opamp included, is a route.
 */
export function fastifyOptions(config: ServeConfig, logger: Logger): FastifyHttpOptions<http.Server> {
  return {
    // pino's Logger is a FastifyBaseLogger; the cast only widens the instance's generic type.
    loggerInstance: logger as FastifyBaseLogger,
    // A line per poll would drown the log; the OpAMP route logs what matters itself.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request: building one costs more than the rest of a poll's logging,
    // and every line the routes write names the agent (or admin key) itself.
    childLoggerFactory: (parent) => parent,
    ...fastifyListenerOptions(config),
    ...listenerProtocol(config),
    // Named in error answers and in the log lines that hold their details; the run's own tag
    // keeps ids of one run apart from the last.
    genReqId: requestIds(),
    trustProxy: config.trustProxy,
    // A download's file name may be as long as a file system allows (255 bytes); Fastify's
    // default of 100 would answer 414 for such a package's offered URL.
    routerOptions: { maxParamLength: 512 },
    // The OpAMP route answers its own 503 while stopping, as a ServerToAgent with Retry-After.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  };
}

/** Request ids: a tag of this run, then a counter (cheap enough for every poll). */
function requestIds(): () => string {
  const run = randomBytes(3).toString('hex');
  let count = 0;
  return () => {
    count += 1;
    return `${run}-${count.toString(36)}`;
  };
}

/** What the plugins share: the store and the services built on it, opened before any route. */
interface Services {
  store: AgentStore;
  packages: PackageServices | undefined;
  metrics: Metrics;
  agentKeys: AgentKeys;
  adminKeys: AdminKeys;
  tokens: DownloadTokens;
  rollouts: RolloutService;
}

async function openServices(config: ServeConfig, logger: Logger, options: BuildOptions, now: () => number): Promise<Services> {
  // Policy and trusted root are checked before anything opens, so a bad option fails fast.
  const packages = await createPackageServices(config, logger);
  const metrics = new Metrics();
  const opened = await openStore(config, logger);
  const store = metrics.instrumentStore(opened.agents);
  const agentKeys = await AgentKeys.open({
    store, logger, file: config.agentKeysFile, mode: config.agentAuth, fileIntervalMs: options.keyFileIntervalMs,
  });
  const adminKeys = new AdminKeys(config.adminKeysFile, logger, options.keyFileIntervalMs);
  const secret = await store.getOrCreateSecret(DOWNLOAD_TOKEN_SECRET, () => randomBytes(32));
  const tokens = new DownloadTokens({ secret, lifetimeMs: config.downloadTokenLifetime, now });
  const rollouts = new RolloutService({
    store: opened.rollouts, agents: store, offers: packages?.offers, now, stuckAfterMs: config.stuckAfter,
    refreshMs: options.rolloutRefreshMs ?? 1000, logger,
  });
  return { store, packages, metrics, agentKeys, adminKeys, tokens, rollouts };
}

/** The store's life in the app: rollouts started, stale agents forgotten on a timer, all closed last. */
const storePlugin = fastifyPlugin<{ services: Services; config: ServeConfig; forget: () => Promise<number> }>(
  async (app, { services, config, forget }) => {
    const { store, rollouts, agentKeys, adminKeys, packages } = services;
    const sweep = setInterval(() => {
      forget().catch((error: unknown) => app.log.error({ err: error }, 'could not forget stale agents'));
    }, sweepIntervalMs(config.forgetAgentsAfter));
    sweep.unref();
    await rollouts.start();
    // The release cache never evicts a version a rollout or a pinned --offer still offers.
    packages?.releases?.protect(() => [
      ...(config.offer === 'none' || config.offer === 'latest' ? [] : [config.offer]),
      ...rollouts.list().filter((rollout) => rollout.status !== 'cancelled').map((rollout) => rollout.spec.version),
    ]);
    // The feed is asked in the background: start-up offers what is cached without waiting for it.
    packages?.releases?.start();
    app.addHook('onClose', async () => {
      clearInterval(sweep);
      rollouts.stop();
      agentKeys.close();
      adminKeys.close();
      await packages?.catalog.close();
      await store.close();
    });
  },
  { name: 'opamp-package-server/store' },
);

/** Metrics hooks and the collectors that read the store and the catalog. */
const metricsPlugin = fastifyPlugin<{ services: Services; config: ServeConfig; now: () => number }>(
  async (app, { services, config, now }) => {
    services.metrics.registerHooks(app);
    services.metrics.trackAgents(services.store, config.agentOfflineAfter, now);
    if (services.packages) services.metrics.watchCatalog(services.packages.catalog);
    if (services.packages?.releases) services.metrics.watchReleaseFeed(services.packages.releases);
  },
  { name: 'opamp-package-server/metrics' },
);

/** The OpAMP route's options as `serve` configures it. */
function opampOptions(config: ServeConfig, services: Services, logger: Logger, options: BuildOptions, now: () => number): OpampRouteOptions {
  const { store, agentKeys, tokens, metrics } = services;
  const poll = createPollService({
    store,
    offers: options.offers ?? services.packages?.offers,
    rollouts: services.rollouts,
    offlineAfterMs: config.agentOfflineAfter,
    // A token only goes with a URL of this server: never to a release feed (passthrough delivery).
    downloadHeaders: (instanceUid, sha256Hex) =>
      agentKeys.enabled && services.packages?.catalog.servesItself(sha256Hex) !== false
        ? { Authorization: `Bearer ${tokens.issue(instanceUid, sha256Hex)}` }
        : undefined,
    observer: metrics.observer,
    logger,
    now,
  });
  return {
    poll,
    maxMessageBytes: config.maxMessageBytes,
    maxResponseBytes: config.maxResponseBytes,
    coalesceAnswers: config.coalesceAnswers,
    publicUrl: config.publicUrl,
    trustProxy: config.trustProxy,
    // With --agent-auth none there is no check at all: the poll path stays as it was.
    authenticate: config.agentAuth === 'none'
      ? undefined
      : (authorization) => !agentKeys.enabled || agentKeys.identify(authorization) !== undefined,
    rateLimit: {
      perAgent: config.rateLimitPerAgent,
      perAddress: config.rateLimitPerAddress,
      trackedKeys: config.rateLimitTrackedKeys,
    },
    overload: {
      maxEventLoopDelayMs: config.overloadEventLoopDelay,
      maxHeapUsedBytes: config.overloadHeapUsed,
      maxStoreLatencyMs: config.overloadStoreLatency,
      storeProbe: () => store.getAgent('00000000-0000-0000-0000-000000000000'),
    },
    retryAfterSeconds: retryAfterWithJitter,
    observer: metrics.observer,
  };
}

/** The server: the shared services, then each part registered as a plugin. */
export async function buildApp(config: ServeConfig, options: BuildOptions = {}): Promise<BuiltApp> {
  const logger = options.logger ?? pino({ level: config.logLevel });
  const now = options.now ?? Date.now;
  // The TLS files are checked before anything opens, so a bad one fails fast and leaves nothing running.
  httpsOptions(config);
  const services = await openServices(config, logger, options, now);
  const { store, packages, metrics, agentKeys, adminKeys, tokens, rollouts } = services;
  logStartupAuth(logger, config, agentKeys, adminKeys);

  const app: FastifyInstance = Fastify(fastifyOptions(config, logger));
  capConnections(app.server, config.maxConnections, logger);
  if (config.tlsCert !== undefined) {
    const stopWatching = manageTls(app.server as unknown as https.Server, config, logger);
    app.addHook('onClose', async () => stopWatching());
  }
  const routes: BuiltApp['routes'] = [];
  app.addHook('onRoute', (route) => {
    // The console's files are pages, not operations of the API: the README describes them.
    if (route.url === '/ui' || route.url.startsWith(CONSOLE_PREFIX)) return;
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, schema: route.schema });
  });
  const forgetStaleAgents = async (): Promise<number> => {
    const forgotten = await store.forgetAgentsUnseenSince(now() - config.forgetAgentsAfter);
    if (forgotten > 0) logger.info({ forgotten }, `forgot ${forgotten} agent(s) unseen for --forget-agents-after`);
    return forgotten;
  };

  await app.register(storePlugin, { services, config, forget: forgetStaleAgents });
  await app.register(metricsPlugin, { services, config, now });
  await app.register(opampRoute, opampOptions(config, services, logger, options, now));
  if (packages) {
    await app.register(downloadRoute, {
      catalog: packages.catalog,
      authorize: (request, entry) => {
        if (!agentKeys.enabled) return;
        const check = tokens.check(bearerToken(request.headers.authorization), entry.sha256Hex);
        if (!check.valid) throw new ServerError('UNAUTHORIZED', check.reason);
      },
    });
  }
  await app.register(adminApi, {
    store, agentKeys, adminKeys, packages, metrics, offlineAfterMs: config.agentOfflineAfter, now, version: serverVersion(), rollouts,
  });
  if (config.ui) await app.register(consolePlugin, {});
  return { app, store, logger, packages, metrics, agentKeys, routes, forgetStaleAgents, rollouts };
}

function logStartupAuth(logger: Logger, config: ServeConfig, agentKeys: AgentKeys, adminKeys: AdminKeys): void {
  if (config.agentAuth === 'none') {
    logger.warn('--agent-auth none: agents poll and download without any key');
  } else if (!agentKeys.enabled) {
    logger.warn('no agent key exists: polls are accepted without a key until one is added (--agent-keys-file or POST /api/v1/agent-keys)');
  } else {
    logger.info({ agentKeys: agentKeys.list().length }, 'agent auth on: polls need an agent key, downloads a token');
  }
  if (adminKeys.size === 0) {
    logger.info('no admin key configured (--admin-keys-file): the admin API answers only on loopback');
  } else {
    logger.info({ adminKeys: adminKeys.size }, 'admin API needs an admin key');
  }
}
