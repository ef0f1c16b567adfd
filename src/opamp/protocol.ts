// The OpAMP protocol rules, pure: given what the store knows of an agent and the message it just
// sent, applyPoll decides the answer and the new record. No HTTP, no store, no clock or
// randomness except what the caller passes in, so every rule can be tested directly. The rules
// that the poll service, the HTTP route and the rollouts need as well (a valid instance_uid, an
// agent's capabilities, who may be offered packages) are exported from here, so that no caller
// states them a second time.
import { ServerError } from '../errors';
import type { AgentDescriptionRecord, AgentRecord, HealthRecord, PackageStatusesRecord } from '../agents/records';
import { attributeText, checkHealth, descriptionToRecord } from '../agents/attributes';
import {
  AgentCapability,
  AgentToServerFlag,
  SERVER_CAPABILITIES,
  ServerToAgentFlag,
  uidToString,
  type AgentToServer,
  type ComponentHealth,
  type PackageStatuses,
  type PackagesAvailable,
  type ServerToAgentInit,
} from './codec';

/** What the catalog would offer one agent right now. */
export interface Offer {
  version: string;
  /** Hex of all_packages_hash, compared with what the agent reports and what was last sent. */
  allPackagesHash: string;
  packagesAvailable: PackagesAvailable;
}

export interface PollContext {
  /** The text form of the message's instance_uid, when the caller has it already. */
  instanceUid?: string;
  nowMs: number;
  offlineAfterMs: number;
  generateInstanceUid(): Buffer;
  /** The offer for an agent as it stands after this message; undefined when there is none. */
  offerFor(record: AgentRecord): Offer | undefined;
  /** Subject of the verified client certificate the message came with (mutual TLS). */
  clientCertificateSubject?: string;
}

export interface PollResult {
  response: ServerToAgentInit;
  /** The record to save: under a new uid when the agent was given one. */
  record: AgentRecord;
  /** Whether the change must be written now rather than with the next batch. */
  durable: boolean;
  /** A uid whose record moved to `record.instanceUid` and must be deleted. */
  removeInstanceUid?: string;
  offerSent: boolean;
}

/** The message's instance_uid when it is the 16 bytes the spec requires, else undefined (refused). */
export function validInstanceUid(message: Pick<AgentToServer, 'instanceUid'>): Uint8Array | undefined {
  const uid = message.instanceUid;
  return uid?.byteLength === 16 ? uid : undefined;
}

/** The canonical text of a message's valid instance_uid, else undefined. */
export function instanceUidText(message: Pick<AgentToServer, 'instanceUid'>): string | undefined {
  const uid = validInstanceUid(message);
  return uid === undefined ? undefined : uidToString(uid);
}

/**
 * The agent's capabilities after this message: the message's own, or the last known ones when
 * it carries 0. A poll with nothing to report may carry only its instance_uid, so 0 says
 * nothing about what the agent can do (the server checklist, 1.13 and 5.4).
 */
export function agentCapabilities(message: Pick<AgentToServer, 'capabilities'>, stored: Pick<AgentRecord, 'capabilities'> | undefined): number {
  return Number(message.capabilities ?? 0) || stored?.capabilities || 0;
}

/** Whether these capabilities include AcceptsPackages. */
export function acceptsPackages(capabilities: number): boolean {
  return (capabilities & AgentCapability.AcceptsPackages) !== 0;
}

/**
 * The capabilities an offer in answer to this message is decided on: the message's own. Only a
 * message that says AcceptsPackages is answered with packages_available (a bare poll keeps the
 * stored capabilities but gets no offer), and the rollouts take an agent on under the same
 * rule, so an agent is admitted by the very answer that can carry its offer.
 */
export function offerCapabilities(message: Pick<AgentToServer, 'capabilities'>): number {
  return Number(message.capabilities ?? 0);
}

const hex = (bytes: Uint8Array | null | undefined): string =>
  bytes && bytes.byteLength > 0 ? Buffer.from(bytes).toString('hex') : '';

function healthToRecord(health: ComponentHealth): HealthRecord {
  checkHealth(health);
  return {
    healthy: health.healthy ?? false,
    status: health.status ?? '',
    lastError: health.lastError ?? '',
    startTimeUnixNano: Number(health.startTimeUnixNano ?? 0),
    statusTimeUnixNano: Number(health.statusTimeUnixNano ?? 0),
  };
}

function packageStatusesToRecord(statuses: PackageStatuses): PackageStatusesRecord {
  const packages: PackageStatusesRecord['packages'] = {};
  for (const [name, status] of Object.entries(statuses.packages ?? {})) {
    Object.defineProperty(packages, name, {
      enumerable: true,
      writable: true,
      configurable: true,
      value: {
        name: status.name ?? name,
        status: status.status ?? 0,
        agentHasVersion: status.agentHasVersion ?? '',
        agentHasHash: hex(status.agentHasHash),
        serverOfferedVersion: status.serverOfferedVersion ?? '',
        serverOfferedHash: hex(status.serverOfferedHash),
        errorMessage: status.errorMessage ?? '',
        ...(status.downloadDetails
          ? {
              downloadPercent: status.downloadDetails.downloadPercent ?? 0,
              downloadBytesPerSecond: status.downloadDetails.downloadBytesPerSecond ?? 0,
            }
          : {}),
      },
    });
  }
  return {
    packages,
    serverProvidedAllPackagesHash: hex(statuses.serverProvidedAllPackagesHash),
    errorMessage: statuses.errorMessage ?? '',
  };
}

/**
 * Equality of the JSON-shaped values records hold (plain objects, arrays, strings, numbers,
 * booleans, null). Written out because a periodic report is compared on the poll path, and
 * util.isDeepStrictEqual, which also checks prototypes, symbols, Maps and the like, took about
 * two and a half times as long on a collector's description, which can hold none of them.
 */
export function sameRecordValue(left: unknown, right: unknown): boolean {
  if (left === right) return true;
  if (typeof left !== 'object' || typeof right !== 'object' || left === null || right === null) {
    // NaN is the one value unequal to itself; records never hold it, but it must not differ from itself.
    return typeof left === 'number' && typeof right === 'number' && Number.isNaN(left) && Number.isNaN(right);
  }
  if (Array.isArray(left) !== Array.isArray(right)) return false;
  const leftKeys = Object.keys(left);
  if (leftKeys.length !== Object.keys(right).length) return false;
  for (const key of leftKeys) {
    if (!Object.hasOwn(right, key)) return false;
    if (!sameRecordValue((left as Record<string, unknown>)[key], (right as Record<string, unknown>)[key])) return false;
  }
  return true;
}

/**
 * Whether two status reports differ at most in download progress (percent, rate). Progress
 * moves on every poll of a download and the next report restates it, so losing the last
 * second of it in a crash costs nothing: it goes with the next batch, not in a write of its own.
 */
function onlyProgressMoved(reported: PackageStatusesRecord, stored: PackageStatusesRecord | undefined): boolean {
  if (stored === undefined) return false;
  if (reported.serverProvidedAllPackagesHash !== stored.serverProvidedAllPackagesHash || reported.errorMessage !== stored.errorMessage) return false;
  const names = Object.keys(reported.packages);
  if (names.length !== Object.keys(stored.packages).length) return false;
  return names.every((name) => {
    if (!Object.hasOwn(stored.packages, name)) return false;
    const now = reported.packages[name]!;
    const before = stored.packages[name]!;
    return now.status === before.status && now.name === before.name &&
      now.agentHasVersion === before.agentHasVersion && now.agentHasHash === before.agentHasHash &&
      now.serverOfferedVersion === before.serverOfferedVersion && now.serverOfferedHash === before.serverOfferedHash &&
      now.errorMessage === before.errorMessage;
  });
}

/** `reported`, or undefined when it equals what is stored. */
function unlessSame<T>(reported: T | undefined, stored: T | undefined): T | undefined {
  return reported !== undefined && stored !== undefined && sameRecordValue(reported, stored) ? undefined : reported;
}

/** The attributes that tell two processes apart when they claim the same uid. */
const DISTINGUISHING_ATTRIBUTES = ['host.name', 'service.instance.id'];

function isDuplicate(stored: AgentRecord, incoming: AgentRecord, context: PollContext): boolean {
  const online = !stored.disconnected && context.nowMs - stored.lastSeenMs < context.offlineAfterMs;
  if (!online || !stored.description || !incoming.description) return false;
  return DISTINGUISHING_ATTRIBUTES.some((key) => {
    const before = attributeText(stored.description, key);
    const after = attributeText(incoming.description, key);
    return before !== undefined && after !== undefined && before !== after;
  });
}

/** What one AgentToServer reports, in the stored form; absent parts were not sent. */
export interface Report {
  description?: AgentDescriptionRecord;
  health?: HealthRecord;
  packageStatuses?: PackageStatusesRecord;
}

const NOTHING_REPORTED: Report = Object.freeze({});

/**
 * Converts (and checks the limits of) what a message reports. The caller may read it before
 * applyPoll runs (the rollouts select agents by description) and pass it in, so that it is
 * converted once per poll.
 */
export function readReport(message: AgentToServer): Report {
  // Most polls report none of it: they share one empty report.
  if (!message.agentDescription && !message.health && !message.packageStatuses) return NOTHING_REPORTED;
  return {
    description: message.agentDescription ? descriptionToRecord(message.agentDescription) : undefined,
    health: message.health ? healthToRecord(message.health) : undefined,
    packageStatuses: message.packageStatuses ? packageStatusesToRecord(message.packageStatuses) : undefined,
  };
}

/** Applies one AgentToServer to the stored record and decides the ServerToAgent answer. */
export function applyPoll(
  stored: AgentRecord | undefined,
  message: AgentToServer,
  context: PollContext,
  report?: Report,
): PollResult {
  const uidBytes = validInstanceUid(message);
  if (uidBytes === undefined) {
    throw new ServerError('BAD_INSTANCE_UID', `instance_uid must be 16 bytes, got ${message.instanceUid?.byteLength ?? 0}`);
  }
  const instanceUid = context.instanceUid ?? uidToString(uidBytes);
  const {
    description: reportedDescription,
    health: reportedHealth,
    packageStatuses: reportedStatuses,
  } = report ?? readReport(message);
  // A report equal to what is stored (a full-state report, a periodic resend) changes nothing:
  // the stored object is kept, so the write stays a routine one.
  const description = unlessSame(reportedDescription, stored?.description);
  const health = unlessSame(reportedHealth, stored?.health);
  const packageStatuses = unlessSame(reportedStatuses, stored?.packageStatuses);
  const sequenceNum = Number(message.sequenceNum ?? 0);

  let record: AgentRecord = {
    instanceUid,
    capabilities: agentCapabilities(message, stored),
    sequenceNum,
    description: description ?? stored?.description,
    health: health ?? stored?.health,
    packageStatuses: packageStatuses ?? stored?.packageStatuses,
    lastOffer: stored?.lastOffer,
    firstSeenMs: stored?.firstSeenMs ?? context.nowMs,
    lastSeenMs: context.nowMs,
    disconnected: Boolean(message.agentDisconnect),
    clientCertificateSubject: context.clientCertificateSubject,
  };
  const response: ServerToAgentInit = { instanceUid: uidBytes, capabilities: SERVER_CAPABILITIES };
  let removeInstanceUid: string | undefined;
  let isNew = stored === undefined;

  const requestsUid = (Number(message.flags ?? 0) & AgentToServerFlag.RequestInstanceUid) !== 0;
  // Only a description that differs from the stored one can show a second process.
  const duplicate = stored !== undefined && !requestsUid && description !== undefined && isDuplicate(stored, record, context);
  if (requestsUid || duplicate) {
    const newUid = context.generateInstanceUid();
    response.agentIdentification = { newInstanceUid: newUid };
    if (duplicate) {
      // The record under the old uid belongs to the other process: leave it alone and start
      // afresh for this one.
      record = {
        ...record,
        description: reportedDescription,
        health: reportedHealth,
        packageStatuses: reportedStatuses,
        lastOffer: undefined,
        firstSeenMs: context.nowMs,
      };
      isNew = true;
    } else if (stored) {
      removeInstanceUid = instanceUid;
    }
    record.instanceUid = uidToString(newUid);
  }

  // A repeat of the previous number is a retry of a message already applied (spec, "Retrying
  // Messages"); anything else but the next number means the server may have missed state.
  const inSequence = stored !== undefined && (sequenceNum === stored.sequenceNum + 1 || sequenceNum === stored.sequenceNum);
  const askFullState = isNew || !inSequence;
  if (askFullState) response.flags = ServerToAgentFlag.ReportFullState;

  let offerSent = false;
  if (acceptsPackages(offerCapabilities(message))) {
    const offer = context.offerFor(record);
    if (offer) {
      const reportedHash = reportedStatuses?.serverProvidedAllPackagesHash;
      const changed = offer.allPackagesHash !== record.lastOffer?.allPackagesHash;
      const agentHasOther = reportedHash !== undefined && reportedHash !== offer.allPackagesHash;
      if (changed || agentHasOther || askFullState) {
        response.packagesAvailable = offer.packagesAvailable;
        record.lastOffer = { allPackagesHash: offer.allPackagesHash, version: offer.version, sentAtMs: context.nowMs };
        offerSent = true;
      }
    }
  }

  const durable =
    isNew ||
    removeInstanceUid !== undefined ||
    description !== undefined ||
    health !== undefined ||
    (packageStatuses !== undefined && !onlyProgressMoved(packageStatuses, stored?.packageStatuses)) ||
    offerSent ||
    record.disconnected !== (stored?.disconnected ?? false) ||
    record.capabilities !== stored?.capabilities ||
    record.clientCertificateSubject !== stored?.clientCertificateSubject;
  return { response, record, durable, removeInstanceUid, offerSent };
}
