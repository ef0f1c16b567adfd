// Shared by the rollout tests: a server on a release directory with two versions (unsigned,
// development mode), a clock the test moves, admin calls, and a fleet of supervisor-like agents.
import fs from 'node:fs';
import type { Test } from 'tap';
import { makeCollectorTarball } from '../fixtures/tarballs';
import pino from 'pino';
import { buildApp } from '../../src/app';
import { temporaryDirectory, testConfig, type TestServer } from '../helpers/server';
import { SupervisorAgent, type SupervisorAgentOptions } from '../helpers/supervisor-agent';
import { call, type AdminAnswer } from '../admin/helpers';
import type { ServeConfig } from '../../src/config';

export interface Clock {
  nowMs: number;
  advance(ms: number): void;
}

export function clock(startMs = Date.parse('2030-01-01T00:00:00Z')): Clock {
  return {
    nowMs: startMs,
    advance(ms: number) {
      this.nowMs += ms;
    },
  };
}

/** A release directory holding 0.111.0 and 0.112.0 for linux/amd64, old enough to be taken at once. */
export async function releases(versions = ['0.111.0', '0.112.0']): Promise<string> {
  const directory = temporaryDirectory('rollout-releases-');
  for (const version of versions) {
    const tarball = await makeCollectorTarball(directory, { distribution: 'otelcol-contrib', version, os: 'linux', arch: 'amd64' });
    const past = new Date(Date.now() - 120_000);
    fs.utimesSync(tarball.path, past, past);
  }
  return directory;
}

export interface Fleet {
  server: TestServer;
  clock: Clock;
  config: ServeConfig;
  admin(method: string, route: string, body?: unknown): Promise<AdminAnswer>;
  agents(count: number, options?: Partial<SupervisorAgentOptions>): SupervisorAgent[];
  /** Every agent polls `times` times, in turn. */
  pollAll(agents: SupervisorAgent[], times?: number): Promise<void>;
  /** Evaluates the rollouts now (stuck agents, self-pause, waves). */
  tick(): Promise<void>;
}

export async function fleet(t: Test, flags: Record<string, string | boolean> = {}, existing?: { config: ServeConfig; clock: Clock; port?: number }): Promise<Fleet> {
  const time = existing?.clock ?? clock();
  const config = existing?.config ?? testConfig({
    'packages-dir': await releases(), 'allow-unsigned': true, 'trusted-root-refresh': false, ...flags,
  });
  const built = await buildApp(config, {
    logger: pino({ level: 'silent' }),
    now: () => time.nowMs,
    // The timer stays out of the way; tests evaluate when they choose.
    rolloutRefreshMs: 3_600_000,
  });
  // A restarted server listens where the previous one did, so the agents keep their URL.
  const url = await built.app.listen({ host: '127.0.0.1', port: existing?.port ?? 0 });
  const server: TestServer = { ...built, url, config, close: () => built.app.close() };
  t.teardown(() => server.close());
  const made: SupervisorAgent[] = [];
  return {
    server,
    clock: time,
    config,
    admin: (method, route, body) => call(server.url, method, route, body === undefined ? {} : { body }),
    agents(count, options = {}) {
      const list = Array.from({ length: count }, () => new SupervisorAgent({ serverUrl: server.url, version: '0.110.0', ...options }));
      made.push(...list);
      return list;
    },
    async pollAll(agents, times = 1) {
      for (let round = 0; round < times; round += 1) {
        for (const agent of agents) await agent.poll();
      }
    },
    tick: async () => {
      await server.rollouts?.tick();
    },
  };
}
