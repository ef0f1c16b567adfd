// What one refresh has to do: for every followed release, distribution and platform, whether
// the tarball is already cached with the bytes the checksums file names, must be fetched, or
// cannot be had (and why). Reads the release list and the checksums files, nothing larger.
import { parseAssetName } from '../../src/packages/asset-name';
import type { ReleaseCache } from './cache';
import { fetchSmallText, listReleases, parseChecksums, sidecarChoices, tarballName, type FeedAsset, type FeedRelease } from './feed';
import { FeedError, type FeedHttp } from './http';
import { checksumsFileName, selectReleases, type Feed, type Platform, type VersionSelection } from './selection';

export interface AssetKey {
  fileName: string;
  distribution: string;
  version: string;
  os: string;
  arch: string;
}

export interface FetchItem extends AssetKey {
  tarball: FeedAsset;
  release: FeedRelease;
  /** From the release's checksums file. */
  sha256Hex: string;
  /** Sidecar sets to try in order; empty when the release has none. */
  sidecarChoices: ReturnType<typeof sidecarChoices>;
}

export type PlanItem =
  | ({ kind: 'cached'; upstreamUrl: string; identity: string; size: number } & AssetKey)
  | ({ kind: 'fetch' } & FetchItem)
  | ({ kind: 'missing'; reason: string } & AssetKey);

export interface PlanContext {
  http: FeedHttp;
  feed: Feed;
  apiUrl: string;
  selection: VersionSelection;
  distributions: string[];
  platforms: Platform[];
  checksumsTemplate: string;
  cache: ReleaseCache;
}

const CHECKSUMS_MAX_BYTES = 4 * 1024 * 1024;

/** The identity that makes a cached or rejected file "the same" as the feed's. */
export function identityOf(item: FetchItem): string {
  const sidecars = item.release.assets === undefined
    ? ''
    : (item.sidecarChoices[0] ?? []).map((sidecar) => item.release.asset(sidecar.name)?.identity ?? '').join('+');
  return `${item.sha256Hex}|${item.tarball.identity}|${sidecars}`;
}

function keyOf(release: FeedRelease, fileName: string, distribution: string, platform: Platform): AssetKey {
  // The nightly release's version is the snapshot version in its asset name.
  const version = parseAssetName(fileName)?.version ?? release.version;
  return { fileName, distribution, version, os: platform.os, arch: platform.arch };
}

/** Releases to follow, newest first, then what each wanted asset needs. */
export async function planRefresh(context: PlanContext): Promise<PlanItem[]> {
  const listedVersions = context.selection.kind === 'list' ? context.selection.versions : [];
  const releases = selectReleases(await listReleases(context.http, context.feed, context.apiUrl, listedVersions), context.selection);
  const items: PlanItem[] = [];
  for (const release of releases) {
    for (const distribution of context.distributions) {
      const checksumsName = checksumsFileName(context.checksumsTemplate, distribution);
      let sums: Map<string, string> | undefined;
      let sumsProblem: string | undefined;
      const checksums = async (): Promise<Map<string, string> | undefined> => {
        if (sums !== undefined || sumsProblem !== undefined) return sums;
        const location = release.asset(checksumsName);
        const text = location === undefined ? undefined : await fetchSmallText(context.http, location.url, CHECKSUMS_MAX_BYTES);
        if (text === undefined) sumsProblem = `release ${release.tag} has no checksums file ${checksumsName}`;
        else sums = parseChecksums(text);
        return sums;
      };
      for (const platform of context.platforms) {
        const name = tarballName(release, distribution, platform);
        if (name === undefined) continue;
        const key = keyOf(release, name, distribution, platform);
        const tarball = release.asset(name);
        if (tarball === undefined) {
          items.push({ kind: 'missing', reason: `release ${release.tag} has no asset ${name}`, ...key });
          continue;
        }
        let map: Map<string, string> | undefined;
        try {
          map = await checksums();
        } catch (error) {
          if (error instanceof FeedError && error.status === undefined) throw error;
          sumsProblem = `checksums file ${checksumsName}: ${(error as Error).message}`;
        }
        const sha256Hex = map?.get(name);
        if (sha256Hex === undefined) {
          items.push({ kind: 'missing', reason: sumsProblem ?? `${name} is not in ${checksumsName}`, ...key });
          continue;
        }
        const fetchItem: FetchItem = { ...key, tarball, release, sha256Hex, sidecarChoices: sidecarChoices(release, name) };
        const cached = context.cache.get(name);
        if (cached !== undefined && cached.sha256Hex === sha256Hex) {
          items.push({ kind: 'cached', upstreamUrl: tarball.url, identity: identityOf(fetchItem), size: cached.size, ...key });
        } else {
          items.push({ kind: 'fetch', ...fetchItem });
        }
      }
    }
  }
  return items;
}
