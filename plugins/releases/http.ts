// Every request to the release feed goes through here: undici's fetch on a dispatcher that
// takes HTTPS_PROXY/HTTP_PROXY/NO_PROXY from the environment and enforces connect and read
// timeouts; redirects followed by hand so that none leads to plain http (except to a loopback
// test feed) and the token never goes beyond the API; rate limits waited out.
import { setTimeout as sleep } from 'node:timers/promises';
import { EnvHttpProxyAgent, fetch, type Response } from 'undici';

export interface FeedLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface FeedHttpOptions {
  connectTimeoutMs: number;
  readTimeoutMs: number;
  /** Sent as `Authorization: Bearer` to URLs under `tokenScope` only; asked at every request (the file may be rotated). */
  token?: () => string | undefined;
  /** The API's base URL: downloads may share its host (GitHub Enterprise) and still get no token. */
  tokenScope?: string;
  /** A rate limit that lifts later than this is an error for this refresh, not a wait. */
  maxRateLimitWaitMs?: number;
  logger?: FeedLogger;
}

export class FeedError extends Error {
  /** HTTP status when the feed answered, undefined when it could not be reached. */
  readonly status: number | undefined;
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
}

const MAX_REDIRECTS = 5;
const DEFAULT_MAX_RATE_LIMIT_WAIT_MS = 3_600_000;
const USER_AGENT = 'opamp-package-server (release feed)';

/** https anywhere; plain http only to the loopback address, where the tests' fake feed runs. */
export function redirectAllowed(target: URL): boolean {
  if (target.protocol === 'https:') return true;
  return target.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(target.hostname);
}

/**
 * How long a 403/429 asks to wait, in milliseconds, or undefined when the answer is a plain
 * refusal. Retry-After is seconds; X-RateLimit-Reset is the epoch second the limit lifts.
 */
export function rateLimitWaitMs(response: { status: number; headers: { get(name: string): string | null } }, nowMs: number): number | undefined {
  if (response.status !== 403 && response.status !== 429) return undefined;
  const retryAfter = response.headers.get('retry-after');
  if (retryAfter !== null && /^\d+$/.test(retryAfter.trim())) return Number(retryAfter) * 1000;
  const reset = response.headers.get('x-ratelimit-reset');
  const remaining = response.headers.get('x-ratelimit-remaining');
  // GitHub sends X-RateLimit-Reset on every answer; only an exhausted limit means "wait".
  if (reset !== null && /^\d+$/.test(reset.trim()) && (remaining === null || remaining.trim() === '0' || response.status === 429)) {
    return Math.max(0, Number(reset) * 1000 - nowMs) + 1000;
  }
  return undefined;
}

export class FeedHttp {
  private readonly options: FeedHttpOptions;
  private readonly dispatcher: EnvHttpProxyAgent;
  private readonly aborter = new AbortController();
  /** Set while rate limited, so one wait is logged once however many requests meet it. */
  private limitedUntilMs: number | undefined;

  constructor(options: FeedHttpOptions) {
    this.options = options;
    this.dispatcher = new EnvHttpProxyAgent({
      connect: { timeout: options.connectTimeoutMs },
      headersTimeout: options.readTimeoutMs,
      bodyTimeout: options.readTimeoutMs,
    });
  }

  get signal(): AbortSignal {
    return this.aborter.signal;
  }

  /** GET with the redirect and rate-limit rules above; the final answer whatever its status. */
  async get(url: string, headers: Record<string, string> = {}): Promise<Response> {
    for (;;) {
      const response = await this.follow(url, headers);
      const waitMs = rateLimitWaitMs(response, Date.now());
      if (waitMs === undefined) {
        this.limitedUntilMs = undefined;
        return response;
      }
      await response.body?.cancel();
      const maxWait = this.options.maxRateLimitWaitMs ?? DEFAULT_MAX_RATE_LIMIT_WAIT_MS;
      if (waitMs > maxWait) {
        throw new FeedError(`rate limited by the feed for ${Math.round(waitMs / 1000)} s more`, response.status);
      }
      const until = Date.now() + waitMs;
      if (this.limitedUntilMs === undefined) {
        this.options.logger?.warn(
          { url: new URL(url).origin, until: new Date(until).toISOString(), status: response.status },
          `release feed rate limit reached; waiting until ${new Date(until).toISOString()}`,
        );
      }
      this.limitedUntilMs = until;
      await sleep(waitMs, undefined, { signal: this.aborter.signal });
    }
  }

  async close(): Promise<void> {
    this.aborter.abort();
    await this.dispatcher.close().catch(() => undefined);
  }

  private async follow(start: string, headers: Record<string, string>): Promise<Response> {
    let url = new URL(start);
    for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
      const sent: Record<string, string> = { 'user-agent': USER_AGENT, ...headers };
      const scope = this.options.tokenScope;
      const token = scope !== undefined && url.toString().startsWith(`${scope.replace(/\/+$/, '')}/`) ? this.options.token?.() : undefined;
      if (token !== undefined) sent.authorization = `Bearer ${token}`;
      let response: Response;
      try {
        response = await fetch(url, { headers: sent, redirect: 'manual', dispatcher: this.dispatcher, signal: this.aborter.signal });
      } catch (error) {
        throw new FeedError(`cannot reach ${url.origin}: ${describe(error)}`, undefined, { cause: error });
      }
      const location = response.headers.get('location');
      if (response.status < 300 || response.status > 399 || location === null) return response;
      await response.body?.cancel();
      const next = new URL(location, url);
      if (!redirectAllowed(next)) {
        throw new FeedError(`refused a redirect from ${url.origin} to ${next.protocol}//${next.host}: only https is followed`);
      }
      url = next;
    }
    throw new FeedError(`more than ${MAX_REDIRECTS} redirects from ${start}`);
  }
}

/** undici hides the useful part (ECONNREFUSED, a timeout) in the cause. */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${(error.cause as NodeJS.ErrnoException).code ?? error.cause.message}` : '';
  return `${error.message}${cause}`;
}
