// GET/HEAD /v1/packages/{sha256}/{filename}: streams catalog tarballs from disk. The URL only
// selects a catalog entry; the path served is the entry's own, so nothing from the URL ever
// reaches the filesystem.
import fs from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ServerError } from '../errors';
import { jsonErrorHandler } from '../json-errors';
import type { Catalog, CatalogEntry } from './catalog';

export const DOWNLOAD_PREFIX = '/v1/packages';

interface ByteRange {
  start: number;
  end: number;
}

/**
 * One `bytes=` range, or 'unsatisfiable', or undefined to serve the whole file (no header, a
 * malformed one, or several ranges, which a server may answer with the full body).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** Thrown, so the route's error handler answers it through the error table like any refusal. */
function notFound(): ServerError {
  return new ServerError('NOT_FOUND', 'no such package in the catalog');
}

export interface DownloadRouteOptions {
  catalog: Catalog;
  /** Called before a download is served; throw a ServerError to refuse it (download tokens). */
  authorize?: (request: FastifyRequest, entry: CatalogEntry) => void;
}

/** The download route, as a plugin of its own. */
export async function downloadRoute(app: FastifyInstance, options: DownloadRouteOptions): Promise<void> {
  const { catalog } = options;
  app.route<{ Params: { sha256: string; filename: string } }>({
    method: ['GET', 'HEAD'],
    url: `${DOWNLOAD_PREFIX}/:sha256/:filename`,
    // A refusal from `authorize` (or any failure) answers with the status the error table gives;
    // download tokens go only as Bearer.
    errorHandler: jsonErrorHandler('Bearer'),
    handler: async (request, reply) => {
      const { sha256, filename } = request.params;
      const entry = /^[0-9a-f]{64}$/.test(sha256) ? catalog.find(sha256, filename) : undefined;
      if (!entry) throw notFound();
      options.authorize?.(request, entry);

      let handle: fs.promises.FileHandle;
      try {
        handle = await fs.promises.open(entry.tarballPath, 'r');
      } catch {
        throw notFound();
      }
      // The handle is closed here on every path but one: a body stream takes it over and closes it.
      let streaming = false;
      try {
        const stats = await handle.stat();
        // Replaced on disk since it was hashed: these bytes would not match content_hash.
        if (stats.size !== entry.size) {
          void catalog.rescan();
          throw notFound();
        }
        const etag = `"${entry.sha256Hex}"`;
        reply
          .header('content-type', 'application/gzip')
          .header('etag', etag)
          .header('accept-ranges', 'bytes')
          .header('last-modified', stats.mtime.toUTCString())
          .header('cache-control', 'public, max-age=31536000, immutable');
        if (request.headers['if-none-match'] === etag) return reply.code(304).send();
        const ifRange = request.headers['if-range'];
        const range = ifRange === undefined || ifRange === etag ? parseRange(request.headers.range, entry.size) : undefined;
        if (range === 'unsatisfiable') {
          reply.header('content-range', `bytes */${entry.size}`);
          throw new ServerError('RANGE_NOT_SATISFIABLE', `the range is outside the file of ${entry.size} bytes`);
        }
        const start = range?.start ?? 0;
        const end = range?.end ?? entry.size - 1;
        reply.header('content-length', String(end - start + 1));
        if (range) reply.code(206).header('content-range', `bytes ${start}-${end}/${entry.size}`);
        if (request.method === 'HEAD' || entry.size === 0) return reply.send();
        const body = handle.createReadStream({ start, end, highWaterMark: 256 * 1024 });
        streaming = true;
        return reply.send(body);
      } finally {
        if (!streaming) await handle.close();
      }
    },
  });
}
