// 5,000 release files dropped into a running server's package directory at once: every one is
// judged, and polls are answered all the while.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { rawTarGz, SCRIPT } from '../fixtures/raw-tar';
import { waitFor } from '../helpers/private-postgres';
import { poll, startServer, temporaryDirectory } from '../helpers/server';
import { agentMessage, topLevel } from '../e2e/helpers';
import { asset, DISTRIBUTION, keepPolling, listing, place } from './package-helpers';

// The catalog takes about 10 ms a file on a quiet machine; a busy one needs more than tap's default.
t.setTimeout(400_000);

t.test('5,000 files at once: all judged, polls answered throughout', async (t) => {
  const parent = temporaryDirectory('opamp-many-');
  const directory = path.join(parent, 'releases');
  fs.mkdirSync(directory);
  const server = await startServer({ 'packages-dir': directory, offer: 'latest', 'allow-unsigned': true, 'rescan-interval': '1s' });
  t.teardown(() => server.close());
  let scanning = true;
  const polling = keepPolling(server.url, () => !scanning);
  const sound = rawTarGz([{ path: DISTRIBUTION, body: SCRIPT }]);
  const count = 5000;
  for (let index = 0; index < count; index += 1) {
    // Every other one is not even gzip.
    place(directory, asset(`1.0.${index}`), index % 2 === 0 ? sound : 'not an archive');
  }
  const listed = await waitFor(async () => {
    const packages = await listing(server.url);
    return packages.length === count ? packages : undefined;
  }, 360_000, `${count} files listed`);
  scanning = false;
  const statuses = await polling;
  t.ok(statuses.length > 0 && statuses.every((status) => status === 200), `${statuses.length} polls answered 200 during the scan`);
  t.equal(listed.filter((entry) => entry.offerable).length, count / 2, 'the sound half is offerable');
  t.ok(listed.filter((entry) => !entry.offerable).every((entry) => entry.reason === 'not gzip'), 'the rest rejected as not gzip');
  const offer = topLevel((await poll(server.url, agentMessage({ seed: 77_003, version: '0.100.0' }))).message);
  t.equal(offer?.version, 'v1.0.4998', 'the highest sound version is offered');
});
