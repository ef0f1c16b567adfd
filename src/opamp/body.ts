// The bytes of an OpAMP request: media type, content coding, a size-bounded read and a
// size-bounded gunzip. Each refusal is a ServerError, so the route answers it from the table.
import type { IncomingMessage } from 'node:http';
import zlib from 'node:zlib';
import { ServerError } from '../errors';

export const PROTOBUF = 'application/x-protobuf';

export function isProtobuf(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  if (contentType === PROTOBUF) return true;
  return contentType.split(';', 1)[0]!.trim().toLowerCase() === PROTOBUF;
}

export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const [coding, ...parameters] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const quality = parameters.map((parameter) => parameter.trim()).find((parameter) => parameter.startsWith('q='));
    return quality === undefined || Number(quality.slice(2)) > 0;
  });
}

/** True for gzip; false for none; a ServerError for any other coding. */
export function isGzipped(encoding: string | undefined): boolean {
  if (encoding === undefined) return false;
  const coding = encoding.trim().toLowerCase();
  if (coding === 'identity' || coding === '') return false;
  if (coding === 'gzip' || coding === 'x-gzip') return true;
  throw new ServerError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${coding} is not supported; send gzip or none`);
}

export function gunzip(body: Buffer, limit: number): Buffer {
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

function tooLarge(limit: number): ServerError {
  return new ServerError('BODY_TOO_LARGE', `the request body is over the limit of ${limit} bytes`);
}

/**
 * Reads the whole body and calls `done` once: with the bytes, with a ServerError once it passes
 * `limit` bytes (at once when Content-Length says so), or with a plain Error when it stops half
 * way (the client went away). A callback rather than a promise: every poll reads a body, and
 * the route answers most polls without waiting on anything else.
 */
export function readBody(request: IncomingMessage, limit: number, done: (error: Error | undefined, body?: Buffer) => void): void {
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    done(tooLarge(limit));
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const settle = (error: Error | undefined, body?: Buffer): void => {
    if (settled) return;
    settled = true;
    done(error, body);
  };
  const onData = (chunk: Buffer): void => {
    size += chunk.byteLength;
    if (size > limit) {
      request.off('data', onData);
      // Keep draining so the answer can be written; the route closes the connection after it.
      request.resume();
      settle(tooLarge(limit));
      return;
    }
    chunks.push(chunk);
  };
  // 'on', not 'once': each event comes once per request anyway, and the wrappers 'once'
  // allocates would be made for every poll.
  request.on('data', onData);
  request.on('end', () => {
    if (size <= limit) settle(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  });
  request.on('error', (error) => settle(error));
  request.on('close', () => {
    if (!request.complete) settle(new Error('the client went away before the body ended'));
  });
}
