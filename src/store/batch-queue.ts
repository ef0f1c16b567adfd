// The routine writes of both stores (last seen, sequence number), gathered per agent in memory
// and written in batches: by a timer, or at once when a reader needs everything written. One
// batch at a time, and an entry leaves the queue only once written and not replaced meanwhile,
// so a failed batch stays queued and goes with the next one. Every batch goes to the writer in
// the order of its keys: neighbouring rows share index pages, so a chunk of sorted rows dirties
// (and logs) a fraction of the pages the same number of scattered rows would, and two stores
// writing the same rows take their locks in the same order.

export interface BatchQueueOptions<Entry, Written extends void | Promise<void>> {
  /**
   * Writes the entries in one transaction; throws or rejects to keep them queued. SQLite's
   * writer is synchronous (returns nothing), PostgreSQL's returns a promise.
   */
  write(entries: Entry[]): Written;
  /** How often the timer writes a batch. */
  intervalMs: number;
  /**
   * When set, the timer writes at most this many entries at once and goes on in further
   * chunks, with the event loop free between them, until nothing is queued: a synchronous
   * writer holds up every poll while it runs.
   */
  chunkRows?: number;
  /**
   * Timer ticks the entry queued first waits, from the tick `queuedTick` tells, before the timer
   * writes a round of everything queued (default 0: the next tick). An agent polling every
   * second is then written about once per so many ticks, not once per poll; a write asked for
   * directly (listings, shutdown) still takes everything at once.
   */
  holdTicks?: number;
  /** The timer tick the entry was queued in (the queue's `tick` then); absent: always due. */
  queuedTick?(entry: Entry): number;
  /** Told of a failed timer batch (a write asked for directly throws instead). */
  onError(error: unknown): void;
}

export class BatchQueue<Entry, Written extends void | Promise<void>> {
  /**
   * The queued entries by instance uid. The stores read, add, replace and drop entries here
   * directly: a poll's write is one Map operation, nothing more.
   */
  readonly entries = new Map<string, Entry>();
  private readonly options: BatchQueueOptions<Entry, Written>;
  private readonly timer: NodeJS.Timeout;
  /** The batch being written by an asynchronous writer; a synchronous one never leaves one. */
  private writing: Promise<void> | undefined;
  /** The timer's batch is still going on (in chunks, or waiting on its write). */
  private draining = false;
  private stopped = false;
  private ticks = 0;

  constructor(options: BatchQueueOptions<Entry, Written>) {
    this.options = options;
    this.timer = setInterval(() => this.writeOnTimer(), options.intervalMs);
    this.timer.unref();
  }

  /** The timer's tick now: an entry queued now records it as its `queuedTick`. */
  get tick(): number {
    return this.ticks;
  }

  /**
   * Writes the queued entries, all or the first `limit` queued, once the batch already being
   * written (if any) is done. Returns what the writer returns, and nothing when there is nothing
   * to write: a synchronous writer's caller (SQLite's store) reads the written rows in the same turn.
   */
  write(limit = Infinity): Written | undefined {
    return this.writeTaken(() => {
      const keys: string[] = [];
      for (const key of this.entries.keys()) {
        if (keys.length >= limit) break;
        keys.push(key);
      }
      // Plain code-unit order, which is the order of SQLite's BINARY text keys.
      return keys.sort();
    });
  }

  /**
   * Writes the entries queued under the keys `choose` names when the batch before (if any) is
   * done; keys no longer queued by then are skipped.
   */
  private writeTaken(choose: () => string[]): Written | undefined {
    // The cast restates what `write` returned: only an asynchronous writer leaves `writing` set.
    if (this.writing !== undefined) return this.writing.then(() => this.writeTaken(choose)) as Written;
    const taken: Array<[string, Entry]> = [];
    for (const key of choose()) {
      const entry = this.entries.get(key);
      if (entry !== undefined) taken.push([key, entry]);
    }
    if (taken.length === 0) return undefined;
    const written = this.options.write(taken.map(([, entry]) => entry));
    if (written === undefined) {
      this.forgetWritten(taken);
      return written;
    }
    const writing = written.then(() => this.forgetWritten(taken)).finally(() => {
      this.writing = undefined;
    });
    this.writing = writing;
    return writing as Written;
  }

  /** Waits until no batch is being written; a failed one is the timer's to report. */
  async idle(): Promise<void> {
    while (this.writing !== undefined) await this.writing.catch(() => undefined);
  }

  /**
   * Stops the timer (and a chunked timer batch between two chunks). Writes asked for still go:
   * a store stops the timer before its last write, so none of the timer's runs alongside it.
   */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private forgetWritten(taken: Array<[string, Entry]>): void {
    // Cleared only once written; an entry replaced while its batch was written stays queued.
    for (const [key, entry] of taken) {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    }
  }

  /**
   * The timer's round. It starts once the entry queued first has waited its ticks, and takes
   * every entry queued by then, not only those due: no entry waits longer than the hold, and an
   * agent written in one round waits about the hold for the next, since every entry of the next
   * round was queued after this one began. A round of the whole hold's entries is
   * several times larger than one tick's, and the larger a sorted round, the more of its rows
   * share a page (probe at 30,000 agents: 5.1 µs of CPU per row in rounds of 1,000, 2.0 in
   * rounds of 10,000). A failure (disk full, database gone) is reported, never thrown, and what
   * it left stays for the next round.
   */
  private writeOnTimer(): void {
    this.ticks += 1;
    if (this.draining || this.stopped) return;
    const oldest = this.entries.values().next();
    if (oldest.done === true) return;
    const queuedTick = this.options.queuedTick;
    if (queuedTick !== undefined && queuedTick(oldest.value) > this.ticks - 1 - (this.options.holdTicks ?? 0)) return;
    const order = new RoundOrder(this.entries.keys());
    this.draining = true;
    const chunk = this.options.chunkRows ?? Infinity;
    const failed = (error: unknown): void => {
      this.draining = false;
      this.options.onError(error);
    };
    const step = (): void => {
      const keys = this.stopped ? [] : order.take(chunk);
      if (keys.length === 0) {
        this.draining = false;
        return;
      }
      let written: Written | undefined;
      try {
        written = this.writeTaken(() => keys);
      } catch (error) {
        failed(error);
        return;
      }
      if (written === undefined) goOn();
      else written.then(goOn, failed);
    };
    // The next chunk goes in the timers phase of a later turn, as the first one does, never in
    // the check phase: there the OpAMP route writes the answers it coalesced (answer-batch.ts),
    // and a chunk queued ahead of them would hold every one of them back for its whole write.
    const goOn = (): void => {
      if (!order.done && !this.stopped) setTimeout(step, 0);
      else this.draining = false;
    };
    step();
  }
}

/**
 * The keys of a round in code-unit order (that of SQLite's BINARY text keys), handed out a
 * chunk at a time. They are grouped by their first code unit and each group is sorted only when
 * the round reaches it: sorting 30,000 keys at once takes some 7 ms, a stall no poll should wait
 * behind, while a group of a sixteenth of them (uids are hexadecimal) takes well under one.
 */
class RoundOrder {
  private readonly groups: string[][];
  private group = 0;
  private index = 0;

  constructor(keys: Iterable<string>) {
    const byFirstUnit = new Map<number, string[]>();
    for (const key of keys) {
      const unit = key.length === 0 ? -1 : key.charCodeAt(0);
      const group = byFirstUnit.get(unit);
      if (group === undefined) byFirstUnit.set(unit, [key]);
      else group.push(key);
    }
    this.groups = [...byFirstUnit].sort((one, other) => one[0] - other[0]).map(([, group]) => group);
  }

  get done(): boolean {
    return this.group >= this.groups.length;
  }

  /** The next `count` keys (fewer at the end of the round). */
  take(count: number): string[] {
    const taken: string[] = [];
    while (taken.length < count && !this.done) {
      const group = this.groups[this.group]!;
      if (this.index === 0) group.sort();
      const end = Math.min(group.length, this.index + count - taken.length);
      for (let position = this.index; position < end; position += 1) taken.push(group[position]!);
      this.index = end;
      if (end >= group.length) {
        this.group += 1;
        this.index = 0;
      }
    }
    return taken;
  }
}
