// Shared by the releases tests: a fake feed with signed releases, and a releases source on it.
import path from 'node:path';
import type { Test } from 'tap';
import { createReleasesSource, type ReleasesSource, type ReleasesSourceOptions } from '../../plugins/releases';
import { parseFeed, parseVersionSelection, type Feed, type VersionSelection } from '../../plugins/releases/selection';
import { FakeFeed, mintRelease, type MintOptions } from '../fixtures/fake-feed';
import type { World } from '../fixtures/sigstore-world';
import { temporaryDirectory } from '../helpers/server';

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  details: object;
  message: string;
}

export function captureFeedLogs(): { logger: ReleasesSourceOptions['logger']; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const line = (level: LogLine['level']) => (details: object, message: string) => lines.push({ level, details, message });
  return { logger: { info: line('info'), warn: line('warn'), error: line('error') }, lines };
}

/** A started fake feed, closed when the test ends. */
export async function fakeFeed(t: Test): Promise<FakeFeed> {
  const feed = new FakeFeed();
  await feed.start();
  t.teardown(() => feed.close());
  return feed;
}

/** Adds a release of signed assets to the feed, minted in a scratch directory. */
export async function addRelease(
  feed: FakeFeed,
  world: World,
  version: string,
  options: MintOptions & { prerelease?: boolean; draft?: boolean; tag?: string } = {},
): Promise<void> {
  const assets = await mintRelease(world, temporaryDirectory('feed-assets-'), version, options);
  const tag = options.tag ?? `v${version}`;
  const existing = feed.release(tag);
  if (existing) {
    for (const asset of assets) {
      // A second batch of the same release: its checksums join the release's one file.
      const same = existing.assets.find((known) => known.name === asset.name);
      if (same) same.bytes = Buffer.concat([same.bytes, asset.bytes]);
      else existing.assets.push(asset);
    }
  }
  else feed.releases.unshift({ tag, assets, prerelease: options.prerelease, draft: options.draft });
}

export function must<T>(value: T | string): T {
  if (typeof value === 'string') throw new Error(value);
  return value;
}

export function sourceOn(
  t: Test,
  feed: FakeFeed,
  overrides: Partial<ReleasesSourceOptions> & { versions?: string; mirror?: boolean } = {},
): { source: ReleasesSource; lines: LogLine[]; cacheDir: string } {
  const { logger, lines } = captureFeedLogs();
  const cacheDir = overrides.cacheDir ?? path.join(temporaryDirectory('releases-cache-'), 'cache');
  const feedSpec: Feed = overrides.mirror ? must(parseFeed(`${feed.url}/mirror`)) : { kind: 'github', repository: 'open-telemetry/opentelemetry-collector-releases' };
  const selection: VersionSelection = must(parseVersionSelection(overrides.versions ?? 'newest:3'));
  const source = createReleasesSource({
    feedText: overrides.mirror ? `${feed.url}/mirror` : 'github:',
    feed: feedSpec,
    apiUrl: `${feed.url}/api`,
    tokenFile: undefined,
    distributions: ['otelcol-contrib'],
    platforms: [{ os: 'linux', arch: 'amd64' }, { os: 'linux', arch: 'arm64' }],
    selection,
    passthrough: false,
    refreshMs: 3_600_000,
    cacheMaxBytes: 0,
    checksumsTemplate: 'opentelemetry-collector-releases_{distribution}_checksums.txt',
    maxAssetBytes: 64 * 1024 * 1024,
    connectTimeoutMs: 5000,
    readTimeoutMs: 5000,
    parallelDownloads: 2,
    requireSignature: true,
    logger,
    ...overrides,
    cacheDir,
  });
  t.teardown(() => source.close());
  return { source, lines, cacheDir };
}

/** Runs one whole refresh (listing and downloads) and returns its plan. */
export async function refreshed(source: ReleasesSource) {
  const plan = await source.refresh();
  await source.idle();
  return plan;
}
