// What the package exports: the whole server (buildApp), and the OpAMP route as a Fastify
// plugin with what it needs (a poll service over a store), for applications that mount the
// route themselves.
export { buildApp, fastifyOptions, type BuildOptions, type BuiltApp } from './app';
export { resolveConfig, type ServeConfig } from './config';
export { ServerError, type ErrorCode } from './errors';
export { createPollService, type PollObserver, type PollService, type PollServiceOptions } from './opamp/poll';
export { OPAMP_PATH, opampRoute, type OpampRouteOptions } from './opamp/route';
export type { OverloadSettings, RateLimitSettings, RateSetting } from './opamp/shedding';
export type { OfferProvider } from './packages/offer-provider';
export { openStore } from './store/open';
export type { AgentStore } from './store/types';
