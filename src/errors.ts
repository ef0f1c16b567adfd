// Every failure the server reports carries a literal code. One table below decides what each
// code means on the wire (HTTP status, OpAMP ServerErrorResponse type), so routes never
// improvise their own mapping.

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

export function asServerError(error: unknown): ServerError {
  if (error instanceof ServerError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ServerError('INTERNAL', message, { cause: error });
}
