// The listening socket's limits: how long a client may take to send its headers and its whole
// request, how long a connection may sit with nothing moving, and how many connections are held
// at once. An agent's message is kilobytes, so the limits are far below Node's defaults, which
// let a trickling client hold a connection (and a descriptor) for minutes.
import fs from 'node:fs';
import type { Server } from 'node:net';
import type { Logger } from 'pino';

/** Idle kept-alive connections stay open past the agents' 30 s poll, so none is closed under a reuse. */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Descriptors kept back from --max-connections auto: the store, package files, watchers, logs. */
const RESERVED_DESCRIPTORS = 256;
const FALLBACK_MAX_CONNECTIONS = 10_000;

/**
 * The listener's part of ServeConfig (milliseconds and a count), written out rather than picked
 * from it: config.ts reads defaultMaxConnections from here, and the two must not import each other.
 */
export interface ListenerConfig {
  headersTimeout: number;
  requestTimeout: number;
  idleTimeout: number;
  maxConnections: number;
}

/** The soft limit on open files of this process (Linux), or undefined where it cannot be read. */
export function openFileLimit(): number | undefined {
  try {
    const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((text) => text.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/** --max-connections auto: the descriptor limit less a reserve, so accepting never starves the rest. */
export function defaultMaxConnections(): number {
  return maxConnectionsFor(openFileLimit());
}

export function maxConnectionsFor(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return FALLBACK_MAX_CONNECTIONS;
  return Math.max(64, limit - RESERVED_DESCRIPTORS);
}

/**
 * Options for node:http (and node:https) beside Fastify's own. Node checks the header and
 * request deadlines only every `connectionsCheckingInterval` (30 s by default), which would let a
 * trickler outlive a 10 s limit threefold; it is checked at least every second here.
 */
export function serverOptions(config: ListenerConfig): { headersTimeout: number; connectionsCheckingInterval: number } {
  return {
    headersTimeout: config.headersTimeout,
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(config.headersTimeout / 4))),
  };
}

/** Fastify's own listener options: request deadline, idle sockets, keep-alive. */
export function fastifyListenerOptions(config: ListenerConfig) {
  return {
    requestTimeout: config.requestTimeout,
    // No bytes either way for this long: a download whose client stopped reading, a half-open
    // socket. A slow reader that keeps taking bytes is never cut, however large the file.
    connectionTimeout: config.idleTimeout,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
  };
}

/**
 * Caps the connections held at once: past it node:net closes each new connection on arrival,
 * while those already open (agents mid-poll) are served as before. Refusals are logged at most
 * once a minute, with how many there were.
 */
export function capConnections(server: Server, maxConnections: number, logger: Logger): void {
  server.maxConnections = maxConnections;
  let dropped = 0;
  let reportedAt = 0;
  server.on('drop', () => {
    dropped += 1;
    const now = Date.now();
    if (now - reportedAt < 60_000) return;
    logger.warn({ maxConnections, dropped }, `--max-connections ${maxConnections} reached: new connections refused`);
    reportedAt = now;
    dropped = 0;
  });
}
