// The bytes of an OpAMP request: media type, content coding and a size-bounded gunzip. Each
// refusal is a ServerError, so the route answers it from the table.
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
