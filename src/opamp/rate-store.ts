// The counters behind @fastify/rate-limit's per-agent and per-address limits. The plugin's own
// local store keeps them in an LRU list, which moves the key on every read and every write; at
// one poll per agent in rotation across the fleet, every such move is a cache miss. This store
// keeps two generations of plain maps instead: a key seen since the last turnover is in the
// recent one, a key that is not is looked for once in the older one and moved, and at each
// turnover the older generation, every key not seen for a whole generation, is dropped. So at
// least `cache` keys are always remembered (as with the LRU), at most twice that many.
// The counting is the local store's: a window per key from its first request, no backoff.

interface Counter {
  current: number;
  ttl: number;
  iterationStartMs: number;
}

type Answer = (error: Error | null, counter: Counter) => void;

export class GenerationalRateStore {
  private recent = new Map<string, Counter>();
  private older = new Map<string, Counter>();
  private readonly generationSize: number;

  /** Called by the plugin with its settings; their `cache` is the number of keys to remember. */
  constructor(settings: object = {}) {
    const cache = (settings as { cache?: unknown }).cache;
    this.generationSize = typeof cache === 'number' && cache >= 1 ? cache : 5000;
  }

  incr(key: string, answer: Answer, timeWindow: number): void {
    const nowMs = Date.now();
    let counter = this.recent.get(key);
    if (counter === undefined) {
      counter = this.older.get(key);
      if (counter !== undefined) this.older.delete(key);
      counter ??= { current: 0, ttl: timeWindow, iterationStartMs: nowMs };
      this.keep(key, counter);
    }
    if (counter.current === 0 || counter.iterationStartMs + timeWindow <= nowMs) {
      counter.current = 1;
      counter.ttl = timeWindow;
      counter.iterationStartMs = nowMs;
    } else {
      counter.current += 1;
      counter.ttl = timeWindow - (nowMs - counter.iterationStartMs);
    }
    answer(null, counter);
  }

  /** The counter as it stands, changing nothing (the plugin's `increment: false`). */
  read(key: string, answer: Answer, timeWindow: number): void {
    const counter = this.recent.get(key) ?? this.older.get(key);
    const nowMs = Date.now();
    if (counter === undefined || counter.iterationStartMs + timeWindow <= nowMs) {
      answer(null, { current: 0, ttl: 0, iterationStartMs: nowMs });
      return;
    }
    answer(null, { ...counter, ttl: timeWindow - (nowMs - counter.iterationStartMs) });
  }

  /** A route's own limiter gets a store of its own, sized by that route's settings. */
  child(routeOptions: object): GenerationalRateStore {
    return new GenerationalRateStore(routeOptions);
  }

  private keep(key: string, counter: Counter): void {
    if (this.recent.size >= this.generationSize) {
      this.older = this.recent;
      this.recent = new Map();
    }
    this.recent.set(key, counter);
  }
}
