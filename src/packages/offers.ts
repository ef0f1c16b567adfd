// Offers: which PackagesAvailable an agent should see. Everything that costs something (the
// package hashes, the signature bytes, the sorted index) is prepared when the catalog changes;
// a poll only reads three attributes, looks up its platform and compares two versions.
import { createHash } from 'node:crypto';
import semver, { type SemVer } from 'semver';
import { agentPlatform, assetArch, parseVersion } from '../agents/platform';
import type { AgentDescriptionRecord, AgentRecord } from '../agents/records';
import type { PackagesAvailable } from '../opamp/codec';
import type { Offer } from '../opamp/protocol';
import type { OfferProvider } from './offer-provider';
import type { OfferDecision } from '../rollouts/types';
import type { Catalog, CatalogEntry } from './catalog';

const TOP_LEVEL = 0;

function lengthPrefixed(hash: ReturnType<typeof createHash>, bytes: Uint8Array | string): void {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.byteLength);
  hash.update(length).update(data);
}

/**
 * PackageAvailable.hash: over name, type, version, content hash and signature. Not over the
 * URL or any header, so one artifact hashes the same on every instance and for every agent.
 * A retry generation above 0 is hashed too: the supervisor never retries a package hash that
 * failed, so a rollout's retry must offer the same file under a new hash.
 */
export function packageHash(name: string, version: string, contentHash: Uint8Array, signature: Uint8Array, generation = 0): Buffer {
  const hash = createHash('sha256');
  lengthPrefixed(hash, name);
  lengthPrefixed(hash, String(TOP_LEVEL));
  lengthPrefixed(hash, version);
  lengthPrefixed(hash, contentHash);
  lengthPrefixed(hash, signature);
  // Generation 0 adds nothing, so first offers hash as they always did.
  if (generation > 0) lengthPrefixed(hash, `retry ${generation}`);
  return hash.digest();
}

/** all_packages_hash: over every offered package's name and hash, in name order. */
export function allPackagesHash(packages: Array<{ name: string; hash: Uint8Array }>): Buffer {
  const hash = createHash('sha256');
  for (const item of [...packages].sort((left, right) => left.name.localeCompare(right.name))) {
    lengthPrefixed(hash, item.name);
    lengthPrefixed(hash, item.hash);
  }
  return hash.digest();
}

/** One offerable artifact with its hashes computed once. */
export class PreparedPackage {
  readonly entry: CatalogEntry;
  readonly version: SemVer;
  readonly wireVersion: string;
  readonly signature: Buffer;
  readonly hash: Buffer;
  readonly allPackagesHash: Buffer;
  readonly allPackagesHashHex: string;
  readonly generation: number;
  private readonly byBaseUrl = new Map<string, Offer>();
  private readonly byGeneration = new Map<number, PreparedPackage>();

  constructor(entry: CatalogEntry, signatureFormat: 'cosign' | 'bundle', generation = 0) {
    this.entry = entry;
    this.generation = generation;
    this.version = new semver.SemVer(entry.version);
    this.wireVersion = `v${entry.version}`;
    const wire = entry.signature?.wireSignatures;
    this.signature = (signatureFormat === 'bundle' ? wire?.bundle : wire?.cosign) ?? Buffer.alloc(0);
    this.hash = packageHash('', this.wireVersion, entry.sha256, this.signature, generation);
    this.allPackagesHash = allPackagesHash([{ name: '', hash: this.hash }]);
    this.allPackagesHashHex = this.allPackagesHash.toString('hex');
  }

  /** The same artifact under a retry generation's hash (retries are few, so kept). */
  withGeneration(generation: number, signatureFormat: 'cosign' | 'bundle'): PreparedPackage {
    if (generation === this.generation) return this;
    let variant = this.byGeneration.get(generation);
    if (variant === undefined) {
      variant = new PreparedPackage(this.entry, signatureFormat, generation);
      this.byGeneration.set(generation, variant);
    }
    return variant;
  }

  /** The offer with absolute download URLs for one base URL (a handful exist per deployment). */
  offerAt(baseUrl: string): Offer {
    let offer = this.byBaseUrl.get(baseUrl);
    if (offer === undefined) {
      const packagesAvailable: PackagesAvailable = {
        packages: {
          '': {
            type: TOP_LEVEL,
            version: this.wireVersion,
            hash: this.hash,
            file: {
              // Passthrough delivery: the feed's own URL, never with a download token (see app.ts).
              downloadUrl: this.entry.deliveryUrl
                ?? `${baseUrl}/v1/packages/${this.entry.sha256Hex}/${encodeURIComponent(this.entry.fileName)}`,
              contentHash: this.entry.sha256,
              signature: this.signature,
            },
          },
        },
        allPackagesHash: this.allPackagesHash,
      };
      offer = { version: this.wireVersion, allPackagesHash: this.allPackagesHashHex, packagesAvailable };
      // Bounded: a client-controlled Host header must not grow this without limit.
      if (this.byBaseUrl.size >= 64) this.byBaseUrl.clear();
      this.byBaseUrl.set(baseUrl, offer);
    }
    return offer;
  }
}

export interface OfferBookOptions {
  /** `none`, `latest` or a version X.Y.Z. */
  target: string;
  signatureFormat: 'cosign' | 'bundle';
}

export class OfferBook implements OfferProvider {
  private readonly options: OfferBookOptions;
  /** Offerable packages per `distribution/os/arch`, highest version first. */
  private index = new Map<string, PreparedPackage[]>();

  constructor(options: OfferBookOptions) {
    this.options = options;
  }

  /** Rebuilds the index from the catalog's offerable entries. */
  rebuild(entries: CatalogEntry[]): void {
    const index = new Map<string, PreparedPackage[]>();
    for (const entry of entries) {
      if (!entry.offerable) continue;
      // The same spelling agentPlatform gives an agent's host.arch, whatever the file calls it.
      const key = `${entry.distribution}/${entry.os}/${assetArch(entry.arch)}`;
      const list = index.get(key) ?? [];
      list.push(new PreparedPackage(entry, this.options.signatureFormat));
      index.set(key, list);
    }
    for (const list of index.values()) list.sort((left, right) => semver.rcompare(left.version, right.version));
    this.index = index;
  }

  /** Keeps the index in step with a catalog. */
  follow(catalog: Catalog): void {
    this.rebuild(catalog.offerable());
    catalog.onChange(() => this.rebuild(catalog.offerable()));
  }

  /** The package this agent should be offered, if any; never its own version, never a lower one. */
  packageFor(record: AgentRecord): PreparedPackage | undefined {
    const { target } = this.options;
    if (target === 'none') return undefined;
    const platform = agentPlatform(record.description);
    if (platform.os === undefined || platform.arch === undefined) return undefined;
    const candidates = this.index.get(`${platform.distribution}/${platform.os}/${platform.arch}`);
    if (candidates === undefined) return undefined;
    const chosen = target === 'latest' ? candidates[0] : candidates.find((item) => item.version.compare(parseVersion(target) ?? target) === 0);
    if (chosen === undefined) return undefined;
    if (platform.version !== undefined && chosen.version.compare(parseVersion(platform.version) ?? platform.version) <= 0) return undefined;
    return chosen;
  }

  /** Whether any offerable artifact has this version (a rollout must name one). */
  hasVersion(version: string): boolean {
    for (const list of this.index.values()) if (list.some((item) => item.version.compare(version) === 0)) return true;
    return false;
  }

  /** The artifact of this exact version for the agent's platform, whatever the agent runs. */
  artifactFor(description: AgentDescriptionRecord | undefined, version: string): PreparedPackage | undefined {
    const platform = agentPlatform(description);
    if (platform.os === undefined || platform.arch === undefined) return undefined;
    return this.index.get(`${platform.distribution}/${platform.os}/${platform.arch}`)?.find((item) => item.version.compare(version) === 0);
  }

  /** Hex of the package hash a rollout's offer of this version carries for this generation ('' when none). */
  offeredHashHex(description: AgentDescriptionRecord | undefined, version: string, generation: number): string {
    return this.artifactFor(description, version)?.withGeneration(generation, this.options.signatureFormat).hash.toString('hex') ?? '';
  }

  /**
   * What a rollout offers this agent: its version for the agent's platform under the member's
   * retry generation; never the version it runs, and a lower one only with allowDowngrade.
   */
  rolloutPackageFor(record: AgentRecord, version: string, generation: number, allowDowngrade: boolean): PreparedPackage | undefined {
    const chosen = this.artifactFor(record.description, version);
    if (chosen === undefined) return undefined;
    const current = agentPlatform(record.description).version;
    if (current !== undefined) {
      const order = chosen.version.compare(parseVersion(current) ?? current);
      if (order === 0 || (order < 0 && !allowDowngrade)) return undefined;
    }
    return chosen.withGeneration(generation, this.options.signatureFormat);
  }

  offerFor(record: AgentRecord, baseUrl: string, decision: OfferDecision = { kind: 'default' }): Offer | undefined {
    if (decision.kind === 'hold') return undefined;
    if (decision.kind === 'offer') {
      return this.rolloutPackageFor(record, decision.version, decision.generation, decision.allowDowngrade)?.offerAt(baseUrl);
    }
    return this.packageFor(record)?.offerAt(baseUrl);
  }
}
