// Signing in to the console in a real browser: with a key, with a refused key, signing out,
// on loopback without keys, and refused (403) when a proxy forwards the request.
import t from 'tap';
import { keyFile, writeKeyFile } from '../admin/helpers';
import { startServer } from '../helpers/server';
import { checkClean, launchBrowser, openPage } from './browser';
import type { Browser } from 'playwright-core';

// The page's storage, for the functions handed to page.evaluate (they run in the browser; the
// tests are type-checked without the DOM's types).
declare const sessionStorage: { readonly length: number; setItem(key: string, value: string): void; readonly [key: string]: unknown };
declare const localStorage: { readonly length: number };

const KEY = 'console-test-admin-key-0123456789';
// The browser reports each refused call it makes; those are the point of these tests.
const REFUSALS = [/status of 40[13]/];

let browser: Browser;
t.before(async () => {
  browser = await launchBrowser(t);
});

t.test('a key is asked for, a wrong one refused, a right one kept for the tab only, and sign-out forgets it', async (t) => {
  const server = await startServer({ 'admin-keys-file': keyFile({ ops: KEY }) });
  t.teardown(() => server.close());
  const opened = await openPage(t, browser, server.url);
  const { page } = opened;
  await page.goto(`${server.url}/ui/`);

  await page.getByLabel('Admin key').fill('not-the-key-at-all');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('signin-error').waitFor();
  t.match(await page.getByTestId('signin-error').textContent(), /refused this key/, 'the refusal is said');
  t.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused key is not kept');

  await page.getByLabel('Admin key').fill(KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  t.same(await page.evaluate(() => Object.values(sessionStorage)), [KEY], 'the key is in sessionStorage');
  t.equal(await page.evaluate(() => localStorage.length), 0, 'and nowhere lasting');

  // A reload keeps the tab's key: no second sign-in.
  await page.reload();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  t.ok(await page.getByRole('button', { name: 'Sign out' }).isVisible(), 'sign-out is offered');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Admin key').waitFor();
  t.equal(await page.evaluate(() => sessionStorage.length), 0, 'signing out forgets the key');
  checkClean(t, opened, REFUSALS);
});

t.test('a key revoked while signed in brings the sign-in back at the next refresh', async (t) => {
  const file = keyFile({ ops: KEY });
  const server = await startServer({ 'admin-keys-file': file }, { keyFileIntervalMs: 50 });
  t.teardown(() => server.close());
  const opened = await openPage(t, browser, server.url);
  await opened.page.goto(`${server.url}/ui/`);
  // The first probe, sent without a key, must have been answered before a key is put in place.
  await opened.page.getByLabel('Admin key').waitFor();
  await opened.page.evaluate((key) => sessionStorage.setItem('opamp-console-admin-key', key), KEY);
  await opened.page.reload();
  await opened.page.getByRole('heading', { name: 'Overview' }).waitFor();
  writeKeyFile(file, { other: 'a-completely-different-admin-key' });
  await opened.page.getByLabel('Admin key').waitFor({ timeout: 20_000 });
  t.match(await opened.page.getByTestId('signin-error').textContent(), /refused this key/);
  checkClean(t, opened, REFUSALS);
});

t.test('on loopback without admin keys the console opens at once', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const opened = await openPage(t, browser, server.url);
  await opened.page.goto(`${server.url}/ui/`);
  await opened.page.getByRole('heading', { name: 'Overview' }).waitFor();
  t.equal(await opened.page.getByRole('button', { name: 'Sign out' }).count(), 0, 'no key, so nothing to sign out of');
  checkClean(t, opened);
});

t.test('without admin keys a forwarded request is refused, and the page says why', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const opened = await openPage(t, browser, server.url, { headers: { 'x-forwarded-for': '203.0.113.9' } });
  await opened.page.goto(`${server.url}/ui/`);
  await opened.page.getByTestId('access-refused').waitFor();
  t.match(await opened.page.getByTestId('access-refused').textContent(), /only on loopback/, "the server's reason is shown");
  t.equal(await opened.page.getByLabel('Admin key').count(), 0, 'a key would not help: none is asked for');
  checkClean(t, opened, REFUSALS);
});
