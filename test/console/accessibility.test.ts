// Every view of the console, at a laptop's width and a phone's, checked by axe-core against WCAG
// 2.1 A and AA (contrast, labels, names, landmarks), and checked not to scroll sideways on a phone.
// axe is injected by the test, which the page's own Content-Security-Policy would refuse, so these
// contexts alone bypass it; the other console tests keep the policy on.
import fs from 'node:fs';
import t from 'tap';
import type { AxeResults, RunOptions } from 'axe-core';
import type { Browser, Page } from 'playwright-core';
import { startServer } from '../helpers/server';
import { checkClean, launchBrowser, openPage, screenshot, WIDTHS } from './browser';
import { CONSOLE_KEY, consoleScenario, consoleViews, type Scenario } from './scenario';

// What the functions handed to page.evaluate use in the browser (the tests are type-checked
// without the DOM's types).
declare const axe: { run(options: RunOptions): Promise<AxeResults> };
declare const document: { scrollingElement: { scrollWidth: number } | null };
declare const innerWidth: number;
declare function getComputedStyle(element: unknown): { outlineStyle: string; outlineWidth: string };

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const RULES: RunOptions = { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }, resultTypes: ['violations'] };

let browser: Browser;
let scenario: Scenario;
t.before(async () => {
  browser = await launchBrowser(t);
  scenario = await consoleScenario(t, { withKey: true });
});

/** axe's violations on the page as it is now, one line per element, with the rule's reason. */
async function violations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => typeof axe !== 'undefined'))) await page.addScriptTag({ content: AXE_SOURCE });
  const found = await page.evaluate(async (options) => (await axe.run(options)).violations.map((violation) => ({
    id: violation.id,
    nodes: violation.nodes.map((node) => `${node.target.join(' ')}: ${node.failureSummary ?? ''}`),
  })), RULES);
  return found.flatMap((violation) => violation.nodes.map((node) => `${violation.id} at ${node}`));
}

async function overflow(page: Page): Promise<{ scrollWidth: number; innerWidth: number }> {
  return page.evaluate(() => ({ scrollWidth: document.scrollingElement?.scrollWidth ?? 0, innerWidth }));
}

for (const [width, viewport] of Object.entries(WIDTHS)) {
  t.test(`every view passes axe's WCAG AA rules and fits the screen at the ${width}'s width`, async (t) => {
    const opened = await openPage(t, browser, scenario.url, { viewport, bypassCSP: true });
    const { page } = opened;
    await page.goto(`${scenario.url}/ui/`);
    await page.getByLabel('Admin key').waitFor();
    t.same(await violations(page), [], `sign-in: no violation (${width})`);
    const size = await overflow(page);
    t.ok(size.scrollWidth <= size.innerWidth, `sign-in: nothing wider than the screen (${JSON.stringify(size)})`);
    await screenshot(page, `signin-${width}`);

    await page.getByLabel('Admin key').fill(CONSOLE_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    for (const view of [...consoleViews(scenario), { name: 'not-found', hash: '#/nowhere', ready: 'h1:text("Not found")' }]) {
      await page.goto(`${scenario.url}/ui/${view.hash}`);
      await page.locator(view.ready).first().waitFor({ state: 'attached', timeout: 30_000 });
      if (view.name === 'new-rollout') {
        // The form with its preview shown, as an operator sees it before creating.
        await page.getByLabel(/^Version/).selectOption('0.111.0');
        await page.locator('#preview-agents').waitFor({ timeout: 30_000 });
      }
      t.same(await violations(page), [], `${view.name}: no violation (${width})`);
      const size = await overflow(page);
      t.ok(size.scrollWidth <= size.innerWidth, `${view.name}: nothing wider than the screen (${JSON.stringify(size)})`);
      await screenshot(page, `${view.name}-${width}`);
    }
    // The one refusal: the first call, before the key was given, asks whether one is needed.
    checkClean(t, opened, [/status of 401/]);
  });
}

t.test('the pages that say something went wrong pass too: access refused, and a failed refresh', async (t) => {
  const server = await startServer();
  let closed = false;
  t.teardown(async () => {
    if (!closed) await server.close();
  });
  // No admin key configured and the request forwarded: the page says it is refused, and why.
  const refused = await openPage(t, browser, server.url, { bypassCSP: true, headers: { 'x-forwarded-for': '203.0.113.9' } });
  await refused.page.goto(`${server.url}/ui/`);
  await refused.page.getByTestId('access-refused').waitFor();
  t.same(await violations(refused.page), [], 'access refused: no violation');

  const failing = await openPage(t, browser, server.url, { bypassCSP: true });
  await failing.page.goto(`${server.url}/ui/`);
  await failing.page.getByTestId('by-state').waitFor();
  await server.close();
  closed = true;
  await failing.page.getByTestId('refresh-failed').waitFor({ timeout: 30_000 });
  t.same(await violations(failing.page), [], 'refresh failed: no violation');
  await screenshot(failing.page, 'refresh-failed-laptop');
});

t.test('the keyboard focus is visible on every control it reaches', async (t) => {
  const opened = await openPage(t, browser, scenario.url);
  const { page } = opened;
  await page.goto(`${scenario.url}/ui/`);
  await page.getByLabel('Admin key').fill(CONSOLE_KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.goto(`${scenario.url}/ui/#/agents`);
  // Loaded afresh (the tab keeps its key), so the keyboard starts at the top of the page.
  await page.reload();
  await page.getByTestId('agents-table').waitFor();
  // The navigation, the sign-out, the filter form and its buttons, and the table's first links.
  for (let step = 0; step < 18; step += 1) {
    await page.keyboard.press('Tab');
    const focused = await page.locator(':focus').evaluate((element) => {
      const style = getComputedStyle(element);
      return { outline: `${style.outlineStyle} ${style.outlineWidth}`, name: String((element as { outerHTML: string }).outerHTML).slice(0, 80) };
    });
    t.equal(focused.outline, 'solid 3px', `a 3px outline on ${focused.name}`);
  }
  checkClean(t, opened, [/status of 401/]);
});
