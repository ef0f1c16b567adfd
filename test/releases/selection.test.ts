// The pure rules of the releases source: feed names, version selection, platforms, the Link
// header, checksums files, rate-limit waits and which redirects are followed.
import t from 'tap';
import { nextLink, parseChecksums } from '../../plugins/releases/feed';
import { rateLimitWaitMs, redirectAllowed } from '../../plugins/releases/http';
import { parseFeed, parsePlatforms, parseVersionSelection, selectReleases } from '../../plugins/releases/selection';
import { must } from './helpers';

const headers = (values: Record<string, string>) => ({ get: (name: string) => values[name.toLowerCase()] ?? null });

t.test('feeds', async (t) => {
  t.same(parseFeed('github:'), { kind: 'github', repository: 'open-telemetry/opentelemetry-collector-releases' });
  t.same(parseFeed('github:acme/collector'), { kind: 'github', repository: 'acme/collector' });
  t.same(parseFeed('https://mirror.example/otel/'), { kind: 'mirror', baseUrl: 'https://mirror.example/otel' });
  t.match(parseFeed('github:not a repo'), /is not github:OWNER\/REPO/);
  t.match(parseFeed('ftp://mirror.example/'), /not an http\(s\) URL/);
});

t.test('versions: newest stable by default, pre-releases and nightly only when named', async (t) => {
  const releases = [
    { version: '0.108.0', prerelease: false },
    { version: '0.109.0', prerelease: false },
    { version: '0.110.0', prerelease: false },
    { version: '0.111.0', prerelease: false },
    { version: '0.112.0-rc.1', prerelease: true },
    { version: '0.112.0', prerelease: true },
    { version: 'nightly', prerelease: true },
  ];
  const pick = (text: string) => selectReleases(releases, must(parseVersionSelection(text))).map((release) => release.version);
  t.same(pick('newest:3'), ['0.111.0', '0.110.0', '0.109.0']);
  t.same(pick('newest:1'), ['0.111.0']);
  t.same(pick('0.108.0, v0.112.0-rc.1,nightly'), ['nightly', '0.112.0-rc.1', '0.108.0']);
  t.same(pick('>=0.110.0'), ['0.111.0', '0.110.0'], 'a range leaves out what the feed marks pre-release');
  t.same(pick('>=0.112.0-rc.0'), ['0.112.0-rc.1'], 'unless the range names a pre-release');
  t.match(parseVersionSelection('newest:0'), /at least 1/);
  t.match(parseVersionSelection('latest please'), /is not newest:N/);
});

t.test('platforms in any spelling become the asset names', async (t) => {
  t.same(parsePlatforms('linux/x86_64, linux/aarch64,linux/arm,linux/x86,linux/ppc64,darwin/arm64,linux/amd64'), [
    { os: 'linux', arch: 'amd64' },
    { os: 'linux', arch: 'arm64' },
    { os: 'linux', arch: 'armv7' },
    { os: 'linux', arch: '386' },
    { os: 'linux', arch: 'ppc64le' },
    { os: 'darwin', arch: 'arm64' },
  ]);
  t.match(parsePlatforms('linux'), /is not OS\/ARCH/);
});

t.test('Link rel="next", checksums files', async (t) => {
  t.equal(nextLink('<https://api.example/r?page=2>; rel="next", <https://api.example/r?page=9>; rel="last"'), 'https://api.example/r?page=2');
  t.equal(nextLink('<https://api.example/r?page=1>; rel="prev"'), undefined);
  t.equal(nextLink(null), undefined);
  const sums = parseChecksums(`${'a'.repeat(64)}  one.tar.gz\n${'B'.repeat(64)} *two.tar.gz\nnot a line\n`);
  t.same([...sums], [['one.tar.gz', 'a'.repeat(64)], ['two.tar.gz', 'b'.repeat(64)]]);
});

t.test('rate limits and redirects', async (t) => {
  const now = 1_700_000_000_000;
  t.equal(rateLimitWaitMs({ status: 429, headers: headers({ 'retry-after': '7' }) }, now), 7000);
  t.equal(rateLimitWaitMs({ status: 403, headers: headers({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(now / 1000 + 60) }) }, now), 61_000);
  t.equal(rateLimitWaitMs({ status: 403, headers: headers({ 'x-ratelimit-remaining': '12', 'x-ratelimit-reset': String(now / 1000 + 60) }) }, now), undefined, 'a plain refusal is no wait');
  t.equal(rateLimitWaitMs({ status: 200, headers: headers({ 'retry-after': '7' }) }, now), undefined);
  t.ok(redirectAllowed(new URL('https://objects.example/file')));
  t.ok(redirectAllowed(new URL('http://127.0.0.1:8080/file')));
  t.notOk(redirectAllowed(new URL('http://objects.example/file')));
  t.notOk(redirectAllowed(new URL('file:///etc/passwd')));
});
