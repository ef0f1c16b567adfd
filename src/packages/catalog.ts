// The catalog: every release asset the sources report, ingested once per version of the file
// (hash, archive check, signature verdict) and kept as metadata only, never file contents.
// It rescans on a timer and whenever a source nudges it, and tells listeners when the set of
// offerable packages changed, so offers are rebuilt then and never on the poll path.
import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { SignatureVerdict } from '../signing/verifier';
import type { PackageSource, RejectedFile, SourceFile } from './source';
import { inspectTarball } from './tarball';

export interface CatalogEntry {
  source: string;
  fileName: string;
  distribution: string;
  version: string;
  os: string;
  arch: string;
  tarballPath: string;
  size: number;
  sha256: Buffer;
  sha256Hex: string;
  /** True when the archive is sound and its signature verifies under the policy. */
  offerable: boolean;
  /** Why it is not offered. */
  reason: string | undefined;
  signature: SignatureVerdict | undefined;
  fingerprint: string;
  /** The trust (root and policy) the verdict was reached under; see CatalogOptions.trustKey. */
  verifiedUnder: string;
  ingestedAtMs: number;
  /** Set when agents download from elsewhere (see SourceFile.deliveryUrl). */
  deliveryUrl: string | undefined;
}

export type VerifyFunction = (file: SourceFile) => Promise<SignatureVerdict>;

/** Hashes, checks and verifies one asset. Shared by the catalog and `packages verify`. */
export async function ingestFile(
  file: SourceFile,
  verify: VerifyFunction,
  sourceName: string,
  verifiedUnder = '',
): Promise<CatalogEntry> {
  const inspection = file.rejected === undefined
    ? await inspectTarball(file.tarballPath, file.distribution, file.os)
    : { accepted: false, reason: file.rejected, size: (await stat(file.tarballPath)).size, sha256: Buffer.alloc(0) };
  // Only a sound archive is worth the signature check (which reads the whole file again).
  const signature = inspection.accepted ? await verify(file) : undefined;
  const reason = !inspection.accepted
    ? inspection.reason
    : signature && !signature.verified
      ? `signature: ${signature.reason ?? 'not verified'}`
      : undefined;
  return {
    source: sourceName,
    fileName: file.fileName,
    distribution: file.distribution,
    version: file.version,
    os: file.os,
    arch: file.arch,
    tarballPath: file.tarballPath,
    size: inspection.size,
    sha256: inspection.sha256,
    sha256Hex: inspection.sha256.toString('hex'),
    offerable: reason === undefined,
    reason,
    signature,
    fingerprint: file.fingerprint,
    verifiedUnder,
    ingestedAtMs: Date.now(),
    deliveryUrl: file.deliveryUrl,
  };
}

export interface CatalogOptions {
  sources: PackageSource[];
  verify: VerifyFunction;
  /**
   * Names what the verdicts of `verify` depend on besides the file (trusted root, signer policy).
   * A file verified under another name is verified again at the next scan, so a new root can
   * both admit a package it rejected and reject one it admitted. Default: never changes.
   */
  trustKey?: () => string;
  rescanIntervalMs: number;
  logger: Logger;
}

export class Catalog {
  private readonly options: CatalogOptions;
  /** Keyed by source name and file name. */
  private entries = new Map<string, CatalogEntry>();
  private readonly listeners: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private rescanRequested = false;
  private closed = false;

  constructor(options: CatalogOptions) {
    this.options = options;
  }

  /** Runs the first scan to completion, then keeps watching. */
  async start(): Promise<void> {
    await this.rescan();
    for (const source of this.options.sources) source.watch?.(() => void this.rescan());
    this.timer = setInterval(() => void this.rescan(), this.options.rescanIntervalMs);
    this.timer.unref();
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  list(): CatalogEntry[] {
    return [...this.entries.values()].sort((left, right) => left.fileName.localeCompare(right.fileName));
  }

  /** Files the sources refused before or after ingesting them (never offered). */
  rejectedBySources(): Array<RejectedFile & { source: string }> {
    return this.options.sources.flatMap((source) => (source.rejections?.() ?? []).map((file) => ({ ...file, source: source.name })));
  }

  offerable(): CatalogEntry[] {
    return this.list().filter((entry) => entry.offerable);
  }

  /** The offerable entry with this content hash and file name, if any. */
  find(sha256Hex: string, fileName: string): CatalogEntry | undefined {
    for (const entry of this.entries.values()) {
      if (entry.offerable && entry.sha256Hex === sha256Hex && entry.fileName === fileName) return entry;
    }
    return undefined;
  }

  /** Whether agents fetch the file with this content hash from this server (not from a feed's URL). */
  servesItself(sha256Hex: string): boolean {
    for (const entry of this.entries.values()) {
      if (entry.offerable && entry.sha256Hex === sha256Hex && entry.deliveryUrl === undefined) return true;
    }
    return false;
  }

  /** Scans every source; overlapping calls coalesce into one extra pass. */
  rescan(): Promise<void> {
    if (this.scanning) {
      this.rescanRequested = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.rescanRequested = false;
        await this.scanOnce();
      } while (this.rescanRequested && !this.closed);
    })().finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const { logger } = this.options;
    const next = new Map<string, CatalogEntry>();
    let changed = false;
    for (const source of this.options.sources) {
      let files: SourceFile[];
      try {
        files = await source.scan();
      } catch (error) {
        logger.error({ source: source.name, err: error }, 'package source scan failed; keeping what it had');
        for (const [key, entry] of this.entries) if (entry.source === source.name) next.set(key, entry);
        continue;
      }
      for (const file of files) {
        if (this.closed) return;
        const key = `${source.name}\u0000${file.fileName}`;
        const known = this.entries.get(key);
        // Taken before the verdict: a root replaced while this file is verified is noticed next pass.
        const trust = this.options.trustKey?.() ?? '';
        if (known && known.fingerprint === file.fingerprint && known.verifiedUnder === trust) {
          next.set(key, known);
          continue;
        }
        try {
          const entry = await ingestFile(file, this.options.verify, source.name, trust);
          next.set(key, entry);
          changed = true;
          logEntry(logger, entry);
          if (!entry.offerable) source.refusedByCatalog?.(file, entry.reason ?? 'rejected');
        } catch (error) {
          // The file vanished or could not be read mid-ingest: try again at the next scan.
          logger.warn({ file: file.fileName, err: error }, 'could not ingest package; will retry');
        }
      }
    }
    for (const key of this.entries.keys()) {
      if (!next.has(key)) {
        changed = true;
        logger.info({ file: this.entries.get(key)!.fileName }, 'package removed from the catalog');
      }
    }
    this.entries = next;
    if (changed) for (const listener of this.listeners) listener();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.all(this.options.sources.map((source) => source.close()));
    await this.scanning?.catch(() => undefined);
  }
}

function logEntry(logger: Logger, entry: CatalogEntry): void {
  const details = {
    file: entry.fileName,
    sha256: entry.sha256Hex,
    signer: entry.signature?.signerIdentity,
    issuer: entry.signature?.signerIssuer,
    method: entry.signature?.method,
    weakerCheck: entry.signature?.weakerCheck,
  };
  if (entry.offerable && entry.signature?.method === 'unsigned') {
    logger.warn(details, 'package offerable UNSIGNED, without any signature: --allow-unsigned is on (development only)');
  } else if (entry.offerable) {
    const note = entry.signature?.weakerCheck
      ? ' (cosign certificate+signature: weaker check, no transparency-log time)'
      : '';
    logger.info(details, `package verified and offerable${note}`);
  } else {
    logger.warn({ ...details, reason: entry.reason }, `package rejected: ${entry.reason}`);
  }
}
