// Prometheus metrics (prom-client), one registry per server so that several servers in one
// process (the tests) never share counters. Agent counts are read from the store at scrape time,
// so they are right on every instance sharing a store; everything else counts this instance only.
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { LocalHistogram, type HistogramChild } from './metrics-histogram';
import type { PollObserver } from './opamp/poll';
import type { FeedState } from '../plugins/releases';
import type { Catalog } from './packages/catalog';
import { DOWNLOAD_PREFIX } from './packages/download';
import type { AgentStore } from './store/types';
import { TimedAgentStore } from './store/timed';

const DOWNLOAD_ROUTE = `${DOWNLOAD_PREFIX}/:sha256/:filename`;

export class Metrics {
  readonly registry = new Registry();
  private readonly polls: Counter<'outcome'>;
  private readonly offers: Counter;
  private readonly downloads: Counter<'code'>;
  private readonly downloadBytes: Counter;
  private readonly verificationFailures: Counter<'code'>;
  private readonly requestSeconds: LocalHistogram;
  private readonly storeSeconds: LocalHistogram;
  readonly observer: PollObserver;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // Polls are counted in a plain map and handed to the counter when scraped: labelling a
    // prom-client counter validates and hashes the labels on every poll.
    const outcomes = new Map<string, number>();
    this.polls = new Counter({
      name: 'opamp_polls_total',
      help: 'Polls by outcome: ok or the error code.',
      labelNames: ['outcome'],
      registers,
      collect() {
        this.reset();
        for (const [outcome, count] of outcomes) this.inc({ outcome }, count);
      },
    });
    this.offers = new Counter({ name: 'opamp_offers_sent_total', help: 'Package offers sent to agents.', registers });
    this.downloads = new Counter({
      name: 'opamp_package_downloads_total', help: 'Package download requests by HTTP status.', labelNames: ['code'], registers,
    });
    this.downloadBytes = new Counter({
      name: 'opamp_package_download_bytes_total', help: 'Package bytes served (as announced by Content-Length).', registers,
    });
    this.verificationFailures = new Counter({
      name: 'opamp_package_verification_failures_total',
      help: 'Package files whose signature did not verify, by failure code, counted once per version of a file and trusted root.',
      labelNames: ['code'],
      registers,
    });
    this.requestSeconds = new LocalHistogram(
      'http_request_duration_seconds',
      'HTTP request latency by route.',
      ['method', 'route', 'status_code'],
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      this.registry,
    );
    this.storeSeconds = new LocalHistogram(
      'opamp_store_operation_duration_seconds',
      'Latency of store operations that wait on the store (not batched writes or records held in memory).',
      ['operation'],
      [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      this.registry,
    );
    this.observer = {
      polled: (outcome) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1),
      offerSent: () => this.offers.inc(),
    };
  }

  /** The store with every call of the AgentStore contract that waits on it timed. */
  instrumentStore(store: AgentStore): AgentStore {
    return new TimedAgentStore(store, (operation) => this.storeSeconds.child(operation));
  }

  /** Agents by state and version, read from the store at each scrape. */
  trackAgents(store: AgentStore, offlineAfterMs: number, now: () => number): void {
    new Gauge({
      name: 'opamp_agents',
      help: 'Agents known to the store, by state (online, offline, disconnected) and service.version.',
      labelNames: ['state', 'version'],
      registers: [this.registry],
      async collect() {
        const counts = await store.countAgentsByStateAndVersion(now(), offlineAfterMs);
        this.reset();
        for (const count of counts) this.set({ state: count.state, version: count.version }, count.count);
      },
    });
  }

  /** Counts signature failures as the catalog ingests files, and its current size. */
  /** The release feed: reachable or not, when it last answered, what it has cached and is fetching. */
  watchReleaseFeed(feed: { status(): FeedState }): void {
    const gauge = (name: string, help: string, value: (state: FeedState) => number | undefined): void => {
      new Gauge({
        name,
        help,
        labelNames: ['source'],
        registers: [this.registry],
        collect() {
          const state = feed.status();
          const measured = value(state);
          if (measured !== undefined) this.set({ source: state.source }, measured);
        },
      });
    };
    gauge('opamp_release_feed_up', '1 when the last refresh could list the release feed, 0 when it could not (cached packages stay offered).',
      (state) => (state.lastError === undefined ? 1 : 0));
    gauge('opamp_release_feed_last_success_timestamp_seconds', 'When the release feed was last listed successfully (Unix seconds).',
      (state) => (state.lastSuccessAtMs === undefined ? undefined : state.lastSuccessAtMs / 1000));
    gauge('opamp_release_feed_downloads_in_progress', 'Release files being downloaded right now.', (state) => state.downloads.length);
    gauge('opamp_release_cache_bytes', 'Bytes of checked release files in the cache.', (state) => state.cachedBytes);
  }

  watchCatalog(catalog: Catalog): void {
    const counted = new Set<string>();
    const count = (): void => {
      for (const entry of catalog.list()) {
        const key = `${entry.source}\u0000${entry.fileName}\u0000${entry.fingerprint}\u0000${entry.verifiedUnder}`;
        if (entry.signature === undefined || entry.signature.verified || counted.has(key)) continue;
        counted.add(key);
        this.verificationFailures.inc({ code: entry.signature.code ?? 'unknown' });
      }
    };
    count();
    catalog.onChange(count);
    new Gauge({
      name: 'opamp_catalog_packages',
      help: 'Package files in the catalog, by verdict (offerable or rejected).',
      labelNames: ['verdict'],
      registers: [this.registry],
      collect() {
        const entries = catalog.list();
        const offerable = entries.filter((entry) => entry.offerable).length;
        this.set({ verdict: 'offerable' }, offerable);
        this.set({ verdict: 'rejected' }, entries.length - offerable);
      },
    });
  }

  /** A latency recorder for one route, its children kept by status so a request builds no key. */
  routeLatency(method: string, route: string): (statusCode: number, seconds: number) => void {
    const children = new Map<number, HistogramChild>();
    return (statusCode, seconds) => {
      let child = children.get(statusCode);
      if (child === undefined) {
        child = this.requestSeconds.child(method, route, String(statusCode));
        children.set(statusCode, child);
      }
      child.observe(seconds);
    };
  }

  /** Request latency for every Fastify route, and download counts. */
  registerHooks(app: FastifyInstance): void {
    // One recorder per route and method, so that a request builds no label key; a callback
    // hook rather than an async one, so that a poll makes no promise here.
    const recorders = new Map<string, Map<string, (statusCode: number, seconds: number) => void>>();
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched';
      let byMethod = recorders.get(route);
      if (byMethod === undefined) {
        byMethod = new Map();
        recorders.set(route, byMethod);
      }
      let record = byMethod.get(request.method);
      if (record === undefined) {
        record = this.routeLatency(request.method, route);
        byMethod.set(request.method, record);
      }
      record(reply.statusCode, reply.elapsedTime / 1000);
      if (route === DOWNLOAD_ROUTE) {
        this.downloads.inc({ code: String(reply.statusCode) });
        if (request.method === 'GET' && (reply.statusCode === 200 || reply.statusCode === 206)) {
          this.downloadBytes.inc(Number(reply.getHeader('content-length') ?? 0));
        }
      }
      done();
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
