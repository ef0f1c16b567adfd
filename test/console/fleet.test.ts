// The console's fleet views in a real browser, against a server with simulated agents of several
// versions and platforms: the overview's counts equal the API's, the agent list filters and
// searches as the API does, and an agent's page shows what the API knows of it.
import t from 'tap';
import type { Browser, Page } from 'playwright-core';
import { uidToString } from '../../src/opamp/codec';
import { fleet as startFleet, type Fleet } from '../rollouts/helpers';
import { checkClean, launchBrowser, openPage, screenshot, WIDTHS } from './browser';

// What the functions evaluated in the page read of it; the tests are type-checked without the DOM types.
declare const document: { querySelectorAll(selector: string): { readonly length: number }; querySelector(selector: string): { readonly textContent: string | null } | null };

let browser: Browser;
let fleet: Fleet;
let edgeUid: string;

t.before(async () => {
  browser = await launchBrowser(t);
  fleet = await startFleet(t);
  const agents = [
    ...fleet.agents(4, { version: '0.110.0', os: 'linux', arch: 'amd64' }),
    ...fleet.agents(2, { version: '0.111.0', os: 'linux', arch: 'arm64' }),
    ...fleet.agents(1, { version: '0.109.0', os: 'darwin', arch: 'arm64', hostName: 'edge-gateway-7' }),
  ];
  await fleet.pollAll(agents);
  edgeUid = uidToString(agents[agents.length - 1]!.instanceUid);
});

t.test("the overview's counts are the API's", async (t) => {
  const api = (await fleet.admin('GET', '/api/v1/fleet')).body;
  const status = (await fleet.admin('GET', '/api/status')).body;
  for (const [name, viewport] of Object.entries(WIDTHS)) {
    const opened = await openPage(t, browser, fleet.server.url, { viewport });
    const { page } = opened;
    await page.goto(`${fleet.server.url}/ui/`);
    await page.getByTestId('by-state').waitFor();
    for (const state of ['online', 'offline', 'disconnected']) {
      t.equal(await page.locator(`[data-testid=by-state] [data-state=${state}] strong`).textContent(), String(api.by_state[state]), `${state} (${name})`);
    }
    const versions = await page.locator('[data-testid=by-version] li').evaluateAll((items) =>
      items.map((item) => ({ version: item.getAttribute('data-version'), agents: Number(item.querySelector('strong')!.textContent) })));
    t.same(versions, api.by_version.map((entry: { version: string | null; agents: number }) => ({ version: entry.version ?? 'unknown', agents: entry.agents })), 'agents by version');
    const platforms = await page.locator('[data-testid=by-platform] li').evaluateAll((items) =>
      items.map((item) => ({ platform: item.getAttribute('data-platform'), agents: Number(item.querySelector('strong')!.textContent) })));
    t.same(platforms, api.by_platform.map((entry: { os: string; arch: string; agents: number }) => ({ platform: `${entry.os}/${entry.arch}`, agents: entry.agents })), 'agents by platform');
    t.equal(await page.locator('[data-count=offerable]').textContent(), String(status.catalog.offerable), 'offerable packages');
    t.equal(await page.locator('[data-count=rejected]').textContent(), String(status.catalog.rejected), 'rejected packages');
    t.ok(await page.locator('canvas[role=img]').getAttribute('aria-label'), 'the chart is described in text');
    await screenshot(page, `overview-${name}`);
    checkClean(t, opened);
  }
});

async function listedUids(page: Page): Promise<string[]> {
  return page.locator('[data-testid=agents-table] tbody tr').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-uid')!));
}

t.test('the agent list filters and searches as the API does', async (t) => {
  const opened = await openPage(t, browser, fleet.server.url);
  const { page } = opened;
  await page.goto(`${fleet.server.url}/ui/#/agents`);
  await page.getByTestId('agents-table').waitFor();
  const all = (await fleet.admin('GET', '/api/v1/agents?limit=50')).body.agents.map((agent: { instance_uid: string }) => agent.instance_uid);
  t.same(await listedUids(page), all, 'every agent, in the API order');

  await page.getByLabel('Version').fill('0.111.0');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForURL(/version=0\.111\.0/);
  const byVersion = (await fleet.admin('GET', '/api/v1/agents?version=0.111.0')).body.agents.map((agent: { instance_uid: string }) => agent.instance_uid);
  t.equal(byVersion.length, 2);
  await page.waitForFunction((count) => document.querySelectorAll('[data-testid=agents-table] tbody tr').length === count, byVersion.length);
  t.same(await listedUids(page), byVersion, 'the filtered rows are the API answer');
  await screenshot(page, 'agents-laptop');

  await page.getByRole('button', { name: 'Clear' }).click();
  await page.getByLabel('Search uid or host name').fill('EDGE-gateway');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=agents-table] tbody tr').length === 1);
  t.same(await listedUids(page), [edgeUid], 'the search finds the agent by host name, in any case');

  // A refresh keeps what is typed but not yet applied.
  const before = await page.locator('.freshness').textContent();
  await page.getByLabel('OS', { exact: true }).fill('half-typed');
  await page.waitForFunction((text) => document.querySelector('.freshness')?.textContent !== text, before, { timeout: 20_000 });
  t.equal(await page.getByLabel('OS', { exact: true }).inputValue(), 'half-typed', 'the live refresh left the form alone');

  await page.getByRole('link', { name: edgeUid }).click();
  await page.getByRole('heading', { name: `Agent ${edgeUid}` }).waitFor();
  t.match(page.url(), new RegExp(`#/agents/${edgeUid}$`), 'each row links to its agent');
  checkClean(t, opened);
});

t.test("an agent's page shows what the API knows of it", async (t) => {
  const agent = (await fleet.admin('GET', `/api/v1/agents/${edgeUid}`)).body;
  for (const [name, viewport] of Object.entries(WIDTHS)) {
    const opened = await openPage(t, browser, fleet.server.url, { viewport });
    const { page } = opened;
    await page.goto(`${fleet.server.url}/ui/#/agents/${edgeUid}`);
    await page.getByTestId('capabilities').waitFor();
    t.match(await page.getByTestId('agent-state').textContent(), agent.state, `state (${name})`);
    t.same(await page.locator('[data-testid=capabilities] li').allTextContents(), agent.capabilities, 'capabilities by name');
    t.ok(await page.getByText('edge-gateway-7').isVisible(), 'the description is shown');
    t.ok(await page.getByText('0.109.0').first().isVisible(), 'the version is shown');
    await screenshot(page, `agent-${name}`);
    checkClean(t, opened);
  }
});
