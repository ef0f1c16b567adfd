// Release asset names, as the collector release pipeline writes them:
// `<distribution>_<version>_<os>_<arch>.tar.gz`, plus cosign/sigstore sidecars beside them.
import semver from 'semver';

export interface AssetName {
  distribution: string;
  /** Without the leading `v`. */
  version: string;
  os: string;
  arch: string;
}

export type SidecarKind = 'bundle' | 'certificate' | 'signature';

const TARBALL_SUFFIX = '.tar.gz';

/** Suffix appended to the tarball's full file name for each kind of signing material. */
export const sidecarSuffixes: Readonly<Record<SidecarKind, string>> = {
  bundle: '.sigstore.json',
  certificate: '.pem',
  signature: '.sig',
};

// The distribution becomes a file name inside the archive and a path segment in URLs, so only
// plain, portable characters are allowed; it must not start with a dot (hidden files).
const DISTRIBUTION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
// Go's GOOS/GOARCH values and goreleaser's variants (armv7, mips64le) are lowercase alphanumerics.
const PLATFORM_PATTERN = /^[a-z0-9]+$/;

/**
 * Parses `<distribution>_<version>_<os>_<arch>.tar.gz`. The name is split from the right,
 * because semver, os and arch never contain `_` while a custom distribution name might.
 */
export function parseAssetName(fileName: string): AssetName | undefined {
  if (!fileName.endsWith(TARBALL_SUFFIX)) return undefined;
  const stem = fileName.slice(0, -TARBALL_SUFFIX.length);
  const parts = stem.split('_');
  if (parts.length < 4) return undefined;
  const arch = parts.pop() as string;
  const os = parts.pop() as string;
  const rawVersion = parts.pop() as string;
  const distribution = parts.join('_');
  if (!DISTRIBUTION_PATTERN.test(distribution)) return undefined;
  if (!PLATFORM_PATTERN.test(os) || !PLATFORM_PATTERN.test(arch)) return undefined;
  const version = normalizeVersion(rawVersion);
  if (version === undefined) return undefined;
  return { distribution, version, os, arch };
}

/**
 * Strips one leading `v` and checks strict semver. Build metadata is kept as written: it is
 * part of the file's identity even though semver ignores it when comparing.
 */
export function normalizeVersion(text: string): string | undefined {
  const version = text.startsWith('v') ? text.slice(1) : text;
  const parsed = semver.parse(version, { loose: false });
  if (parsed === null) return undefined;
  // semver.parse tolerates surrounding whitespace; a file name must match exactly.
  const canonical = parsed.build.length > 0 ? `${parsed.version}+${parsed.build.join('.')}` : parsed.version;
  if (canonical !== version) return undefined;
  return version;
}

/** The asset file name for the given parts (the version is written without a `v`). */
export function formatAssetName(asset: AssetName): string {
  return `${asset.distribution}_${asset.version}_${asset.os}_${asset.arch}${TARBALL_SUFFIX}`;
}

/** Recognises `<tarball>.sigstore.json`, `<tarball>.pem` and `<tarball>.sig`. */
export function parseSidecarName(
  fileName: string,
): { tarballName: string; kind: SidecarKind; asset: AssetName } | undefined {
  for (const kind of Object.keys(sidecarSuffixes) as SidecarKind[]) {
    const suffix = sidecarSuffixes[kind];
    if (!fileName.endsWith(suffix)) continue;
    const tarballName = fileName.slice(0, -suffix.length);
    const asset = parseAssetName(tarballName);
    if (asset === undefined) return undefined;
    return { tarballName, kind, asset };
  }
  return undefined;
}

/** The sidecar file names that belong to a tarball, by kind. */
export function sidecarNames(tarballName: string): Record<SidecarKind, string> {
  return {
    bundle: tarballName + sidecarSuffixes.bundle,
    certificate: tarballName + sidecarSuffixes.certificate,
    signature: tarballName + sidecarSuffixes.signature,
  };
}

/** The executable the collector tarball must hold for a distribution on an OS. */
export function executableName(distribution: string, os: string): string {
  return os === 'windows' ? `${distribution}.exe` : distribution;
}
