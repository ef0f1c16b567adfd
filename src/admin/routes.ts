// The fleet side of the admin API: agents, packages and agent keys.
import type { FastifyRequest } from 'fastify';
import { archSpellings } from '../agents/platform';
import type { AgentState } from '../agents/records';
import { ServerError } from '../errors';
import { uidFromString, uidToString } from '../opamp/codec';
import type { AgentFilter } from '../store/types';
import { adminRoute, type AdminOptions, type AdminRoute, type RequestOf } from './types';
import { agentDetail, agentSummary } from './views';
import { agentRolloutView } from './rollout-routes';

const HISTORY_SHOWN = 50;

type AgentListQuery = RequestOf<'/api/v1/agents', 'get'>['Querystring'];

/** Agents read per store query while counting the fleet. */
const FLEET_PAGE = 1000;

/** The cursor is opaque to clients: base64url JSON holding the last uid of the previous page. */
export function encodeCursor(afterInstanceUid: string): string {
  return Buffer.from(JSON.stringify({ after: afterInstanceUid })).toString('base64url');
}

export function decodeCursor(cursor: string): string {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const after = (parsed as { after?: unknown }).after;
    if (typeof after === 'string' && uidFromString(after) !== undefined) return after;
  } catch {
    // Reported below like any other cursor this API did not make.
  }
  throw new ServerError('BAD_REQUEST', 'querystring/cursor is not a cursor returned by this API');
}

function filterOf(query: AgentListQuery): AgentFilter {
  const filter: AgentFilter = {};
  if (query.status) filter.state = query.status;
  if (query.version !== undefined) filter.version = query.version;
  if (query.distribution !== undefined) filter.distribution = query.distribution;
  if (query.os !== undefined) filter.os = query.os;
  // Every spelling agents use for the architecture asked for (arm, arm32 and armv7 alike).
  if (query.arch !== undefined) filter.arch = archSpellings(query.arch);
  if (query.attribute !== undefined) {
    const equals = query.attribute.indexOf('=');
    filter.attribute = { key: query.attribute.slice(0, equals), value: query.attribute.slice(equals + 1) };
  }
  if (query.search !== undefined) filter.search = query.search;
  return filter;
}

/** Canonical lowercase text of a uid from a URL (the schema already checked its form). */
function canonicalUid(text: string): string {
  const bytes = uidFromString(text);
  if (bytes === undefined) throw new ServerError('BAD_REQUEST', 'params/instance_uid is not a UUID');
  return uidToString(bytes);
}

/** Counts largest first, ties in name order, so that the list reads the same on every call. */
function ranked<T>(counts: Map<string, { item: T; agents: number }>): Array<T & { agents: number }> {
  return [...counts.entries()]
    .sort(([leftKey, left], [rightKey, right]) => right.agents - left.agents || leftKey.localeCompare(rightKey))
    .map(([, { item, agents }]) => ({ ...item, agents }));
}

/** GET /fleet: one walk over the agents, a page at a time, counting what the overview shows. */
async function fleetCounts(store: AdminOptions['store'], nowMs: number, offlineAfterMs: number) {
  const byState: Record<AgentState, number> = { online: 0, offline: 0, disconnected: 0 };
  const byVersion = new Map<string, { item: { version: string | null }; agents: number }>();
  const byPlatform = new Map<string, { item: { os: string | null; arch: string | null }; agents: number }>();
  const add = <T>(counts: Map<string, { item: T; agents: number }>, key: string, item: T): void => {
    const entry = counts.get(key) ?? { item, agents: 0 };
    entry.agents += 1;
    counts.set(key, entry);
  };
  let agents = 0;
  let after: string | undefined;
  for (;;) {
    const page = await store.queryAgents({ limit: FLEET_PAGE, afterInstanceUid: after, nowMs, offlineAfterMs });
    for (const record of page) {
      const summary = agentSummary(record, nowMs, offlineAfterMs);
      agents += 1;
      byState[summary.state] += 1;
      add(byVersion, JSON.stringify(summary.version), { version: summary.version });
      add(byPlatform, JSON.stringify([summary.os, summary.arch]), { os: summary.os, arch: summary.arch });
    }
    if (page.length < FLEET_PAGE) break;
    after = page[page.length - 1]!.instanceUid;
  }
  return { agents, by_state: byState, by_version: ranked(byVersion), by_platform: ranked(byPlatform) };
}

export function fleetRoutes(options: AdminOptions & { callerOf(request: FastifyRequest): string }): AdminRoute[] {
  const { store, offlineAfterMs, now } = options;
  return [
    adminRoute('get', '/api/v1/agents', async (request) => {
      const { query } = request;
      const agents = await store.queryAgents({
        // One more than asked tells whether another page follows.
        limit: query.limit + 1,
        afterInstanceUid: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
        filter: filterOf(query),
        nowMs: now(),
        offlineAfterMs,
      });
      const page = agents.slice(0, query.limit);
      const nowMs = now();
      return {
        agents: page.map((record) => agentSummary(record, nowMs, offlineAfterMs)),
        next_cursor: agents.length > query.limit ? encodeCursor(page[page.length - 1]!.instanceUid) : null,
      };
    }),
    adminRoute('get', '/api/v1/fleet', async () => fleetCounts(store, now(), offlineAfterMs)),
    adminRoute('get', '/api/v1/agents/{instance_uid}', async (request) => {
      const uid = canonicalUid(request.params.instance_uid);
      const record = await store.getAgent(uid);
      if (!record) throw new ServerError('NOT_FOUND', `no agent ${uid}`);
      const history = await store.listPackageStatusChanges(uid, HISTORY_SHOWN);
      return { ...agentDetail(record, history, now(), offlineAfterMs), ...(await agentRolloutView(options.rollouts, record)) };
    }),
    adminRoute('delete', '/api/v1/agents/{instance_uid}', async (request) => {
      const uid = canonicalUid(request.params.instance_uid);
      if (!(await store.deleteAgent(uid))) throw new ServerError('NOT_FOUND', `no agent ${uid}`);
      request.log.info({ adminKey: options.callerOf(request), instanceUid: uid }, 'agent forgotten');
      return { deleted: uid };
    }),
    adminRoute('get', '/api/v1/agent-keys', async () => ({
      keys: options.agentKeys.list().map((key) => ({
        name: key.name,
        source: key.source,
        created_at: key.createdAtMs === undefined ? null : new Date(key.createdAtMs).toISOString(),
      })),
      enforced: options.agentKeys.enabled,
    })),
    adminRoute('post', '/api/v1/agent-keys', async (request, reply) => {
      const created = await options.agentKeys.create(request.body.name, request.body.key, now());
      request.log.info({ adminKey: options.callerOf(request), agentKey: created.name }, 'agent key created');
      return reply.code(201).send({ name: created.name, key: created.key, created_at: new Date(created.createdAtMs).toISOString() });
    }),
    adminRoute('delete', '/api/v1/agent-keys/{name}', async (request) => {
      const { name } = request.params;
      await options.agentKeys.remove(name);
      request.log.info({ adminKey: options.callerOf(request), agentKey: name }, 'agent key revoked');
      return { deleted: name };
    }),
  ];
}
