// The releases source against a fake GitHub feed on 127.0.0.1: what it follows, what it
// fetches (once), and what each fault leaves behind.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { createSigstoreWorld } from '../fixtures/sigstore-world';
import { CHECKSUMS, mintRelease } from '../fixtures/fake-feed';
import { temporaryDirectory } from '../helpers/server';
import { eventually } from '../e2e/helpers';
import { addRelease, fakeFeed, refreshed, sourceOn } from './helpers';

// Several servers and real downloads: on a busy machine this takes longer than tap's default.
t.setTimeout(300_000);

const AMD64_ONLY = { platforms: [{ os: 'linux', arch: 'amd64' }] };
const contrib = (version: string, arch = 'amd64'): string => `otelcol-contrib_${version}_linux_${arch}.tar.gz`;
const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

t.test('releases source', async (t) => {
  const world = await createSigstoreWorld();

  t.test('follows the newest three stable releases across pages; drafts and pre-releases are left alone', async (t) => {
    const feed = await fakeFeed(t);
    for (const version of ['0.108.0', '0.109.0', '0.110.0', '0.111.0']) await addRelease(feed, world, version);
    await addRelease(feed, world, '0.112.0', { draft: true });
    await addRelease(feed, world, '0.113.0-rc.1', { prerelease: true });
    const { source } = sourceOn(t, feed);
    const plan = await refreshed(source);
    t.equal(plan.fetch.length, 6, 'three versions, two platforms');
    const files = await source.scan();
    t.same([...new Set(files.map((file) => file.version))].sort(), ['0.109.0', '0.110.0', '0.111.0']);
    t.ok(files.every((file) => file.sidecars.bundlePath !== undefined), 'each with its Sigstore bundle');
    for (const file of files) {
      t.equal(sha(fs.readFileSync(file.tarballPath)), sha(feed.release(`v${file.version}`)!.assets.find((a) => a.name === file.fileName)!.bytes));
    }
    t.ok(feed.requests.filter((request) => request.path.endsWith('/releases')).length >= 3, 'every page was read');
    t.equal(feed.downloadsOf(contrib('0.112.0')).length, 0, 'the draft is never fetched');
    t.equal(feed.downloadsOf(contrib('0.113.0-rc.1')).length, 0, 'nor the pre-release');
    t.equal(feed.downloadsOf(contrib('0.108.0')).length, 0, 'nor the fourth newest');

    const again = await refreshed(source);
    t.same(again.fetch, [], 'the second refresh fetches nothing');
    t.equal(again.cached, 6);
    t.equal(feed.downloadsOf(contrib('0.111.0')).length, 1, 'each tarball was fetched once');
  });

  t.test('pre-releases, nightly and ranges only as asked', async (t) => {
    const feed = await fakeFeed(t);
    await addRelease(feed, world, '0.110.0');
    await addRelease(feed, world, '0.111.0-rc.1', { prerelease: true });
    await addRelease(feed, world, '0.112.0-dev.5', { tag: 'nightly', prerelease: true });
    const listed = sourceOn(t, feed, { versions: '0.111.0-rc.1,nightly' }).source;
    await refreshed(listed);
    t.same((await listed.scan()).map((file) => file.version).sort(), ['0.111.0-rc.1', '0.111.0-rc.1', '0.112.0-dev.5', '0.112.0-dev.5']);
    const ranged = sourceOn(t, feed, { versions: '>=0.100.0' }).source;
    await refreshed(ranged);
    t.same([...new Set((await ranged.scan()).map((file) => file.version))], ['0.110.0'], 'a range takes no pre-release it does not name');
  });

  t.test('a release without bundles is fetched with its .pem and .sig', async (t) => {
    const feed = await fakeFeed(t);
    await addRelease(feed, world, '0.111.0', { signing: 'pair' });
    const { source } = sourceOn(t, feed);
    await refreshed(source);
    const [file] = await source.scan();
    t.equal(file?.sidecars.bundlePath, undefined);
    t.ok(file?.sidecars.certificatePath && fs.existsSync(file.sidecars.certificatePath));
    t.ok(file?.sidecars.signaturePath && fs.existsSync(file.sidecars.signaturePath));
  });

  t.test('a truncated download resumes with Range at the next refresh, also after the feed went away', async (t) => {
    const feed = await fakeFeed(t);
    await addRelease(feed, world, '0.111.0', { platforms: [['linux', 'amd64']], sizeBytes: 400_000 });
    const name = contrib('0.111.0');
    feed.cutAfter.set(name, 0.5);
    const { source } = sourceOn(t, feed, AMD64_ONLY);
    await refreshed(source);
    t.same(await source.scan(), [], 'nothing half-downloaded is reported');
    t.match(source.rejections(), [{ fileName: name, reason: /download failed, retried at the next refresh/ }]);

    feed.down = true;
    const down = await refreshed(source);
    t.match(down.error, /cannot reach/);
    t.match(source.status(), { lastError: /cannot reach/ });
    feed.down = false;

    await refreshed(source);
    const resumed = feed.downloadsOf(name).at(-1);
    t.match(resumed?.range, /^bytes=[1-9]\d*-$/, 'the rest was asked for with Range');
    const [file] = await source.scan();
    t.equal(sha(fs.readFileSync(file!.tarballPath)), sha(feed.release('v0.111.0')!.assets[0]!.bytes), 'the joined file has the right bytes');
    t.same(source.rejections(), []);
    t.equal(source.status().lastError, undefined, 'the feed is reachable again');
  });

  t.test('a download in progress is in the status with its bytes so far', async (t) => {
    const feed = await fakeFeed(t);
    await addRelease(feed, world, '0.111.0', { platforms: [['linux', 'amd64']], sizeBytes: 1_000_000 });
    const name = contrib('0.111.0');
    feed.stallAfter.set(name, 0.5);
    const { source } = sourceOn(t, feed, AMD64_ONLY);
    const plan = await source.refresh();
    t.match(plan.fetch, [{ fileName: name, size: Number }], 'the plan names what it fetches, with the size the feed gave');
    const { value: download } = await eventually(async () => source.status().downloads.find((item) => item.receivedBytes > 0), 10_000, 'progress');
    t.match(download, { fileName: name, totalBytes: plan.fetch[0]!.size });
    t.ok(download.receivedBytes < download.totalBytes!, 'part of the file so far');
    t.ok(source.status().refreshing);
    feed.resume();
    await source.idle();
    t.same(source.status().downloads, [], 'none once it finished');
    t.equal((await source.scan()).length, 1);
  });

  t.test('a checksum mismatch is rejected, deleted and not fetched again', async (t) => {
    const feed = await fakeFeed(t);
    await addRelease(feed, world, '0.111.0', { checksumsWrong: contrib('0.111.0', 'arm64') });
    const { source, cacheDir } = sourceOn(t, feed);
    await refreshed(source);
    t.same((await source.scan()).map((file) => file.fileName), [contrib('0.111.0')]);
    t.match(source.rejections(), [{ fileName: contrib('0.111.0', 'arm64'), reason: /checksum mismatch/ }]);
    t.same(fs.readdirSync(path.join(cacheDir, 'partial')), [], 'the bad bytes are gone');
    await refreshed(source);
    t.equal(feed.downloadsOf(contrib('0.111.0', 'arm64')).length, 1, 'not fetched a second time');
    t.equal(source.rejections().length, 1, 'still listed');
  });

  t.test('a release without signature material is rejected without fetching the tarball', async (t) => {
    const feed = await fakeFeed(t);
    await addRelease(feed, world, '0.111.0', { signing: 'none' });
    const { source } = sourceOn(t, feed);
    await refreshed(source);
    t.same(await source.scan(), []);
    t.match(source.rejections(), [{ reason: /no signature material/ }, { reason: /no signature material/ }]);
    t.equal(feed.downloadsOf(contrib('0.111.0')).length, 0);
  });

  t.test('a 404 for one platform leaves the others, and is retried', async (t) => {
    const feed = await fakeFeed(t);
    await addRelease(feed, world, '0.111.0');
    feed.notFound.add(contrib('0.111.0', 'arm64'));
    const { source } = sourceOn(t, feed);
    await refreshed(source);
    t.same((await source.scan()).map((file) => file.arch), ['amd64']);
    t.match(source.rejections(), [{ arch: 'arm64', reason: /HTTP 404/ }]);
    feed.notFound.clear();
    await refreshed(source);
    t.same((await source.scan()).map((file) => file.arch), ['amd64', 'arm64']);
  });

  t.test('a replaced asset is fetched again and reported with its new bytes', async (t) => {
    const feed = await fakeFeed(t);
    await addRelease(feed, world, '0.111.0', { platforms: [['linux', 'amd64']] });
    const { source, cacheDir } = sourceOn(t, feed, AMD64_ONLY);
    await refreshed(source);
    const [before] = await source.scan();
    const replacement = await mintRelease(world, temporaryDirectory('feed-assets-'), '0.111.0', { platforms: [['linux', 'amd64']], sizeBytes: 250_000 });
    feed.release('v0.111.0')!.assets = replacement.map((asset) => ({ ...asset, revision: 1 }));
    await refreshed(source);
    const [after] = await source.scan();
    t.not(after?.fingerprint, before?.fingerprint, 'the catalog sees a new file');
    t.equal(sha(fs.readFileSync(after!.tarballPath)), sha(replacement[0]!.bytes));
    t.notOk(fs.existsSync(before!.tarballPath), 'the old bytes are gone');
    t.equal(fs.readdirSync(path.join(cacheDir, 'files')).length, 1);
  });

  t.test('a half-written file in the cache at start is resumed; a stray one is removed', async (t) => {
    const feed = await fakeFeed(t);
    await addRelease(feed, world, '0.111.0', { platforms: [['linux', 'amd64']] });
    const bytes = feed.release('v0.111.0')!.assets[0]!.bytes;
    const cacheDir = path.join(temporaryDirectory('releases-cache-'), 'cache');
    fs.mkdirSync(path.join(cacheDir, 'partial'), { recursive: true });
    fs.writeFileSync(path.join(cacheDir, 'partial', `${sha(bytes)}.partial`), bytes.subarray(0, 1000));
    fs.mkdirSync(path.join(cacheDir, 'files', 'f'.repeat(64)), { recursive: true });
    fs.writeFileSync(path.join(cacheDir, 'files', 'f'.repeat(64), contrib('0.110.0')), 'half a tarball');
    const { source } = sourceOn(t, feed, { cacheDir, ...AMD64_ONLY });
    t.same(await source.scan(), [], 'neither is reported before it is checked');
    t.notOk(fs.existsSync(path.join(cacheDir, 'files', 'f'.repeat(64))), 'the stray file went at start');
    await refreshed(source);
    t.same(feed.downloadsOf(contrib('0.111.0')).map((request) => request.range), ['bytes=1000-']);
    const [file] = await source.scan();
    t.equal(sha(fs.readFileSync(file!.tarballPath)), sha(bytes));
  });

  t.test('a rate limit is waited out and logged once; the token goes to the API only', async (t) => {
    const feed = await fakeFeed(t);
    await addRelease(feed, world, '0.111.0', { platforms: [['linux', 'amd64']] });
    feed.rateLimitedRequests = 2;
    const tokenFile = path.join(temporaryDirectory(), 'token');
    fs.writeFileSync(tokenFile, 'secret-token\n');
    const { source, lines } = sourceOn(t, feed, { tokenFile, ...AMD64_ONLY });
    const plan = await refreshed(source);
    t.equal(plan.error, undefined);
    t.equal((await source.scan()).length, 1, 'fetched after the wait');
    t.equal(lines.filter((line) => /rate limit/.test(line.message)).length, 1, 'one log line for the wait');
    const api = feed.requests.filter((request) => request.path.startsWith('/api/'));
    t.ok(api.length >= 3 && api.every((request) => request.authorization === 'Bearer secret-token'));
    const others = feed.requests.filter((request) => !request.path.startsWith('/api/'));
    t.ok(others.length > 0 && others.every((request) => request.authorization === undefined), 'never to the download host');
  });

  t.test('a plain mirror, with versions from the list; a missing bundle falls back to .pem and .sig', async (t) => {
    const feed = await fakeFeed(t);
    await addRelease(feed, world, '0.110.0', { signing: 'pair' });
    await addRelease(feed, world, '0.111.0');
    const { source } = sourceOn(t, feed, { mirror: true, versions: '0.110.0' });
    await refreshed(source);
    const files = await source.scan();
    t.same(files.map((file) => file.fileName), [contrib('0.110.0'), contrib('0.110.0', 'arm64')]);
    t.ok(files.every((file) => file.sidecars.certificatePath !== undefined && file.sidecars.bundlePath === undefined));
    t.ok(feed.requests.some((request) => request.path === `/mirror/v0.110.0/${CHECKSUMS('otelcol-contrib')}`));
  });

  t.test('the cache budget keeps the newest versions, and any version still needed', async (t) => {
    const feed = await fakeFeed(t);
    for (const version of ['0.109.0', '0.110.0', '0.111.0']) await addRelease(feed, world, version, { platforms: [['linux', 'amd64']] });
    const { source } = sourceOn(t, feed, { cacheMaxBytes: 300_000, ...AMD64_ONLY });
    source.protect(() => ['0.109.0']);
    const plan = await refreshed(source);
    t.same(plan.overBudget, [contrib('0.110.0')]);
    t.same((await source.scan()).map((file) => file.version), ['0.109.0', '0.111.0']);
    source.protect(() => []);
    await refreshed(source);
    t.same((await source.scan()).map((file) => file.version), ['0.111.0'], 'evicted once nothing needs it');
  });
});
