// Rollouts in the admin API: create, preview, list, show, pause, resume, cancel, retry, and the
// members of one rollout. Bodies and answers use snake_case names, as the whole admin API does
// (the form Fleet's upgrade API uses); the decisions are made in src/rollouts.
import type { FastifyRequest } from 'fastify';
import semver from 'semver';
import { ServerError } from '../errors';
import { selectorProblem } from '../rollouts/selector';
import type { RolloutService } from '../rollouts/service';
import { wavesOf } from '../rollouts/service';
import { failureRatio } from '../rollouts/state';
import { UPGRADE_STATES, type RolloutMember, type RolloutRecord, type RolloutSpec, type RolloutStatus } from '../rollouts/types';
import type { MemberCount } from '../store/rollouts';
import type { AgentRecord } from '../agents/records';
import { adminRoute, type AdminOptions, type AdminRoute, type RequestOf } from './types';

/** A new rollout as POST /rollouts and /rollouts/preview take it. */
type RolloutBody = RequestOf<'/api/v1/rollouts', 'post'>['Body'];

/** The routes that move a rollout from one status to another. */
type StatusChangePath = '/api/v1/rollouts/{id}/pause' | '/api/v1/rollouts/{id}/resume' | '/api/v1/rollouts/{id}/cancel';

const DEFAULT_SUCCESS_RATIO = 0.9;
const DEFAULT_FAILURE_RATIO = 0.1;
/** How far from now a start_time may be, either way. */
const START_TIME_RANGE_MS = 366 * 86_400_000;
/** Uids listed per reason in a preview: enough to act on, bounded for a large fleet. */
const LISTED = 1000;

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** The request as a spec; every rule the schema cannot express is checked here. */
export function specFrom(body: RolloutBody, nowMs: number, inCatalog: (version: string) => boolean): RolloutSpec {
  if (body.waves !== undefined && body.rollout_duration_seconds !== undefined) {
    throw new ServerError('BAD_REQUEST', 'body: give waves or rollout_duration_seconds, not both');
  }
  const version = body.version.replace(/^v/, '');
  if (semver.valid(version) === null) throw new ServerError('BAD_REQUEST', `body/version "${body.version}" is not a semver version`);
  const selector = body.selector ?? {};
  const problem = selectorProblem(selector);
  if (problem !== undefined) throw new ServerError('BAD_REQUEST', `body/${problem}`);
  const oneWave = [{ percent: 100, min_success_ratio: DEFAULT_SUCCESS_RATIO, min_wait_seconds: 0 }];
  const waves = (body.waves ?? oneWave).map((wave) => ({
    percent: wave.percent,
    minSuccessRatio: wave.min_success_ratio ?? DEFAULT_SUCCESS_RATIO,
    minWaitMs: (wave.min_wait_seconds ?? 0) * 1000,
  }));
  waves.forEach((wave, index) => {
    if (index > 0 && wave.percent <= waves[index - 1]!.percent) {
      throw new ServerError('BAD_REQUEST', 'body/waves: percent is cumulative and must grow from wave to wave');
    }
  });
  if (waves[waves.length - 1]!.percent !== 100) throw new ServerError('BAD_REQUEST', 'body/waves: the last wave must be at 100 percent');
  let startMs = nowMs;
  if (body.start_time !== undefined) {
    startMs = Date.parse(body.start_time);
    if (Number.isNaN(startMs)) throw new ServerError('BAD_REQUEST', 'body/start_time is not an RFC 3339 time');
    // Centuries away is a typo, not a plan; it would also hold the rollout open for ever.
    if (Math.abs(startMs - nowMs) > START_TIME_RANGE_MS) {
      throw new ServerError('BAD_REQUEST', 'body/start_time must be within a year of now');
    }
  }
  if (!inCatalog(version)) {
    throw new ServerError('VERSION_NOT_IN_CATALOG', `version ${version} is not an offerable, verified package in the catalog`);
  }
  return {
    version,
    selector,
    waves,
    durationMs: body.rollout_duration_seconds === undefined ? undefined : body.rollout_duration_seconds * 1000,
    startMs,
    maxFailureRatio: body.max_failure_ratio ?? DEFAULT_FAILURE_RATIO,
    allowDowngrade: body.allow_downgrade ?? false,
  };
}

function stateCounts(): Record<string, number> {
  return Object.fromEntries(UPGRADE_STATES.map((state) => [state, 0]));
}

export function rolloutView(rollout: RolloutRecord, counts: MemberCount[]) {
  const { spec } = rollout;
  const perWave = wavesOf(rollout, counts);
  const states = stateCounts();
  for (const row of counts) states[row.state] = (states[row.state] ?? 0) + row.count;
  const { offered, failing, ratio } = failureRatio(counts);
  return {
    id: rollout.id,
    status: rollout.status,
    reason: rollout.reason ?? null,
    created_at: iso(rollout.createdAtMs),
    updated_at: iso(rollout.updatedAtMs),
    resumed_at: iso(rollout.resumedAtMs),
    version: spec.version,
    selector: spec.selector,
    start_time: iso(spec.startMs),
    rollout_duration_seconds: spec.durationMs === undefined ? null : spec.durationMs / 1000,
    max_failure_ratio: spec.maxFailureRatio,
    allow_downgrade: spec.allowDowngrade,
    agents: Object.values(states).reduce((sum, count) => sum + count, 0),
    states,
    offered,
    failing,
    failure_ratio: ratio,
    waves: spec.waves.map((wave, index) => ({
      percent: wave.percent,
      min_success_ratio: wave.minSuccessRatio,
      min_wait_seconds: wave.minWaitMs / 1000,
      opened_at: iso(rollout.waves[index]?.openedAtMs),
      agents: Object.values(perWave[index] ?? {}).reduce((sum, count) => sum + (count ?? 0), 0),
      states: { ...stateCounts(), ...perWave[index] },
    })),
  };
}

export function memberView(member: RolloutMember) {
  return {
    instance_uid: member.instanceUid,
    wave: member.wave,
    state: member.state,
    state_since: iso(member.stateAtMs),
    not_before: iso(member.notBeforeMs),
    retries: member.generation,
    from_version: member.fromVersion,
    download_percent: member.detail.downloadPercent ?? null,
    download_bytes_per_second: member.detail.downloadBytesPerSecond ?? null,
    error_message: member.detail.errorMessage ?? null,
  };
}

export function rolloutRoutes(options: AdminOptions & { callerOf(request: FastifyRequest): string }): AdminRoute[] {
  const service = (): RolloutService => options.rollouts;
  const inCatalog = (version: string): boolean => options.packages?.offers.hasVersion(version) ?? false;
  const find = async (id: string): Promise<RolloutRecord> => {
    await service().reload();
    const rollout = service().list().find((candidate) => candidate.id === id);
    if (rollout === undefined) throw new ServerError('NOT_FOUND', `no rollout ${id}`);
    return rollout;
  };
  const show = async (rollout: RolloutRecord) =>
    rolloutView(rollout, await service().counts(rollout));
  const change = (path: StatusChangePath, from: RolloutStatus[], to: RolloutStatus, verb: string): AdminRoute =>
    adminRoute('post', path, async (request) => {
      const rollout = await find(request.params.id);
      const caller = options.callerOf(request);
      const reason = to === 'active' ? undefined : `${verb} by ${caller}`;
      if (!(await service().setStatus(rollout.id, from, to, reason))) {
        throw new ServerError('CONFLICT', `rollout ${rollout.id} is ${rollout.status}; it cannot be ${verb}`);
      }
      request.log.info({ adminKey: caller, rollout: rollout.id, status: to }, `rollout ${verb}`);
      return show(await find(rollout.id));
    });
  return [
    adminRoute('post', '/api/v1/rollouts', async (request, reply) => {
      const spec = specFrom(request.body, options.now(), inCatalog);
      const { rollout } = await service().create(spec);
      request.log.info({ adminKey: options.callerOf(request), rollout: rollout.id, version: spec.version }, 'rollout created');
      return reply.code(201).send(await show(rollout));
    }),
    adminRoute('post', '/api/v1/rollouts/preview', async (request) => {
      const spec = specFrom(request.body, options.now(), inCatalog);
      // Any id ranks the agents; the counts per wave do not depend on it.
      const plan = await service().plan('preview', spec);
      return {
        matched: plan.matched,
        agents: plan.members.length,
        waves: spec.waves.map((wave, index) => ({ percent: wave.percent, agents: plan.perWave[index] ?? 0 })),
        downgrades: plan.downgrades.slice(0, LISTED),
        downgrades_refused: plan.excluded.downgrade_refused.slice(0, LISTED),
        no_artifact: plan.excluded.no_artifact.slice(0, LISTED),
        already_at_version: plan.excluded.already_at_version.length,
        no_package_capability: plan.excluded.no_package_capability.length,
      };
    }),
    adminRoute('get', '/api/v1/rollouts', async () => {
      await service().reload();
      return { rollouts: await Promise.all(service().list().map(show)) };
    }),
    adminRoute('get', '/api/v1/rollouts/{id}', async (request) => show(await find(request.params.id))),
    adminRoute('get', '/api/v1/rollouts/{id}/agents', async (request) => {
      const rollout = await find(request.params.id);
      const query = request.query;
      const members = await service().members(rollout.id, query.state, query.limit, query.after);
      return { agents: members.map(memberView) };
    }),
    change('/api/v1/rollouts/{id}/pause', ['active'], 'paused', 'paused'),
    change('/api/v1/rollouts/{id}/resume', ['paused'], 'active', 'resumed'),
    change('/api/v1/rollouts/{id}/cancel', ['active', 'paused'], 'cancelled', 'cancelled'),
    adminRoute('post', '/api/v1/rollouts/{id}/retry', async (request) => {
      const rollout = await find(request.params.id);
      if (rollout.status === 'cancelled') throw new ServerError('CONFLICT', `rollout ${rollout.id} is cancelled`);
      const uids = request.body?.instance_uids?.map((uid) => uid.toLowerCase());
      const retried = await service().retry(rollout.id, uids);
      request.log.info({ adminKey: options.callerOf(request), rollout: rollout.id, retried: retried.length }, 'rollout retry');
      return { retried, rollout: await show(rollout) };
    }, { optionalBody: true }),
  ];
}

/** GET /agents/{uid}'s part: which rollout applies (null: the --offer default) and the state history. */
export async function agentRolloutView(rollouts: RolloutService, record: AgentRecord) {
  const { rollout, member, history } = await rollouts.agentRollout(record);
  return {
    rollout: rollout === undefined
      ? null
      : {
          id: rollout.id,
          status: rollout.status,
          version: rollout.spec.version,
          member: member === undefined ? null : memberView(member),
        },
    rollout_history: history.map((change) => ({
      at: iso(change.atMs),
      rollout: change.rolloutId,
      from_state: change.fromState ?? null,
      to_state: change.toState,
      download_percent: change.detail.downloadPercent ?? null,
      error_message: change.detail.errorMessage ?? null,
    })),
  };
}
