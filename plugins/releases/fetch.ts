// One wanted tarball from the feed into the cache: its signature material first (small, kept
// in memory), then the tarball streamed to a partial file with progress in the log and the
// listing, then the checksum comparison and the atomic install. What went wrong is returned,
// with whether it is a verdict on the content (not fetched again until the feed's file changes).
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SidecarKind } from '../../src/packages/asset-name';
import type { ReleaseCache } from './cache';
import { downloadToPartial, TooLargeError, type DownloadProgress } from './download';
import { fetchSmall } from './feed';
import { describe, FeedError, type FeedHttp, type FeedLogger } from './http';
import { identityOf, type AssetKey, type FetchItem } from './plan';

export interface ActiveDownload extends AssetKey {
  receivedBytes: number;
  totalBytes: number | undefined;
  bytesPerSecond: number;
  startedAtMs: number;
}

export type FetchOutcome =
  | { kind: 'installed'; size: number }
  | { kind: 'rejected'; reason: string; permanent: boolean };

export interface FetchContext {
  http: FeedHttp;
  cache: ReleaseCache;
  maxAssetBytes: number;
  requireSignature: boolean;
  logger: FeedLogger;
  /** Downloads in progress by file name, for the listing; this adds and removes its own. */
  active: Map<string, ActiveDownload>;
}

const SIDECAR_MAX_BYTES = 1024 * 1024;
const PROGRESS_LOG_MS = 5000;

export function keyOnly(item: AssetKey): AssetKey {
  return { fileName: item.fileName, distribution: item.distribution, version: item.version, os: item.os, arch: item.arch };
}

export async function fetchAsset(context: FetchContext, item: FetchItem): Promise<FetchOutcome> {
  const reject = async (reason: string, permanent: boolean): Promise<FetchOutcome> => {
    // Signature material staged for a tarball that will not be installed is of no use.
    await rm(context.cache.sidecarStaging(item.sha256Hex), { recursive: true, force: true });
    return { kind: 'rejected', reason, permanent };
  };
  try {
    const sidecars = await fetchSidecars(context, item);
    if (sidecars.length === 0 && context.requireSignature) {
      return await reject(`release ${item.release.tag} has no signature material for ${item.fileName} (.sigstore.json, or .pem and .sig)`, true);
    }
    const partial = context.cache.partialPath(item.sha256Hex);
    const result = await downloadToPartial(context.http, item.tarball.url, partial, context.maxAssetBytes, tracker(context, item))
      .finally(() => context.active.delete(item.fileName));
    if (result.sha256Hex !== item.sha256Hex) {
      await rm(partial, { force: true });
      return await reject(`checksum mismatch: the checksums file says ${item.sha256Hex}, the download hashes to ${result.sha256Hex}`, true);
    }
    await context.cache.install({
      ...keyOnly(item), sha256Hex: item.sha256Hex, size: result.size, sidecars, upstreamUrl: item.tarball.url,
      identity: identityOf(item), downloadedAtMs: Date.now(),
    });
    context.logger.info({ file: item.fileName, sha256: item.sha256Hex, size: result.size, resumedFrom: result.resumedFrom || undefined },
      `release file downloaded and checked against the checksums file: ${item.fileName}`);
    return { kind: 'installed', size: result.size };
  } catch (error) {
    if (error instanceof TooLargeError) return reject(`${error.message} (--releases-max-asset-bytes)`, true);
    if (error instanceof FeedError && error.status === 404) return reject(`not found on the feed (HTTP 404): ${item.tarball.url}`, false);
    return reject(`download failed, retried at the next refresh: ${describe(error)}`, false);
  }
}

/** Keeps the listing's entry for this download current and logs progress every few seconds. */
function tracker(context: FetchContext, item: FetchItem): (update: DownloadProgress) => void {
  const started = Date.now();
  const download: ActiveDownload = { ...keyOnly(item), receivedBytes: 0, totalBytes: item.tarball.size, bytesPerSecond: 0, startedAtMs: started };
  context.active.set(item.fileName, download);
  let loggedAt = started;
  return (update) => {
    const now = Date.now();
    download.receivedBytes = update.receivedBytes;
    download.totalBytes = update.totalBytes ?? download.totalBytes;
    download.bytesPerSecond = Math.round(update.receivedBytes / Math.max((now - started) / 1000, 0.001));
    if (now - loggedAt < PROGRESS_LOG_MS) return;
    loggedAt = now;
    const percent = download.totalBytes ? Math.floor((100 * update.receivedBytes) / download.totalBytes) : undefined;
    context.logger.info(
      { file: item.fileName, receivedBytes: update.receivedBytes, totalBytes: download.totalBytes, percent, bytesPerSecond: download.bytesPerSecond },
      `downloading ${item.fileName}: ${percent ?? '?'}% at ${(download.bytesPerSecond / 1e6).toFixed(1)} MB/s`,
    );
  };
}

/** Signature material into the staging directory; the kinds found (empty: none in the release). */
async function fetchSidecars(context: FetchContext, item: FetchItem): Promise<SidecarKind[]> {
  const staging = context.cache.sidecarStaging(item.sha256Hex);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  for (const choice of item.sidecarChoices) {
    const found: SidecarKind[] = [];
    for (const sidecar of choice) {
      const location = item.release.asset(sidecar.name);
      const bytes = location === undefined ? undefined : await fetchSmall(context.http, location.url, SIDECAR_MAX_BYTES);
      if (bytes === undefined) break;
      await writeFile(path.join(staging, sidecar.name), bytes);
      found.push(sidecar.kind);
    }
    if (found.length === choice.length) return found;
  }
  return [];
}
