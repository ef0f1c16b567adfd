// A fleet worth looking at, shared by the console's accessibility, proxy and Firefox tests and by
// scripts/console-screenshots.js: agents of several versions and platforms, and a rollout of
// 0.112.0 to the linux agents that runs with install failures.
import type { Test } from 'tap';
import { uidToString } from '../../src/opamp/codec';
import { call, keyFile, type AdminAnswer } from '../admin/helpers';
import { testConfig } from '../helpers/server';
import { clock, fleet as startFleet, releases, type Fleet } from '../rollouts/helpers';

export const CONSOLE_KEY = 'console-scenario-admin-key-0123456789';

export interface Scenario {
  fleet: Fleet;
  url: string;
  rolloutId: string;
  /** An agent with a host name, for the agent view. */
  agentUid: string;
  admin(method: string, route: string, body?: unknown): Promise<AdminAnswer>;
}

export interface ScenarioOptions {
  /** Serve with an admin key (the page then asks for it). */
  withKey?: boolean;
  /** Agents of each kind, times this (the README's screenshots want a fuller fleet). */
  scale?: number;
  flags?: Record<string, string | boolean>;
  /** The server's clock at the real time rather than in 2030 (the README's screenshots show dates). */
  realTime?: boolean;
}

export async function consoleScenario(t: Test, options: ScenarioOptions = {}): Promise<Scenario> {
  const scale = options.scale ?? 1;
  const flags = { ...(options.withKey ? { 'admin-keys-file': keyFile({ ops: CONSOLE_KEY }) } : {}), ...options.flags };
  const fleet = options.realTime
    ? await startFleet(t, {}, {
      clock: clock(Date.now()),
      config: testConfig({ 'packages-dir': await releases(), 'allow-unsigned': true, 'trusted-root-refresh': false, ...flags }),
    })
    : await startFleet(t, flags);
  const key = options.withKey ? CONSOLE_KEY : undefined;
  const admin = (method: string, route: string, body?: unknown) => call(fleet.server.url, method, route, { key, body });
  const edge = fleet.agents(1, { version: '0.109.0', os: 'darwin', arch: 'arm64', hostName: 'edge-gateway-7' });
  const everyone = [
    ...fleet.agents(4 * scale), ...fleet.agents(2 * scale, { failInstall: 'disk full' }), ...fleet.agents(2 * scale, { version: '0.111.0' }),
    ...fleet.agents(2 * scale, { os: 'windows' }), ...fleet.agents(scale, { arch: 'arm64' }), ...edge,
  ];
  await fleet.pollAll(everyone);
  const created = await admin('POST', '/api/v1/rollouts', {
    version: '0.112.0', selector: { os: ['linux'] }, waves: [{ percent: 50 }, { percent: 100 }], max_failure_ratio: 0.9,
  });
  if (created.status !== 201) throw new Error(`the scenario's rollout was refused: ${JSON.stringify(created.body)}`);
  await fleet.pollAll(everyone, 6);
  await fleet.tick();
  await fleet.pollAll(everyone, 6);
  return { fleet, url: fleet.server.url, rolloutId: created.body.id as string, agentUid: uidToString(edge[0]!.instanceUid), admin };
}

/** Every view, by its hash, with what shows it has loaded. */
export function consoleViews(scenario: Scenario): Array<{ name: string; hash: string; ready: string }> {
  return [
    { name: 'overview', hash: '#/', ready: '[data-testid=by-version]' },
    { name: 'agents', hash: '#/agents', ready: '[data-testid=agents-table]' },
    { name: 'agent', hash: `#/agents/${scenario.agentUid}`, ready: '[data-testid=capabilities]' },
    { name: 'packages', hash: '#/packages', ready: '#packages-table' },
    { name: 'rollouts', hash: '#/rollouts', ready: '#rollouts-table' },
    { name: 'rollout', hash: `#/rollouts/${scenario.rolloutId}`, ready: '#members-table' },
    { name: 'new-rollout', hash: '#/rollouts/new', ready: '#new-version option:nth-child(2)' },
  ];
}
