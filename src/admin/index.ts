// The admin API under /api/v1, plus /api/status and /metrics. Every route takes its schemas
// from openapi/admin.yaml; every call is logged with the name of the key that made it.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { jsonErrorHandler } from '../json-errors';
import { authorizeAdmin } from './auth';
import { fastifyPath, loadAdminDocument } from './openapi';
import { fleetRoutes } from './routes';
import { rolloutRoutes } from './rollout-routes';
import { feedStatus, packageRoutes } from './package-routes';
import { adminRoute, type AdminOptions, type AdminRoute } from './types';

/** Admin keys go in either scheme; a 401 says so. */
const sendFailure = jsonErrorHandler('ApiKey, Bearer');

/** What /api/status reports; 503 when the store does not answer. */
async function status(options: AdminOptions, request: FastifyRequest) {
  let agents: number | null = null;
  let storeError: string | null = null;
  try {
    agents = await options.store.countAgents();
  } catch (error) {
    // Anyone may read the status: the exception's text goes to the log, under the request id.
    request.log.error({ err: error, requestId: request.id }, 'the store did not answer /api/status');
    storeError = `the store did not answer (request ${request.id})`;
  }
  const entries = options.packages?.catalog.list() ?? [];
  const offerable = entries.filter((entry) => entry.offerable).length;
  return {
    name: 'opamp-package-server',
    version: { number: options.version },
    status: storeError === null ? 'HEALTHY' : 'DEGRADED',
    store: { status: storeError === null ? 'ok' : 'failing', agents, error: storeError },
    catalog: { configured: options.packages !== undefined, packages: entries.length, offerable, rejected: entries.length - offerable },
    trusted_root: options.packages ? { source: options.packages.trust.current.source } : null,
    // Not part of `status`: with the feed down the server still offers everything it cached.
    release_feed: feedStatus(options.packages?.releases?.status()),
    agent_auth: options.agentKeys.enabled ? 'on' : 'off',
    admin_auth: options.adminKeys.size > 0 ? 'keys' : 'loopback',
  };
}

/** The admin API, as a plugin of its own. */
export async function adminApi(app: FastifyInstance, options: AdminOptions): Promise<void> {
  const document = options.document ?? loadAdminDocument();
  const json = JSON.stringify(document.raw);
  const route = (scope: FastifyInstance, definition: AdminRoute): void => {
    definition.register(scope, {
      url: fastifyPath(definition.path),
      schema: document.routeSchema(definition.method, definition.path),
      // Only what the document lists: no implicit HEAD twin of each GET.
      exposeHeadRoute: false,
      // Fastify validates a missing body as undefined, which no object schema accepts.
      ...(definition.optionalBody
        ? { preValidation: async (request: FastifyRequest) => { request.body ??= {}; } }
        : {}),
    });
  };

  // Open to anyone: health for load balancers, and the description of the API.
  await app.register(async (scope) => {
    scope.setErrorHandler(sendFailure);
    route(scope, adminRoute('get', '/api/status', async (request, reply) => {
      const body = await status(options, request);
      return reply.code(body.status === 'HEALTHY' ? 200 : 503).send(body);
    }));
    route(scope, adminRoute('get', '/api/v1/openapi.json', async (_request, reply) => reply.type('application/json').send(json)));
  });

  await app.register(async (scope) => {
    const callers = new WeakMap<FastifyRequest, string>();
    scope.setErrorHandler(sendFailure);
    scope.addHook('onRequest', async (request) => {
      callers.set(request, authorizeAdmin(options.adminKeys, request));
    });
    scope.addHook('onResponse', async (request, reply) => {
      request.log.info(
        { adminKey: callers.get(request) ?? null, method: request.method, url: request.url, statusCode: reply.statusCode },
        'admin call',
      );
    });
    route(scope, adminRoute('get', '/metrics', async (_request, reply) => reply.type(options.metrics.contentType).send(await options.metrics.text())));
    const withCaller = { ...options, callerOf: (request: FastifyRequest) => callers.get(request) ?? 'unknown' };
    for (const definition of [...fleetRoutes(withCaller), ...packageRoutes(withCaller), ...rolloutRoutes(withCaller)]) route(scope, definition);
  });
}
