// The admin API under /api/v1, plus /api/status and /metrics. Every route takes its schemas
// from openapi/admin.yaml; every call is logged with the name of the key that made it.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServerError, asServerError, type ErrorCode } from '../errors';
import { isStoreUnavailable } from '../store/failure';
import { authorizeAdmin } from './auth';
import { fastifyPath, loadAdminDocument } from './openapi';
import { fleetRoutes } from './routes';
import { rolloutRoutes } from './rollout-routes';
import { feedStatus, packageRoutes } from './package-routes';
import type { AdminOptions, AdminRoute } from './types';

/** Fastify's own request errors (validation, bad JSON, media type) in the table's codes. */
function adminFailure(error: FastifyError | ServerError | Error): ServerError {
  if (error instanceof ServerError) return error;
  // The database is down or overwhelmed: a caller may retry, as an agent is told to.
  if (isStoreUnavailable(error)) {
    return new ServerError('STORE_FAILURE', `the store failed: ${error.message}`, { retryAfterSeconds: 30, cause: error });
  }
  const fastifyError = error as FastifyError;
  const byStatus: Record<number, ErrorCode> = { 400: 'BAD_REQUEST', 413: 'BODY_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE' };
  const code = fastifyError.validation ? 'BAD_REQUEST' : byStatus[fastifyError.statusCode ?? 0];
  return code ? new ServerError(code, error.message) : asServerError(error);
}

function sendFailure(error: Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const failure = adminFailure(error);
  if (failure.httpStatus >= 500) request.log.error({ err: error }, 'admin request failed');
  if (failure.retryAfterSeconds !== undefined) reply.header('retry-after', String(failure.retryAfterSeconds));
  return reply.code(failure.httpStatus).send({ code: failure.code, error: failure.message });
}

/** What /api/status reports; 503 when the store does not answer. */
async function status(options: AdminOptions) {
  let agents: number | null = null;
  let storeError: string | null = null;
  try {
    agents = await options.store.countAgents();
  } catch (error) {
    storeError = (error as Error).message;
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
    scope.route({
      method: definition.method,
      url: fastifyPath(definition.path),
      schema: document.routeSchema(definition.method, definition.path),
      // Only what the document lists: no implicit HEAD twin of each GET.
      exposeHeadRoute: false,
      // Fastify validates a missing body as undefined, which no object schema accepts.
      ...(definition.optionalBody
        ? { preValidation: async (request: FastifyRequest) => { request.body ??= {}; } }
        : {}),
      handler: definition.handler,
    });
  };

  // Open to anyone: health for load balancers, and the description of the API.
  await app.register(async (scope) => {
    scope.setErrorHandler(sendFailure);
    route(scope, {
      method: 'GET',
      path: '/api/status',
      handler: async (_request, reply) => {
        const body = await status(options);
        return reply.code(body.status === 'HEALTHY' ? 200 : 503).send(body);
      },
    });
    route(scope, {
      method: 'GET',
      path: '/api/v1/openapi.json',
      handler: async (_request, reply) => reply.type('application/json').send(json),
    });
  });

  await app.register(async (scope) => {
    const callers = new WeakMap<FastifyRequest, string>();
    scope.setErrorHandler(sendFailure);
    scope.addHook('onRequest', async (request, reply) => {
      callers.set(request, authorizeAdmin(options.adminKeys, request, reply));
    });
    scope.addHook('onResponse', async (request, reply) => {
      request.log.info(
        { adminKey: callers.get(request) ?? null, method: request.method, url: request.url, statusCode: reply.statusCode },
        'admin call',
      );
    });
    route(scope, {
      method: 'GET',
      path: '/metrics',
      handler: async (_request, reply) => reply.type(options.metrics.contentType).send(await options.metrics.text()),
    });
    const withCaller = { ...options, callerOf: (request: FastifyRequest) => callers.get(request) ?? 'unknown' };
    for (const definition of [...fleetRoutes(withCaller), ...packageRoutes(withCaller), ...rolloutRoutes(withCaller)]) route(scope, definition);
  });
}
