// What the admin routes are given and what each of them is: imported by index.ts, which
// registers them, and by the route modules, which define them.
import type { RouteHandlerMethod } from 'fastify';
import type { AgentKeys } from '../auth/agent-keys';
import type { Metrics } from '../metrics';
import type { PackageServices } from '../packages/setup';
import type { RolloutService } from '../rollouts/service';
import type { AgentStore } from '../store/types';
import type { AdminKeys } from './auth';
import type { AdminDocument } from './openapi';

export interface AdminOptions {
  store: AgentStore;
  agentKeys: AgentKeys;
  adminKeys: AdminKeys;
  packages: PackageServices | undefined;
  metrics: Metrics;
  offlineAfterMs: number;
  now: () => number;
  version: string;
  document?: AdminDocument;
  rollouts: RolloutService;
}

/** A route of the admin API: the document's method and path, and what answers it. */
export interface AdminRoute {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  handler: RouteHandlerMethod;
  /** The document's body is optional: a request without one is validated as `{}`. */
  optionalBody?: boolean;
}
