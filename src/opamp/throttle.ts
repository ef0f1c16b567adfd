// Load shedding on the OpAMP route, as the spec's Throttling section asks: per-agent and
// optional per-address rate limits (@fastify/rate-limit's limiter), and a 503 before the process
// itself falls over (@fastify/under-pressure's measurements). The route calls these checks
// itself: it runs on node:http directly, outside Fastify's hooks. Every refusal is a
// ServerError, so the route answers it like any other: status from the error table,
// Retry-After, and a ServerToAgent whose retry_info says the same.
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ServerError } from '../errors';

export interface RateLimitSetting {
  max: number;
  windowMs: number;
}

export interface ThrottleOptions {
  /** Polls a minute per agent (undefined: off). */
  perAgent: RateLimitSetting | undefined;
  /** Requests per client address (undefined: off); behind a proxy every agent shares one. */
  perAddress: RateLimitSetting | undefined;
  /** Event-loop delay in ms past which the process sheds load (0: off). */
  maxEventLoopDelayMs: number;
  /** Heap use in bytes past which the process sheds load (0: off). */
  maxHeapUsedBytes: number;
  /** Store round trip in ms past which the process sheds load (0: off). */
  maxStoreLatencyMs: number;
  /** One cheap store round trip, timed every few seconds when maxStoreLatencyMs is set. */
  storeProbe: () => Promise<unknown>;
  retryAfterSeconds: () => number;
}

/** The checks, each absent when its setting is off. */
export interface Throttle {
  /** Before the body is read. */
  overloaded?: () => ServerError | undefined;
  /** Before the body is read, by client address. */
  limitAddress?: (address: string) => Promise<ServerError | undefined>;
  /** Once the body is decoded, by the agent's canonical uid. */
  limitAgent?: (instanceUid: string) => Promise<ServerError | undefined>;
}

/** How long after start a slow event loop is not taken for overload. */
const STARTUP_GRACE_MS = 10_000;

type Limiter = (key: string) => Promise<boolean>;

/** A limiter over @fastify/rate-limit's store, keyed on whatever the caller passes. */
function limiter(scope: FastifyInstance, setting: RateLimitSetting): Limiter {
  const check = scope.createRateLimit({
    max: setting.max,
    timeWindow: setting.windowMs,
    keyGenerator: (request) => (request as unknown as { limitKey: string }).limitKey,
  });
  return async (key) => {
    // A stand-in for a FastifyRequest: the limiter reads only routeOptions.config and what our
    // keyGenerator reads, and the OpAMP route has no Fastify request to give it.
    const request = { limitKey: key, routeOptions: { config: {} } } as unknown as FastifyRequest;
    const result = await check(request);
    return !result.isAllowed && result.isExceeded;
  };
}

function refusal(exceeded: Limiter, what: string, retryAfterSeconds: () => number) {
  return async (key: string): Promise<ServerError | undefined> =>
    (await exceeded(key))
      ? new ServerError('RATE_LIMITED', `too many requests ${what}; retry later`, { retryAfterSeconds: retryAfterSeconds() })
      : undefined;
}

/** Sets up what is switched on, in a scope of its own that no route shares. */
export async function createThrottle(app: FastifyInstance, options: ThrottleOptions): Promise<Throttle> {
  const throttle: Throttle = {};
  await app.register(async (scope) => {
    if (options.maxEventLoopDelayMs > 0 || options.maxHeapUsedBytes > 0 || options.maxStoreLatencyMs > 0) {
      const storeCheck = options.maxStoreLatencyMs > 0
        ? {
            healthCheckInterval: 5000,
            healthCheck: async () => {
              const started = performance.now();
              await options.storeProbe();
              return performance.now() - started <= options.maxStoreLatencyMs;
            },
          }
        : {};
      await scope.register(underPressure, {
        maxEventLoopDelay: options.maxEventLoopDelayMs,
        maxHeapUsedBytes: options.maxHeapUsedBytes,
        ...storeCheck,
      });
      const startedAt = performance.now();
      throttle.overloaded = () => {
        if (!scope.isUnderPressure()) return undefined;
        const usage = scope.memoryUsage();
        let type = 'storeLatency';
        if (options.maxEventLoopDelayMs > 0 && usage.eventLoopDelay > options.maxEventLoopDelayMs) {
          // Start-up itself (loading modules, compiling schemas, the first catalog scan) blocks
          // the loop for a moment; that is not overload, and shedding the first polls would be wrong.
          if (performance.now() - startedAt < STARTUP_GRACE_MS) return undefined;
          type = 'eventLoopDelay';
        } else if (options.maxHeapUsedBytes > 0 && usage.heapUsed > options.maxHeapUsedBytes) {
          type = 'heapUsedBytes';
        }
        return new ServerError('OVERLOADED', `the server is overloaded (${type}); retry later`, {
          retryAfterSeconds: options.retryAfterSeconds(),
        });
      };
    }
    if (options.perAddress || options.perAgent) {
      // Not global: no Fastify route is limited, only what the OpAMP route asks about.
      await scope.register(rateLimit, { global: false });
      if (options.perAddress) {
        throttle.limitAddress = refusal(limiter(scope, options.perAddress), 'from this address', options.retryAfterSeconds);
      }
      if (options.perAgent) {
        throttle.limitAgent = refusal(limiter(scope, options.perAgent), 'from this agent', options.retryAfterSeconds);
      }
    }
  });
  return throttle;
}
