// One poll between the decoded AgentToServer and the ServerToAgent to encode: read what the
// store knows of the agent, let the rollouts decide, apply the protocol rules (protocol.ts), and
// write down what changed. No HTTP here: route.ts moves the bytes.
import type { Logger } from 'pino';
import { storeFailure } from '../errors';
import { packageStatusChanges } from '../agents/history';
import type { OfferProvider } from '../packages/offer-provider';
import type { Assignment, RolloutService } from '../rollouts/service';
import type { AgentRecord } from '../agents/records';
import type { AgentStore } from '../store/types';
import { SERVER_CAPABILITIES, type AgentToServer, type PackagesAvailable, type ServerToAgentInit } from './codec';
import { applyPoll, instanceUidText, offerCapabilities, readReport, type PollResult, type Report } from './protocol';
import { newInstanceUid } from './uuid';

/** Told what each poll came to, for the metrics. */
export interface PollObserver {
  /** `ok` or the error code. */
  polled(outcome: string): void;
  offerSent(): void;
}

export interface PollServiceOptions {
  store: AgentStore;
  offers: OfferProvider | undefined;
  /** Rollouts: resolved before the protocol rules (their offer lookup is synchronous), told the outcome after. */
  rollouts?: Pick<RolloutService, 'decide' | 'record'>;
  offlineAfterMs: number;
  /** Extra headers an agent needs to download the file with this SHA-256 (a download token). */
  downloadHeaders?: (instanceUid: string, sha256Hex: string) => Record<string, string> | undefined;
  observer?: PollObserver;
  logger: Logger;
  /** Milliseconds since the epoch; tests move it. */
  now?: () => number;
}

/**
 * Answers one decoded AgentToServer; `baseUrl` is asked only when an offer is looked up, and
 * `clientCertificateSubject` is the verified client certificate's, when the connection has one
 * (mutual TLS). The answer comes at once when nothing has to be read or written first, else as
 * a promise.
 */
export type PollService = (
  message: AgentToServer,
  baseUrl: () => string,
  clientCertificateSubject?: string,
) => ServerToAgentInit | Promise<ServerToAgentInit>;

/** One poll on its way through the service. */
interface Poll {
  message: AgentToServer;
  /** Text of a valid instance_uid; undefined when it is not 16 bytes (applyPoll refuses it). */
  uid: string | undefined;
  report: Report | undefined;
  baseUrl: () => string;
  clientCertificateSubject: string | undefined;
}

/**
 * A copy of a shared, pre-built PackagesAvailable with per-agent headers on each file. Headers
 * are not part of any package hash, so the copy hashes the same as the original.
 */
function withDownloadHeaders(
  available: PackagesAvailable,
  headersFor: (sha256Hex: string) => Record<string, string> | undefined,
): PackagesAvailable {
  const packages = Object.entries(available.packages ?? {}).map(([name, item]) => {
    const file = item.file;
    const extra = file?.contentHash ? headersFor(Buffer.from(file.contentHash).toString('hex')) : undefined;
    if (!file || !extra) return [name, item] as const;
    const headers = Object.entries(extra).map(([key, value]) => ({ key, value }));
    return [name, { ...item, file: { ...file, headers: { headers } } }] as const;
  });
  return { ...available, packages: Object.fromEntries(packages) };
}

const noOffer = (): undefined => undefined;

/**
 * How long a uid given up by RequestInstanceUid still answers with the uid it moved to: long
 * enough for a poll that raced the move, or its retry, to be told rather than start an agent afresh.
 */
const MOVED_KEPT_MS = 60_000;
/** Bound on the uids kept moved: a flood of RequestInstanceUid cannot grow the map without end. */
const MOVED_KEPT = 10_000;

/** A store that fails mid-poll makes the server unavailable, not broken: agents retry. */
function rethrowAsStoreFailure(error: unknown): never {
  throw storeFailure(error);
}

export function createPollService(options: PollServiceOptions): PollService {
  const { store, offers, rollouts, observer, logger } = options;
  const now = options.now ?? Date.now;
  const headersFor = options.downloadHeaders;

  /** The answer once everything the poll changed is written. */
  /**
   * Polls in flight per agent uid. A second poll of the same uid (a retry on another connection,
   * a RequestInstanceUid racing a plain poll) waits until the first is written and answered, so
   * that it reads the record the first one left: two polls that read the same record would both
   * offer, and the later write would put back an older sequence number.
   */
  const inFlight = new Map<string, Promise<ServerToAgentInit>>();
  /** Uids given up by RequestInstanceUid, with the uid the record moved to and when. */
  const moved = new Map<string, { newUid: Uint8Array; atMs: number }>();

  function rememberMove(oldUid: string, newUid: Uint8Array, nowMs: number): void {
    moved.delete(oldUid);
    moved.set(oldUid, { newUid, atMs: nowMs });
    // Oldest first in the map: drop those past their time, and any over the bound.
    for (const [uid, entry] of moved) {
      if (moved.size <= MOVED_KEPT && entry.atMs > nowMs - MOVED_KEPT_MS) break;
      moved.delete(uid);
    }
  }

  function finish(result: PollResult): ServerToAgentInit {
    const available = result.response.packagesAvailable;
    if (available && headersFor) {
      // result.response is this poll's own object; the offer inside it is shared and stays untouched.
      const uid = result.record.instanceUid;
      result.response.packagesAvailable = withDownloadHeaders(available, (sha256Hex) => headersFor(uid, sha256Hex));
    }
    if (result.offerSent) {
      observer?.offerSent();
      logger.info({ instanceUid: result.record.instanceUid, version: result.record.lastOffer?.version }, 'package offer sent');
    }
    return result.response;
  }

  /** Writes what the protocol rules decided; waits only when something must be written before answering. */
  function save(stored: AgentRecord | undefined, result: PollResult, assignment: Assignment | undefined, nowMs: number) {
    const record = result.record;
    const removed = result.removeInstanceUid;
    // A new uid without a removed one means the stored record belongs to another process.
    const kept = result.response.agentIdentification && !removed ? undefined : stored;
    const changes = packageStatusChanges(record.instanceUid, kept?.packageStatuses, record.packageStatuses, nowMs);
    // Only a rollout member has an upgrade state to move on.
    const member = rollouts && assignment?.member ? assignment : undefined;
    // A record from peekAgent may be the store's own, moved on in place by the write below: the
    // rollouts read it after that write, so they get a copy of it as it was.
    const previous = member && kept ? { ...kept } : kept;
    let written: Promise<void> | void;
    try {
      written = store.putAgent(record, result.durable);
    } catch (error) {
      rethrowAsStoreFailure(error);
    }
    if (!written && !removed && changes.length === 0 && !member) return finish(result);
    return (async () => {
      try {
        await written;
        if (removed) {
          await store.deleteAgent(removed);
          rememberMove(removed, result.response.agentIdentification!.newInstanceUid!, nowMs);
        }
        if (changes.length > 0) await store.addPackageStatusChanges(changes);
        if (member) await rollouts?.record(member, previous, record, result.offerSent);
      } catch (error) {
        rethrowAsStoreFailure(error);
      }
      return finish(result);
    })();
  }

  function handle(poll: Poll, stored: AgentRecord | undefined, assignment: Assignment | undefined) {
    const nowMs = now();
    const decision = assignment?.decision;
    const result = applyPoll(stored, poll.message, {
      instanceUid: poll.uid,
      nowMs,
      offlineAfterMs: options.offlineAfterMs,
      generateInstanceUid: newInstanceUid,
      offerFor: offers ? (record) => offers.offerFor(record, poll.baseUrl(), decision) : noOffer,
      clientCertificateSubject: poll.clientCertificateSubject,
    }, poll.report);
    const subject = result.record.clientCertificateSubject;
    // Once per agent and certificate, not per poll: the operator can tie the uid to the certificate.
    if (subject !== undefined && subject !== stored?.clientCertificateSubject) {
      logger.info({ instanceUid: result.record.instanceUid, clientCertificateSubject: subject }, 'agent polled with a client certificate');
    }
    return save(stored, result, assignment, nowMs);
  }

  function decide(poll: Poll, stored: AgentRecord | undefined) {
    if (!rollouts || poll.uid === undefined) return handle(poll, stored, undefined);
    const { message, report } = poll;
    // Admitted only by a message that can be answered with the offer (see offerCapabilities).
    const decided = rollouts.decide(poll.uid, report?.description ?? stored?.description, offerCapabilities(message));
    // Most polls are decided at once; only a rollout member's needs the store.
    if (!(decided instanceof Promise)) return handle(poll, stored, decided);
    return decided.catch(rethrowAsStoreFailure).then((assignment) => handle(poll, stored, assignment));
  }

  function answer(poll: Poll, uid: string): ServerToAgentInit | Promise<ServerToAgentInit> {
    const move = moved.size === 0 ? undefined : moved.get(uid);
    if (move !== undefined && move.atMs > now() - MOVED_KEPT_MS) {
      // A poll that raced the move of its record: told the same new uid again, and nothing is
      // written, so the old uid does not come back as an agent of its own.
      return { instanceUid: poll.message.instanceUid!, capabilities: SERVER_CAPABILITIES, agentIdentification: { newInstanceUid: move.newUid } };
    }
    // A record the store holds in memory needs no promise: most polls are answered at once.
    const known = store.peekAgent?.(uid);
    if (known !== undefined) return decide(poll, known);
    return store.getAgent(uid).catch(rethrowAsStoreFailure).then((stored) => decide(poll, stored));
  }

  /** Keeps `pending` as the latest poll in flight for `uid` until it settles. */
  function track(uid: string, pending: Promise<ServerToAgentInit>): Promise<ServerToAgentInit> {
    inFlight.set(uid, pending);
    const settled = (): void => {
      if (inFlight.get(uid) === pending) inFlight.delete(uid);
    };
    pending.then(settled, settled);
    return pending;
  }

  return (message, baseUrl, clientCertificateSubject) => {
    const uid = instanceUidText(message);
    // Without a valid uid applyPoll refuses the message before anything is read or converted.
    const poll: Poll = { message, uid, report: uid === undefined ? undefined : readReport(message), baseUrl, clientCertificateSubject };
    if (uid === undefined) return decide(poll, undefined);
    const earlier = inFlight.size === 0 ? undefined : inFlight.get(uid);
    if (earlier !== undefined) {
      // Whatever the earlier poll came to (a 503 included), this one goes next.
      const next = () => answer(poll, uid);
      return track(uid, earlier.then(next, next));
    }
    const answered = answer(poll, uid);
    return answered instanceof Promise ? track(uid, answered) : answered;
  };
}
