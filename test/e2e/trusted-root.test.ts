// Start-up never waits on the network: without --trusted-root the server listens at once on the
// public-good root embedded in @sigstore/tuf (this machine has no network), and says so.
import t from 'tap';
import { EMBEDDED_SOURCE, fromJsonText } from '../../src/signing/trust';
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
  // Bounded by the refresh's own timeout (15 s), not a speed: start-up did not wait for it.
  t.ok(elapsedMs < 15_000, `listening after ${elapsedMs} ms, before the TUF refresh could time out`);
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

t.test('a new trusted root verifies the catalog again: rejected packages come in, accepted ones go out', async (t) => {
  const first = await createSigstoreWorld();
  const second = await createSigstoreWorld();
  const { directory, rootPath } = await releaseDirectory(first);
  const underFirst = await placePackage(first, directory, { version: '0.111.0' });
  const underSecond = await placePackage(second, directory, { version: '0.112.0' });
  const server = await startPackageServer(t, rootPath, directory, { offer: 'latest' });
  const verdicts = async () => {
    const answer = await fetch(`${server.url}/api/v1/packages`);
    const body = (await answer.json()) as { packages: Array<{ file_name: string; offerable: boolean; reason: string | null }> };
    const byName = new Map(body.packages.map((entry) => [entry.file_name, entry]));
    return { first: byName.get(underFirst.fileName), second: byName.get(underSecond.fileName) };
  };

  const before = await verdicts();
  t.equal(before.first?.offerable, true, 'signed under the root in force: offerable');
  t.equal(before.second?.offerable, false, 'signed in another world: rejected');
  t.match(before.second?.reason, /^signature: untrusted CA/);
  t.equal((await offerFor(server, { seed: nextSeed(), version: '0.110.0' }))?.version, 'v0.111.0');

  // What the background TUF refresh does when it brings a root: here, the other world's.
  await server.packages!.replaceTrustedRoot(fromJsonText(JSON.stringify(second.trustedRootJson), 'test: second world'));
  const after = await verdicts();
  t.equal(after.first?.offerable, false, 'no longer trusted: rejected');
  t.match(after.first?.reason, /^signature: untrusted CA/);
  t.equal(after.second?.offerable, true, 'now trusted: offerable');
  t.equal((await offerFor(server, { seed: nextSeed(), version: '0.110.0' }))?.version, 'v0.112.0', 'and offered');

  await server.packages!.replaceTrustedRoot(fromJsonText(JSON.stringify(first.trustedRootJson), 'test: first world again'));
  const back = await verdicts();
  t.same([back.first?.offerable, back.second?.offerable], [true, false], 'and back again');
  t.equal((await offerFor(server, { seed: nextSeed(), version: '0.110.0' }))?.version, 'v0.111.0');
});
