// Hostile files dropped into a running server's package directory: each is listed as rejected
// with its reason in GET /api/v1/packages, never offered, and polls keep being answered while
// the catalog works through them.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { makeCollectorTarball } from '../fixtures/tarballs';
import { gzipBomb, rawTar, rawTarGz, SCRIPT } from '../fixtures/raw-tar';
import { waitFor } from '../helpers/private-postgres';
import { poll, startServer, temporaryDirectory } from '../helpers/server';
import { asset, DISTRIBUTION, keepPolling, listing, place } from './package-helpers';
import { agentMessage, topLevel } from '../e2e/helpers';

t.test('hostile tarballs are rejected with a reason, never offered, while polls are served', async (t) => {
  const parent = temporaryDirectory('opamp-hostile-');
  const directory = path.join(parent, 'releases');
  fs.mkdirSync(directory);
  const server = await startServer({ 'packages-dir': directory, offer: 'latest', 'allow-unsigned': true, 'rescan-interval': '1s' });
  t.teardown(() => server.close());

  const longDistribution = `otelcol-${'x'.repeat(255 - '_0.400.9_linux_amd64.tar.gz'.length - 'otelcol-'.length)}`;
  // Each hostile file is a higher version than the sound one, so `latest` would pick it if it were offerable.
  const expected: Record<string, RegExp> = {
    [asset('0.400.0')]: /symlink, not a regular file/,
    [asset('0.400.1')]: /hard link, not a regular file/,
    [asset('0.400.2')]: /unsafe entry "\.\.\/otelcol-contrib"/,
    [asset('0.400.3')]: /unsafe entry "\/usr\/bin\/otelcol-contrib"/,
    [asset('0.400.4')]: /unsafe link "lib" -> "\/etc"/,
    [asset('0.400.5')]: /gzip bomb/,
    [asset('0.400.6')]: /truncated/,
    [asset('0.400.7')]: /not gzip/,
    [asset('0.400.8')]: /not gzip: the file is empty/,
    [asset('0.401.0')]: /malformed signature: 52428800 bytes, over the 1048576-byte limit/,
    [`${DISTRIBUTION}_0.402.0_linux_amd64 (copy).tar.gz`]: /file name is not <distribution>_<version>_<os>_<arch>\.tar\.gz/,
    [`${DISTRIBUTION}_0.402.1_linux_ämd64.tar.gz`]: /file name is not/,
    [`${DISTRIBUTION}-ünïcode_0.402.2_linux_amd64.tar.gz`]: /file name is not/,
    [`${'y'.repeat(248)}.tar.gz`]: /file name is not/,
  };

  let scanning = true;
  const polling = keepPolling(server.url, () => !scanning);
  const script = { path: DISTRIBUTION, body: SCRIPT };
  place(directory, asset('0.300.0'), rawTarGz([script]));
  place(directory, asset('0.400.0'), rawTarGz([{ path: 'real', body: SCRIPT }, { path: DISTRIBUTION, type: '2', linkTarget: 'real' }]));
  place(directory, asset('0.400.1'), rawTarGz([{ path: 'real', body: SCRIPT }, { path: DISTRIBUTION, type: '1', linkTarget: 'real' }]));
  place(directory, asset('0.400.2'), rawTarGz([script, { path: `../${DISTRIBUTION}`, body: SCRIPT }]));
  place(directory, asset('0.400.3'), rawTarGz([script, { path: `/usr/bin/${DISTRIBUTION}`, body: SCRIPT }]));
  place(directory, asset('0.400.4'), rawTarGz([script, { path: 'lib', type: '2', linkTarget: '/etc' }]));
  const bomb = gzipBomb(DISTRIBUTION, 6 * 1024 ** 3);
  t.ok(bomb.length < 8 * 1024 * 1024, `the bomb is small on disk (${bomb.length} bytes for 6 GiB)`);
  place(directory, asset('0.400.5'), bomb);
  const sound = rawTarGz([script, { path: 'README', body: Buffer.alloc(64 * 1024, 'a') }]);
  place(directory, asset('0.400.6'), sound.subarray(0, Math.floor(sound.length / 2)));
  place(directory, asset('0.400.7'), rawTar([script]));
  place(directory, asset('0.400.8'), '');
  place(directory, asset('0.401.0'), rawTarGz([script]));
  place(directory, `${asset('0.401.0')}.sigstore.json`, Buffer.alloc(50 * 1024 * 1024, ' '));
  for (const name of Object.keys(expected).slice(10)) place(directory, name, rawTarGz([script]));
  // The longest name a file system allows, well formed: it is taken like any other.
  const long = await makeCollectorTarball(parent, { distribution: longDistribution, version: '0.400.9', os: 'linux', arch: 'amd64' });
  t.equal(Buffer.byteLength(long.fileName), 255);
  place(directory, long.fileName, fs.readFileSync(long.path));

  const names = [...Object.keys(expected), asset('0.300.0'), long.fileName];
  const listed = await waitFor(async () => {
    const packages = await listing(server.url);
    return names.every((name) => packages.some((entry) => entry.fileName === name)) ? packages : undefined;
  }, 60_000, 'every file listed');
  scanning = false;
  const statuses = await polling;
  t.ok(statuses.length > 0 && statuses.every((status) => status === 200), `${statuses.length} polls answered 200 while the catalog scanned`);

  for (const [name, reason] of Object.entries(expected)) {
    const entry = listed.find((candidate) => candidate.fileName === name)!;
    t.equal(entry.offerable, false, `${name.slice(0, 60)} is not offerable`);
    t.match(entry.reason ?? '', reason, `${name.slice(0, 60)}: ${entry.reason}`);
  }
  t.equal(listed.find((entry) => entry.fileName === asset('0.300.0'))?.offerable, true, 'the sound package is offerable');
  t.equal(listed.find((entry) => entry.fileName === long.fileName)?.offerable, true, 'a 255-byte well-formed name is taken');

  const offer = topLevel((await poll(server.url, agentMessage({ seed: 77_001, version: '0.100.0' }))).message);
  t.equal(offer?.version, 'v0.300.0', 'the agent is offered the sound package, not any higher hostile one');
  const longOffer = topLevel((await poll(server.url, agentMessage({ seed: 77_002, version: '0.100.0', distribution: longDistribution }))).message);
  t.equal(longOffer?.version, 'v0.400.9');
  const download = await fetch(longOffer!.file!.downloadUrl!);
  t.equal(download.status, 200, 'and its download is served');
  t.same(Buffer.from(await download.arrayBuffer()), fs.readFileSync(long.path));
});
