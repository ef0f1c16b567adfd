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

/** Accept-Encoding values already read: a fleet sends a handful of distinct ones. */
const acceptEncodingSeen = new Map<string, boolean>();
const ACCEPT_ENCODING_SEEN_MAX = 64;

export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  // Go's http.Client sends exactly this on every poll; reading the list each time cost ~1 µs.
  if (header === 'gzip') return true;
  let accepted = acceptEncodingSeen.get(header);
  if (accepted === undefined) {
    accepted = readAcceptEncoding(header);
    // Bounded: a client sending a new value on every request only ever misses the table.
    if (acceptEncodingSeen.size < ACCEPT_ENCODING_SEEN_MAX) acceptEncodingSeen.set(header, accepted);
  }
  return accepted;
}

function readAcceptEncoding(header: string): boolean {
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

/**
 * Answers shorter than this are sent in gzip's stored form (deflate's uncompressed block): a
 * heartbeat's answer is about 20 bytes, which no compressor can shrink, and setting up zlib for
 * it cost 12-14 µs a poll, a fifth of the whole poll, for clients that send Accept-Encoding:
 * gzip on every request (opamp-go through Go's http.Client, Node's fetch).
 */
export const STORED_GZIP_BELOW_BYTES = 128;

/** Fixed gzip header: deflate, no flags, no time, no extra flags, OS unknown (RFC 1952). */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff]);

/** The answer as a gzip member: compressed when it is long enough to gain, else stored. */
export function gzipAnswer(body: Buffer): Buffer {
  if (body.byteLength >= STORED_GZIP_BELOW_BYTES) return zlib.gzipSync(body);
  const length = body.byteLength;
  const member = Buffer.allocUnsafe(GZIP_HEADER.byteLength + 5 + length + 8);
  let at = GZIP_HEADER.copy(member, 0);
  // One final stored block (BFINAL=1, BTYPE=00): LEN and its one's complement, then the bytes.
  member[at++] = 0x01;
  at = member.writeUInt16LE(length, at);
  at = member.writeUInt16LE(~length & 0xffff, at);
  at += body.copy(member, at);
  // Trailer: CRC-32 of the data and its length modulo 2^32.
  at = member.writeUInt32LE(zlib.crc32(body), at);
  member.writeUInt32LE(length, at);
  return member;
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
