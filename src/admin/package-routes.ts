// The catalog in the admin API: every package with its verdict, what the sources refused, the
// release feed's state, and a refresh of the feed on demand.
import { ServerError } from '../errors';
import type { FeedState, RefreshPlan } from '../../plugins/releases';
import type { RejectedFile } from '../packages/source';
import { adminRoute, type AdminOptions, type AdminRoute } from './types';
import { packageView } from './views';

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

export function rejectedView(file: RejectedFile & { source: string }) {
  return {
    file_name: file.fileName,
    source: file.source,
    distribution: file.distribution,
    version: file.version,
    os: file.os,
    arch: file.arch,
    sha256: file.sha256Hex ?? null,
    reason: file.reason,
    at: iso(file.atMs),
  };
}

export function feedView(state: FeedState) {
  return {
    source: state.source,
    delivery: state.delivery,
    refreshing: state.refreshing,
    last_attempt_at: iso(state.lastAttemptAtMs),
    last_success_at: iso(state.lastSuccessAtMs),
    last_error: state.lastError ?? null,
    cached_files: state.cachedFiles,
    cached_bytes: state.cachedBytes,
    downloads: state.downloads.map((download) => ({
      file_name: download.fileName,
      version: download.version,
      received_bytes: download.receivedBytes,
      total_bytes: download.totalBytes ?? null,
      percent: download.totalBytes ? Math.floor((100 * download.receivedBytes) / download.totalBytes) : null,
      bytes_per_second: download.bytesPerSecond,
      started_at: iso(download.startedAtMs),
    })),
  };
}

/** For /api/status: the feed has a field of its own, since the server works on without it. */
export function feedStatus(state: FeedState | undefined) {
  if (state === undefined) return null;
  const status = state.lastError !== undefined ? 'unreachable' : state.lastSuccessAtMs === undefined ? 'pending' : 'ok';
  return { source: state.source, status, last_success_at: iso(state.lastSuccessAtMs), last_error: state.lastError ?? null };
}

/** How long POST /api/v1/packages/refresh waits for the feed's list before answering anyway. */
const PLAN_WAIT_MS = 10_000;

function refreshView(plan: RefreshPlan, planned: boolean) {
  return {
    source: plan.source,
    planned,
    fetch: plan.fetch.map((item) => ({
      file_name: item.fileName, version: item.version, os: item.os, arch: item.arch, size: item.size ?? null,
    })),
    cached: plan.cached,
    over_budget: plan.overBudget,
    error: plan.error ?? null,
  };
}

export function packageRoutes(options: AdminOptions): AdminRoute[] {
  return [
    adminRoute('get', '/api/v1/packages', async () => {
      const catalog = options.packages?.catalog;
      const entries = catalog?.list() ?? [];
      // A file the catalog refused is deleted by its source, which lists it from then on.
      const listed = new Set(entries.map((entry) => `${entry.source}\u0000${entry.fileName}`));
      const rejected = (catalog?.rejectedBySources() ?? []).filter((file) => !listed.has(`${file.source}\u0000${file.fileName}`));
      const releases = options.packages?.releases;
      return {
        configured: options.packages !== undefined,
        packages: entries.map(packageView),
        rejected: rejected.map(rejectedView),
        feeds: releases ? [feedView(releases.status())] : [],
      };
    }),
    adminRoute('post', '/api/v1/packages/refresh', async (request, reply) => {
      const releases = options.packages?.releases;
      if (releases === undefined) throw new ServerError('CONFLICT', 'no release feed is followed (--releases)');
      // A rate-limited or slow feed must not hold the caller: the refresh goes on regardless.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<undefined>((resolve) => {
        timer = setTimeout(resolve, PLAN_WAIT_MS, undefined);
      });
      const plan = await Promise.race([releases.refresh(), late]).finally(() => clearTimeout(timer));
      const shown = plan ?? { source: releases.name, fetch: [], cached: 0, overBudget: [], error: undefined };
      request.log.info({ source: shown.source, fetch: shown.fetch.length, error: shown.error, planned: plan !== undefined }, 'release feed refresh asked');
      return reply.code(202).send({ refreshing: [refreshView(shown, plan !== undefined)] });
    }, { optionalBody: true }),
  ];
}
