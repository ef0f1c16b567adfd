// One tarball from the feed to a partial file in the cache, hashed on the way. A partial file
// left by an interrupted download is resumed with Range: its bytes are hashed first, and only
// the rest is asked for. The caller compares the hash with the checksums file.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { FeedError, type FeedHttp } from './http';

export interface DownloadProgress {
  receivedBytes: number;
  /** Undefined when the feed did not say. */
  totalBytes: number | undefined;
}

export interface DownloadResult {
  sha256Hex: string;
  size: number;
  /** Bytes that were already in the partial file and not fetched again. */
  resumedFrom: number;
}

/** The file is larger than allowed: not worth resuming, the caller deletes it. */
export class TooLargeError extends FeedError {}

async function partialSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function hashExisting(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/** `bytes START-END/TOTAL` of a 206 answer. */
function contentRange(header: string | null): { start: number; total: number | undefined } | undefined {
  const match = header === null ? null : /^bytes\s+(\d+)-\d+\/(\d+|\*)$/i.exec(header.trim());
  if (!match) return undefined;
  return { start: Number(match[1]), total: match[2] === '*' ? undefined : Number(match[2]) };
}

export async function downloadToPartial(
  http: FeedHttp,
  url: string,
  partialPath: string,
  maxBytes: number,
  onProgress: (progress: DownloadProgress) => void,
): Promise<DownloadResult> {
  let have = await partialSize(partialPath);
  const hash = createHash('sha256');
  const response = await http.get(url, have > 0 ? { range: `bytes=${have}-` } : {});
  let totalBytes: number | undefined;
  if (response.status === 416 && have > 0) {
    // Everything was already here: the feed has nothing past the end of the partial file.
    await response.body?.cancel();
    await hashExisting(partialPath, hash);
    return { sha256Hex: hash.digest('hex'), size: have, resumedFrom: have };
  }
  if (response.status === 206 && have > 0) {
    const range = contentRange(response.headers.get('content-range'));
    if (range === undefined || range.start !== have) {
      await response.body?.cancel();
      await rm(partialPath, { force: true });
      throw new FeedError(`${url} answered a range other than the one asked; starting over next time`);
    }
    totalBytes = range.total;
    await hashExisting(partialPath, hash);
  } else if (response.status === 200) {
    // A feed that ignores Range sends the whole file: the partial one is written anew.
    have = 0;
    const length = response.headers.get('content-length');
    totalBytes = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
  } else {
    await response.body?.cancel();
    throw new FeedError(`${url} answered HTTP ${response.status}`, response.status);
  }
  if (totalBytes !== undefined && totalBytes > maxBytes) {
    await response.body?.cancel();
    await rm(partialPath, { force: true });
    throw new TooLargeError(`the asset is ${totalBytes} bytes, more than the limit of ${maxBytes}`);
  }
  const resumedFrom = have;
  const output = createWriteStream(partialPath, { flags: resumedFrom > 0 ? 'a' : 'w' });
  let received = resumedFrom;
  try {
    for await (const chunk of response.body ?? []) {
      const bytes = chunk as Uint8Array;
      received += bytes.byteLength;
      if (received > maxBytes) throw new TooLargeError(`the asset is more than the limit of ${maxBytes} bytes`);
      hash.update(bytes);
      if (!output.write(bytes)) await once(output, 'drain');
      onProgress({ receivedBytes: received, totalBytes });
    }
  } catch (error) {
    output.end();
    await once(output, 'close').catch(() => undefined);
    if (error instanceof TooLargeError) {
      await rm(partialPath, { force: true });
      throw error;
    }
    // What arrived stays in the partial file; the next refresh asks for the rest.
    throw new FeedError(`download of ${url} interrupted after ${received} bytes: ${(error as Error).message}`, undefined, { cause: error });
  }
  output.end();
  await once(output, 'close');
  if (totalBytes !== undefined && received < totalBytes) {
    throw new FeedError(`download of ${url} ended after ${received} of ${totalBytes} bytes; it resumes at the next refresh`);
  }
  return { sha256Hex: hash.digest('hex'), size: received, resumedFrom };
}
