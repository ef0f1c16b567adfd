// The edge of the OpAMP route: bytes in (content type, size limits, bounded gunzip, decode),
// bytes out (encode, size limit, gzip). Every rule about what the answer says lives in
// handler.ts; this file only moves bytes and records.
import zlib from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServerError, asServerError } from '../errors';
import type { AgentStore } from '../store/types';
import { packageStatusChanges } from '../admin/history';
import {
  decodeAgentToServer,
  encodeServerToAgent,
  uidFromString,
  uidToString,
  type AgentToServer,
  type PackagesAvailable,
  type ServerToAgentInit,
} from './codec';
import { handlePoll, type Offer } from './handler';
import type { AgentRecord } from '../store/types';
import { newInstanceUid } from './uuid';
import { descriptionToRecord } from './attributes';
import type { OfferDecision } from '../rollouts/types';
import type { RolloutService } from '../rollouts/service';
import { registerThrottling, type ThrottleOptions } from './throttle';

export const OPAMP_PATH = '/v1/opamp';
const PROTOBUF = 'application/x-protobuf';

export interface OfferProvider {
  /** `decision`: what the rollouts resolved for this agent before the handler ran. */
  offerFor(record: AgentRecord, baseUrl: string, decision?: OfferDecision): Offer | undefined;
}

export interface OpampRouteOptions {
  store: AgentStore;
  /** Rate limits and overload shedding; absent means none. */
  throttle?: ThrottleOptions;
  offers: OfferProvider | undefined;
  /** Rollouts: resolved before the handler (its offer lookup is synchronous), told the outcome after. */
  rollouts?: Pick<RolloutService, 'decide' | 'record'>;
  maxMessageBytes: number;
  maxResponseBytes: number;
  offlineAfterMs: number;
  /** True once the server has begun to stop. */
  isClosing?: () => boolean;
  /** Seconds an agent told to come back later should wait. */
  retryAfterSeconds?: () => number;
  /** Base of download URLs; when absent it is derived from each request. */
  publicUrl: string | undefined;
  trustProxy: boolean;
  /** Checked before the body is read; false refuses the poll with 401. Absent: polls are open. */
  authenticate?: (request: FastifyRequest) => boolean;
  /** Extra headers an agent needs to download the file with this SHA-256 (a download token). */
  downloadHeaders?: (instanceUid: string, sha256Hex: string) => Record<string, string> | undefined;
  observer?: PollObserver;
  /** Milliseconds since the epoch; tests move it. */
  now?: () => number;
}

/** Told what each poll came to, for the metrics. */
export interface PollObserver {
  /** `ok` or the error code. */
  polled(outcome: string): void;
  offerSent(): void;
}

/**
 * A copy of a shared, pre-built PackagesAvailable with per-agent headers on each file. Headers
 * are not part of any package hash, so the copy hashes the same as the original.
 */
function withDownloadHeaders(
  available: PackagesAvailable,
  headersFor: (sha256Hex: string) => Record<string, string> | undefined,
): PackagesAvailable {
  const packages = Object.entries(available.packages ?? {}).map(([name, item]) => {
    const file = item.file;
    const extra = file?.contentHash ? headersFor(Buffer.from(file.contentHash).toString('hex')) : undefined;
    if (!file || !extra) return [name, item] as const;
    const headers = Object.entries(extra).map(([key, value]) => ({ key, value }));
    return [name, { ...item, file: { ...file, headers: { headers } } }] as const;
  });
  return { ...available, packages: Object.fromEntries(packages) };
}

function isProtobuf(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  if (contentType === PROTOBUF) return true;
  return contentType.split(';', 1)[0]!.trim().toLowerCase() === PROTOBUF;
}

function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const [coding, ...parameters] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const quality = parameters.map((parameter) => parameter.trim()).find((parameter) => parameter.startsWith('q='));
    return quality === undefined || Number(quality.slice(2)) > 0;
  });
}

function inflate(body: Buffer, encoding: string | undefined, limit: number): Buffer {
  const coding = (encoding ?? 'identity').trim().toLowerCase();
  if (coding === 'identity' || coding === '') return body;
  if (coding !== 'gzip' && coding !== 'x-gzip') {
    throw new ServerError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${coding} is not supported; send gzip or none`);
  }
  try {
    // maxOutputLength stops inflation at the limit, so a gzip bomb costs at most `limit` bytes.
    return zlib.gunzipSync(body, { maxOutputLength: limit });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ServerError('BODY_TOO_LARGE', `the request body inflates past the limit of ${limit} bytes`);
    }
    throw new ServerError('BAD_GZIP', `the request body is not valid gzip: ${(error as Error).message}`);
  }
}

/** Translates Fastify's own body errors (size, media type) into the table's codes. */
function fromFastifyError(error: unknown): ServerError {
  const statusCode = (error as { statusCode?: number }).statusCode;
  const message = error instanceof Error ? error.message : String(error);
  if (statusCode === 413) return new ServerError('BODY_TOO_LARGE', `the request body is over the limit: ${message}`);
  if (statusCode === 415) return new ServerError('UNSUPPORTED_MEDIA_TYPE', message);
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) return new ServerError('BAD_REQUEST', message);
  return asServerError(error);
}

function baseUrlOf(request: FastifyRequest, options: OpampRouteOptions): string {
  if (options.publicUrl) return options.publicUrl;
  let prefix = '';
  if (options.trustProxy) {
    const header = request.headers['x-forwarded-prefix'];
    const value = Array.isArray(header) ? header[0] : header;
    if (value) prefix = `/${value.trim().replace(/^\/+|\/+$/g, '')}`.replace(/^\/$/, '');
  }
  return `${request.protocol}://${request.host}${prefix}`;
}

/** A store that fails mid-request makes the server unavailable, not broken: agents retry. */
async function storeCall<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof ServerError) throw error;
    throw new ServerError('STORE_FAILURE', `the store failed: ${(error as Error).message}`, {
      retryAfterSeconds: 30,
      cause: error,
    });
  }
}

const NO_THROTTLING: ThrottleOptions = {
  perAgent: undefined,
  perAddress: undefined,
  maxEventLoopDelayMs: 0,
  maxHeapUsedBytes: 0,
  maxStoreLatencyMs: 0,
  storeProbe: async () => undefined,
  retryAfterSeconds: () => 30,
};

export async function registerOpampRoute(app: FastifyInstance, options: OpampRouteOptions): Promise<void> {
  const { store, maxMessageBytes, maxResponseBytes } = options;

  function send(request: FastifyRequest, reply: FastifyReply, status: number, message: ServerToAgentInit): FastifyReply {
    let body = encodeServerToAgent(message);
    if (body.byteLength > maxResponseBytes) {
      request.log.error(
        { instanceUid: message.instanceUid ? uidToString(message.instanceUid) : undefined, bytes: body.byteLength },
        `ServerToAgent of ${body.byteLength} bytes is over --max-response-bytes ${maxResponseBytes}; not sent`,
      );
      status = 500;
      body = encodeServerToAgent({
        instanceUid: message.instanceUid,
        errorResponse: { type: 0, errorMessage: 'the answer is larger than the server is allowed to send' },
      });
    }
    // Vary on every answer: caches must know the encoding depends on Accept-Encoding.
    reply.code(status).header('content-type', PROTOBUF).header('vary', 'Accept-Encoding');
    if (acceptsGzip(request.headers['accept-encoding'])) {
      reply.header('content-encoding', 'gzip');
      return reply.send(zlib.gzipSync(body));
    }
    return reply.send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  }

  function sendError(request: FastifyRequest, reply: FastifyReply, error: ServerError, uid?: Uint8Array): FastifyReply {
    options.observer?.polled(error.code);
    const level = error.httpStatus >= 500 ? 'error' : 'info';
    request.log[level]({ code: error.code, instanceUid: uid ? uidToString(uid) : undefined }, error.message);
    if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
    return send(request, reply, error.httpStatus, {
      instanceUid: uid,
      errorResponse: {
        type: error.opampType,
        errorMessage: error.message,
        ...(error.retryAfterSeconds !== undefined
          ? { retryInfo: { retryAfterNanoseconds: error.retryAfterSeconds * 1e9 } }
          : {}),
      },
    });
  }

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxMessageBytes }, (_request, body, done) => {
      done(null, body);
    });
    scope.setErrorHandler((error, request, reply) => {
      const known = request.opampInstanceUid === undefined ? undefined : uidFromString(request.opampInstanceUid);
      return sendError(request, reply, fromFastifyError(error), known);
    });
    // Checked before the body is read, so a wrong type is a 415 whatever the body's size, and
    // a stopping server answers in OpAMP's terms so that agents retry later.
    scope.addHook('onRequest', async (request, reply) => {
      if (options.isClosing?.()) {
        return sendError(request, reply, new ServerError('OVERLOADED', 'the server is stopping; retry later', {
          retryAfterSeconds: options.retryAfterSeconds?.() ?? 30,
        }));
      }
      if (options.authenticate && !options.authenticate(request)) {
        reply.header('www-authenticate', 'ApiKey, Bearer');
        return sendError(request, reply, new ServerError(
          'UNAUTHORIZED',
          'a valid agent key is required: send Authorization: ApiKey <key> or Bearer <key>',
        ));
      }
      if (!isProtobuf(request.headers['content-type'])) {
        const given = request.headers['content-type'] ?? 'none';
        return sendError(request, reply, new ServerError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be ${PROTOBUF}, got ${given}`));
      }
    });

    await registerThrottling(scope, options.throttle ?? NO_THROTTLING, async (route) => {
      // Decoded before the handler so that the per-agent rate limit can key on the uid.
      route.addHook('preHandler', async (request) => {
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const bytes = inflate(raw, request.headers['content-encoding'], maxMessageBytes);
        try {
          request.body = decodeAgentToServer(bytes);
        } catch (error) {
          throw new ServerError('BAD_PROTOBUF', `the body is not a valid AgentToServer: ${(error as Error).message}`);
        }
        const decodedUid = (request.body as AgentToServer).instanceUid;
        if (decodedUid?.byteLength === 16) request.opampInstanceUid = uidToString(decodedUid);
      });
      route.post(OPAMP_PATH, async (request, reply) => {
      let uid: Uint8Array | undefined;
      try {
        const message = request.body as AgentToServer;
        if (message.instanceUid?.byteLength === 16) uid = message.instanceUid;
        const stored = uid ? await storeCall(() => store.getAgent(uidToString(uid!))) : undefined;
        const offers = options.offers;
        const nowMs = options.now?.() ?? Date.now();
        const rollouts = options.rollouts;
        const assignment = rollouts && uid
          ? await storeCall(() => rollouts.decide(
              uidToString(uid!),
              message.agentDescription ? descriptionToRecord(message.agentDescription) : stored?.description,
              Number(message.capabilities ?? 0) || stored?.capabilities || 0,
            ))
          : undefined;
        const result = handlePoll(stored, message, {
          nowMs,
          offlineAfterMs: options.offlineAfterMs,
          generateInstanceUid: newInstanceUid,
          // The base URL is worked out only when an offer is looked up: most polls need none.
          offerFor: offers ? (record) => offers.offerFor(record, baseUrlOf(request, options), assignment?.decision) : () => undefined,
        });
        await storeCall(() => store.putAgent(result.record, result.durable));
        const removed = result.removeInstanceUid;
        if (removed) await storeCall(() => store.deleteAgent(removed));
        // A new uid without a removed one means the stored record belongs to another process.
        const previous = result.response.agentIdentification && !removed ? undefined : stored;
        const record = result.record;
        const changes = packageStatusChanges(record.instanceUid, previous?.packageStatuses, record.packageStatuses, nowMs);
        if (changes.length > 0) await storeCall(() => store.addPackageStatusChanges(changes));
        if (rollouts && assignment) await storeCall(() => rollouts.record(assignment, previous, record, result.offerSent));
        const available = result.response.packagesAvailable;
        const headersFor = options.downloadHeaders;
        if (available && headersFor) {
          // result.response is this poll's own object; the offer inside it is shared and stays untouched.
          result.response.packagesAvailable = withDownloadHeaders(available, (sha256Hex) => headersFor(record.instanceUid, sha256Hex));
        }
        if (result.offerSent) {
          options.observer?.offerSent();
          request.log.info(
            { instanceUid: result.record.instanceUid, version: result.record.lastOffer?.version },
            'package offer sent',
          );
        }
        options.observer?.polled('ok');
        return send(request, reply, 200, result.response);
      } catch (error) {
        return sendError(request, reply, asServerError(error), uid);
      }
      });
    });
  });
}
