// The console behind a reverse proxy that serves the server under a path prefix, as an operator
// would put it behind their ingress: the proxy (a small one in this test, on 127.0.0.1) forwards
// /fleet/opamp/* to the server with the prefix stripped and X-Forwarded-Prefix set, and the server
// trusts it (--trust-proxy 127.0.0.1). Through it, sign-in, the overview and navigation work, and
// every request the page makes stays under the prefix.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import type { Browser } from 'playwright-core';
import { checkClean, launchBrowser, openPage, screenshot } from './browser';
import { CONSOLE_KEY, consoleScenario, type Scenario } from './scenario';

const PREFIX = '/fleet/opamp';

interface Proxy {
  url: string;
  /** Every path the browser asked the proxy for, in order. */
  paths: string[];
}

async function startProxy(t: Test, upstream: string): Promise<Proxy> {
  const target = new URL(upstream);
  const paths: string[] = [];
  const server = http.createServer((request, response) => {
    const path = request.url ?? '/';
    paths.push(path);
    if (!path.startsWith(`${PREFIX}/`)) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('outside the prefix\n');
      return;
    }
    const forwarded = http.request({
      host: target.hostname,
      port: target.port,
      method: request.method,
      path: path.slice(PREFIX.length),
      headers: {
        ...request.headers,
        'x-forwarded-prefix': PREFIX,
        'x-forwarded-for': request.socket.remoteAddress ?? '127.0.0.1',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': request.headers.host ?? '',
      },
    }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    forwarded.on('error', (error) => response.writeHead(502).end(String(error)));
    request.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, paths };
}

let browser: Browser;
let scenario: Scenario;
t.before(async () => {
  browser = await launchBrowser(t);
  scenario = await consoleScenario(t, { withKey: true, flags: { 'trust-proxy': '127.0.0.1' } });
});

t.test('through a proxy under /fleet/opamp, the console signs in, shows the fleet and navigates, all under the prefix', async (t) => {
  const proxy = await startProxy(t, scenario.url);
  const opened = await openPage(t, browser, proxy.url);
  const { page } = opened;

  // Without the trailing slash, as someone would type it: the server's relative redirect keeps the prefix.
  await page.goto(`${proxy.url}${PREFIX}/ui`);
  await page.getByLabel('Admin key').fill(CONSOLE_KEY);
  t.equal(new URL(page.url()).pathname, `${PREFIX}/ui/`, 'redirected to the console inside the prefix');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('by-state').waitFor();
  const fleet = (await scenario.admin('GET', '/api/v1/fleet')).body;
  t.equal(await page.locator('[data-testid=by-state] [data-state=online] strong').textContent(), String(fleet.by_state.online), "the overview shows the API's counts");
  await screenshot(page, 'proxy-overview-laptop');

  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Agents' }).click();
  await page.getByTestId('agents-table').waitFor();
  await page.getByRole('link', { name: scenario.agentUid }).click();
  await page.getByTestId('capabilities').waitFor();
  t.ok(await page.getByText('edge-gateway-7').isVisible(), "an agent's page, reached by its link");

  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Rollouts' }).click();
  await page.getByRole('link', { name: '0.112.0' }).click();
  await page.locator('.wave').first().waitFor();
  t.equal(new URL(page.url()).pathname, `${PREFIX}/ui/`, 'every view lives inside the prefix');

  const called = proxy.paths.filter((path) => path.startsWith(`${PREFIX}/api/`)).map((path) => path.split('?')[0]);
  for (const expected of ['/api/status', '/api/v1/fleet', '/api/v1/agents', `/api/v1/agents/${scenario.agentUid}`, `/api/v1/rollouts/${scenario.rolloutId}`]) {
    t.ok(called.includes(`${PREFIX}${expected}`), `the page called ${expected} through the prefix`);
  }
  t.same(proxy.paths.filter((path) => !path.startsWith(`${PREFIX}/`)), [], 'no request escaped the prefix');
  // The one refusal: the first call, before the key was given, asks whether one is needed.
  checkClean(t, opened, [/status of 401/]);
});
