// The release feed is reached through the proxy the environment names (HTTP_PROXY/HTTPS_PROXY),
// except for hosts in NO_PROXY: an operator behind a corporate proxy sets the usual variables.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { createSigstoreWorld } from '../fixtures/sigstore-world';
import { addRelease, fakeFeed, refreshed, sourceOn } from './helpers';

/** A forward proxy that tunnels CONNECT and relays absolute-form requests, noting each target. */
async function forwardProxy(t: Test): Promise<{ url: string; targets: string[] }> {
  const targets: string[] = [];
  const server = http.createServer((request, response) => {
    targets.push(request.url ?? '');
    const upstream = http.request(request.url ?? '', { method: request.method, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    request.pipe(upstream);
  });
  server.on('connect', (request: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    targets.push(request.url ?? '');
    const [host, port] = (request.url ?? '').split(':');
    const upstream = net.connect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, targets };
}

function withEnvironment(t: Test, values: Record<string, string>): void {
  const names = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy'];
  const saved = Object.fromEntries(names.map((name) => [name, process.env[name]]));
  for (const name of names) delete process.env[name];
  Object.assign(process.env, values);
  t.teardown(() => {
    for (const name of names) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });
}

t.test('the feed is reached through HTTP_PROXY, and directly for NO_PROXY hosts', async (t) => {
  const world = await createSigstoreWorld();
  const feed = await fakeFeed(t);
  await addRelease(feed, world, '0.111.0', { platforms: [['linux', 'amd64']] });
  const platforms = [{ os: 'linux', arch: 'amd64' }];

  t.test('through the proxy', async (t) => {
    const proxy = await forwardProxy(t);
    withEnvironment(t, { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url });
    const { source } = sourceOn(t, feed, { platforms });
    await refreshed(source);
    t.equal((await source.scan()).length, 1, 'fetched');
    const feedHost = new URL(feed.url).host;
    t.ok(proxy.targets.length > 0 && proxy.targets.every((target) => target.includes(feedHost)), 'every request went through the proxy');
  });

  t.test('NO_PROXY bypasses it', async (t) => {
    const proxy = await forwardProxy(t);
    withEnvironment(t, { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' });
    const { source } = sourceOn(t, feed, { platforms });
    await refreshed(source);
    t.equal((await source.scan()).length, 1, 'fetched');
    t.same(proxy.targets, [], 'the proxy saw nothing');
  });
});
