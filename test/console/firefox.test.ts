// The console in Firefox too: Debian's firefox-esr (installed by .ci/run, never downloaded by
// npm), driven by puppeteer-core over WebDriver BiDi. A smoke test of what every visit does:
// sign in with a key, read the overview, list the agents, open one; nothing logged as an error,
// nothing fetched from another origin. The other console tests go deeper in Chromium.
import fs from 'node:fs';
import t from 'tap';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { ARTIFACTS } from './browser';
import { CONSOLE_KEY, consoleScenario, type Scenario } from './scenario';

const FIREFOX = process.env.OPAMP_TEST_FIREFOX ?? '/usr/bin/firefox-esr';

// What the functions handed to page.evaluate read in the browser (the tests are type-checked
// without the DOM's types).
interface Element { getAttribute(name: string): string | null; readonly textContent: string | null }
declare const document: { querySelectorAll(selector: string): Iterable<Element> & { readonly length: number } };
declare const sessionStorage: { readonly length: number };

if (!fs.existsSync(FIREFOX)) {
  t.plan(0, `no Firefox at ${FIREFOX} (apt-get install firefox-esr, as .ci/run does, or set OPAMP_TEST_FIREFOX)`);
} else {
  let browser: Browser;
  let scenario: Scenario;
  t.before(async () => {
    // Starting Firefox is slow on a shared two-core machine.
    t.setTimeout(Math.max(300_000, t.options.timeout ?? 0));
    scenario = await consoleScenario(t, { withKey: true });
    browser = await puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, protocol: 'webDriverBiDi', headless: true, timeout: 120_000 });
    t.teardown(() => browser.close());
  });

  async function watched(page: Page): Promise<{ errors: string[]; foreignRequests: string[] }> {
    const errors: string[] = [];
    const foreignRequests: string[] = [];
    const origin = new URL(scenario.url).origin;
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('pageerror', (error) => errors.push(`uncaught: ${String(error)}`));
    page.on('request', (request) => {
      if (new URL(request.url()).origin !== origin) foreignRequests.push(request.url());
    });
    await page.setViewport({ width: 1366, height: 900 });
    page.setDefaultTimeout(60_000);
    return { errors, foreignRequests };
  }

  t.test('sign in, the overview, the agent list and an agent, in Firefox', async (t) => {
    const page = await browser.newPage();
    t.teardown(() => page.close());
    const seen = await watched(page);
    await page.goto(`${scenario.url}/ui/`);
    await page.locator('#admin-key').fill(CONSOLE_KEY);
    await page.locator('::-p-aria(Sign in[role="button"])').click();
    await page.waitForSelector('[data-testid=by-version] li');
    t.equal(await page.evaluate(() => sessionStorage.length), 1, 'the key is kept for the tab');

    const fleet = (await scenario.admin('GET', '/api/v1/fleet')).body;
    const states = await page.evaluate(() => [...document.querySelectorAll('[data-testid=by-state] li')]
      .map((item) => [item.getAttribute('data-state'), item.textContent]));
    for (const [state, text] of states) {
      t.match(text, new RegExp(`\\b${fleet.by_state[state!]}$`), `${state}: the API's count`);
    }
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}/firefox-overview.png` });

    await page.goto(`${scenario.url}/ui/#/agents`);
    await page.waitForSelector('[data-testid=agents-table] tbody tr');
    const listed = await page.evaluate(() => [...document.querySelectorAll('[data-testid=agents-table] tbody tr')].map((row) => row.getAttribute('data-uid')));
    const api = (await scenario.admin('GET', '/api/v1/agents?limit=50')).body.agents.map((agent: { instance_uid: string }) => agent.instance_uid);
    t.same(listed, api, 'every agent, in the API order');
    await page.screenshot({ path: `${ARTIFACTS}/firefox-agents.png` });

    await page.locator(`a[href="#/agents/${scenario.agentUid}"]`).click();
    await page.waitForSelector('[data-testid=capabilities] li');
    t.ok(await page.$('::-p-text(edge-gateway-7)'), "the agent's page shows its host name");

    t.same(seen.errors.filter((error) => !/status of 401|401 \(Unauthorized\)/.test(error)), [], 'no error in the browser console');
    t.same(seen.foreignRequests, [], 'no request to another origin');
  });
}
