// The two feed layouts: the GitHub releases API (paged, every asset listed with its download
// URL) and a plain mirror of the upstream download URLs (`{base}/v{version}/{asset}`, versions
// given by the operator). Both answer the same questions: which releases, and where an asset is.
import { formatAssetName, normalizeVersion, parseAssetName, sidecarNames } from '../../src/packages/asset-name';
import { FeedError, type FeedHttp } from './http';
import { NIGHTLY, type Feed, type Platform, type ReleaseIdentity } from './selection';

export interface FeedAsset {
  name: string;
  url: string;
  /** Changes when the asset is replaced (GitHub: id, update time, size); '' where unknown. */
  identity: string;
  /** Bytes, when the feed says. */
  size: number | undefined;
}

export interface FeedRelease extends ReleaseIdentity {
  tag: string;
  /** Every asset by name (GitHub); undefined for a mirror, which can only be asked. */
  assets: Map<string, FeedAsset> | undefined;
  /** Where an asset of this release is (for a mirror, where it would be). */
  asset(name: string): FeedAsset | undefined;
}

/** Pages of 100 releases; the upstream repository has a few hundred, this bounds a runaway feed. */
const MAX_PAGES = 50;

interface GitHubAsset {
  id?: unknown;
  name?: unknown;
  browser_download_url?: unknown;
  size?: unknown;
  updated_at?: unknown;
}

interface GitHubRelease {
  tag_name?: unknown;
  draft?: unknown;
  prerelease?: unknown;
  assets?: unknown;
}

/** The `rel="next"` target of an RFC 8288 Link header. */
export function nextLink(header: string | null): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(',')) {
    const match = /^\s*<([^>]+)>(.*)$/.exec(part);
    if (!match) continue;
    const rel = /;\s*rel\s*=\s*"?([^";]+)"?/i.exec(match[2]!)?.[1];
    if (rel !== undefined && rel.toLowerCase().split(/\s+/).includes('next')) return match[1];
  }
  return undefined;
}

function releaseOf(tag: string, prerelease: boolean, assets: Map<string, FeedAsset> | undefined, locate: (name: string) => FeedAsset | undefined): FeedRelease | undefined {
  const version = tag === NIGHTLY ? NIGHTLY : normalizeVersion(tag);
  if (version === undefined) return undefined;
  return { tag, version, prerelease, assets, asset: locate };
}

/** Every release of a GitHub repository except drafts, following the pages. */
export async function listGitHubReleases(http: FeedHttp, apiUrl: string, repository: string): Promise<FeedRelease[]> {
  const releases: FeedRelease[] = [];
  let url: string | undefined = `${apiUrl.replace(/\/+$/, '')}/repos/${repository}/releases?per_page=100`;
  for (let page = 0; url !== undefined; page += 1) {
    if (page >= MAX_PAGES) throw new FeedError(`release list has more than ${MAX_PAGES} pages`);
    const response = await http.get(url, { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' });
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new FeedError(`release list ${url} answered HTTP ${response.status}`, response.status);
    }
    const next = nextLink(response.headers.get('link'));
    let body: unknown;
    try {
      body = await response.json();
    } catch (error) {
      throw new FeedError(`release list ${url} is not JSON`, response.status, { cause: error });
    }
    if (!Array.isArray(body)) throw new FeedError(`release list ${url} is not a JSON array`);
    for (const item of body as GitHubRelease[]) {
      if (item.draft === true || typeof item.tag_name !== 'string') continue;
      const assets = new Map<string, FeedAsset>();
      for (const asset of Array.isArray(item.assets) ? (item.assets as GitHubAsset[]) : []) {
        if (typeof asset.name !== 'string' || typeof asset.browser_download_url !== 'string') continue;
        const size = typeof asset.size === 'number' ? asset.size : undefined;
        assets.set(asset.name, {
          name: asset.name,
          url: new URL(asset.browser_download_url, url).toString(),
          identity: `${String(asset.id)}:${String(asset.updated_at)}:${String(size)}`,
          size,
        });
      }
      const release = releaseOf(item.tag_name, item.prerelease === true, assets, (name) => assets.get(name));
      if (release) releases.push(release);
    }
    url = next === undefined ? undefined : new URL(next, url).toString();
  }
  return releases;
}

/** A mirror cannot be listed: its releases are the versions the operator named. */
export function mirrorReleases(baseUrl: string, versions: string[]): FeedRelease[] {
  const releases: FeedRelease[] = [];
  for (const version of versions) {
    const tag = version === NIGHTLY ? NIGHTLY : `v${version}`;
    const release = releaseOf(tag, false, undefined, (name) => ({
      name,
      url: `${baseUrl}/${tag}/${encodeURIComponent(name)}`,
      identity: '',
      size: undefined,
    }));
    if (release) releases.push(release);
  }
  return releases;
}

export async function listReleases(http: FeedHttp, feed: Feed, apiUrl: string, listedVersions: string[]): Promise<FeedRelease[]> {
  return feed.kind === 'github'
    ? listGitHubReleases(http, apiUrl, feed.repository)
    : mirrorReleases(feed.baseUrl, listedVersions);
}

/**
 * The tarball of a distribution for a platform in a release. A versioned release names it
 * exactly; the nightly release's assets carry their own snapshot version, so they are matched.
 */
export function tarballName(release: FeedRelease, distribution: string, platform: Platform): string | undefined {
  if (release.version !== NIGHTLY) {
    return formatAssetName({ distribution, version: release.version, os: platform.os, arch: platform.arch });
  }
  for (const name of release.assets?.keys() ?? []) {
    const parsed = parseAssetName(name);
    if (parsed && parsed.distribution === distribution && parsed.os === platform.os && parsed.arch === platform.arch) return name;
  }
  return undefined;
}

/**
 * Which signing material a release carries for a tarball: the Sigstore bundle when there is
 * one, else the cosign certificate and signature. A mirror's list is asked in that order.
 */
export function sidecarChoices(release: FeedRelease, tarball: string): Array<Array<{ kind: 'bundle' | 'certificate' | 'signature'; name: string }>> {
  const names = sidecarNames(tarball);
  const bundle = [{ kind: 'bundle' as const, name: names.bundle }];
  const pair = [{ kind: 'certificate' as const, name: names.certificate }, { kind: 'signature' as const, name: names.signature }];
  if (release.assets === undefined) return [bundle, pair];
  return [bundle, pair].filter((choice) => choice.every((sidecar) => release.assets!.has(sidecar.name)));
}

/** `sha256sum` output: `<hex>  <name>` (or `<hex> *<name>`), one a line. */
export function parseChecksums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^([0-9a-fA-F]{64})\s+\*?(\S.*?)\s*$/.exec(line);
    if (match) sums.set(match[2]!, match[1]!.toLowerCase());
  }
  return sums;
}

/** Reads a small text asset (a checksums file); undefined when the feed says it is not there. */
export async function fetchSmallText(http: FeedHttp, url: string, maxBytes: number): Promise<string | undefined> {
  const bytes = await fetchSmall(http, url, maxBytes);
  return bytes?.toString('utf8');
}

/** A small asset (checksums, signature material) in memory; undefined on 404. */
export async function fetchSmall(http: FeedHttp, url: string, maxBytes: number): Promise<Buffer | undefined> {
  const response = await http.get(url);
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new FeedError(`${url} answered HTTP ${response.status}`, response.status);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body ?? []) {
      size += (chunk as Uint8Array).byteLength;
      if (size > maxBytes) throw new FeedError(`${url} is larger than ${maxBytes} bytes`);
      chunks.push(Buffer.from(chunk as Uint8Array));
    }
  } catch (error) {
    if (error instanceof FeedError) throw error;
    throw new FeedError(`reading ${url} failed: ${(error as Error).message}`, undefined, { cause: error });
  }
  return Buffer.concat(chunks);
}
