// How the server hands out the console: its files under /ui/ with a strict Content-Security-
// Policy, a relative redirect that keeps a proxy's prefix, and nothing at all with --ui false.
import t from 'tap';
import { startServer } from '../helpers/server';

t.test('the page and its bundle are served under /ui/ with strict security headers', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());

  const page = await fetch(`${server.url}/ui/`);
  t.equal(page.status, 200);
  t.match(page.headers.get('content-type'), /text\/html/);
  const text = await page.text();
  t.match(text, /<script src="console.js" defer><\/script>/, 'the script is a file of this origin, by a relative URL');
  t.notMatch(text, /<script>|<script [^>]*>[^<]/, 'no inline script');
  t.notMatch(text, /https?:\/\//, 'no absolute URL: behind a proxy prefix the page still finds its files');

  const policy = page.headers.get('content-security-policy') ?? '';
  const directives = new Map(policy.split(';').map((part) => part.trim().split(/\s+/)).map(([name = '', ...values]) => [name, values]));
  t.same(directives.get('script-src'), ["'self'"], 'scripts only from this origin, none inline');
  t.same(directives.get('style-src'), ["'self'"], 'styles only from this origin');
  t.same(directives.get('connect-src'), ["'self'"], 'calls only to this origin');
  t.same(directives.get('default-src'), ["'none'"]);
  t.same(directives.get('frame-ancestors'), ["'none'"], 'never inside a frame');
  t.equal(page.headers.get('x-content-type-options'), 'nosniff');
  t.equal(page.headers.get('strict-transport-security'), null, 'HTTPS pinning is left to whoever terminates TLS');

  const bundle = await fetch(`${server.url}/ui/console.js`);
  t.equal(bundle.status, 200);
  t.match(bundle.headers.get('content-type'), /javascript/);
  t.notMatch(await bundle.text(), /https:\/\/(cdn|unpkg|fonts)\./, 'nothing is loaded from a CDN');

  const api = await fetch(`${server.url}/api/status`);
  t.equal(api.headers.get('content-security-policy'), null, "the console's headers stay on the console");
});

t.test('/ui redirects by a relative Location, so a proxy prefix survives', async (t) => {
  const server = await startServer();
  t.teardown(() => server.close());
  const answer = await fetch(`${server.url}/ui`, { redirect: 'manual' });
  t.equal(answer.status, 301);
  t.equal(answer.headers.get('location'), 'ui/');
  t.equal(new URL(answer.headers.get('location')!, 'https://proxy.example/fleet/ui').pathname, '/fleet/ui/');
});

t.test('--ui false serves no console, and the API is unchanged', async (t) => {
  const server = await startServer({ ui: 'false' });
  t.teardown(() => server.close());
  t.equal((await fetch(`${server.url}/ui/`)).status, 404);
  t.equal((await fetch(`${server.url}/ui/console.js`)).status, 404);
  t.equal((await fetch(`${server.url}/api/status`)).status, 200);
});
