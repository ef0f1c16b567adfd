// The server following a fake GitHub release feed on 127.0.0.1, end to end: it offers the
// newest verified version, in both delivery modes; an agent downloads from the offered URL and
// the bytes hash to content_hash. A file with a bad signature is deleted and listed; the feed
// going down leaves everything cached offerable and says so in its own status field. Each case
// starts its own servers, and none depends on what another left behind.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { uidToString } from '../../src/opamp/codec';
import { createSigstoreWorld } from '../fixtures/sigstore-world';
import { temporaryDirectory } from '../helpers/server';
import { SupervisorAgent } from '../helpers/supervisor-agent';
import { call, keyFile, sample } from '../admin/helpers';
import { addRelease, fakeFeed } from '../releases/helpers';
import { eventually, hex, nextSeed, offerFor, startPackageServer } from './helpers';

// Several servers and real downloads: on a busy machine this takes longer than tap's default.
t.setTimeout(300_000);

const AGENT_KEY = 'agent-key-0123456789abcdef';

t.test('following a release feed', async (t) => {
  const world = await createSigstoreWorld();
  const rootPath = await world.trustedRootPath(temporaryDirectory('releases-root-'));
  const feed = await fakeFeed(t);
  await addRelease(feed, world, '0.110.0');
  await addRelease(feed, world, '0.111.0', { platforms: [['linux', 'amd64']] });
  // Signed by a CA the trusted root does not list: the catalog must refuse it.
  await addRelease(feed, world, '0.111.0', { platforms: [['linux', 'arm64']], signOptions: { untrustedCa: true } });
  const releaseFlags = { releases: 'github:', 'releases-api-url': `${feed.url}/api`, offer: 'latest' };
  const noDirectory = temporaryDirectory('releases-no-dir-');
  const amd64Tarball = 'otelcol-contrib_0.111.0_linux_amd64.tar.gz';
  /** The first offer of v0.111.0 to a new agent on 0.109.0, waiting for the first refresh. */
  const newestOffer = async (server: { url: string }, headers?: Record<string, string>) => {
    const agent = { seed: nextSeed(), version: '0.109.0' };
    const { value } = await eventually(() => offerFor(server, agent, headers).then((o) => (o?.version === 'v0.111.0' ? o : undefined)), 20_000, 'the newest release offered');
    return value;
  };
  // A case that takes the feed down brings it back when it ends, passed or failed.
  const feedDown = (t: Test): void => {
    feed.down = true;
    t.teardown(() => {
      feed.down = false;
    });
  };

  t.test('cache delivery: agents download from this server', async (t) => {
    // Other cases download too: only this server's downloads are counted.
    const downloadsBefore = feed.downloadsOf(amd64Tarball).length;
    const cacheDirectory = temporaryDirectory('releases-cache-');
    const server = await startPackageServer(t, rootPath, noDirectory, { ...releaseFlags, 'releases-cache-dir': cacheDirectory });
    const offer = await newestOffer(server);
    t.ok(offer.file?.downloadUrl?.startsWith(`${server.url}/v1/packages/`), 'the URL is this server');
    const bytes = Buffer.from(await (await fetch(offer.file!.downloadUrl!)).arrayBuffer());
    t.equal(createHash('sha256').update(bytes).digest('hex'), hex(offer.file?.contentHash), 'the bytes hash to content_hash');

    const supervisor = new SupervisorAgent({ serverUrl: server.url, version: '0.110.0' });
    await supervisor.runUntil((a) => a.currentVersion === '0.111.0' && !a.installing, { maxPolls: 20 });
    t.same(supervisor.errors, []);

    const arm = { seed: nextSeed(), version: '0.109.0', arch: 'arm64' };
    // Downloads run two at a time: the arm64 files may still be on their way.
    const { value: armOffer } = await eventually(() => offerFor(server, arm), 20_000, 'an arm64 offer');
    t.equal(armOffer.version, 'v0.110.0', 'arm64 gets 0.110.0: its 0.111.0 is badly signed');
    await server.packages?.releases?.idle();
    t.equal((await offerFor(server, { ...arm, seed: nextSeed() }))?.version, 'v0.110.0', 'also once every download is done');
    const listing = await eventually(async () => {
      const answer = await call(server.url, 'GET', '/api/v1/packages');
      return answer.body.rejected.length > 0 ? answer.body : undefined;
    }, 20_000, 'the bad signature listed');
    t.match(listing.value.rejected, [{ file_name: 'otelcol-contrib_0.111.0_linux_arm64.tar.gz', reason: /signature/ }]);
    const listed = listing.value.packages.map((entry: { file_name: string; offerable: boolean }) => `${entry.file_name} ${entry.offerable}`);
    t.ok(listed.includes('otelcol-contrib_0.111.0_linux_amd64.tar.gz true'), 'the good file is in the catalog');
    t.notOk(listed.some((line: string) => line.startsWith('otelcol-contrib_0.111.0_linux_arm64.tar.gz')), 'the badly signed one is gone from it');
    const badlySigned = () => (fs.readdirSync(cacheDirectory, { recursive: true }) as string[])
      .filter((name) => path.basename(name).startsWith('otelcol-contrib_0.111.0_linux_arm64'));
    await eventually(async () => (badlySigned().length === 0 ? true : undefined), 10_000, 'the badly signed file deleted from the cache');
    t.ok((fs.readdirSync(cacheDirectory, { recursive: true }) as string[]).some((name) => path.basename(name) === amd64Tarball), 'the good one is kept in the cache directory');
    t.match(listing.value.feeds, [{ source: 'releases:github:', delivery: 'cache', last_error: null, last_success_at: String, cached_files: 3 }]);
    t.equal(feed.downloadsOf(amd64Tarball).length - downloadsBefore, 1, 'the upstream served the tarball once');

    const refresh = await call(server.url, 'POST', '/api/v1/packages/refresh');
    t.equal(refresh.status, 202);
    t.match(refresh.body.refreshing, [{ source: 'releases:github:', planned: true, fetch: [], cached: 3, error: null }]);

    feedDown(t);
    const failed = await call(server.url, 'POST', '/api/v1/packages/refresh');
    t.equal(failed.status, 202);
    t.match(failed.body.refreshing, [{ error: /cannot reach/ }]);
    const status = await call(server.url, 'GET', '/api/status');
    t.equal(status.status, 200);
    t.equal(status.body.status, 'HEALTHY', 'a feed that is down does not make the server unhealthy');
    t.match(status.body.release_feed, { status: 'unreachable', last_error: /cannot reach/, last_success_at: String });
    t.equal(sample((await call(server.url, 'GET', '/metrics')).text, 'opamp_release_feed_up', '{source="releases:github:"}'), 0);
    t.equal((await offerFor(server, { seed: nextSeed(), version: '0.109.0' }))?.version, 'v0.111.0', 'still offered from the cache');
  });

  t.test('passthrough delivery: the offer is the upstream URL, without a token, under the same hash', async (t) => {
    const server = await startPackageServer(t, rootPath, noDirectory, {
      ...releaseFlags, 'releases-delivery': 'passthrough', 'agent-keys-file': keyFile({ fleet: AGENT_KEY }),
    });
    const headers = { authorization: `ApiKey ${AGENT_KEY}` };
    const offer = await newestOffer(server, headers);
    t.equal(offer.file?.downloadUrl, `${feed.url}/download/v0.111.0/${amd64Tarball}`);
    t.same(offer.file?.headers?.headers ?? [], [], 'no download token goes to the upstream');
    const cached = await newestOffer(await startPackageServer(t, rootPath, noDirectory, releaseFlags));
    t.equal(hex(offer.hash), hex(cached.hash), 'the same package hash as in cache delivery: no new offer on a switch');

    const supervisor = new SupervisorAgent({ serverUrl: server.url, version: '0.110.0', headers });
    await supervisor.runUntil((a) => a.currentVersion === '0.111.0' && !a.installing, { maxPolls: 20 });
    t.same(supervisor.errors, [], 'downloaded through the redirect, hash checked by the agent');
    const stored = await server.store.getAgent(uidToString(supervisor.instanceUid));
    t.equal(stored?.packageStatuses?.packages['']?.agentHasVersion, 'v0.111.0');
  });

  t.test('a restart offers what is cached before the feed answers', async (t) => {
    const dataDir = temporaryDirectory('releases-restart-');
    const first = await startPackageServer(t, rootPath, noDirectory, { ...releaseFlags, 'data-dir': dataDir });
    await newestOffer(first);
    await first.packages?.releases?.idle();
    await first.close();
    feedDown(t);
    const second = await startPackageServer(t, rootPath, noDirectory, { ...releaseFlags, 'data-dir': dataDir });
    t.equal((await offerFor(second, { seed: nextSeed(), version: '0.109.0' }))?.version, 'v0.111.0', 'offered at once from the cache');
    t.ok(fs.existsSync(path.join(dataDir, 'releases', 'manifest.json')));
  });
  t.test('a new release is fetched on POST /api/v1/packages/refresh and offered', async (t) => {
    // A feed of its own: the release it adds must not reach the other cases.
    const ownFeed = await fakeFeed(t);
    await addRelease(ownFeed, world, '0.111.0', { platforms: [['linux', 'amd64']] });
    const server = await startPackageServer(t, rootPath, noDirectory, { ...releaseFlags, 'releases-api-url': `${ownFeed.url}/api` });
    await newestOffer(server);
    await server.packages?.releases?.idle();
    await addRelease(ownFeed, world, '0.112.0', { platforms: [['linux', 'amd64']] });
    const refresh = await call(server.url, 'POST', '/api/v1/packages/refresh');
    t.equal(refresh.status, 202);
    t.match(refresh.body.refreshing, [{ planned: true, fetch: [{ file_name: 'otelcol-contrib_0.112.0_linux_amd64.tar.gz', version: '0.112.0', size: Number }] }]);
    await eventually(() => offerFor(server, { seed: nextSeed(), version: '0.109.0' }).then((o) => o?.version === 'v0.112.0' || undefined), 20_000, 'the new release offered');
  });
});
