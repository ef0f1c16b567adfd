// Trusted root loading: the embedded public-good root offline, a root file, bad files, and a
// background refresh that gives up quietly.

import { createServer, type Socket } from 'node:net';
import path from 'node:path';
import t from 'tap';
import { ConfigError } from '../../src/errors';
import { EMBEDDED_SOURCE, loadTrustedRoot, refreshTrustedRoot } from '../../src/signing/trust';

t.test('the embedded public-good root loads offline', async (t) => {
  const loaded = await loadTrustedRoot({});
  t.equal(loaded.source, EMBEDDED_SOURCE);
  t.ok(loaded.trustMaterial.certificateAuthorities.length > 0);
  t.ok(loaded.trustMaterial.tlogs.length > 0);
  t.ok(loaded.trustMaterial.ctlogs.length > 0);
  t.match(JSON.parse(loaded.trustedRootJson), { mediaType: /trustedroot/ });
});

t.test('a root file loads and names its path', async (t) => {
  const file = path.join(__dirname, '..', 'fixtures', 'public-good', 'public-good-trusted_root.json');
  const loaded = await loadTrustedRoot({ file });
  t.equal(loaded.source, `file:${file}`);
  t.ok(loaded.trustMaterial.certificateAuthorities.length > 0);
});

t.test('an unreadable or invalid root file is a configuration error naming --trusted-root', async (t) => {
  const directory = t.testdir({ 'bad.json': '{ not json', 'empty.json': '{}', 'list.json': '[]' });
  for (const name of ['missing.json', 'bad.json', 'empty.json', 'list.json']) {
    await t.rejects(loadTrustedRoot({ file: path.join(directory, name) }), ConfigError, name);
    await t.rejects(loadTrustedRoot({ file: path.join(directory, name) }), { message: /^--trusted-root / });
  }
});

t.test('a refresh that cannot reach a mirror resolves to undefined, quickly', async (t) => {
  // A listener that accepts connections and never answers: the refresh has to give up on time.
  const sockets: Socket[] = [];
  const server = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const errors: unknown[] = [];
  const started = Date.now();
  const refreshed = await refreshTrustedRoot({
    dataDirectory: t.testdir(),
    timeoutMs: 500,
    mirrorUrl: `http://127.0.0.1:${port}`,
    onError: (error) => errors.push(error),
  });
  t.equal(refreshed, undefined);
  t.equal(errors.length, 1);
  t.ok(Date.now() - started < 5000, 'gave up within the timeout');
});
