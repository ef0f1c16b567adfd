// The cache directory of the releases source:
//   manifest.json                 what is complete and checked, written atomically
//   files/<sha256>/<asset>        a checked tarball with its signature material beside it
//   partial/<sha256>.partial      a tarball being downloaded (resumed after a restart)
//   partial/<sha256>.sidecars/    its signature material until the tarball is complete
// A file is in `files/` only after its whole directory was renamed there, and it is reported
// only once the manifest names it, so the catalog never sees half of a replacement.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SidecarKind } from '../../src/packages/asset-name';
import { sidecarSuffixes } from '../../src/packages/asset-name';
import type { Sidecars, SourceFile } from '../../src/packages/source';

export interface CachedAsset {
  fileName: string;
  distribution: string;
  version: string;
  os: string;
  arch: string;
  sha256Hex: string;
  size: number;
  sidecars: SidecarKind[];
  /** Where the feed serves the tarball (the offer's URL in passthrough delivery). */
  upstreamUrl: string;
  /** The feed's identity of the tarball and its signature material, to notice a replacement. */
  identity: string;
  downloadedAtMs: number;
}

interface Manifest {
  format: 1;
  assets: CachedAsset[];
}

const sidecarFields: Record<SidecarKind, keyof Sidecars> = {
  bundle: 'bundlePath',
  certificate: 'certificatePath',
  signature: 'signaturePath',
};

export class ReleaseCache {
  readonly directory: string;
  private assets = new Map<string, CachedAsset>();

  constructor(directory: string) {
    this.directory = directory;
  }

  private get manifestPath(): string {
    return path.join(this.directory, 'manifest.json');
  }

  assetDirectory(sha256Hex: string): string {
    return path.join(this.directory, 'files', sha256Hex);
  }

  partialPath(sha256Hex: string): string {
    return path.join(this.directory, 'partial', `${sha256Hex}.partial`);
  }

  sidecarStaging(sha256Hex: string): string {
    return path.join(this.directory, 'partial', `${sha256Hex}.sidecars`);
  }

  /**
   * Reads the manifest and tidies what a crash can leave: directories in files/ that the
   * manifest does not name (a rename whose manifest write never happened), entries whose files
   * are gone, and staged signature material. Partial tarballs stay, to be resumed.
   */
  async open(): Promise<void> {
    await mkdir(path.join(this.directory, 'files'), { recursive: true });
    await mkdir(path.join(this.directory, 'partial'), { recursive: true });
    let manifest: Manifest | undefined;
    try {
      manifest = JSON.parse(await readFile(this.manifestPath, 'utf8')) as Manifest;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${this.manifestPath}: ${(error as Error).message}`, { cause: error });
    }
    this.assets = new Map();
    for (const asset of manifest?.format === 1 && Array.isArray(manifest.assets) ? manifest.assets : []) {
      const present = await stat(path.join(this.assetDirectory(asset.sha256Hex), asset.fileName)).catch(() => undefined);
      if (present?.isFile() && present.size === asset.size) this.assets.set(asset.fileName, asset);
    }
    const named = new Set([...this.assets.values()].map((asset) => asset.sha256Hex));
    for (const entry of await readdir(path.join(this.directory, 'files'))) {
      if (!named.has(entry)) await rm(path.join(this.directory, 'files', entry), { recursive: true, force: true });
    }
    for (const entry of await readdir(path.join(this.directory, 'partial'))) {
      if (entry.endsWith('.sidecars') || !entry.endsWith('.partial')) {
        await rm(path.join(this.directory, 'partial', entry), { recursive: true, force: true });
      }
    }
    await this.save();
  }

  list(): CachedAsset[] {
    return [...this.assets.values()];
  }

  get(fileName: string): CachedAsset | undefined {
    return this.assets.get(fileName);
  }

  totalBytes(): number {
    let total = 0;
    for (const asset of this.assets.values()) total += asset.size;
    return total;
  }

  /** Partial tarballs present, by the SHA-256 they are expected to have. */
  async partials(): Promise<string[]> {
    const entries = await readdir(path.join(this.directory, 'partial')).catch(() => [] as string[]);
    return entries.filter((entry) => entry.endsWith('.partial')).map((entry) => entry.slice(0, -'.partial'.length));
  }

  /**
   * Moves a checked tarball and its staged signature material into files/ in one rename, then
   * names it in the manifest; a replaced version of the same asset is removed after.
   */
  async install(asset: CachedAsset): Promise<void> {
    const staging = path.join(this.directory, 'partial', `${asset.sha256Hex}.${randomBytes(4).toString('hex')}.installing`);
    await mkdir(staging);
    await rename(this.partialPath(asset.sha256Hex), path.join(staging, asset.fileName));
    for (const kind of asset.sidecars) {
      const name = asset.fileName + sidecarSuffixes[kind];
      await rename(path.join(this.sidecarStaging(asset.sha256Hex), name), path.join(staging, name));
    }
    await rm(this.sidecarStaging(asset.sha256Hex), { recursive: true, force: true });
    const target = this.assetDirectory(asset.sha256Hex);
    await rm(target, { recursive: true, force: true });
    await rename(staging, target);
    const replaced = this.assets.get(asset.fileName);
    this.assets.set(asset.fileName, asset);
    await this.save();
    if (replaced && replaced.sha256Hex !== asset.sha256Hex) await rm(this.assetDirectory(replaced.sha256Hex), { recursive: true, force: true });
  }

  /** Forgets an asset and deletes its files. */
  async remove(fileName: string): Promise<CachedAsset | undefined> {
    const asset = this.assets.get(fileName);
    if (asset === undefined) return undefined;
    this.assets.delete(fileName);
    await this.save();
    await rm(this.assetDirectory(asset.sha256Hex), { recursive: true, force: true });
    return asset;
  }

  /** Updates what the feed says about a cached asset without touching its bytes. */
  async note(fileName: string, change: Pick<CachedAsset, 'upstreamUrl' | 'identity'>): Promise<void> {
    const asset = this.assets.get(fileName);
    if (asset === undefined || (asset.upstreamUrl === change.upstreamUrl && asset.identity === change.identity)) return;
    this.assets.set(fileName, { ...asset, ...change });
    await this.save();
  }

  /** The cached assets as the catalog sees them; `deliveryUrl` set in passthrough delivery. */
  async sourceFiles(passthrough: boolean): Promise<SourceFile[]> {
    const files: SourceFile[] = [];
    for (const asset of this.assets.values()) {
      const directory = this.assetDirectory(asset.sha256Hex);
      const tarballPath = path.join(directory, asset.fileName);
      const stats = await stat(tarballPath).catch(() => undefined);
      if (stats === undefined) continue;
      const sidecars: Sidecars = {};
      for (const kind of asset.sidecars) sidecars[sidecarFields[kind]] = path.join(directory, asset.fileName + sidecarSuffixes[kind]);
      files.push({
        fileName: asset.fileName,
        distribution: asset.distribution,
        version: asset.version,
        os: asset.os,
        arch: asset.arch,
        tarballPath,
        sidecars,
        // The directory is named by content and replaced whole, so its hash and inode say it all.
        fingerprint: `${asset.sha256Hex}:${stats.ino}:${asset.sidecars.join(',')}`,
        ...(passthrough ? { deliveryUrl: asset.upstreamUrl } : {}),
      });
    }
    return files.sort((left, right) => left.fileName.localeCompare(right.fileName));
  }

  private async save(): Promise<void> {
    const manifest: Manifest = { format: 1, assets: [...this.assets.values()] };
    const temporary = `${this.manifestPath}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temporary, `${JSON.stringify(manifest, null, 2)}\n`);
    await rename(temporary, this.manifestPath);
  }
}
