// Prometheus metrics (prom-client), one registry per server so that several servers in one
// process (the tests) never share counters. Agent counts are read from the store at scrape time,
// so they are right on every instance sharing a store; everything else counts this instance only.
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { LocalHistogram } from './metrics-histogram';
import type { PollObserver } from './opamp/poll';
import type { Catalog } from './packages/catalog';
import { DOWNLOAD_PREFIX } from './packages/download';
import type { AgentStore } from './store/types';

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
    this.polls = new Counter({ name: 'opamp_polls_total', help: 'Polls by outcome: ok or the error code.', labelNames: ['outcome'], registers });
    this.offers = new Counter({ name: 'opamp_offers_sent_total', help: 'Package offers sent to agents.', registers });
    this.downloads = new Counter({
      name: 'opamp_package_downloads_total', help: 'Package download requests by HTTP status.', labelNames: ['code'], registers,
    });
    this.downloadBytes = new Counter({
      name: 'opamp_package_download_bytes_total', help: 'Package bytes served (as announced by Content-Length).', registers,
    });
    this.verificationFailures = new Counter({
      name: 'opamp_package_verification_failures_total',
      help: 'Package files whose signature did not verify, by failure code, counted once per version of a file.',
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
      'Latency of store operations.',
      ['operation'],
      [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      this.registry,
    );
    this.observer = {
      polled: (outcome) => this.polls.inc({ outcome }),
      offerSent: () => this.offers.inc(),
    };
  }

  /** The store with every call timed. */
  instrumentStore(store: AgentStore): AgentStore {
    const histogram = this.storeSeconds;
    // One labelled child per operation, made once: labelling on every call hashes the labels
    // again, and this runs twice per poll.
    const wrapped = new Map<string, (...args: unknown[]) => Promise<unknown>>();
    return new Proxy(store, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function' || typeof property !== 'string') return value;
        let method = wrapped.get(property);
        if (method === undefined) {
          const child = histogram.child(property);
          method = (...args: unknown[]) => {
            const started = performance.now();
            // Every store method returns a promise (the contract is asynchronous).
            const result = value.apply(target, args) as Promise<unknown>;
            const stop = () => child.observe((performance.now() - started) / 1000);
            result.then(stop, stop);
            return result;
          };
          wrapped.set(property, method);
        }
        return method;
      },
    });
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
  watchCatalog(catalog: Catalog): void {
    const counted = new Set<string>();
    const count = (): void => {
      for (const entry of catalog.list()) {
        const key = `${entry.source}\u0000${entry.fileName}\u0000${entry.fingerprint}`;
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

  /** One answered request's latency. */
  observeRequest(method: string, route: string, statusCode: number, seconds: number): void {
    this.requestSeconds.child(method, route, String(statusCode)).observe(seconds);
  }

  /** Request latency for every Fastify route, and download counts. */
  registerHooks(app: FastifyInstance): void {
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      this.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
      if (route !== DOWNLOAD_ROUTE) return;
      this.downloads.inc({ code: String(reply.statusCode) });
      if (request.method === 'GET' && (reply.statusCode === 200 || reply.statusCode === 206)) {
        this.downloadBytes.inc(Number(reply.getHeader('content-length') ?? 0));
      }
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
