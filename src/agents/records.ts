// What the server keeps of one agent, in the JSON-safe form every module shares: the stores
// write it, the protocol rules produce it, the offers, rollouts and admin views read it.
// Types only, plus the one rule for whether an agent counts as online.

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
  /** A PackageStatusEnum number (PackageStatusCode in package-status.ts). */
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
  /**
   * Subject of the verified client certificate on the connection of the latest poll (mutual
   * TLS); absent without one. Optional: records written before it existed lack it.
   */
  clientCertificateSubject?: string;
}

/** One change of a package's status or version on one agent, as the history shows it. */
export interface PackageStatusChange {
  instanceUid: string;
  atMs: number;
  /** Package name; the top-level collector package has the empty name. */
  packageName: string;
  /** PackageStatusCode numbers; undefined when the package was not reported before (or after). */
  fromStatus: number | undefined;
  toStatus: number | undefined;
  fromVersion: string;
  toVersion: string;
  errorMessage: string;
}

export type AgentState = 'online' | 'offline' | 'disconnected';


/**
 * Online means heard from within `offlineAfterMs` and not disconnected. The stores' listing
 * filters (sqlite-schema.ts, postgres-sql.ts) state the same rule in SQL, so a filtered page
 * agrees with the state each agent on it shows.
 */
export function agentState(record: Pick<AgentRecord, 'disconnected' | 'lastSeenMs'>, nowMs: number, offlineAfterMs: number): AgentState {
  if (record.disconnected) return 'disconnected';
  return record.lastSeenMs > nowMs - offlineAfterMs ? 'online' : 'offline';
}
