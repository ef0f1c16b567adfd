// Who may call the admin API: holders of a key from --admin-keys-file, or, while no admin key
// exists, local callers only. Agent keys are a separate ring and are never consulted here.
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { KeyRing, WatchedKeyFile, presentedKey } from '../auth/keys';
import { ServerError } from '../errors';

export const LOOPBACK_CALLER = 'loopback';

export class AdminKeys {
  private ring = new KeyRing();
  private readonly watched: WatchedKeyFile | undefined;

  constructor(file: string | undefined, logger: Logger, intervalMs?: number) {
    this.watched = file === undefined
      ? undefined
      : new WatchedKeyFile({ file, logger, intervalMs, onChange: (ring) => { this.ring = ring; } });
  }

  get size(): number {
    return this.ring.size;
  }

  identify(authorization: string | undefined): string | undefined {
    return this.ring.identify(presentedKey(authorization));
  }

  close(): void {
    this.watched?.close();
  }
}

function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(address);
}

/**
 * The socket's peer, not request.ip: with --trust-proxy, request.ip comes from a header the
 * caller writes. A forwarded request is never local, even from a proxy on this host, because the
 * proxy may be passing on anybody's request.
 */
export function isLocalRequest(request: FastifyRequest): boolean {
  const forwarded = request.headers['x-forwarded-for'] !== undefined || request.headers.forwarded !== undefined;
  return !forwarded && isLoopbackAddress(request.socket.remoteAddress);
}

/** The caller's name (a key name or `loopback`); throws 401 or 403 otherwise. */
export function authorizeAdmin(keys: AdminKeys, request: FastifyRequest): string {
  if (keys.size === 0) {
    if (isLocalRequest(request)) return LOOPBACK_CALLER;
    throw new ServerError('FORBIDDEN', 'no admin key is configured, so the admin API answers only on loopback');
  }
  const name = keys.identify(request.headers.authorization);
  if (name === undefined) {
    throw new ServerError('UNAUTHORIZED', 'a valid admin key is required: send Authorization: ApiKey <key> or Bearer <key>');
  }
  return name;
}
