// A running server follows its release directory: a release renamed in, a release copied in
// slowly, a release replaced and a release removed all change what agents are offered, without a
// restart, and a half-copied tarball is never offered. Each case has a directory and a server of
// its own, so each runs alone (tap --grep) as well as after the others.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { makeCollectorTarball } from '../fixtures/tarballs';
import { createSigstoreWorld, type World } from '../fixtures/sigstore-world';
import { poll, type TestServer } from '../helpers/server';
import {
  agentMessage,
  captureLogs,
  eventually,
  hex,
  nextSeed,
  offerFor,
  placePackage,
  releaseDirectory,
  startPackageServer,
  topLevel,
} from './helpers';

const RESCAN_MS = 500;
// The watch usually reacts at once; the rescan interval bounds it. The slack covers ingest and a
// busy test machine, not a missed change.
const SLACK_MS = 2000;

interface Running {
  directory: string;
  server: TestServer;
  logs: ReturnType<typeof captureLogs>;
  /** What a new agent on 0.110.0 is offered, when it is `version`. */
  offeredVersion(version: string): () => Promise<Awaited<ReturnType<typeof offerFor>>>;
  /** A poll of one long-lived agent that keeps polling in sequence, as a supervisor does. */
  steadyPoll(extra?: Parameters<typeof agentMessage>[2]): ReturnType<typeof poll>;
}

/** A release directory holding `versions`, and a server following it for this test only. */
async function running(t: Test, world: World, versions: string[]): Promise<Running> {
  const { directory, rootPath } = await releaseDirectory(world);
  for (const version of versions) await placePackage(world, directory, { version });
  const logs = captureLogs();
  const server = await startPackageServer(t, rootPath, directory, { offer: 'latest', 'rescan-interval': `${RESCAN_MS}ms` }, logs.logger);
  const steady = { seed: nextSeed(), version: '0.110.0' };
  let sequence = 0;
  return {
    directory,
    server,
    logs,
    offeredVersion: (version) => async () => {
      const offer = await offerFor(server, { seed: nextSeed(), version: '0.110.0' });
      return offer?.version === version ? offer : undefined;
    },
    steadyPoll: (extra) => poll(server.url, agentMessage(steady, sequence++, extra)),
  };
}

t.test('changes to the release directory of a running server', async (t) => {
  const world = await createSigstoreWorld();

  t.test('a release renamed into place is offered within the rescan interval', async (t) => {
    const { directory, offeredVersion, steadyPoll: steadyAnswer } = await running(t, world, ['0.111.0']);
    const steadyPoll = async () => topLevel((await steadyAnswer()).message);
    t.equal((await steadyPoll())?.version, 'v0.111.0');
    t.equal(await steadyPoll(), undefined, 'not resent while nothing changes');
    const placed = await placePackage(world, directory, { version: '0.112.0' });
    const { value, elapsedMs } = await eventually(offeredVersion('v0.112.0'), RESCAN_MS + SLACK_MS, 'v0.112.0 offered');
    t.equal(hex(value.file?.contentHash), placed.sha256Hex, `offered after ${elapsedMs} ms`);
    t.equal((await steadyPoll())?.version, 'v0.112.0', 'the running agent is sent the new offer');
    t.equal(await steadyPoll(), undefined, 'and only once');
  });

  t.test('a slow copy is offered only once complete', async (t) => {
    const { directory, server, logs } = await running(t, world, ['0.111.0']);
    // The signed release is built aside; its bundle is renamed in first, then the tarball is
    // written into the directory in chunks over about two seconds, as a slow copy would.
    const staging = fs.mkdtempSync(path.join(path.dirname(directory), 'slow-'));
    const tarball = await makeCollectorTarball(staging, {
      distribution: 'otelcol-contrib',
      version: '0.113.0',
      os: 'linux',
      arch: 'amd64',
      sizeBytes: 400_000,
    });
    const bundlePath = await world.signBundle(tarball.path);
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(bundlePath, old, old);
    fs.renameSync(bundlePath, path.join(directory, path.basename(bundlePath)));
    const bytes = fs.readFileSync(tarball.path);
    const target = path.join(directory, tarball.fileName);
    const seen: Array<{ version: string; contentHash: string; duringCopy: boolean }> = [];
    let copying = true;
    let giveUpAt = Number.POSITIVE_INFINITY;
    const watcher = (async () => {
      while (copying || seen.every((entry) => entry.version !== 'v0.113.0')) {
        if (Date.now() > giveUpAt) throw new Error('the completed copy was not offered in time');
        const offer = await offerFor(server, { seed: nextSeed(), version: '0.110.0' });
        if (offer) seen.push({ version: offer.version ?? '', contentHash: hex(offer.file?.contentHash), duringCopy: copying });
        await sleep(50);
      }
    })();
    const handle = fs.openSync(target, 'w');
    const chunks = 20;
    const chunkSize = Math.ceil(bytes.length / chunks);
    for (let index = 0; index < chunks; index += 1) {
      fs.writeSync(handle, bytes.subarray(index * chunkSize, (index + 1) * chunkSize));
      await sleep(100);
    }
    fs.closeSync(handle);
    const copiedAt = Date.now();
    giveUpAt = copiedAt + 1000 + RESCAN_MS + SLACK_MS;
    copying = false;
    await watcher;
    t.ok(Date.now() - copiedAt >= 900, 'taken only after the file stood still for a second');
    t.notOk(seen.some((entry) => entry.duringCopy && entry.version === 'v0.113.0'), 'never offered while being written');
    const offered = seen.filter((entry) => entry.version === 'v0.113.0');
    t.ok(offered.length > 0);
    t.ok(offered.every((entry) => entry.contentHash === tarball.sha256.toString('hex')), 'offered with the complete hash');
    const rejections = logs.lines.filter((line) => line.file === tarball.fileName && line.level === 40);
    t.same(rejections, [], 'the half-written file was never even inspected and rejected');
    const offer = await offerFor(server, { seed: nextSeed(), version: '0.110.0' });
    const download = Buffer.from(await (await fetch(offer?.file?.downloadUrl ?? '')).arrayBuffer());
    t.same(download, bytes, 'the download is the whole file');
    fs.rmSync(staging, { recursive: true, force: true });
  });

  t.test('a release replaced by rename is offered with its new hash', async (t) => {
    const { directory, server } = await running(t, world, ['0.111.0', '0.113.0']);
    const before = await offerFor(server, { seed: nextSeed(), version: '0.110.0' });
    t.equal(before?.version, 'v0.113.0', 'the release about to be replaced is the one offered');
    const replaced = await placePackage(world, directory, { version: '0.113.0', extraFiles: { 'NOTICE': 'rebuilt' } });
    t.not(replaced.sha256Hex, hex(before?.file?.contentHash));
    const { value } = await eventually(
      async () => {
        const offer = await offerFor(server, { seed: nextSeed(), version: '0.110.0' });
        return hex(offer?.file?.contentHash) === replaced.sha256Hex ? offer : undefined;
      },
      RESCAN_MS + SLACK_MS,
      'the replaced release offered',
    );
    t.equal(value.version, 'v0.113.0');
    const stale = await fetch(before?.file?.downloadUrl ?? '');
    t.equal(stale.status, 404, 'the old bytes are no longer served');
  });

  t.test('removing releases withdraws them', async (t) => {
    const { directory, server, offeredVersion, steadyPoll } = await running(t, world, ['0.112.0', '0.113.0']);
    t.equal(topLevel((await steadyPoll()).message)?.version, 'v0.113.0', 'the running agent is offered the newest');
    const newest = path.join(directory, 'otelcol-contrib_0.113.0_linux_amd64.tar.gz');
    for (const file of [newest, `${newest}.sigstore.json`]) fs.rmSync(file);
    await eventually(offeredVersion('v0.112.0'), RESCAN_MS + SLACK_MS, 'back to v0.112.0');
    for (const name of fs.readdirSync(directory)) fs.rmSync(path.join(directory, name));
    await eventually(
      async () => ((await offerFor(server, { seed: nextSeed(), version: '0.110.0' })) === undefined ? true : undefined),
      RESCAN_MS + SLACK_MS,
      'nothing offered',
    );
    t.equal(server.packages?.catalog.list().length, 0, 'the catalog is empty');
    const answer = await steadyPoll({ packageStatuses: { serverProvidedAllPackagesHash: Buffer.alloc(32, 3), packages: {} } });
    t.equal(answer.status, 200);
    t.notOk(answer.message?.packagesAvailable, 'the running agent is offered nothing');
  });
});
