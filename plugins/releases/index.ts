// A PackageSource that follows a release feed: it lists the releases it is told to follow,
// downloads each wanted tarball and its signature material into a cache once, checks the bytes
// against the release's checksums file, and reports what is complete. Signatures are checked
// by the catalog as for any source; a file the catalog rejects is deleted here and listed with
// the reason. scan() never touches the network, so a feed that is down costs nothing cached.
import { readFile, rm } from 'node:fs/promises';
import semver from 'semver';
import type { PackageSource, RejectedFile, SourceFile } from '../../src/packages/source';
import { ReleaseCache } from './cache';
import { fetchAsset, keyOnly, type ActiveDownload } from './fetch';
import { describe, FeedHttp, type FeedLogger } from './http';
import { identityOf, planRefresh, type AssetKey, type FetchItem, type PlanItem } from './plan';
import { NIGHTLY, type Feed, type Platform, type VersionSelection } from './selection';

export interface ReleasesSourceOptions {
  /** As configured, for logs and listings: `github:owner/repo` or the mirror URL. */
  feedText: string;
  feed: Feed;
  apiUrl: string;
  tokenFile: string | undefined;
  distributions: string[];
  platforms: Platform[];
  selection: VersionSelection;
  cacheDir: string;
  /** Offers point at the feed's own URL instead of this server. */
  passthrough: boolean;
  refreshMs: number;
  /** 0: no limit. */
  cacheMaxBytes: number;
  checksumsTemplate: string;
  maxAssetBytes: number;
  connectTimeoutMs: number;
  readTimeoutMs: number;
  parallelDownloads: number;
  /** Without --allow-unsigned, a tarball without signature material is not worth fetching. */
  requireSignature: boolean;
  logger: FeedLogger & { error(details: object, message: string): void };
  /** Longest rate-limit wait (tests shorten it). */
  maxRateLimitWaitMs?: number;
}

export interface FeedState {
  source: string;
  delivery: 'cache' | 'passthrough';
  lastAttemptAtMs: number | undefined;
  lastSuccessAtMs: number | undefined;
  lastError: string | undefined;
  refreshing: boolean;
  downloads: ActiveDownload[];
  cachedFiles: number;
  cachedBytes: number;
}

export interface RefreshPlan {
  source: string;
  /** What this refresh downloads. */
  fetch: Array<AssetKey & { size: number | undefined }>;
  /** Already cached with the bytes the feed names. */
  cached: number;
  /** Left out: larger than --releases-cache-max-bytes allows. */
  overBudget: string[];
  /** The feed could not be listed. */
  error: string | undefined;
}

interface Rejection extends RejectedFile {
  /** Set for a verdict on the content: not fetched again until the feed's file changes. */
  identity: string | undefined;
}

export type { ActiveDownload } from './fetch';

export function createReleasesSource(options: ReleasesSourceOptions): ReleasesSource {
  return new ReleasesSource(options);
}

export class ReleasesSource implements PackageSource {
  readonly name: string;
  private readonly options: ReleasesSourceOptions;
  private readonly cache: ReleaseCache;
  private readonly http: FeedHttp;
  private readonly listeners = new Set<() => void>();
  private readonly rejectionsByFile = new Map<string, Rejection>();
  private readonly active = new Map<string, ActiveDownload>();
  /** Sizes of files downloaded before, so a mirror's (unlisted) sizes count against the budget. */
  private readonly knownSizes = new Map<string, number>();
  private token: string | undefined;
  private opened: Promise<void> | undefined;
  private running: { plan: Promise<RefreshPlan>; done: Promise<void> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private protectedVersions: () => Iterable<string> = () => [];
  private state = { lastAttemptAtMs: undefined as number | undefined, lastSuccessAtMs: undefined as number | undefined, lastError: undefined as string | undefined };

  constructor(options: ReleasesSourceOptions) {
    this.options = options;
    this.name = `releases:${options.feedText}`;
    this.cache = new ReleaseCache(options.cacheDir);
    this.http = new FeedHttp({
      connectTimeoutMs: options.connectTimeoutMs,
      readTimeoutMs: options.readTimeoutMs,
      token: () => this.token,
      tokenScope: options.apiUrl,
      maxRateLimitWaitMs: options.maxRateLimitWaitMs,
      logger: options.logger,
    });
  }

  /** Versions that must stay cached whatever the budget (pinned --offer, rollouts). */
  protect(versions: () => Iterable<string>): void {
    this.protectedVersions = versions;
  }

  /** Refreshes now and then every --releases-refresh; start-up does not wait for the feed. */
  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs);
    this.timer.unref();
  }

  async scan(): Promise<SourceFile[]> {
    await this.open();
    return this.cache.sourceFiles(this.options.passthrough);
  }

  watch(onChange: () => void): void {
    this.listeners.add(onChange);
  }

  /** The catalog refused a file (archive or signature): it goes, and stays listed with why. */
  refusedByCatalog(file: SourceFile, reason: string): void {
    const asset = this.cache.get(file.fileName);
    if (asset === undefined || !file.tarballPath.startsWith(this.cache.assetDirectory(asset.sha256Hex))) return;
    this.remember({ ...asset, reason, atMs: Date.now(), identity: asset.identity });
    void this.cache.remove(file.fileName)
      .then(() => this.notify())
      .catch((error: unknown) => this.options.logger.warn({ file: file.fileName, err: error }, 'could not delete a rejected release file'));
  }

  rejections(): RejectedFile[] {
    return [...this.rejectionsByFile.values()].map(({ identity: _identity, ...rejection }) => rejection);
  }

  status(): FeedState {
    return {
      source: this.name,
      delivery: this.options.passthrough ? 'passthrough' : 'cache',
      ...this.state,
      refreshing: this.running !== undefined,
      downloads: [...this.active.values()].map((download) => ({ ...download })),
      cachedFiles: this.cache.list().length,
      cachedBytes: this.cache.totalBytes(),
    };
  }

  /** Starts a refresh (or joins the running one) and answers once it knows what it will fetch. */
  refresh(): Promise<RefreshPlan> {
    if (this.running) return this.running.plan;
    let announce!: (plan: RefreshPlan) => void;
    const plan = new Promise<RefreshPlan>((resolve) => {
      announce = resolve;
    });
    const done = this.runRefresh(announce)
      .catch((error: unknown) => {
        this.options.logger.error({ source: this.name, err: error }, 'release feed refresh failed');
        announce(this.emptyPlan(describe(error)));
      })
      .finally(() => {
        this.running = undefined;
      });
    this.running = { plan, done };
    return plan;
  }

  /** Resolves when no refresh is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running.done;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    if (this.timer) clearInterval(this.timer);
    await this.http.close();
    await this.running?.done;
  }

  private open(): Promise<void> {
    this.opened ??= this.cache.open();
    return this.opened;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private emptyPlan(error: string | undefined): RefreshPlan {
    return { source: this.name, fetch: [], cached: 0, overBudget: [], error };
  }

  private remember(rejection: Rejection): void {
    this.rejectionsByFile.set(rejection.fileName, {
      fileName: rejection.fileName, distribution: rejection.distribution, version: rejection.version, os: rejection.os,
      arch: rejection.arch, reason: rejection.reason, atMs: rejection.atMs, sha256Hex: rejection.sha256Hex, identity: rejection.identity,
    });
  }

  private async readToken(): Promise<void> {
    if (this.options.tokenFile === undefined) return;
    try {
      this.token = (await readFile(this.options.tokenFile, 'utf8')).trim() || undefined;
    } catch (error) {
      this.options.logger.warn({ file: this.options.tokenFile, err: error }, 'cannot read --releases-token-file; asking the feed without a token');
      this.token = undefined;
    }
  }

  private async runRefresh(announce: (plan: RefreshPlan) => void): Promise<void> {
    await this.open();
    await this.readToken();
    this.state.lastAttemptAtMs = Date.now();
    let items: PlanItem[];
    try {
      items = await planRefresh({
        http: this.http, feed: this.options.feed, apiUrl: this.options.apiUrl, selection: this.options.selection,
        distributions: this.options.distributions, platforms: this.options.platforms,
        checksumsTemplate: this.options.checksumsTemplate, cache: this.cache,
      });
    } catch (error) {
      const message = describe(error);
      if (this.state.lastError === undefined) {
        this.options.logger.warn({ source: this.name, err: error }, `release feed unreachable; offering what is cached: ${message}`);
      }
      this.state.lastError = message;
      announce(this.emptyPlan(message));
      return;
    }
    if (this.state.lastError !== undefined) this.options.logger.info({ source: this.name }, 'release feed reachable again');
    this.state.lastError = undefined;
    this.state.lastSuccessAtMs = Date.now();

    const keep = this.withinBudget(items);
    const queue: FetchItem[] = [];
    const overBudget = new Set<string>();
    for (const item of items) {
      if (!keep.has(item.version)) {
        overBudget.add(item.fileName);
      } else if (item.kind === 'missing') {
        this.remember({ ...item, reason: item.reason, atMs: Date.now(), sha256Hex: undefined, identity: undefined });
      } else if (item.kind === 'cached') {
        this.rejectionsByFile.delete(item.fileName);
        await this.cache.note(item.fileName, { upstreamUrl: item.upstreamUrl, identity: item.identity });
      } else if (this.rejectionsByFile.get(item.fileName)?.identity !== identityOf(item)) {
        queue.push(item);
      }
    }
    announce({
      source: this.name,
      fetch: queue.map((item) => ({ ...keyOnly(item), size: item.tarball.size })),
      cached: items.filter((item) => item.kind === 'cached').length,
      overBudget: [...overBudget],
      error: undefined,
    });
    if (queue.length > 0) this.options.logger.info({ source: this.name, files: queue.map((item) => item.fileName) }, `release feed: fetching ${queue.length} file(s)`);

    let changed = false;
    const workers = Array.from({ length: Math.min(this.options.parallelDownloads, queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined && !this.closed; item = queue.shift()) {
        if (await this.fetchOne(item)) changed = true;
      }
    });
    await Promise.all(workers);
    if (this.closed) return;
    if (await this.evict(items, keep)) changed = true;
    const planned = new Set(items.map((item) => item.fileName));
    for (const fileName of this.rejectionsByFile.keys()) if (!planned.has(fileName)) this.rejectionsByFile.delete(fileName);
    const wantedPartials = new Set(items.flatMap((item) => (item.kind === 'fetch' ? [item.sha256Hex] : [])));
    for (const sha256Hex of await this.cache.partials()) {
      if (!wantedPartials.has(sha256Hex)) await rm(this.cache.partialPath(sha256Hex), { force: true });
    }
    if (changed) this.notify();
  }

  /**
   * Versions that fit --releases-cache-max-bytes, newest first; the newest always fits, and a
   * version a rollout or a pinned --offer needs is kept whatever it costs.
   */
  private withinBudget(items: PlanItem[]): Set<string> {
    const versions = [...new Set(items.map((item) => item.version))].sort(compareNewestFirst);
    const protectedSet = new Set(this.protectedVersions());
    const keep = new Set<string>();
    let total = 0;
    for (const version of versions) {
      const bytes = items.filter((item) => item.version === version).reduce((sum, item) => sum + sizeOf(item, this.knownSizes), 0);
      const fits = this.options.cacheMaxBytes === 0 || total === 0 || total + bytes <= this.options.cacheMaxBytes;
      if (fits || protectedSet.has(version)) {
        keep.add(version);
        total += bytes;
      }
    }
    return keep;
  }

  /** Deletes cached versions no longer followed or over the budget, unless something needs them. */
  private async evict(items: PlanItem[], keep: Set<string>): Promise<boolean> {
    const protectedSet = new Set(this.protectedVersions());
    const wanted = new Set(items.filter((item) => keep.has(item.version)).map((item) => item.fileName));
    let evicted = false;
    for (const asset of this.cache.list()) {
      if (wanted.has(asset.fileName) || protectedSet.has(asset.version)) continue;
      await this.cache.remove(asset.fileName);
      this.options.logger.info({ file: asset.fileName, version: asset.version }, 'release cache: evicted a version no longer followed or over --releases-cache-max-bytes');
      evicted = true;
    }
    return evicted;
  }

  /** Downloads, checks and installs one tarball; true when installed, else it is listed with why. */
  private async fetchOne(item: FetchItem): Promise<boolean> {
    const outcome = await fetchAsset({
      http: this.http, cache: this.cache, maxAssetBytes: this.options.maxAssetBytes,
      requireSignature: this.options.requireSignature, logger: this.options.logger, active: this.active,
    }, item);
    if (outcome.kind === 'installed') {
      this.knownSizes.set(item.sha256Hex, outcome.size);
      this.rejectionsByFile.delete(item.fileName);
      return true;
    }
    this.remember({
      ...keyOnly(item), reason: outcome.reason, atMs: Date.now(), sha256Hex: item.sha256Hex,
      identity: outcome.permanent ? identityOf(item) : undefined,
    });
    this.options.logger.warn({ file: item.fileName, reason: outcome.reason }, `release file rejected: ${outcome.reason}`);
    return false;
  }
}

function sizeOf(item: PlanItem, knownSizes: Map<string, number>): number {
  if (item.kind === 'cached') return item.size;
  if (item.kind === 'fetch') return item.tarball.size ?? knownSizes.get(item.sha256Hex) ?? 0;
  return 0;
}

function compareNewestFirst(left: string, right: string): number {
  if (left === right) return 0;
  if (semver.valid(left) === null || left === NIGHTLY) return -1;
  if (semver.valid(right) === null || right === NIGHTLY) return 1;
  return semver.rcompare(left, right);
}
