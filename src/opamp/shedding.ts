// Load shedding on the OpAMP route, as the spec's Throttling section asks: per-agent and
// per-address rate limits (@fastify/rate-limit) and a 503 before the process itself falls over
// (@fastify/under-pressure), both registered in the route's own scope so no other route of the
// application is touched. Every refusal is a ServerError, so the route answers it like any
// other: status from the error table, Retry-After, and a ServerToAgent whose retry_info says
// the same.
import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { ServerError } from '../errors';
import { GenerationalRateStore } from './rate-store';

export interface RateSetting {
  max: number;
  windowMs: number;
}

export interface RateLimitSettings {
  /** Polls per agent (by decoded instance uid); absent: off. */
  perAgent?: RateSetting;
  /** Requests per client address, before the body is read; absent: off. */
  perAddress?: RateSetting;
  /**
   * Keys each limiter keeps (the least recently seen are forgotten past it). An agent forgotten
   * starts a fresh window, so this should be at least the fleet; a misbehaving agent polls too
   * often to ever be the least recently seen.
   */
  trackedKeys: number;
}

export interface OverloadSettings {
  /** Event-loop delay in ms past which polls are shed (0: off). */
  maxEventLoopDelayMs: number;
  /** Heap use in bytes past which polls are shed (0: off). */
  maxHeapUsedBytes: number;
  /** Store round trip in ms past which polls are shed (0: off). */
  maxStoreLatencyMs: number;
  /** One cheap store round trip, timed every few seconds when maxStoreLatencyMs is set. */
  storeProbe?: () => Promise<unknown>;
}

export interface SheddingOptions {
  rateLimit: RateLimitSettings | undefined;
  overload: OverloadSettings | undefined;
  retryAfterSeconds: () => number;
  /** The per-agent limit's key, read once the body is decoded. */
  agentKey: (request: FastifyRequest) => string;
}

/** How long after start a slow event loop is not taken for overload. */
const STARTUP_GRACE_MS = 10_000;

/** @fastify/rate-limit's headers are off: a refusal carries our own Retry-After, with jitter. */
const NO_HEADERS = {
  'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false, 'retry-after': false,
} as const;

function limiterSettings(
  setting: RateSetting,
  trackedKeys: number,
  what: string,
  retryAfterSeconds: () => number,
): RateLimitOptions & { cache: number } {
  return {
    max: setting.max,
    timeWindow: setting.windowMs,
    // Read by the store of a route's own limiter; without it each limiter keeps 5,000 keys.
    cache: trackedKeys,
    errorResponseBuilder: () =>
      new ServerError('RATE_LIMITED', `too many requests ${what}; retry later`, { retryAfterSeconds: retryAfterSeconds() }),
  };
}

async function registerOverload(scope: FastifyInstance, overload: OverloadSettings, retryAfterSeconds: () => number): Promise<void> {
  const { maxEventLoopDelayMs, maxHeapUsedBytes, maxStoreLatencyMs, storeProbe } = overload;
  if (maxEventLoopDelayMs <= 0 && maxHeapUsedBytes <= 0 && !(maxStoreLatencyMs > 0 && storeProbe)) return;
  const startedAt = performance.now();
  const storeCheck = maxStoreLatencyMs > 0 && storeProbe
    ? {
        healthCheckInterval: 5000,
        healthCheck: async () => {
          const started = performance.now();
          await storeProbe();
          return performance.now() - started <= maxStoreLatencyMs;
        },
      }
    : {};
  await scope.register(underPressure, {
    maxEventLoopDelay: maxEventLoopDelayMs,
    maxHeapUsedBytes,
    ...storeCheck,
    // Returning nothing lets the request through; a rejection is answered by the route's error handler.
    pressureHandler: (_request, _reply, type) => {
      // Start-up itself (loading modules, compiling schemas, the first catalog scan) blocks the
      // loop for a moment; that is not overload, and shedding the first polls would be wrong.
      if (type === 'eventLoopDelay' && performance.now() - startedAt < STARTUP_GRACE_MS) return undefined;
      const reason = type === 'healthCheck' ? 'storeLatency' : type;
      // A rejection is how the plugin passes an error on to the route's error handler.
      return Promise.reject(new ServerError('OVERLOADED', `the server is overloaded (${reason}); retry later`, {
        retryAfterSeconds: retryAfterSeconds(),
      }));
    },
  });
}

/**
 * Registers what is switched on in the route's scope; returns what the route itself takes (the
 * per-address limiter on onRequest, the per-agent limiter in the route's config).
 */
export async function registerShedding(scope: FastifyInstance, options: SheddingOptions): Promise<{ routeOptions: RouteShorthandOptions }> {
  const { rateLimit: limits, retryAfterSeconds } = options;
  if (options.overload) await registerOverload(scope, options.overload, retryAfterSeconds);
  const routeOptions: RouteShorthandOptions = {};
  if (limits?.perAddress) {
    const perAddress = limits.perAddress;
    // A registration of its own: one registration marks a request as limited once, so the
    // per-agent limiter of the route's registration would otherwise skip it.
    await scope.register(async (addressScope) => {
      await addressScope.register(rateLimit, { global: false, store: GenerationalRateStore, addHeaders: NO_HEADERS, addHeadersOnExceeding: NO_HEADERS });
      routeOptions.onRequest = addressScope.rateLimit(limiterSettings(perAddress, limits.trackedKeys, 'from this address', retryAfterSeconds));
    });
  }
  if (limits?.perAgent) {
    await scope.register(rateLimit, { global: false, store: GenerationalRateStore, addHeaders: NO_HEADERS, addHeadersOnExceeding: NO_HEADERS });
    routeOptions.config = {
      rateLimit: {
        ...limiterSettings(limits.perAgent, limits.trackedKeys, 'from this agent', retryAfterSeconds),
        hook: 'preHandler',
        keyGenerator: options.agentKey,
      },
    };
  }
  return { routeOptions };
}
