// The store contract. Asynchronous on purpose: the embedded SQLite store answers at once, a
// shared PostgreSQL store will not, and callers must not be able to tell the difference.

/** A JSON-safe copy of an OpAMP AnyValue. Bytes become `{ bytes: "<base64>" }`. */
export type AttributeValue =
  | string
  | number
  | boolean
  | null
  | AttributeValue[]
  | { [key: string]: AttributeValue };

export interface AgentDescriptionRecord {
  identifying: Record<string, AttributeValue>;
  nonIdentifying: Record<string, AttributeValue>;
}

export interface PackageStatusRecord {
  name: string;
  /** PackageStatusEnum number: 0 Installed, 1 InstallPending, 2 Installing, 3 InstallFailed, 4 Downloading. */
  status: number;
  agentHasVersion: string;
  /** Hex. */
  agentHasHash: string;
  serverOfferedVersion: string;
  /** Hex. */
  serverOfferedHash: string;
  errorMessage: string;
  downloadPercent?: number;
  downloadBytesPerSecond?: number;
}

export interface PackageStatusesRecord {
  packages: Record<string, PackageStatusRecord>;
  /** Hex; empty when the agent did not report one. */
  serverProvidedAllPackagesHash: string;
  errorMessage: string;
}

export interface HealthRecord {
  healthy: boolean;
  status: string;
  lastError: string;
  startTimeUnixNano: number;
  statusTimeUnixNano: number;
}

export interface OfferRecord {
  /** Hex of PackagesAvailable.all_packages_hash last sent to the agent. */
  allPackagesHash: string;
  version: string;
  sentAtMs: number;
}

export interface AgentRecord {
  /** Canonical lowercase UUID text. */
  instanceUid: string;
  /** Last non-zero AgentCapabilities reported. */
  capabilities: number;
  sequenceNum: number;
  description: AgentDescriptionRecord | undefined;
  health: HealthRecord | undefined;
  packageStatuses: PackageStatusesRecord | undefined;
  lastOffer: OfferRecord | undefined;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Set by agent_disconnect; cleared by the next message. */
  disconnected: boolean;
}

/** One change of a package's status or version on one agent, as the history shows it. */
export interface PackageStatusChange {
  instanceUid: string;
  atMs: number;
  /** Package name; the top-level collector package has the empty name. */
  packageName: string;
  /** PackageStatusEnum numbers; undefined when the package was not reported before (or after). */
  fromStatus: number | undefined;
  toStatus: number | undefined;
  fromVersion: string;
  toVersion: string;
  errorMessage: string;
}

export type AgentState = 'online' | 'offline' | 'disconnected';

/** Filters of an agent listing; every one given must match. */
export interface AgentFilter {
  state?: AgentState;
  /** service.version, with or without a leading `v`. */
  version?: string;
  /** service.name; agents without one count as otelcol-contrib. */
  distribution?: string;
  /** os.type, case-insensitive. */
  os?: string;
  /** host.arch, any of these spellings, case-insensitive. */
  arch?: string[];
  /** An attribute (identifying or not) whose value as text equals `value`. */
  attribute?: { key: string; value: string };
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

export interface AgentStore {
  getAgent(instanceUid: string): Promise<AgentRecord | undefined>;
  /**
   * The agent's latest record if the store holds it in memory, else undefined (then ask
   * getAgent). Optional; it lets the poll of a known agent be answered without waiting.
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
