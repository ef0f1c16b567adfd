// What the releases source follows: which feed, which versions, which platforms. Pure
// functions, so the rules are tested without any network.
import semver from 'semver';
import { normalizeVersion } from '../../src/packages/asset-name';
import { assetArch } from '../../src/agents/platform';

export const DEFAULT_GITHUB_REPOSITORY = 'open-telemetry/opentelemetry-collector-releases';
export const DEFAULT_GITHUB_API = 'https://api.github.com';
export const NIGHTLY = 'nightly';

export type Feed =
  | { kind: 'github'; repository: string }
  | { kind: 'mirror'; baseUrl: string };

/** `github:` (the collector releases), `github:owner/repo`, or an http(s) mirror base URL. */
export function parseFeed(text: string): Feed | string {
  if (text.startsWith('github:')) {
    const repository = text.slice('github:'.length) || DEFAULT_GITHUB_REPOSITORY;
    return /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository)
      ? { kind: 'github', repository }
      : `${JSON.stringify(text)} is not github:OWNER/REPO`;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${JSON.stringify(text)} is neither github:OWNER/REPO nor an http(s) URL`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `${JSON.stringify(text)} is not an http(s) URL`;
  return { kind: 'mirror', baseUrl: text.replace(/\/+$/, '') };
}

/**
 * Which versions to follow: the newest N stable ones, an explicit list (which may name
 * pre-releases and `nightly`), or a semver range (pre-releases only when the range names one,
 * as semver itself decides).
 */
export type VersionSelection =
  | { kind: 'newest'; count: number }
  | { kind: 'list'; versions: string[] }
  | { kind: 'range'; range: string };

export const DEFAULT_VERSIONS = 'newest:3';

export function parseVersionSelection(text: string): VersionSelection | string {
  const trimmed = text.trim();
  const newest = /^newest:(\d+)$/.exec(trimmed);
  if (newest) {
    const count = Number(newest[1]);
    return count >= 1 ? { kind: 'newest', count } : 'newest:N needs N of at least 1';
  }
  const items = trimmed.split(',').map((item) => item.trim()).filter((item) => item !== '');
  const listed = items.map((item) => (item === NIGHTLY ? NIGHTLY : normalizeVersion(item)));
  if (items.length > 0 && listed.every((item) => item !== undefined)) {
    return { kind: 'list', versions: [...new Set(listed as string[])] };
  }
  if (semver.validRange(trimmed) !== null && trimmed !== '') return { kind: 'range', range: trimmed };
  return `${JSON.stringify(text)} is not newest:N, a list of versions or a semver range`;
}

/** One release of the feed, as far as choosing goes. */
export interface ReleaseIdentity {
  /** Bare semver, or `nightly`. */
  version: string;
  prerelease: boolean;
}

/** The releases to follow, newest first. */
export function selectReleases<T extends ReleaseIdentity>(releases: T[], selection: VersionSelection): T[] {
  const versioned = releases.filter((release) => release.version === NIGHTLY || semver.valid(release.version) !== null);
  const byVersion = (left: T, right: T): number => {
    if (left.version === NIGHTLY) return -1;
    if (right.version === NIGHTLY) return 1;
    return semver.rcompare(left.version, right.version);
  };
  const stable = (release: T): boolean =>
    release.version !== NIGHTLY && !release.prerelease && semver.prerelease(release.version) === null;
  let chosen: T[];
  if (selection.kind === 'newest') {
    chosen = versioned.filter(stable).sort(byVersion).slice(0, selection.count);
  } else if (selection.kind === 'list') {
    const wanted = new Set(selection.versions);
    chosen = versioned.filter((release) => wanted.has(release.version));
  } else {
    chosen = versioned.filter((release) =>
      release.version !== NIGHTLY
      // A release marked pre-release on the feed but carrying a plain version is still only
      // wanted when asked for by name.
      && (!release.prerelease || semver.prerelease(release.version) !== null)
      && semver.satisfies(release.version, selection.range));
  }
  return chosen.sort(byVersion);
}

export interface Platform {
  os: string;
  /** goreleaser's name, as in asset names: amd64, arm64, armv7, 386, ppc64le, s390x. */
  arch: string;
}

/** `linux/amd64,linux/arm64`; any spelling an agent reports is turned into the asset's name. */
export function parsePlatforms(text: string): Platform[] | string {
  const platforms: Platform[] = [];
  for (const item of text.split(',').map((part) => part.trim()).filter((part) => part !== '')) {
    const match = /^([a-z0-9]+)\/([a-z0-9_]+)$/i.exec(item);
    if (!match) return `${JSON.stringify(item)} is not OS/ARCH such as linux/amd64`;
    const platform = { os: match[1]!.toLowerCase(), arch: assetArch(match[2]!) };
    if (!platforms.some((known) => known.os === platform.os && known.arch === platform.arch)) platforms.push(platform);
  }
  return platforms.length > 0 ? platforms : 'no platform given';
}

/** Every distribution name must be a plain asset-name word. */
export function parseDistributions(text: string): string[] | string {
  const names = text.split(',').map((part) => part.trim()).filter((part) => part !== '');
  const bad = names.find((name) => !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name));
  if (bad !== undefined) return `${JSON.stringify(bad)} is not a distribution name`;
  return names.length > 0 ? [...new Set(names)] : 'no distribution given';
}

/** The checksums file of a release for a distribution, from a template with `{distribution}`. */
export function checksumsFileName(template: string, distribution: string): string {
  return template.replaceAll('{distribution}', distribution);
}
