// The store with its latency measured: a class that holds the store and hands every call of
// the AgentStore contract on to it, timing those that wait on the store. Explicit delegation,
// so the wrapper is an AgentStore and nothing more (no prototype tricks, no instanceof through it).
import type { AgentRecord, PackageStatusChange } from '../agents/records';
import type { HistogramChild } from '../metrics-histogram';
import type { AgentCount, AgentQuery, AgentStore, StoredAgentKey } from './types';

type Operation = Exclude<keyof AgentStore, 'peekAgent'>;

export class TimedAgentStore implements AgentStore {
  private readonly store: AgentStore;
  private readonly timers: Record<Operation, HistogramChild>;
  /** The store's own, bound once: a read from memory waits on nothing and is not timed. */
  readonly peekAgent?: (instanceUid: string) => AgentRecord | undefined;

  constructor(store: AgentStore, timer: (operation: Operation) => HistogramChild) {
    this.store = store;
    const operations: Operation[] = [
      'getAgent', 'putAgent', 'deleteAgent', 'countAgents', 'listAgents', 'queryAgents', 'countAgentsByStateAndVersion',
      'forgetAgentsUnseenSince', 'addPackageStatusChanges', 'listPackageStatusChanges', 'getOrCreateSecret', 'listAgentKeys',
      'addAgentKey', 'deleteAgentKey', 'flush', 'close',
    ];
    this.timers = Object.fromEntries(operations.map((operation) => [operation, timer(operation)])) as Record<Operation, HistogramChild>;
    if (store.peekAgent !== undefined) this.peekAgent = store.peekAgent.bind(store);
  }

  private timed<T>(operation: Operation, started: number, result: Promise<T>): Promise<T> {
    const child = this.timers[operation];
    const stop = (): void => child.observe((performance.now() - started) / 1000);
    result.then(stop, stop);
    return result;
  }

  getAgent(instanceUid: string): Promise<AgentRecord | undefined> {
    return this.timed('getAgent', performance.now(), this.store.getAgent(instanceUid));
  }

  putAgent(record: AgentRecord, durable: boolean): Promise<void> | void {
    // A batched write only joins the next batch and waits on nothing; timing it would fill the
    // histogram with zeros and hide the writes that do wait. It is handed on as it is, with
    // nothing allocated, since every routine poll makes one.
    if (!durable) return this.store.putAgent(record, false);
    const started = performance.now();
    const result = this.store.putAgent(record, true);
    if (result === undefined) {
      this.timers.putAgent.observe((performance.now() - started) / 1000);
      return undefined;
    }
    return this.timed('putAgent', started, result);
  }

  deleteAgent(instanceUid: string): Promise<boolean> {
    return this.timed('deleteAgent', performance.now(), this.store.deleteAgent(instanceUid));
  }

  countAgents(): Promise<number> {
    return this.timed('countAgents', performance.now(), this.store.countAgents());
  }

  listAgents(options: { limit: number; afterInstanceUid?: string }): Promise<AgentRecord[]> {
    return this.timed('listAgents', performance.now(), this.store.listAgents(options));
  }

  queryAgents(query: AgentQuery): Promise<AgentRecord[]> {
    return this.timed('queryAgents', performance.now(), this.store.queryAgents(query));
  }

  countAgentsByStateAndVersion(nowMs: number, offlineAfterMs: number): Promise<AgentCount[]> {
    return this.timed('countAgentsByStateAndVersion', performance.now(), this.store.countAgentsByStateAndVersion(nowMs, offlineAfterMs));
  }

  forgetAgentsUnseenSince(cutoffMs: number): Promise<number> {
    return this.timed('forgetAgentsUnseenSince', performance.now(), this.store.forgetAgentsUnseenSince(cutoffMs));
  }

  addPackageStatusChanges(changes: PackageStatusChange[]): Promise<void> {
    return this.timed('addPackageStatusChanges', performance.now(), this.store.addPackageStatusChanges(changes));
  }

  listPackageStatusChanges(instanceUid: string, limit: number): Promise<PackageStatusChange[]> {
    return this.timed('listPackageStatusChanges', performance.now(), this.store.listPackageStatusChanges(instanceUid, limit));
  }

  getOrCreateSecret(name: string, create: () => Buffer): Promise<Buffer> {
    return this.timed('getOrCreateSecret', performance.now(), this.store.getOrCreateSecret(name, create));
  }

  listAgentKeys(): Promise<StoredAgentKey[]> {
    return this.timed('listAgentKeys', performance.now(), this.store.listAgentKeys());
  }

  addAgentKey(key: StoredAgentKey): Promise<boolean> {
    return this.timed('addAgentKey', performance.now(), this.store.addAgentKey(key));
  }

  deleteAgentKey(name: string): Promise<boolean> {
    return this.timed('deleteAgentKey', performance.now(), this.store.deleteAgentKey(name));
  }

  flush(): Promise<void> {
    return this.timed('flush', performance.now(), this.store.flush());
  }

  close(): Promise<void> {
    return this.timed('close', performance.now(), this.store.close());
  }
}
