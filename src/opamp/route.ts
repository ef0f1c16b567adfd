// POST /v1/opamp as a Fastify plugin. The host application registers it (under a prefix if it
// likes) with a poll service; the plugin brings the rest of the route: agent auth before the
// body is read, the protobuf body parser with its size limits and bounded gunzip, load shedding
// (shedding.ts), and answers that are always a ServerToAgent, errors included. What an answer
// says is decided in poll.ts and the protocol rules; this file only moves bytes.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import { ServerError, errorAnswer, retryAfterWithJitter } from '../errors';
import { AnswerBatch } from './answer-batch';
import { acceptsGzip, gunzip, gzipAnswer, isGzipped, isProtobuf, PROTOBUF } from './body';
import { decodeAgentToServer, encodeServerToAgent, uidToString, type AgentToServer, type ServerToAgentInit } from './codec';
import type { PollObserver, PollService } from './poll';
import { validInstanceUid } from './protocol';
import { proxyTrust, type TrustProxySetting } from '../proxy-trust';
import { clientCertificateSubject } from '../tls';
import { registerShedding, type OverloadSettings, type RateLimitSettings } from './shedding';

export const OPAMP_PATH = '/v1/opamp';

const DEFAULT_MESSAGE_BYTES = 4 * 1024 * 1024;

export interface OpampRouteOptions {
  /** Answers one decoded AgentToServer (createPollService). */
  poll: PollService;
  /** Largest AgentToServer, as sent and after gunzip (default 4 MiB). */
  maxMessageBytes?: number;
  /** Largest ServerToAgent before compression (default 4 MiB). */
  maxResponseBytes?: number;
  /** Base of download URLs; when absent it is derived from each request. */
  publicUrl?: string;
  /** Which peers' X-Forwarded-Proto/Host/Prefix are believed when deriving the base of download URLs. */
  trustProxy?: TrustProxySetting;
  /** Checked before the body is read; false refuses the poll with 401. Absent: polls are open. */
  authenticate?: (authorization: string | undefined) => boolean;
  /** Per-agent and per-address limits (@fastify/rate-limit); absent: none. */
  rateLimit?: RateLimitSettings;
  /** Overload shedding (@fastify/under-pressure); absent: none. */
  overload?: OverloadSettings;
  /** Seconds an agent told to come back later waits (default 30 s plus up to 30 s of jitter). */
  retryAfterSeconds?: () => number;
  /** Told what each poll came to, for the metrics. */
  observer?: PollObserver;
  /** Prefix of the route; Fastify's own `prefix` option works too. */
  prefix?: string;
  /**
   * Write the answers that become ready in one turn of the event loop together, at its end
   * (answer-batch.ts); default true. Error answers are always written at once.
   */
  coalesceAnswers?: boolean;
}

const firstValue = (header: string | string[] | undefined): string | undefined =>
  (Array.isArray(header) ? header[0] : header)?.split(',', 1)[0]?.trim() || undefined;

function baseUrlOf(request: FastifyRequest, options: OpampRouteOptions, trusted: (address: string | undefined) => boolean): string {
  if (options.publicUrl) return options.publicUrl;
  const headers = request.headers;
  const socket = request.raw.socket;
  let protocol = 'encrypted' in socket && socket.encrypted ? 'https' : 'http';
  let host = headers.host ?? '';
  let prefix = '';
  if (trusted(socket.remoteAddress)) {
    protocol = firstValue(headers['x-forwarded-proto']) ?? protocol;
    host = firstValue(headers['x-forwarded-host']) ?? host;
    const value = firstValue(headers['x-forwarded-prefix']);
    if (value) prefix = `/${value.replace(/^\/+|\/+$/g, '')}`.replace(/^\/$/, '');
  }
  return `${protocol}://${host}${prefix}`;
}

/** The decoded message, once the body parser has run (undefined before, or when it failed). */
function messageOf(request: FastifyRequest): AgentToServer | undefined {
  return request.body as AgentToServer | undefined;
}

/** The agent's uid when the message carries a valid one: errors name the agent they refuse. */
function validUid(request: FastifyRequest): Uint8Array | undefined {
  const message = messageOf(request);
  return message === undefined ? undefined : validInstanceUid(message);
}

/** Fastify's own refusals (body parser, content length) in the codes of the error table. */
function failureOf(error: unknown, maxMessageBytes: number): unknown {
  if (error instanceof ServerError) return error;
  const code = (error as { code?: unknown }).code;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new ServerError('BODY_TOO_LARGE', `the request body is over the limit of ${maxMessageBytes} bytes`);
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new ServerError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be ${PROTOBUF}`);
  }
  return error;
}

async function opampScope(scope: FastifyInstance, options: OpampRouteOptions): Promise<void> {
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MESSAGE_BYTES;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MESSAGE_BYTES;
  const retryAfterSeconds = options.retryAfterSeconds ?? retryAfterWithJitter;
  const { observer, authenticate } = options;
  const trusted = proxyTrust(options.trustProxy);
  let closing = false;
  scope.addHook('preClose', (done) => {
    closing = true;
    done();
  });

  const batch = options.coalesceAnswers === false
    ? undefined
    : new AnswerBatch((error) => scope.log.error({ err: error }, 'an OpAMP answer could not be written'));

  /** Gzips when the agent takes it; sends now, or with the batch when `batched` and batching is on. */
  function send(request: FastifyRequest, reply: FastifyReply, status: number, body: Uint8Array, batched = false): FastifyReply | undefined {
    // protobufjs encodes into a Buffer under Node; wrapping it again would cost an object per poll.
    let payload = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    reply.code(status);
    // Vary on every answer: caches must know the encoding depends on Accept-Encoding.
    reply.header('content-type', PROTOBUF).header('vary', 'Accept-Encoding');
    if (acceptsGzip(request.headers['accept-encoding'])) {
      payload = gzipAnswer(payload);
      reply.header('content-encoding', 'gzip');
    }
    if (!batched || batch === undefined) return reply.send(payload);
    batch.send(reply, payload);
    return undefined;
  }

  // Every failure of this scope, Fastify's own included, is answered as a ServerToAgent: the
  // OpAMP wire format of the error table (errors.ts).
  scope.setErrorHandler((error, request, reply) => {
    const { failure, status, headers } = errorAnswer(failureOf(error, maxMessageBytes), {
      requestId: request.id, schemes: 'ApiKey, Bearer', log: request.log,
    });
    const uid = validUid(request);
    observer?.polled(failure.code);
    if (status < 500) request.log.info({ code: failure.code, instanceUid: uid ? uidToString(uid) : undefined }, failure.message);
    const message: ServerToAgentInit = {
      instanceUid: uid,
      errorResponse: {
        type: failure.opampType,
        errorMessage: failure.message,
        ...(failure.retryAfterSeconds !== undefined
          ? { retryInfo: { retryAfterNanoseconds: failure.retryAfterSeconds * 1e9 } }
          : {}),
      },
    };
    reply.headers(headers);
    // An error answer is small and always sent: the size limit is for what the poll produced.
    return send(request, reply, status, encodeServerToAgent(message));
  });

  // The body: bounded as sent (Fastify refuses a larger Content-Length before reading and closes
  // that connection), then bounded again while inflating, then decoded.
  scope.addContentTypeParser(PROTOBUF, { parseAs: 'buffer', bodyLimit: maxMessageBytes }, (request, raw, done) => {
    const bytes = isGzipped(request.headers['content-encoding']) ? gunzip(raw as Buffer, maxMessageBytes) : (raw as Buffer);
    let message: AgentToServer;
    try {
      message = decodeAgentToServer(bytes);
    } catch (error) {
      throw new ServerError('BAD_PROTOBUF', `the body is not a valid AgentToServer: ${(error as Error).message}`);
    }
    done(null, message);
  });

  // What needs nothing from the body, in the order an agent would want to hear it: stopping,
  // auth, media type. Added before the shedding hooks, so it runs before them.
  scope.addHook('onRequest', (request, _reply, done) => {
    if (closing) {
      done(new ServerError('OVERLOADED', 'the server is stopping; retry later', { retryAfterSeconds: retryAfterSeconds() }));
      return;
    }
    if (authenticate && !authenticate(request.headers.authorization)) {
      done(new ServerError('UNAUTHORIZED', 'a valid agent key is required: send Authorization: ApiKey <key> or Bearer <key>'));
      return;
    }
    const contentType = request.headers['content-type'];
    if (!isProtobuf(contentType)) {
      done(new ServerError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be ${PROTOBUF}, got ${contentType ?? 'none'}`));
      return;
    }
    done();
  });

  const shedding = await registerShedding(scope, {
    rateLimit: options.rateLimit,
    overload: options.overload,
    retryAfterSeconds,
    // Keyed on the decoded uid; a message without a valid one is refused by the poll anyway.
    agentKey: (request) => {
      const uid = validUid(request);
      return uid ? uidToString(uid) : `address:${request.ip}`;
    },
  });

  // Called with the request and reply rather than closed over them: a closure made per poll is
  // one more object for the collector.
  const answered = (request: FastifyRequest, reply: FastifyReply, message: ServerToAgentInit): FastifyReply | undefined => {
    const body = encodeServerToAgent(message);
    if (body.byteLength > maxResponseBytes) {
      request.log.error(
        { instanceUid: message.instanceUid ? uidToString(message.instanceUid) : undefined, bytes: body.byteLength },
        `ServerToAgent of ${body.byteLength} bytes is over --max-response-bytes ${maxResponseBytes}; not sent`,
      );
      throw new ServerError('RESPONSE_TOO_LARGE', 'the answer is larger than the server is allowed to send');
    }
    observer?.polled('ok');
    return send(request, reply, 200, body, true);
  };

  scope.route({
    method: 'POST',
    url: OPAMP_PATH,
    bodyLimit: maxMessageBytes,
    ...shedding.routeOptions,
    handler(request, reply) {
      const pending = options.poll(messageOf(request)!, () => baseUrlOf(request, options, trusted), clientCertificateSubject(request.raw.socket));
      // Most polls are answered at once; one that needs the store waits for it. A handler that
      // returns nothing has sent, or will send, its answer itself; a promise must settle with the
      // reply (a thenable Fastify waits on) or Fastify would answer an empty body in its place.
      if (pending instanceof Promise) return pending.then((message) => answered(request, reply, message) ?? reply);
      answered(request, reply, pending);
      return undefined;
    },
  });
}

/**
 * The OpAMP route. Wrapped with fastify-plugin so that its name and Fastify version are checked
 * like any plugin's; the route itself lives in an encapsulated scope of its own (hooks, body
 * parser, error handler and limits touch no other route), which takes the `prefix` option.
 */
export const opampRoute = fastifyPlugin<OpampRouteOptions>(
  async (app, options) => {
    await app.register(opampScope, { ...options, prefix: options.prefix });
  },
  { name: 'opamp-package-server/opamp-route', fastify: '5.x' },
);
