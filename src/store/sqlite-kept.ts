// What the SQLite store keeps in memory of one agent, and how it tells a routine write (last
// seen and sequence number only) from one that changed the record.
import type { AgentRecord } from '../agents/records';

/**
 * What the store keeps of one agent: its latest record and, while it waits in the batch, the
 * batch's entry for it, which is this same object. One object, in one map, so that a poll's
 * read and its routine write find everything in one lookup: in a fleet-sized map each lookup
 * is a cache miss, and a second map cost about as much again (perf, 30,000 agents).
 */
export interface Kept {
  record: AgentRecord;
  /** In the batch's queue; `full` and `queuedTick` describe the queued write only then. */
  queued: boolean;
  /** More than the last-seen time and sequence number changed since the last written row. */
  full: boolean;
  /** The batch timer's tick when the agent was queued: it waits its turn from there. */
  queuedTick: number;
}

/** A record read or loaded, not queued. */
export const keptOf = (record: AgentRecord): Kept => ({ record, queued: false, full: false, queuedTick: 0 });

/** Whether `next` differs from `previous` only where a routine poll moves it. */
export function onlyTouched(previous: AgentRecord, next: AgentRecord): boolean {
  // Reference comparisons suffice: the poll handler reuses the stored objects it does not change.
  return previous.instanceUid === next.instanceUid &&
    previous.description === next.description &&
    previous.health === next.health &&
    previous.packageStatuses === next.packageStatuses &&
    previous.lastOffer === next.lastOffer &&
    previous.capabilities === next.capabilities &&
    previous.disconnected === next.disconnected &&
    previous.clientCertificateSubject === next.clientCertificateSubject &&
    previous.firstSeenMs === next.firstSeenMs;
}
