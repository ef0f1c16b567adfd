// One poll between the decoded AgentToServer and the ServerToAgent to encode: read what the
// store knows of the agent, let the rollouts decide, apply the protocol rules (handler.ts), and
// write down what changed. No HTTP here: transport.ts moves the bytes.
import type { Logger } from 'pino';
import { ServerError } from '../errors';
import { packageStatusChanges } from '../admin/history';
import type { OfferDecision } from '../rollouts/types';
import type { RolloutService } from '../rollouts/service';
import type { AgentRecord, AgentStore } from '../store/types';
import { descriptionToRecord } from './attributes';
import { uidToString, type AgentToServer, type PackagesAvailable, type ServerToAgentInit } from './codec';
import { handlePoll, type Offer } from './handler';
import { newInstanceUid } from './uuid';

export interface OfferProvider {
  /** `decision`: what the rollouts resolved for this agent before the handler ran. */
  offerFor(record: AgentRecord, baseUrl: string, decision?: OfferDecision): Offer | undefined;
}

/** Told what each poll came to, for the metrics. */
export interface PollObserver {
  /** `ok` or the error code. */
  polled(outcome: string): void;
  offerSent(): void;
}

export interface PollServiceOptions {
  store: AgentStore;
  offers: OfferProvider | undefined;
  /** Rollouts: resolved before the handler (its offer lookup is synchronous), told the outcome after. */
  rollouts?: Pick<RolloutService, 'decide' | 'record'>;
  offlineAfterMs: number;
  /** Extra headers an agent needs to download the file with this SHA-256 (a download token). */
  downloadHeaders?: (instanceUid: string, sha256Hex: string) => Record<string, string> | undefined;
  observer?: PollObserver;
  logger: Logger;
  /** Milliseconds since the epoch; tests move it. */
  now?: () => number;
}

/** Answers one decoded AgentToServer; `baseUrl` is asked only when an offer is looked up. */
export type PollService = (message: AgentToServer, baseUrl: () => string) => Promise<ServerToAgentInit>;

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

/** A store that fails mid-poll makes the server unavailable, not broken: agents retry. */
function storeFailure(error: unknown): never {
  if (error instanceof ServerError) throw error;
  throw new ServerError('STORE_FAILURE', `the store failed: ${(error as Error).message}`, {
    retryAfterSeconds: 30,
    cause: error,
  });
}

export function createPollService(options: PollServiceOptions): PollService {
  const { store, offers, rollouts, observer, logger } = options;
  const now = options.now ?? Date.now;
  const headersFor = options.downloadHeaders;

  return async (message, baseUrl) => {
    const uid = message.instanceUid?.byteLength === 16 ? uidToString(message.instanceUid) : undefined;
    const stored = uid === undefined ? undefined : await store.getAgent(uid).catch(storeFailure);
    const nowMs = now();
    const assignment = rollouts && uid !== undefined
      ? await rollouts.decide(
          uid,
          message.agentDescription ? descriptionToRecord(message.agentDescription) : stored?.description,
          Number(message.capabilities ?? 0) || stored?.capabilities || 0,
        ).catch(storeFailure)
      : undefined;
    const result = handlePoll(stored, message, {
      nowMs,
      offlineAfterMs: options.offlineAfterMs,
      generateInstanceUid: newInstanceUid,
      offerFor: offers ? (record) => offers.offerFor(record, baseUrl(), assignment?.decision) : () => undefined,
    });
    const record = result.record;
    try {
      await store.putAgent(record, result.durable);
      const removed = result.removeInstanceUid;
      if (removed) await store.deleteAgent(removed);
      // A new uid without a removed one means the stored record belongs to another process.
      const previous = result.response.agentIdentification && !removed ? undefined : stored;
      const changes = packageStatusChanges(record.instanceUid, previous?.packageStatuses, record.packageStatuses, nowMs);
      if (changes.length > 0) await store.addPackageStatusChanges(changes);
      if (rollouts && assignment) await rollouts.record(assignment, previous, record, result.offerSent);
    } catch (error) {
      storeFailure(error);
    }
    const available = result.response.packagesAvailable;
    if (available && headersFor) {
      // result.response is this poll's own object; the offer inside it is shared and stays untouched.
      result.response.packagesAvailable = withDownloadHeaders(available, (sha256Hex) => headersFor(record.instanceUid, sha256Hex));
    }
    if (result.offerSent) {
      observer?.offerSent();
      logger.info({ instanceUid: record.instanceUid, version: record.lastOffer?.version }, 'package offer sent');
    }
    return result.response;
  };
}
