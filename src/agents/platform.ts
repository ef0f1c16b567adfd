// Which collector build fits an agent: its distribution, operating system, architecture and
// version, read from the resource attributes it reports. The offers, the rollouts' selectors,
// the admin views and the release sources all go through here, so they agree on a platform.
import semver, { type SemVer } from 'semver';
import { attributeText } from './attributes';
import type { AgentDescriptionRecord } from './records';

/** The distribution of an agent that reports no service.name. */
export const DEFAULT_DISTRIBUTION = 'otelcol-contrib';

/**
 * The architecture in release asset names (goreleaser's, as in `otelcol-contrib_0.112.0_linux_armv7.tar.gz`)
 * for each way an agent reports host.arch: Go's GOARCH (`amd64`, `arm64`, `arm`, `386`,
 * `ppc64le`, `s390x`), the semantic conventions' values (`amd64`, `arm64`, `arm32`, `x86`,
 * `ppc64`, `s390x`) and `uname -m` spellings. Keys are lowercase; a value not listed is its
 * own asset arch. 32-bit ARM builds are published for ARMv7 only, and 64-bit POWER builds for
 * little-endian only, so `arm`/`arm32` and `ppc64` name those.
 */
export const ASSET_ARCH_BY_REPORTED_ARCH: ReadonlyMap<string, string> = new Map([
  ['amd64', 'amd64'],
  ['x86_64', 'amd64'],
  ['arm64', 'arm64'],
  ['aarch64', 'arm64'],
  ['arm', 'armv7'],
  ['arm32', 'armv7'],
  ['armv7l', 'armv7'],
  ['386', '386'],
  ['x86', '386'],
  ['i386', '386'],
  ['i686', '386'],
  ['ppc64le', 'ppc64le'],
  ['ppc64', 'ppc64le'],
  ['s390x', 's390x'],
]);

/** The release asset arch for a reported host.arch (case-insensitive). */
export function assetArch(reported: string): string {
  const lower = reported.toLowerCase();
  // A Map, not an object: host.arch comes from the agent and may be `constructor` or `__proto__`.
  return ASSET_ARCH_BY_REPORTED_ARCH.get(lower) ?? lower;
}

/** Every lowercase host.arch spelling that means the same asset arch as this one, itself included. */
export function archSpellings(arch: string): string[] {
  const wanted = assetArch(arch);
  const spellings = new Set([arch.toLowerCase(), wanted]);
  for (const [reported, asset] of ASSET_ARCH_BY_REPORTED_ARCH) if (asset === wanted) spellings.add(reported);
  return [...spellings];
}

export interface AgentPlatform {
  distribution: string;
  /** os.type, lowercase. */
  os: string | undefined;
  /** host.arch as the release assets name it (see assetArch). */
  arch: string | undefined;
  /** service.version without a leading `v`, when it is semver. */
  version: string | undefined;
}

const parsedVersions = new Map<string, SemVer | null>();

/**
 * A version parsed once: agents report a handful of distinct versions, and parsing one is a
 * regular-expression match that every poll would otherwise repeat.
 */
export function parseVersion(text: string): SemVer | undefined {
  let parsed = parsedVersions.get(text);
  if (parsed === undefined) {
    parsed = semver.parse(text);
    // Bounded: versions come from agents, so their number is not ours to trust.
    if (parsedVersions.size >= 4096) parsedVersions.clear();
    parsedVersions.set(text, parsed);
  }
  return parsed ?? undefined;
}

/** service.version as reported, without a leading `v`, semver or not. */
export function reportedVersion(description: AgentDescriptionRecord | undefined): string | undefined {
  return attributeText(description, 'service.version')?.replace(/^v/, '');
}

/** The agent's distribution (service.name) and platform (os.type, host.arch), per semantic conventions. */
export function agentPlatform(description: AgentDescriptionRecord | undefined): AgentPlatform {
  const os = attributeText(description, 'os.type')?.toLowerCase();
  const arch = attributeText(description, 'host.arch');
  const version = reportedVersion(description);
  return {
    distribution: attributeText(description, 'service.name') ?? DEFAULT_DISTRIBUTION,
    os,
    arch: arch === undefined ? undefined : assetArch(arch),
    version: version !== undefined && parseVersion(version) !== undefined ? version : undefined,
  };
}
