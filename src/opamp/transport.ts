// The edge of the OpAMP route: bytes in (closing, auth, media type, shedding, size limits,
// bounded gunzip, decode), bytes out (encode, size limit, gzip). What the answer says is decided
// in handler.ts and poll.ts; this file only moves bytes.
//
// The route runs on node:http directly rather than as a Fastify route: a poll is the one
// request every agent sends every few seconds, and Fastify's per-request objects, hooks and
// body parsing cost more than the whole of the rest of a poll. Everything else (admin API,
// downloads, metrics) stays on Fastify; the route is still registered there, so that
// `app.inject()` and the route listing reach it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import zlib from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ServerError, asServerError } from '../errors';
import { acceptsGzip, gunzip, isGzipped, isProtobuf, PROTOBUF, readBody } from './body';
import { decodeAgentToServer, encodeServerToAgent, uidToString, type AgentToServer, type ServerToAgentInit } from './codec';
import type { PollObserver, PollService } from './poll';
import type { Throttle } from './throttle';

export const OPAMP_PATH = '/v1/opamp';

export interface OpampRouteOptions {
  poll: PollService;
  throttle: Throttle;
  maxMessageBytes: number;
  maxResponseBytes: number;
  /** True once the server has begun to stop. */
  isClosing?: () => boolean;
  /** Seconds an agent told to come back later should wait. */
  retryAfterSeconds?: () => number;
  /** Base of download URLs; when absent it is derived from each request. */
  publicUrl: string | undefined;
  /** Whether X-Forwarded-* headers (and the client address in X-Forwarded-For) are believed. */
  trustProxy: boolean;
  /** Checked before the body is read; false refuses the poll with 401. Absent: polls are open. */
  authenticate?: (authorization: string | undefined) => boolean;
  observer?: PollObserver;
  /** Told each answered request's status and duration, for the latency metrics. */
  answered?: (status: number, seconds: number) => void;
  logger: Logger;
}

/** Whether a request is for the OpAMP route (the path, with or without a query). */
export function isOpampRequest(request: IncomingMessage): boolean {
  if (request.method !== 'POST') return false;
  const url = request.url ?? '';
  return url === OPAMP_PATH || (url.startsWith(OPAMP_PATH) && url.charCodeAt(OPAMP_PATH.length) === 0x3f /* ? */);
}

const firstValue = (header: string | string[] | undefined): string | undefined =>
  (Array.isArray(header) ? header[0] : header)?.split(',', 1)[0]?.trim() || undefined;

export function clientAddress(request: IncomingMessage, trustProxy: boolean): string {
  const forwarded = trustProxy ? firstValue(request.headers['x-forwarded-for']) : undefined;
  return forwarded ?? request.socket.remoteAddress ?? '';
}

function baseUrlOf(request: IncomingMessage, options: OpampRouteOptions): string {
  if (options.publicUrl) return options.publicUrl;
  const headers = request.headers;
  let protocol = 'encrypted' in request.socket && request.socket.encrypted ? 'https' : 'http';
  let host = headers.host ?? '';
  let prefix = '';
  if (options.trustProxy) {
    protocol = firstValue(headers['x-forwarded-proto']) ?? protocol;
    host = firstValue(headers['x-forwarded-host']) ?? host;
    const value = firstValue(headers['x-forwarded-prefix']);
    if (value) prefix = `/${value.replace(/^\/+|\/+$/g, '')}`.replace(/^\/$/, '');
  }
  return `${protocol}://${host}${prefix}`;
}

export type OpampRequestHandler = (request: IncomingMessage, response: ServerResponse) => void;

export function createOpampHandler(options: OpampRouteOptions): OpampRequestHandler {
  const { maxMessageBytes, maxResponseBytes, throttle, logger } = options;

  function send(
    request: IncomingMessage,
    response: ServerResponse,
    started: number,
    status: number,
    message: ServerToAgentInit,
    extraHeaders?: Record<string, string>,
  ): void {
    let body = encodeServerToAgent(message);
    if (body.byteLength > maxResponseBytes) {
      logger.error(
        { instanceUid: message.instanceUid ? uidToString(message.instanceUid) : undefined, bytes: body.byteLength },
        `ServerToAgent of ${body.byteLength} bytes is over --max-response-bytes ${maxResponseBytes}; not sent`,
      );
      status = 500;
      body = encodeServerToAgent({
        instanceUid: message.instanceUid,
        errorResponse: { type: 0, errorMessage: 'the answer is larger than the server is allowed to send' },
      });
    }
    // protobufjs encodes into a Buffer under Node; wrapping it again would cost an object per poll.
    let payload = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    // Vary on every answer: caches must know the encoding depends on Accept-Encoding.
    const headers: Record<string, string | number> = extraHeaders
      ? { 'content-type': PROTOBUF, vary: 'Accept-Encoding', ...extraHeaders }
      : { 'content-type': PROTOBUF, vary: 'Accept-Encoding' };
    if (acceptsGzip(request.headers['accept-encoding'])) {
      payload = zlib.gzipSync(payload);
      headers['content-encoding'] = 'gzip';
    }
    headers['content-length'] = payload.byteLength;
    // node:http reads and drops an unread body after the answer so that the connection can be
    // reused; a body refused for its size is not worth reading, so that connection closes.
    if (status === 413 && !request.complete) headers.connection = 'close';
    response.writeHead(status, headers);
    response.end(payload);
    options.answered?.(status, (performance.now() - started) / 1000);
  }

  function sendError(
    request: IncomingMessage,
    response: ServerResponse,
    started: number,
    error: ServerError,
    uid?: Uint8Array,
  ): void {
    options.observer?.polled(error.code);
    const level = error.httpStatus >= 500 ? 'error' : 'info';
    logger[level]({ code: error.code, instanceUid: uid ? uidToString(uid) : undefined }, error.message);
    const headers: Record<string, string> = {};
    if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.retryAfterSeconds);
    if (error.code === 'UNAUTHORIZED') headers['www-authenticate'] = 'ApiKey, Bearer';
    send(request, response, started, error.httpStatus, {
      instanceUid: uid,
      errorResponse: {
        type: error.opampType,
        errorMessage: error.message,
        ...(error.retryAfterSeconds !== undefined
          ? { retryInfo: { retryAfterNanoseconds: error.retryAfterSeconds * 1e9 } }
          : {}),
      },
    }, headers);
  }

  /** The checks that need nothing from the body, in the order an agent would want to hear them. */
  function refuseEarly(request: IncomingMessage): ServerError | undefined {
    if (options.isClosing?.()) {
      return new ServerError('OVERLOADED', 'the server is stopping; retry later', {
        retryAfterSeconds: options.retryAfterSeconds?.() ?? 30,
      });
    }
    if (options.authenticate && !options.authenticate(request.headers.authorization)) {
      return new ServerError('UNAUTHORIZED', 'a valid agent key is required: send Authorization: ApiKey <key> or Bearer <key>');
    }
    const contentType = request.headers['content-type'];
    if (!isProtobuf(contentType)) {
      return new ServerError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be ${PROTOBUF}, got ${contentType ?? 'none'}`);
    }
    return throttle.overloaded?.();
  }

  /** Answers a refusal or a failure; a client that went away mid-body is owed nothing. */
  function refuse(request: IncomingMessage, response: ServerResponse, started: number, error: unknown, uid?: Uint8Array): void {
    if (!(error instanceof ServerError) && request.socket.destroyed) return;
    sendError(request, response, started, asServerError(error), uid);
  }

  /** Only a fault in answering itself lands here (every refusal is answered by `refuse`). */
  function fault(response: ServerResponse, error: unknown): void {
    // Left to propagate, it would stop the process from an event handler: the request alone fails.
    logger.error({ err: error }, 'could not answer a poll');
    if (!response.headersSent) response.writeHead(500, { connection: 'close' });
    response.end();
  }

  /** Runs one step of the answer; whatever it throws or rejects with fails this request alone. */
  function guarded(response: ServerResponse, step: () => void | Promise<void>): void {
    try {
      const pending = step();
      if (pending) pending.catch((error: unknown) => fault(response, error));
    } catch (error) {
      fault(response, error);
    }
  }

  function poll(request: IncomingMessage, response: ServerResponse, started: number, message: AgentToServer, uid?: Uint8Array): void | Promise<void> {
    const pending = options.poll(message, () => baseUrlOf(request, options));
    const answered = (reply: ServerToAgentInit): void => {
      options.observer?.polled('ok');
      send(request, response, started, 200, reply);
    };
    // Most polls are answered at once; one that needs the store waits for it.
    if (!(pending instanceof Promise)) return answered(pending);
    return pending.then(answered, (error: unknown) => refuse(request, response, started, error, uid));
  }

  /** The body is in: inflate, decode, the per-agent limit, then the poll. */
  function answerBody(request: IncomingMessage, response: ServerResponse, started: number, raw: Buffer): void | Promise<void> {
    let uid: Uint8Array | undefined;
    try {
      const bytes = isGzipped(request.headers['content-encoding']) ? gunzip(raw, maxMessageBytes) : raw;
      let message: AgentToServer;
      try {
        message = decodeAgentToServer(bytes);
      } catch (error) {
        throw new ServerError('BAD_PROTOBUF', `the body is not a valid AgentToServer: ${(error as Error).message}`);
      }
      if (message.instanceUid?.byteLength === 16) uid = message.instanceUid;
      if (!throttle.limitAgent) return poll(request, response, started, message, uid);
      const key = uid ? uidToString(uid) : `address:${clientAddress(request, options.trustProxy)}`;
      return throttle.limitAgent(key)
        .then((limited) => (limited ? refuse(request, response, started, limited, uid) : poll(request, response, started, message, uid)))
        .catch((error: unknown) => refuse(request, response, started, error, uid));
    } catch (error) {
      refuse(request, response, started, error, uid);
    }
  }

  function receive(request: IncomingMessage, response: ServerResponse, started: number): void {
    readBody(request, maxMessageBytes, (error, raw) => {
      guarded(response, () => (error ? refuse(request, response, started, error) : answerBody(request, response, started, raw!)));
    });
  }

  return (request, response) => {
    const started = performance.now();
    guarded(response, () => {
      const early = refuseEarly(request);
      if (early) return refuse(request, response, started, early);
      if (!throttle.limitAddress) return receive(request, response, started);
      return throttle.limitAddress(clientAddress(request, options.trustProxy))
        .then((limited) => (limited ? refuse(request, response, started, limited) : receive(request, response, started)))
        .catch((error: unknown) => refuse(request, response, started, error));
    });
  };
}

/**
 * POST /v1/opamp as a Fastify route, for requests that reach Fastify without passing through
 * the node:http listener (`app.inject()`): it hands the raw request to the same handler.
 */
export function registerOpampRoute(app: FastifyInstance, handler: OpampRequestHandler): void {
  app.route({
    method: 'POST',
    url: OPAMP_PATH,
    // Taken over before Fastify reads the body, so the handler's own limits apply.
    onRequest: (request, reply, _done) => {
      reply.hijack();
      handler(request.raw, reply.raw);
    },
    handler: () => undefined,
  });
}
