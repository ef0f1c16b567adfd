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
   * Timer ticks an entry waits, from the tick `queuedTick` tells, before the timer writes it
   * (default 0: the next tick). An agent polling every second is then written once per so many ticks,
   * not once per poll; a write asked for directly (listings, shutdown) still takes everything.
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
   * Writes the queued entries, all or at most `limit`, and only those queued by the tick `due`
   * when it is given, once the batch already being written (if any) is done. Returns what the
   * writer returns, and nothing when there is nothing to write: a synchronous writer's caller
   * (SQLite's store) reads the written rows in the same turn.
   */
  write(limit = Infinity, due = Infinity): Written | undefined {
    return this.writeTaken(() => this.dueKeys(limit, due));
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

  /** The keys of the first `limit` entries queued by the tick `due`, sorted. */
  private dueKeys(limit: number, due: number): string[] {
    const keys: string[] = [];
    // Entries are in the order they were queued (one updated in place keeps its place), so
    // those due are the first ones.
    const queuedTick = this.options.queuedTick;
    for (const [key, entry] of this.entries) {
      if (keys.length >= limit || (queuedTick !== undefined && queuedTick(entry) > due)) break;
      keys.push(key);
    }
    // Plain code-unit order, which is the order of SQLite's BINARY text keys.
    return keys.sort();
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
   * The timer's batch: every entry due now, sorted once and written in chunks. A failure (disk
   * full, database gone) is reported, never thrown, and what it left stays for the next tick.
   */
  private writeOnTimer(): void {
    this.ticks += 1;
    if (this.draining || this.stopped) return;
    const keys = this.dueKeys(Infinity, this.ticks - 1 - (this.options.holdTicks ?? 0));
    if (keys.length === 0) return;
    this.draining = true;
    const chunk = this.options.chunkRows ?? keys.length;
    let next = 0;
    const failed = (error: unknown): void => {
      this.draining = false;
      this.options.onError(error);
    };
    const step = (): void => {
      if (this.stopped || next >= keys.length) {
        this.draining = false;
        return;
      }
      const from = next;
      next = Math.min(keys.length, next + chunk);
      let written: Written | undefined;
      try {
        written = this.writeTaken(() => keys.slice(from, next));
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
      if (next < keys.length && !this.stopped) setTimeout(step, 0);
      else this.draining = false;
    };
    step();
  }
}
