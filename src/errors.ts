// Every failure the server reports carries a literal code. One table below decides what each
// code means on the wire (HTTP status, OpAMP ServerErrorResponse type), so routes never
// improvise their own mapping; errorAnswer() is what every wire format's renderer builds on.
import { isStoreUnavailable } from './store/failure';

export type ErrorCode =
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'BODY_TOO_LARGE'
  | 'BAD_GZIP'
  | 'BAD_PROTOBUF'
  | 'BAD_INSTANCE_UID'
  | 'TOO_MANY_ATTRIBUTES'
  | 'NESTING_TOO_DEEP'
  | 'RESPONSE_TOO_LARGE'
  | 'NOT_FOUND'
  | 'RANGE_NOT_SATISFIABLE'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'CONFLICT'
  | 'RATE_LIMITED'
  | 'OVERLOADED'
  | 'BAD_REQUEST'
  | 'CONFIG_INVALID'
  | 'STORE_FAILURE'
  | 'VERSION_NOT_IN_CATALOG'
  | 'INTERNAL';

/** ServerErrorResponseType numbers from the OpAMP proto. */
export const OpampErrorType = { Unknown: 0, BadRequest: 1, Unavailable: 2 } as const;

interface ErrorMapping {
  httpStatus: number;
  opampType: number;
}

export const errorTable: Record<ErrorCode, ErrorMapping> = {
  UNSUPPORTED_MEDIA_TYPE: { httpStatus: 415, opampType: OpampErrorType.BadRequest },
  BODY_TOO_LARGE: { httpStatus: 413, opampType: OpampErrorType.BadRequest },
  BAD_GZIP: { httpStatus: 400, opampType: OpampErrorType.BadRequest },
  BAD_PROTOBUF: { httpStatus: 400, opampType: OpampErrorType.BadRequest },
  BAD_INSTANCE_UID: { httpStatus: 400, opampType: OpampErrorType.BadRequest },
  TOO_MANY_ATTRIBUTES: { httpStatus: 400, opampType: OpampErrorType.BadRequest },
  NESTING_TOO_DEEP: { httpStatus: 400, opampType: OpampErrorType.BadRequest },
  BAD_REQUEST: { httpStatus: 400, opampType: OpampErrorType.BadRequest },
  RESPONSE_TOO_LARGE: { httpStatus: 500, opampType: OpampErrorType.Unknown },
  NOT_FOUND: { httpStatus: 404, opampType: OpampErrorType.BadRequest },
  RANGE_NOT_SATISFIABLE: { httpStatus: 416, opampType: OpampErrorType.BadRequest },
  UNAUTHORIZED: { httpStatus: 401, opampType: OpampErrorType.BadRequest },
  FORBIDDEN: { httpStatus: 403, opampType: OpampErrorType.BadRequest },
  CONFLICT: { httpStatus: 409, opampType: OpampErrorType.BadRequest },
  RATE_LIMITED: { httpStatus: 429, opampType: OpampErrorType.Unavailable },
  OVERLOADED: { httpStatus: 503, opampType: OpampErrorType.Unavailable },
  CONFIG_INVALID: { httpStatus: 500, opampType: OpampErrorType.Unknown },
  STORE_FAILURE: { httpStatus: 503, opampType: OpampErrorType.Unavailable },
  // A rollout may only name a version the catalog verified and can offer.
  VERSION_NOT_IN_CATALOG: { httpStatus: 422, opampType: OpampErrorType.BadRequest },
  INTERNAL: { httpStatus: 500, opampType: OpampErrorType.Unknown },
};

/** 30 s (the spec's minimum) plus up to 30 s of jitter, so a reconnect storm comes back spread out. */
export function retryAfterWithJitter(): number {
  return 30 + Math.floor(Math.random() * 31);
}

export class ServerError extends Error {
  readonly code: ErrorCode;
  /** Set for Unavailable answers: how long the client should wait before retrying. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { retryAfterSeconds?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ServerError';
    this.code = code;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  get httpStatus(): number {
    return errorTable[this.code].httpStatus;
  }

  get opampType(): number {
    return errorTable[this.code].opampType;
  }
}

/** A configuration problem: the message is the one line printed before the process exits. */
export class ConfigError extends ServerError {
  constructor(message: string) {
    super('CONFIG_INVALID', message);
    this.name = 'ConfigError';
  }
}

/** A failure of the store during a request: unavailable, not broken, so the client retries later. */
export function storeFailure(cause: unknown): ServerError {
  if (cause instanceof ServerError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  // Jittered like every other Retry-After: a store failure is exactly when the whole fleet retries.
  return new ServerError('STORE_FAILURE', `the store failed: ${detail}`, { retryAfterSeconds: retryAfterWithJitter(), cause });
}

/** Codes of Fastify's own refusals (body parser, validation, routing), by the status they carry. */
const CODE_BY_STATUS: Partial<Record<number, ErrorCode>> = {
  400: 'BAD_REQUEST', 404: 'NOT_FOUND', 413: 'BODY_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE', 416: 'RANGE_NOT_SATISFIABLE',
};

/** Any thrown value in the table's terms: Fastify's refusals by their status, a store that does not answer, else INTERNAL. */
export function asServerError(error: unknown): ServerError {
  if (error instanceof ServerError) return error;
  if (isStoreUnavailable(error)) return storeFailure(error);
  const message = error instanceof Error ? error.message : String(error);
  const fastifyError = error as { validation?: unknown; statusCode?: unknown };
  const code = fastifyError.validation ? 'BAD_REQUEST' : CODE_BY_STATUS[Number(fastifyError.statusCode)];
  return new ServerError(code ?? 'INTERNAL', message, { cause: error });
}

/** Codes whose message would carry the raw exception: clients get a generic one, the log the details. */
const GENERIC_MESSAGES: Partial<Record<ErrorCode, string>> = {
  INTERNAL: 'the server failed to answer',
  STORE_FAILURE: 'the store failed; retry later',
};

/** Where the details of a failure the client is not shown are written. */
export interface FailureLog {
  error(details: object, message: string): void;
}

/** What every wire format says about a failure: status, headers and the error a client may see. */
export interface ErrorAnswer {
  /** Carries the code, the message to show and the Retry-After. */
  failure: ServerError;
  status: number;
  headers: Record<string, string>;
}

/**
 * The part of an error answer every wire format shares, from the table: the status, Retry-After
 * when the client should come back, the one WWW-Authenticate rule (a 401 names the schemes the
 * refusing route accepts), and for INTERNAL and STORE_FAILURE a generic message with the code and
 * the request id, the details logged under that id.
 */
export function errorAnswer(error: unknown, context: { requestId: string; schemes: string; log: FailureLog }): ErrorAnswer {
  let failure = asServerError(error);
  const generic = GENERIC_MESSAGES[failure.code];
  if (generic !== undefined) {
    context.log.error({ err: failure.cause ?? failure, code: failure.code, requestId: context.requestId }, failure.message);
    failure = new ServerError(failure.code, `${generic} (${failure.code}, request ${context.requestId})`, {
      retryAfterSeconds: failure.retryAfterSeconds,
    });
  }
  const headers: Record<string, string> = {};
  if (failure.retryAfterSeconds !== undefined) headers['retry-after'] = String(failure.retryAfterSeconds);
  if (failure.code === 'UNAUTHORIZED') headers['www-authenticate'] = context.schemes;
  return { failure, status: failure.httpStatus, headers };
}
