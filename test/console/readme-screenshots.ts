// The README's pictures of the console, taken from a real server with simulated agents (the
// accessibility test's fleet, three times over) in Debian's chromium. Run by
// scripts/console-screenshots.js, which bundles this file; it is not a test, and loading it (as
// `tap test/console/` does) takes no picture.
import fs from 'node:fs';
import path from 'node:path';
import type { Test } from 'tap';
import { chromium } from 'playwright-core';
import { CHROMIUM } from './browser';
import { CONSOLE_KEY, consoleScenario } from './scenario';

const OUTPUT = path.join(__dirname, '..', '..', 'docs', 'images');
const VIEWPORT = { width: 1280, height: 800 };

/** What the scenario asks of a tap test: only somewhere to put its clean-up. */
function cleanUps(): { owner: Test; run(): Promise<void> } {
  const steps: Array<() => unknown> = [];
  // The scenario calls t.teardown and nothing else; a whole tap Test is not needed to collect those.
  const owner = { teardown: (step: () => unknown) => steps.push(step) } as unknown as Test;
  return {
    owner,
    async run() {
      for (const step of steps.reverse()) await step();
    },
  };
}

/** Writes docs/images/console-overview.png and console-rollout.png; returns their paths. */
export async function takeReadmeScreenshots(): Promise<string[]> {
  const cleanUp = cleanUps();
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const scenario = await consoleScenario(cleanUp.owner, { withKey: true, scale: 3, realTime: true });
    const context = await browser.newContext({ viewport: VIEWPORT, locale: 'en-GB', timezoneId: 'UTC' });
    const page = await context.newPage();
    await page.goto(`${scenario.url}/ui/`);
    await page.getByLabel('Admin key').fill(CONSOLE_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-testid=by-version] li').first().waitFor();
    // The chart is drawn with the data by an effect after the first render, which this waits for.
    await page.locator('canvas[role=img][aria-label*="0.11"]').waitFor();
    fs.mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: path.join(OUTPUT, 'console-overview.png'), animations: 'disabled' });

    // Taller, so the failed agents and their errors show under the waves.
    await page.setViewportSize({ width: VIEWPORT.width, height: 960 });
    await page.goto(`${scenario.url}/ui/#/rollouts/${scenario.rolloutId}`);
    await page.locator('#members-table').waitFor();
    await page.getByLabel('Show agents in state').selectOption('failed');
    await page.locator('#members-table caption', { hasText: 'failed' }).waitFor();
    await page.screenshot({ path: path.join(OUTPUT, 'console-rollout.png'), animations: 'disabled' });
    return ['console-overview.png', 'console-rollout.png'].map((name) => path.join(OUTPUT, name));
  } finally {
    await browser.close();
    await cleanUp.run();
  }
}
