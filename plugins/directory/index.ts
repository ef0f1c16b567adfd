// A PackageSource over one local directory of release assets (non-recursive). Files appear
// there by copy, download or rename while the server runs, so a file is only reported once it
// has stopped changing: its size, mtime and inode must match the previous scan and its mtime
// must be at least `stableAfterMs` old. A file seen for the first time with an old mtime (an
// atomic rename of a finished file, or a directory present at start-up) is reported at once.
import { watch as watchDirectory, type FSWatcher, type Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAssetName, parseSidecarName, sidecarNames, type SidecarKind } from '../../src/packages/asset-name';
import type { PackageSource, Sidecars, SourceFile } from '../../src/packages/source';

export interface DirectorySourceLogger {
  warn(details: object, message: string): void;
}

export interface DirectorySourceOptions {
  directory: string;
  /** How old a file's mtime must be before it is reported (default 1000 ms). */
  stableAfterMs?: number;
  logger?: DirectorySourceLogger;
  /** Collapses bursts of watch events into one onChange call (default 100 ms). */
  debounceMs?: number;
}

interface FileState {
  size: number;
  mtimeMs: number;
  ino: number;
}

const DEFAULT_STABLE_AFTER_MS = 1000;
const DEFAULT_DEBOUNCE_MS = 100;

// Names used by copy tools, browsers and editors for files still being written.
const TEMPORARY_SUFFIXES = ['.partial', '.part', '.tmp', '.temp', '.crdownload', '.download', '.swp', '~'];

const sidecarFields: Record<SidecarKind, keyof Sidecars> = {
  bundle: 'bundlePath',
  certificate: 'certificatePath',
  signature: 'signaturePath',
};

/** True for dotfiles and names that copy tools use while a file is still being written. */
export function isTemporaryName(fileName: string): boolean {
  if (fileName.startsWith('.')) return true;
  const lower = fileName.toLowerCase();
  return TEMPORARY_SUFFIXES.some((suffix) => lower.endsWith(suffix));
}

export function createDirectorySource(options: DirectorySourceOptions): PackageSource {
  return new DirectorySource(options);
}

class DirectorySource implements PackageSource {
  readonly name: string;
  private readonly directory: string;
  private readonly stableAfterMs: number;
  private readonly debounceMs: number;
  private readonly logger: DirectorySourceLogger | undefined;
  /** What each file looked like at the previous scan, to tell a finished file from a growing one. */
  private previous = new Map<string, FileState>();
  private watcher: FSWatcher | undefined;
  private readonly listeners = new Set<() => void>();
  private debounceTimer: NodeJS.Timeout | undefined;
  private recheckTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: DirectorySourceOptions) {
    this.directory = options.directory;
    this.stableAfterMs = options.stableAfterMs ?? DEFAULT_STABLE_AFTER_MS;
    this.debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.logger = options.logger;
    this.name = `directory:${options.directory}`;
  }

  async scan(): Promise<SourceFile[]> {
    const names = await this.listNames();
    const now = Date.now();
    const current = new Map<string, FileState>();
    const stable = new Set<string>();
    for (const fileName of names) {
      if (isTemporaryName(fileName)) continue;
      if (parseAssetName(fileName) === undefined && parseSidecarName(fileName) === undefined && !looksLikeTarball(fileName)) continue;
      const stats = await this.statRegularFile(fileName);
      if (stats === undefined) continue;
      const state: FileState = { size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino };
      current.set(fileName, state);
      if (this.isStable(fileName, state, now)) stable.add(fileName);
    }
    // Files that vanished are forgotten, so a later file of the same name starts afresh.
    this.previous = current;
    if (stable.size < current.size) this.recheckLater();
    return this.assemble(stable, current);
  }

  watch(onChange: () => void): void {
    if (this.closed) return;
    this.listeners.add(onChange);
    if (this.watcher !== undefined) return;
    try {
      // Not persistent: the catalog's rescan timer decides whether the process stays alive.
      this.watcher = watchDirectory(this.directory, { persistent: false }, () => this.schedule());
      this.watcher.on('error', (error: Error) => {
        this.logger?.warn({ directory: this.directory, err: error }, 'directory watch failed; relying on rescans');
        this.stopWatcher();
      });
    } catch (error) {
      // Some platforms and file systems (network mounts, exhausted inotify watches) cannot
      // watch; periodic rescans still find every change, only later.
      this.logger?.warn({ directory: this.directory, err: error }, 'cannot watch directory; relying on rescans');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.stopWatcher();
  }

  private schedule(): void {
    if (this.closed || this.debounceTimer !== undefined) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      for (const listener of [...this.listeners]) {
        try {
          listener();
        } catch (error) {
          this.logger?.warn({ directory: this.directory, err: error }, 'directory change listener threw');
        }
      }
    }, this.debounceMs);
    this.debounceTimer.unref();
  }

  /**
   * Some files were too young or still changing: ask for another scan once they could have
   * settled, rather than leaving them to the next periodic rescan.
   */
  private recheckLater(): void {
    if (this.closed || this.recheckTimer !== undefined) return;
    this.recheckTimer = setTimeout(() => {
      this.recheckTimer = undefined;
      this.schedule();
    }, this.stableAfterMs + this.debounceMs);
    this.recheckTimer.unref();
  }

  private stopWatcher(): void {
    if (this.recheckTimer !== undefined) clearTimeout(this.recheckTimer);
    this.recheckTimer = undefined;
    if (this.debounceTimer !== undefined) clearTimeout(this.debounceTimer);
    this.debounceTimer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
  }

  private async listNames(): Promise<string[]> {
    try {
      return await readdir(this.directory);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new Error(`release directory ${this.directory} does not exist`, { cause: error });
      if (code === 'ENOTDIR') throw new Error(`release directory ${this.directory} is not a directory`, { cause: error });
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`cannot list release directory ${this.directory}: ${reason}`, { cause: error });
    }
  }

  /** Follows symlinks (a release may be linked in); anything but a regular file is skipped. */
  private async statRegularFile(fileName: string): Promise<Stats | undefined> {
    try {
      const stats = await stat(join(this.directory, fileName));
      return stats.isFile() ? stats : undefined;
    } catch (error) {
      // Removed between readdir and stat, or a dangling symlink: simply not there this time.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') {
        this.logger?.warn({ directory: this.directory, fileName, err: error }, 'cannot stat release file');
      }
      return undefined;
    }
  }

  private isStable(fileName: string, state: FileState, now: number): boolean {
    if (now - state.mtimeMs < this.stableAfterMs) return false;
    const before = this.previous.get(fileName);
    // A new inode is a different file put in place whole (rename over the old one): nothing
    // writes into it in place, so like a first sighting its age alone decides.
    if (before === undefined || before.ino !== state.ino) return true;
    return before.size === state.size && before.mtimeMs === state.mtimeMs;
  }

  private assemble(stable: Set<string>, states: Map<string, FileState>): SourceFile[] {
    const files: SourceFile[] = [];
    for (const fileName of [...stable].sort()) {
      const asset = parseAssetName(fileName);
      if (asset === undefined) {
        // A tarball under a name the catalog cannot read: listed with the reason, never opened.
        if (looksLikeTarball(fileName)) files.push(misnamed(this.directory, fileName, states.get(fileName) as FileState));
        continue;
      }
      const sidecars: Sidecars = {};
      const parts = [fingerprintPart('tarball', states.get(fileName) as FileState)];
      const names = sidecarNames(fileName);
      for (const kind of Object.keys(names) as SidecarKind[]) {
        const sidecarName = names[kind];
        // A sidecar still being written is left out; the fingerprint changes once it settles,
        // so the catalog looks at the asset again then.
        if (!stable.has(sidecarName)) continue;
        sidecars[sidecarFields[kind]] = join(this.directory, sidecarName);
        parts.push(fingerprintPart(kind, states.get(sidecarName) as FileState));
      }
      files.push({
        fileName,
        ...asset,
        tarballPath: join(this.directory, fileName),
        sidecars,
        fingerprint: parts.join(' '),
      });
    }
    return files;
  }
}

/** A `.tar.gz` that is not a sidecar: meant as a release, whatever its name says. */
function looksLikeTarball(fileName: string): boolean {
  return fileName.toLowerCase().endsWith('.tar.gz') && parseSidecarName(fileName) === undefined;
}

function misnamed(directory: string, fileName: string, state: FileState): SourceFile {
  return {
    fileName,
    distribution: '',
    version: '',
    os: '',
    arch: '',
    tarballPath: join(directory, fileName),
    sidecars: {},
    fingerprint: fingerprintPart('tarball', state),
    rejected: 'file name is not <distribution>_<version>_<os>_<arch>.tar.gz (letters, digits, . _ - in the distribution, ' +
      'a semver version, lowercase os and arch)',
  };
}

function fingerprintPart(label: string, state: FileState): string {
  return `${label}=${state.size}:${state.mtimeMs}:${state.ino}`;
}
