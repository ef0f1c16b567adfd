// Load shedding on the OpAMP route, as the spec's Throttling section asks: per-agent and
// optional per-address rate limits (@fastify/rate-limit), and a 503 before the process itself
// falls over (@fastify/under-pressure). Every refusal is a ServerError, so the route answers
// it like any other: status from the error table, Retry-After, and a ServerToAgent whose
// retry_info says the same.
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

/** How long after start a slow event loop is not taken for overload. */
const STARTUP_GRACE_MS = 10_000;

declare module 'fastify' {
  interface FastifyRequest {
    /** Canonical uid of the agent, once the body is decoded; the per-agent limit keys on it. */
    opampInstanceUid?: string;
  }
}

function limited(retryAfterSeconds: () => number, what: string): () => ServerError {
  return () => new ServerError('RATE_LIMITED', `too many requests ${what}; retry later`, { retryAfterSeconds: retryAfterSeconds() });
}

/** The plugin's settings: its own headers off, since the route's answer carries Retry-After. */
function limitSettings(
  setting: RateLimitSetting,
  hook: 'onRequest' | 'preHandler',
  keyGenerator: (request: FastifyRequest) => string,
  errorResponseBuilder: () => ServerError,
) {
  const off = { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false };
  return {
    global: true,
    hook,
    max: setting.max,
    timeWindow: setting.windowMs,
    keyGenerator,
    addHeaders: { ...off, 'retry-after': false },
    addHeadersOnExceeding: off,
    errorResponseBuilder,
  };
}

/** Registers the shedding, then the route itself through `inner`, inside the per-agent limit. */
export async function registerThrottling(
  scope: FastifyInstance,
  options: ThrottleOptions,
  inner: (child: FastifyInstance) => Promise<void>,
): Promise<void> {
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
    const startedAt = performance.now();
    await scope.register(underPressure, {
      maxEventLoopDelay: options.maxEventLoopDelayMs,
      maxHeapUsedBytes: options.maxHeapUsedBytes,
      ...storeCheck,
      // Async, so the refusal reaches the route's error handler and is answered as a ServerToAgent.
      pressureHandler: async (_request, _reply, type) => {
        // Start-up itself (loading modules, compiling schemas, the first catalog scan) blocks the
        // loop for a moment; that is not overload, and shedding the first polls would be wrong.
        if (type === 'eventLoopDelay' && performance.now() - startedAt < STARTUP_GRACE_MS) return;
        throw new ServerError('OVERLOADED', `the server is overloaded (${type}); retry later`, {
          retryAfterSeconds: options.retryAfterSeconds(),
        });
      },
    });
  }
  if (options.perAddress) {
    // Before the body is read: per-address limits need nothing from it.
    await scope.register(rateLimit, limitSettings(options.perAddress, 'onRequest', (request) => request.ip, limited(options.retryAfterSeconds, 'from this address')));
  }
  // A nested scope: @fastify/rate-limit can be registered once per scope.
  await scope.register(async (child) => {
    if (options.perAgent) {
      // After the body is decoded (a scope-level preHandler), so the key is the agent's uid.
      const key = (request: FastifyRequest) => request.opampInstanceUid ?? `address:${request.ip}`;
      await child.register(rateLimit, limitSettings(options.perAgent, 'preHandler', key, limited(options.retryAfterSeconds, 'from this agent')));
    }
    await inner(child);
  });
}
