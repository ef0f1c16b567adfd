// The console's tests drive Debian's chromium (installed by .ci/run, never downloaded by npm)
// through playwright-core. Each page records what a user would not want to see: errors in the
// browser console, and requests leaving for another origin.
import fs from 'node:fs';
import path from 'node:path';
import type { Test } from 'tap';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.OPAMP_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Screenshots for a person to look at; git-ignored, kept by CI as artifacts. */
export const ARTIFACTS = path.join(__dirname, '..', '..', 'artifacts', 'console');

export const WIDTHS = { laptop: { width: 1366, height: 900 }, phone: { width: 390, height: 844 } };

/** One browser for a test file (starting chromium is the slow part); each test opens its own context. */
export async function launchBrowser(t: Test): Promise<Browser> {
  // A browser test waits on chromium, which shares two cores with the rest of the suite.
  t.setTimeout(Math.max(300_000, t.options.timeout ?? 0));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
    // playwright gives every launch a fresh temporary --user-data-dir of its own and removes it.
  });
  t.teardown(() => browser.close());
  return browser;
}

export interface ConsolePage {
  page: Page;
  /** Console messages of type error and uncaught exceptions, in order. */
  errors: string[];
  /** Every URL asked for outside the server's origin. */
  foreignRequests: string[];
}

export async function openPage(
  t: Test,
  browser: Browser,
  serverUrl: string,
  options: {
    viewport?: { width: number; height: number };
    headers?: Record<string, string>;
    /** Lets a test inject a checker (axe) that the page's own policy would refuse; never for the page's own checks. */
    bypassCSP?: boolean;
  } = {},
): Promise<ConsolePage> {
  const context = await browser.newContext({
    viewport: options.viewport ?? WIDTHS.laptop, extraHTTPHeaders: options.headers, bypassCSP: options.bypassCSP,
  });
  t.teardown(() => context.close());
  const page = await context.newPage();
  const errors: string[] = [];
  const foreignRequests: string[] = [];
  const origin = new URL(serverUrl).origin;
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.origin !== origin) foreignRequests.push(request.url());
  });
  return { page, errors, foreignRequests };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The page's own failures: nothing in the console, nothing fetched from elsewhere. */
export function checkClean(t: Test, opened: ConsolePage, allowed: RegExp[] = []): void {
  t.same(opened.errors.filter((error) => !allowed.some((pattern) => pattern.test(error))), [], 'no error in the browser console');
  t.same(opened.foreignRequests, [], 'no request to another origin');
}
