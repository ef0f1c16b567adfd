// The contract between a poll and whatever offers packages: the poll service asks it, the
// OfferBook (offers.ts) answers it. A module of its own, so neither side imports the other.
import type { Offer } from '../opamp/protocol';
import type { OfferDecision } from '../rollouts/types';
import type { AgentRecord } from '../agents/records';

export interface OfferProvider {
  /** `decision`: what the rollouts resolved for this agent before the protocol rules ran. */
  offerFor(record: AgentRecord, baseUrl: string, decision?: OfferDecision): Offer | undefined;
}
