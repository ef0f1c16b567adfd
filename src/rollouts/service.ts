// The I/O shell around the pure rollout logic: it keeps the rollouts in memory for the poll
// path (refreshed from the store every refreshMs, so a pause decided on another instance holds
// here within seconds), admits agents, records their upgrade states, and on each refresh marks
// stuck agents, pauses failing rollouts and opens waves. Every decision is made by the pure
// modules beside it; every write is a conditional update, so instances never disagree.
import type { Logger } from 'pino';
import { agentPlatform } from '../agents/platform';
import type { AgentDescriptionRecord, AgentRecord } from '../agents/records';
import type { OfferBook } from '../packages/offers';
import type { MemberCount, RolloutStore } from '../store/rollouts';
import type { AgentStore } from '../store/types';
import { uidToString } from '../opamp/codec';
import { newInstanceUid } from '../opamp/uuid';
import { eligibility, planRollout, type RolloutPlan } from './plan';
import { selects } from './selector';
import { isStuck, mayOffer, nextState, observe, pauseReason } from './state';
import type { OfferDecision, RolloutMember, RolloutRecord, RolloutSpec, RolloutStatus, UpgradeState, UpgradeStateChange } from './types';
import { lateNotBefore, waveForLateAgent, waveToOpen, type WaveCounts } from './waves';

export interface RolloutServiceOptions {
  store: RolloutStore;
  agents: AgentStore;
  offers: OfferBook | undefined;
  now: () => number;
  stuckAfterMs: number;
  refreshMs: number;
  logger: Logger;
}

/** What the rollouts decided for one poll, kept to record the agent's state after it. */
export interface Assignment {
  decision: OfferDecision;
  rollout?: RolloutRecord;
  member?: RolloutMember;
}

const DEFAULT: Assignment = { decision: { kind: 'default' } };
const PAGE = 1000;

export class RolloutService {
  private readonly options: RolloutServiceOptions;
  /** Every rollout, newest first, as last read from the store. */
  private rollouts: RolloutRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;

  constructor(options: RolloutServiceOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => {
      this.tick().catch((error: unknown) => this.options.logger.error({ err: error }, 'rollout refresh failed'));
    }, this.options.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async reload(): Promise<void> {
    this.rollouts = await this.options.store.listRollouts();
  }

  list(): RolloutRecord[] {
    return this.rollouts;
  }

  /** The newest rollout whose selector takes this agent; it overrides the --offer default. */
  applying(description: AgentDescriptionRecord | undefined): RolloutRecord | undefined {
    return this.rollouts.find((rollout) => selects(rollout.spec.selector, description));
  }

  private hasArtifact = (description: AgentDescriptionRecord | undefined, version: string): boolean =>
    this.options.offers?.artifactFor(description, version) !== undefined;

  /**
   * Resolves, before the (synchronous) protocol rules run, what this agent may be offered.
   * An agent no rollout selects is answered at once, without a promise: that is most polls.
   * `capabilities` are those the answer's offer is decided on (offerCapabilities in
   * opamp/protocol.ts), so an agent is taken on only by a poll that can carry its offer.
   */
  decide(instanceUid: string, description: AgentDescriptionRecord | undefined, capabilities: number): Assignment | Promise<Assignment> {
    const rollout = this.applying(description);
    if (rollout === undefined) return DEFAULT;
    return this.decideMember(rollout, instanceUid, description, capabilities);
  }

  private async decideMember(
    rollout: RolloutRecord,
    instanceUid: string,
    description: AgentDescriptionRecord | undefined,
    capabilities: number,
  ): Promise<Assignment> {
    const hold: Assignment = { decision: { kind: 'hold', rolloutId: rollout.id }, rollout };
    const { store, now } = this.options;
    let member = await store.getMember(rollout.id, instanceUid);
    if (member === undefined) {
      // A cancelled or paused rollout takes no one new; one that leaves the agent out still holds it.
      if (rollout.status !== 'active') return hold;
      if (eligibility(rollout.spec, { description, capabilities }, this.hasArtifact) !== 'member') return hold;
      const nowMs = now();
      const input = { rolloutId: rollout.id, ...rollout.spec };
      member = await store.admitMember(rollout.id, instanceUid, (admitted) => ({
        rolloutId: rollout.id,
        instanceUid,
        wave: waveForLateAgent(rollout.spec.waves, admitted),
        notBeforeMs: lateNotBefore(input, instanceUid),
        generation: 0,
        state: 'scheduled',
        stateAtMs: nowMs,
        fromVersion: agentPlatform(description).version ?? '',
        detail: {},
      }));
    }
    if (!mayOffer(rollout, member, now())) return { ...hold, member };
    const { version, allowDowngrade } = rollout.spec;
    return { decision: { kind: 'offer', rolloutId: rollout.id, version, generation: member.generation, allowDowngrade }, rollout, member };
  }

  /** After the handler: moves the member's upgrade state on from what this poll reported. */
  async record(assignment: Assignment, before: AgentRecord | undefined, after: AgentRecord, offerSent: boolean): Promise<void> {
    const { rollout, member } = assignment;
    if (rollout === undefined || member === undefined || member.instanceUid !== after.instanceUid) return;
    const target = rollout.spec.version;
    const hash = this.options.offers?.offeredHashHex(after.description, target, member.generation) ?? '';
    const next = nextState(member, target, observe(before, target, hash), observe(after, target, hash), offerSent);
    if (next === undefined) return;
    await this.options.store.transitionMember(rollout.id, member.instanceUid, {
      expectState: member.state, expectStateAtMs: member.stateAtMs, state: next.state, detail: next.detail, atMs: this.options.now(),
    });
  }

  /** One refresh: stuck agents, self-pause, waves; then the in-memory copy is reloaded. */
  tick(): Promise<void> {
    // Overlapping ticks (a slow store, a test calling in) join the one running.
    this.ticking ??= this.evaluate().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async evaluate(): Promise<void> {
    await this.reload();
    const { store, logger, stuckAfterMs } = this.options;
    for (const rollout of this.rollouts) {
      if (rollout.status === 'cancelled') continue;
      const nowMs = this.options.now();
      const stuck = await store.queryMembers(rollout.id, {
        states: ['offered', 'downloading', 'installing'], changedAtOrBeforeMs: nowMs - stuckAfterMs, limit: PAGE,
      });
      for (const member of stuck.filter((candidate) => isStuck(candidate, nowMs, stuckAfterMs))) {
        await store.transitionMember(rollout.id, member.instanceUid, {
          expectState: member.state, expectStateAtMs: member.stateAtMs, state: 'stuck', atMs: nowMs,
          detail: { ...member.detail, errorMessage: `no change since ${new Date(member.stateAtMs).toISOString()} (${member.state})` },
        });
      }
      if (rollout.status !== 'active') continue;
      const counts = await store.countMembers(rollout.id, rollout.resumedAtMs ?? -1);
      const reason = pauseReason(rollout, counts);
      if (reason !== undefined) {
        if (await store.setRolloutStatus(rollout.id, ['active'], 'paused', reason, nowMs)) {
          logger.warn({ rollout: rollout.id, reason }, 'rollout paused itself');
        }
        continue;
      }
      const wave = waveToOpen(rollout, wavesOf(rollout, counts), nowMs);
      if (wave !== undefined && (await store.openWave(rollout.id, wave, nowMs))) {
        logger.info({ rollout: rollout.id, wave }, 'rollout wave opened');
      }
    }
    await this.reload();
  }

  /** Classifies the fleet as a rollout with this spec would (preview and creation share it). */
  async plan(rolloutId: string, spec: RolloutSpec): Promise<RolloutPlan> {
    const agents: AgentRecord[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.options.agents.listAgents({ limit: PAGE, afterInstanceUid: after });
      agents.push(...page);
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.instanceUid;
    }
    return planRollout(rolloutId, spec, agents, this.hasArtifact);
  }

  async create(spec: RolloutSpec): Promise<{ rollout: RolloutRecord; plan: RolloutPlan }> {
    const nowMs = this.options.now();
    const id = uidToString(newInstanceUid(nowMs));
    const plan = await this.plan(id, spec);
    const rollout: RolloutRecord = {
      id,
      spec,
      status: 'active',
      reason: undefined,
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
      resumedAtMs: undefined,
      // The first wave opens at the start time; the others when their predecessor succeeded.
      waves: spec.waves.map((_wave, index) => ({ openedAtMs: index === 0 ? spec.startMs : undefined, admitted: plan.perWave[index] ?? 0 })),
    };
    await this.options.store.createRollout(rollout, plan.members.map((placement) => ({
      rolloutId: id,
      instanceUid: placement.instanceUid,
      wave: placement.wave,
      notBeforeMs: placement.notBeforeMs,
      generation: 0,
      state: 'scheduled',
      stateAtMs: nowMs,
      fromVersion: placement.fromVersion,
      detail: {},
    })));
    await this.reload();
    return { rollout, plan };
  }

  async setStatus(id: string, from: RolloutStatus[], to: RolloutStatus, reason: string | undefined): Promise<boolean> {
    const changed = await this.options.store.setRolloutStatus(id, from, to, reason, this.options.now());
    await this.reload();
    return changed;
  }

  async counts(rollout: RolloutRecord): Promise<MemberCount[]> {
    return this.options.store.countMembers(rollout.id, rollout.resumedAtMs ?? -1);
  }

  async members(id: string, state: UpgradeState | undefined, limit: number, afterInstanceUid?: string): Promise<RolloutMember[]> {
    return this.options.store.queryMembers(id, { states: state === undefined ? undefined : [state], limit, afterInstanceUid });
  }

  /** For GET /agents/{uid}: the rollout that applies to the agent, its place in it and its history. */
  async agentRollout(record: AgentRecord): Promise<{ rollout: RolloutRecord | undefined; member: RolloutMember | undefined; history: UpgradeStateChange[] }> {
    const rollout = this.applying(record.description);
    const member = rollout === undefined ? undefined : await this.options.store.getMember(rollout.id, record.instanceUid);
    const history = await this.options.store.listStateChanges(record.instanceUid, 50);
    return { rollout, member, history };
  }

  /** Offers again, under a new package hash, to failed and stuck members (or just the listed ones). */
  async retry(id: string, instanceUids: string[] | undefined): Promise<string[]> {
    const { store } = this.options;
    const retried: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await store.queryMembers(id, { states: ['failed', 'stuck'], instanceUids, limit: PAGE, afterInstanceUid: after });
      for (const member of page) {
        const applied = await store.transitionMember(id, member.instanceUid, {
          expectState: member.state, expectStateAtMs: member.stateAtMs, state: 'scheduled', detail: {},
          atMs: this.options.now(), generation: member.generation + 1,
        });
        if (applied) retried.push(member.instanceUid);
      }
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.instanceUid;
    }
    return retried;
  }
}

/** Counts per wave, in wave order, from the store's rows. */
export function wavesOf(rollout: RolloutRecord, counts: Array<{ wave: number; state: string; count: number }>): WaveCounts[] {
  const waves: WaveCounts[] = rollout.spec.waves.map(() => ({}));
  for (const row of counts) {
    const wave = waves[row.wave];
    if (wave !== undefined) (wave as Record<string, number>)[row.state] = row.count;
  }
  return waves;
}
