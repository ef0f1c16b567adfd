// The store contract. Asynchronous on purpose: the embedded SQLite store answers at once, a
// shared PostgreSQL store will not, and callers must not be able to tell the difference. The
// records it keeps are the agent facts of src/agents/records.ts.
import type { AgentRecord, AgentState, PackageStatusChange } from '../agents/records';

/** Filters of an agent listing; every one given must match. */
export interface AgentFilter {
  state?: AgentState;
  /** service.version, with or without a leading `v`. */
  version?: string;
  /** service.name; agents without one count as DEFAULT_DISTRIBUTION (agents/platform.ts). */
  distribution?: string;
  /** os.type, case-insensitive. */
  os?: string;
  /** host.arch, any of these spellings, case-insensitive. */
  arch?: string[];
  /** An attribute (identifying or not) whose value as text equals `value`. */
  attribute?: { key: string; value: string };
  /** Text found in the instance uid or in host.name, case-insensitive (the console's search box). */
  search?: string;
}

/** `text` as a LIKE pattern matching it anywhere; `\` escapes the wildcards it contains. */
export function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
}

export interface AgentQuery {
  limit: number;
  /** Only agents whose uid sorts after this one. */
  afterInstanceUid?: string;
  filter?: AgentFilter;
  /** What online means: heard from after nowMs - offlineAfterMs and not disconnected. */
  nowMs: number;
  offlineAfterMs: number;
}

/** How many agents are in one state and run one service.version ('' when unknown). */
export interface AgentCount {
  state: AgentState;
  version: string;
  count: number;
}

/** An agent key created through the admin API. Only its SHA-256 is kept. */
export interface StoredAgentKey {
  name: string;
  /** Hex SHA-256 of the key. */
  keySha256: string;
  createdAtMs: number;
}

/**
 * History rows kept per agent, in both stores and for both kinds of history (package statuses,
 * rollout transitions): enough to follow a few upgrades, bounded against a flapping agent.
 */
export const HISTORY_PER_AGENT = 100;

export interface AgentStore {
  getAgent(instanceUid: string): Promise<AgentRecord | undefined>;
  /**
   * The agent's latest record if the store holds it in memory, else undefined (then ask
   * getAgent). Optional; it lets the poll of a known agent be answered without waiting. The
   * object may be the store's own, which the agent's next routine write moves on in place:
   * read it at once, and copy what must outlast that write. Not copying it here saves a poll
   * an object.
   */
  peekAgent?(instanceUid: string): AgentRecord | undefined;
  /**
   * Saves the whole record. `durable` writes now (state that must survive a crash: new agents,
   * descriptions, package statuses, offers) and resolves once written; otherwise the write joins
   * the next batch and a store may return nothing, as there is nothing to wait for.
   */
  putAgent(record: AgentRecord, durable: boolean): Promise<void> | void;
  deleteAgent(instanceUid: string): Promise<boolean>;
  countAgents(): Promise<number>;
  listAgents(options: { limit: number; afterInstanceUid?: string }): Promise<AgentRecord[]>;
  /** A page of agents in uid order, filtered. */
  queryAgents(query: AgentQuery): Promise<AgentRecord[]>;
  /** Counts for the metrics: agents by state and by version. */
  countAgentsByStateAndVersion(nowMs: number, offlineAfterMs: number): Promise<AgentCount[]>;
  /** Deletes agents (and their history) not heard from since `cutoffMs`; returns how many. */
  forgetAgentsUnseenSince(cutoffMs: number): Promise<number>;
  addPackageStatusChanges(changes: PackageStatusChange[]): Promise<void>;
  /** The latest changes of one agent, newest first. */
  listPackageStatusChanges(instanceUid: string, limit: number): Promise<PackageStatusChange[]>;
  /**
   * The named secret, created with `create()` if absent. Two instances racing to create it end
   * up with the same value: the first write wins and both read it back.
   */
  getOrCreateSecret(name: string, create: () => Buffer): Promise<Buffer>;
  listAgentKeys(): Promise<StoredAgentKey[]>;
  /** False when the name or the key is already taken. */
  addAgentKey(key: StoredAgentKey): Promise<boolean>;
  deleteAgentKey(name: string): Promise<boolean>;
  /** Writes every batched change now. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
