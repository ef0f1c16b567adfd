// Start-up never waits on the network: without --trusted-root the server listens at once on the
// public-good root embedded in @sigstore/tuf (this machine has no network), and says so.
import t from 'tap';
import { EMBEDDED_SOURCE } from '../../src/signing/trust';
import { createSigstoreWorld } from '../fixtures/sigstore-world';
import { startServer } from '../helpers/server';
import { captureLogs, nextSeed, offerFor, placePackage, releaseDirectory, startPackageServer } from './helpers';

t.test('the embedded root, with a background refresh that cannot reach anything', async (t) => {
  const world = await createSigstoreWorld();
  const { directory } = await releaseDirectory(world);
  const placed = await placePackage(world, directory, { version: '0.111.0' });
  const logs = captureLogs();
  const started = Date.now();
  const server = await startServer({ 'packages-dir': directory, offer: 'latest' }, { logger: logs.logger });
  t.teardown(() => server.close());
  const elapsedMs = Date.now() - started;
  t.ok(elapsedMs < 2000, `listening after ${elapsedMs} ms`);
  t.equal(server.config.trustedRootRefresh, true, 'the refresh is on');

  const rootLine = logs.lines.find((line) => /^Sigstore trusted root: /.test(String(line.msg)));
  t.equal(rootLine?.msg, `Sigstore trusted root: ${EMBEDDED_SOURCE}`, 'the start log names the root');
  t.equal(rootLine?.trustedRoot, EMBEDDED_SOURCE);

  const answer = await fetch(`${server.url}/v1/opamp`, { method: 'POST' });
  t.equal(answer.status, 415, 'answers at once');
  // The public-good root does not know the test world's CA: verified against the embedded root.
  t.equal(await offerFor(server, { seed: nextSeed(), version: '0.110.0' }), undefined);
  const entry = server.packages?.catalog.list().find((candidate) => candidate.fileName === placed.fileName);
  t.match(entry?.reason, /^signature: untrusted CA/);
});

t.test('a --trusted-root file is named in the start log', async (t) => {
  const world = await createSigstoreWorld();
  const { directory, rootPath } = await releaseDirectory(world);
  await placePackage(world, directory, { version: '0.111.0' });
  const logs = captureLogs();
  const server = await startPackageServer(t, rootPath, directory, { offer: 'latest' }, logs.logger);
  const rootLine = logs.lines.find((line) => /^Sigstore trusted root: /.test(String(line.msg)));
  t.equal(rootLine?.msg, `Sigstore trusted root: file:${rootPath}`);
  t.equal((await offerFor(server, { seed: nextSeed(), version: '0.110.0' }))?.version, 'v0.111.0');
});
