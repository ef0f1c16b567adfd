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

export interface AgentStore {
  getAgent(instanceUid: string): Promise<AgentRecord | undefined>;
  /**
   * Saves the whole record. `durable` writes now (state that must survive a crash: new agents,
   * descriptions, package statuses, offers); otherwise the write joins the next batch.
   */
  putAgent(record: AgentRecord, durable: boolean): Promise<void>;
  deleteAgent(instanceUid: string): Promise<boolean>;
  countAgents(): Promise<number>;
  listAgents(options: { limit: number; afterInstanceUid?: string }): Promise<AgentRecord[]>;
  /** Writes every batched change now. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
