// What the admin routes are given and what each of them is: imported by index.ts, which
// registers them, and by the route modules, which define them.
import type { FastifyInstance, FastifyRequest, FastifySchema, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault, RouteHandlerMethod } from 'fastify';
import type { AgentKeys } from '../auth/agent-keys';
import type { Metrics } from '../metrics';
import type { PackageServices } from '../packages/setup';
import type { RolloutService } from '../rollouts/service';
import type { AgentStore } from '../store/types';
import type { AdminKeys } from './auth';
import type { AdminDocument } from './openapi';
import type { paths } from './openapi-types';

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

type Method = 'get' | 'post' | 'delete';

/** The methods the document defines at `Path`. */
type MethodOf<Path extends keyof paths> = { [M in Method]: paths[Path][M] extends undefined ? never : M }[Method];

type OperationOf<Path extends keyof paths, M extends Method> = NonNullable<paths[Path][M]>;

/**
 * Query parameters that the document gives a default: Fastify fills them in before a handler
 * runs, so the handler may count on them (test/admin/openapi.test.ts checks this list against
 * the document). openapi-typescript writes every query parameter as optional, as a client sees it.
 */
export const DEFAULTED_QUERY = {
  '/api/v1/agents': ['limit'],
  '/api/v1/rollouts/{id}/agents': ['limit'],
} as const satisfies Partial<Record<keyof paths, readonly string[]>>;

type Defaulted<Path extends keyof paths, Query> = Path extends keyof typeof DEFAULTED_QUERY
  ? Query & Required<Pick<Query, (typeof DEFAULTED_QUERY)[Path][number] & keyof Query>>
  : Query;

/**
 * A request to the document's operation, as its handler gets it once Fastify has validated it
 * against the same document (src/admin/openapi.ts): path and query parameters, and the JSON
 * body, defaults filled in.
 */
export interface RequestOf<Path extends keyof paths, M extends MethodOf<Path>> {
  Params: OperationOf<Path, M>['parameters']['path'];
  Querystring: Defaulted<Path, NonNullable<OperationOf<Path, M>['parameters']['query']>>;
  Body: OperationOf<Path, M> extends { requestBody?: { content: { 'application/json': infer Body } } } ? Body : undefined;
}

/** What the registrar gives every route: the document's schema, and the hooks of its scope. */
export interface AdminRouteSettings {
  url: string;
  schema: FastifySchema;
  exposeHeadRoute: boolean;
  preValidation?: (request: FastifyRequest) => Promise<void>;
}

/** A route of the admin API: the document's method and path, and what answers it. */
export interface AdminRoute {
  method: 'GET' | 'POST' | 'DELETE';
  path: keyof paths;
  /** The document's body is optional: a request without one is validated as `{}`. */
  optionalBody?: boolean;
  /** Adds the route to `scope`, its handler typed by the document's operation. */
  register(scope: FastifyInstance, settings: AdminRouteSettings): void;
}

/**
 * Defines the route of the document's operation at `method` and `path`; the handler's request
 * is typed from the document (src/admin/openapi-types.ts, made by `npm run generate:admin-types`).
 */
export function adminRoute<Path extends keyof paths, M extends MethodOf<Path>>(
  method: M,
  path: Path,
  handler: RouteHandlerMethod<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, RequestOf<Path, M>>,
  options: { optionalBody?: boolean } = {},
): AdminRoute {
  const upper = method.toUpperCase() as Uppercase<M>;
  return {
    method: upper,
    path,
    optionalBody: options.optionalBody,
    register: (scope, settings) => scope.route<RequestOf<Path, M>>({ ...settings, method: upper, handler }),
  };
}
