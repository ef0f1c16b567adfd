// The console's rollout and catalog views in a real browser, on a fleet of simulated agents
// (several versions and platforms) with a running rollout that has failures: the waves' counts
// are the API's, pause on the page pauses the rollout in the store, and the new-rollout form's
// preview shows the API's numbers before create is enabled.
import t from 'tap';
import type { Browser, Page } from 'playwright-core';
import { call, keyFile } from '../admin/helpers';
import { fleet } from '../rollouts/helpers';
import { checkClean, launchBrowser, openPage, screenshot, WIDTHS } from './browser';

const KEY = 'console-rollout-admin-key-0123456789';

let browser: Browser;
t.before(async () => {
  browser = await launchBrowser(t);
});

async function signIn(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Admin key').fill(KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Each view at both widths, for a person to look at. */
async function screenshots(page: Page, name: string): Promise<void> {
  for (const [width, size] of Object.entries(WIDTHS)) {
    await page.setViewportSize(size);
    await screenshot(page, `${name}-${width}`);
  }
  await page.setViewportSize(WIDTHS.laptop);
}

t.test('rollouts, one rollout, pause, packages and a new rollout\'s preview', async (t) => {
  const { server, agents, pollAll, tick } = await fleet(t, { 'admin-keys-file': keyFile({ ops: KEY }) });
  const admin = (method: string, route: string, body?: unknown) => call(server.url, method, route, { key: KEY, body });
  const everyone = [
    ...agents(4), ...agents(2, { failInstall: 'disk full' }), ...agents(2, { version: '0.111.0' }),
    ...agents(2, { os: 'windows' }), ...agents(1, { arch: 'arm64' }),
  ];
  await pollAll(everyone);
  const created = await admin('POST', '/api/v1/rollouts', {
    version: '0.112.0', selector: { os: ['linux'] }, waves: [{ percent: 50 }, { percent: 100 }], max_failure_ratio: 0.9,
  });
  t.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.id as string;
  await pollAll(everyone, 6);
  await tick();
  await pollAll(everyone, 6);
  const rollout = (await admin('GET', `/api/v1/rollouts/${id}`)).body;
  t.equal(rollout.status, 'active', 'the rollout runs');
  t.ok(rollout.states.failed > 0, 'with failures');

  const opened = await openPage(t, browser, server.url);
  const { page } = opened;
  page.on('dialog', (dialog) => void dialog.accept());
  await signIn(page, `${server.url}/ui/#/rollouts`);
  await page.locator('#rollouts-table').waitFor();
  t.match(await page.locator('#rollouts-table tbody').textContent(), /0\.112\.0/, 'listed');
  await screenshots(page, 'rollouts');

  await page.getByRole('link', { name: '0.112.0' }).click();
  await page.locator('.wave').first().waitFor();
  for (const [index, wave] of (rollout.waves as Array<{ states: Record<string, number> }>).entries()) {
    for (const [state, count] of Object.entries(wave.states)) {
      const shown = await page.locator(`.wave[data-wave="${index}"] li[data-state="${state}"] strong`).textContent();
      t.equal(shown, String(count), `wave ${index + 1}: ${state}`);
    }
  }
  t.match(await page.locator('#failure-ratio').textContent(), /pauses above 90\.0%/, 'the limit beside the ratio');
  await page.getByLabel('Show agents in state').selectOption('failed');
  await page.locator('#members-table caption', { hasText: 'failed' }).waitFor();
  const failedRows = await page.locator('#members-table tbody tr').count();
  t.equal(failedRows, rollout.states.failed, 'the agents table filtered by state');
  t.match(await page.locator('#members-table tbody').textContent(), /disk full/, 'with the error');
  await screenshots(page, 'rollout');

  await page.getByRole('button', { name: /Pause/ }).click();
  await page.locator('#rollout-status', { hasText: 'paused' }).waitFor();
  await server.rollouts.reload();
  t.equal(server.rollouts.list().find((candidate) => candidate.id === id)?.status, 'paused', 'paused in the store');
  t.match(await page.locator('#rollout-reason').textContent(), /paused by ops/, 'the page says who paused it');
  t.ok(await page.getByRole('button', { name: /Resume/ }).isEnabled(), 'resume is offered now');

  await page.goto(`${server.url}/ui/#/packages`);
  await page.locator('#packages-table').waitFor();
  const catalog = (await admin('GET', '/api/v1/packages')).body;
  t.equal(await page.locator('#packages-table tbody tr').count(), catalog.packages.length + catalog.rejected.length, 'every file');
  t.match(await page.locator('#packages-table tbody').textContent(), /otelcol-contrib_0\.112\.0_linux_amd64\.tar\.gz/);
  await screenshots(page, 'packages');

  // A new rollout: the preview is the API's, and create waits for it.
  await page.goto(`${server.url}/ui/#/rollouts/new`);
  await page.locator('#new-version option', { hasText: '0.111.0' }).waitFor({ state: 'attached' });
  t.ok(await page.locator('#create-rollout').isDisabled(), 'create waits for a preview');
  await page.getByLabel(/^Version/).selectOption('0.111.0');
  await page.getByLabel(/^Waves/).fill('25, 100');
  await page.getByLabel(/^Allow downgrades/).check();
  const preview = (await admin('POST', '/api/v1/rollouts/preview', {
    version: '0.111.0', max_failure_ratio: 0.1, allow_downgrade: true, waves: [{ percent: 25 }, { percent: 100 }],
  })).body;
  await page.locator('#preview-agents').waitFor();
  t.equal(await page.locator('#preview-agents').textContent(), String(preview.agents), 'agents offered');
  t.equal(await page.locator('#preview-matched').textContent(), String(preview.matched), 'agents matched');
  t.same(await page.locator('#preview-waves .count').allTextContents(), preview.waves.map((wave: { agents: number }) => String(wave.agents)), 'per wave');
  t.ok(await page.locator('#create-rollout').isEnabled(), 'create is enabled once the preview answered');
  await screenshots(page, 'new-rollout');

  // The one refusal: the first call, before the key was given, asks whether one is needed.
  checkClean(t, opened, [/status of 401/]);
});
