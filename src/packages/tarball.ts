// Inspects a collector release tarball in one streaming pass: the SHA-256 of the raw bytes
// (what agents compare with content_hash) and a gunzip + tar walk proving the archive holds the
// executable the supervisor will install. Memory stays bounded whatever the file holds: bytes
// are hashed and discarded, entry bodies are never kept, and the walk stops early on archives
// that unpack to more than a limit (hashing still runs to the end of the file).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { createGunzip, type Gunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { executableName } from './asset-name';

export interface TarballInspection {
  /** Raw 32-byte SHA-256 of the file as stored (the gzip bytes). */
  sha256: Buffer;
  size: number;
  accepted: boolean;
  /** Why the tarball was refused; set only when accepted is false. */
  reason?: string;
  /** Path of the executable inside the archive, as written there (`otelcol-contrib` or `./otelcol-contrib`). */
  executableEntry?: string;
}

export interface InspectionLimits {
  /** Stop walking once this many bytes have been unpacked (guards against gzip bombs). */
  maxUnpackedBytes?: number;
  /** Stop walking after this many entries (guards against archives of millions of tiny files). */
  maxEntries?: number;
  /**
   * Past `ratioCheckAfterBytes` unpacked, stop when the archive has unpacked to more than this
   * many times the compressed bytes read so far: a gzip bomb is caught after a few hundred MiB
   * instead of after the full limit, which takes tens of seconds of inflating.
   */
  maxCompressionRatio?: number;
  ratioCheckAfterBytes?: number;
}

// A collector unpacks to a few hundred MiB; binaries compress about 3:1, never anywhere near 50:1.
const DEFAULT_MAX_UNPACKED_BYTES = 2 * 1024 * 1024 * 1024;
const DEFAULT_MAX_COMPRESSION_RATIO = 50;
const DEFAULT_RATIO_CHECK_AFTER_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_ENTRIES = 100_000;
const READ_CHUNK_BYTES = 256 * 1024;
const GZIP_MAGIC = [0x1f, 0x8b];
const REGULAR_FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

export async function inspectTarball(
  path: string,
  distribution: string,
  os: string,
  limits: InspectionLimits = {},
): Promise<TarballInspection> {
  const hash = createHash('sha256');
  let size = 0;
  const walk = new ArchiveWalk(executableName(distribution, os), limits);
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK_BYTES })) {
      const bytes = chunk as Buffer; // no encoding was set, so the stream yields Buffers
      hash.update(bytes);
      size += bytes.length;
      await walk.write(bytes);
    }
  } catch (error) {
    walk.abandon();
    throw error;
  }
  const verdict = await walk.finish();
  return { sha256: hash.digest(), size, ...verdict };
}

interface Verdict {
  accepted: boolean;
  reason?: string;
  executableEntry?: string;
}

interface Candidate {
  path: string;
  type: string;
  mode: number;
  size: number;
}

/** Feeds raw file bytes through gunzip into node-tar's parser and judges what it saw. */
class ArchiveWalk {
  private readonly expected: string;
  private readonly maxUnpackedBytes: number;
  private readonly maxEntries: number;
  private readonly maxCompressionRatio: number;
  private readonly ratioCheckAfterBytes: number;
  private compressedBytes = 0;
  private readonly gunzip: Gunzip;
  private readonly parser: Parser;
  private readonly finished: Promise<void>;
  private markFinished!: () => void;
  private sniffed = false;
  /** node-tar saw the end-of-archive blocks; it would buffer anything written after them. */
  private tarEnded = false;
  private stopped = false;
  private failure: string | undefined;
  private unpackedBytes = 0;
  private entryCount = 0;
  private readonly candidates: Candidate[] = [];
  /** An entry with the right base name below the root, to make the refusal message useful. */
  private nestedMatch: string | undefined;
  private readonly wakeWriters = new Set<() => void>();

  constructor(expected: string, limits: InspectionLimits) {
    this.expected = expected;
    this.maxUnpackedBytes = limits.maxUnpackedBytes ?? DEFAULT_MAX_UNPACKED_BYTES;
    this.maxEntries = limits.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.maxCompressionRatio = limits.maxCompressionRatio ?? DEFAULT_MAX_COMPRESSION_RATIO;
    this.ratioCheckAfterBytes = limits.ratioCheckAfterBytes ?? DEFAULT_RATIO_CHECK_AFTER_BYTES;
    this.finished = new Promise((resolve) => {
      this.markFinished = resolve;
    });
    this.gunzip = createGunzip();
    this.parser = new Parser({
      onReadEntry: (entry) => this.onEntry(entry),
      onwarn: (code, message) => this.onTarProblem(code, message),
    });
    this.gunzip.on('data', (data: Buffer) => this.onUnpacked(data));
    this.gunzip.on('end', () => this.parser.end());
    this.gunzip.on('error', (error: Error) => this.fail(describeGzipError(error)));
    this.parser.on('error', (error: Error) => this.fail(`not a tar archive (${error.message})`));
    this.parser.on('end', () => this.conclude());
    this.parser.on('eof', () => {
      this.tarEnded = true;
    });
  }

  /** Passes one chunk of the raw file on, waiting while gunzip is busy. */
  async write(chunk: Buffer): Promise<void> {
    if (this.stopped) return;
    if (!this.sniffed) {
      this.sniffed = true;
      // Every real tarball starts with more than two bytes in its first chunk; a shorter
      // file is judged at finish().
      if (chunk.length < GZIP_MAGIC.length || chunk[0] !== GZIP_MAGIC[0] || chunk[1] !== GZIP_MAGIC[1]) {
        this.fail('not gzip');
        return;
      }
    }
    this.compressedBytes += chunk.length;
    if (!this.gunzip.write(chunk)) await this.waitForDrain();
  }

  /** Ends the input and returns the verdict once gunzip and the tar parser are done. */
  async finish(): Promise<Verdict> {
    if (!this.sniffed) this.fail('not gzip: the file is empty');
    if (!this.stopped) this.gunzip.end();
    await this.finished;
    return this.judge();
  }

  /** Releases gunzip when reading the file itself failed; there is no verdict to give. */
  abandon(): void {
    this.halt();
  }

  private waitForDrain(): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.gunzip.off('drain', wake);
        this.wakeWriters.delete(wake);
        resolve();
      };
      this.gunzip.once('drain', wake);
      this.wakeWriters.add(wake);
    });
  }

  private onUnpacked(data: Buffer): void {
    if (this.stopped) return;
    this.unpackedBytes += data.length;
    if (this.unpackedBytes > this.maxUnpackedBytes) {
      this.fail(`archive unpacks to more than ${this.maxUnpackedBytes} bytes; inspection stopped`);
      return;
    }
    if (this.unpackedBytes > this.ratioCheckAfterBytes && this.unpackedBytes > this.compressedBytes * this.maxCompressionRatio) {
      this.fail(
        `archive unpacks to more than ${this.maxCompressionRatio} times its compressed size (${this.unpackedBytes} bytes from ` +
          `${this.compressedBytes}): a gzip bomb; inspection stopped`,
      );
      return;
    }
    // Past the tar end only padding should follow; it is still unpacked so gzip checks its CRC.
    if (!this.tarEnded) this.parser.write(data);
  }

  private onEntry(entry: ReadEntry): void {
    // Bodies are never needed: draining them keeps the parser flowing with nothing buffered.
    entry.resume();
    if (this.stopped) return;
    this.entryCount += 1;
    if (this.entryCount > this.maxEntries) {
      this.fail(`archive holds more than ${this.maxEntries} entries; inspection stopped`);
      return;
    }
    const unsafe = unsafeEntry(entry);
    if (unsafe !== undefined) {
      this.fail(unsafe);
      return;
    }
    const path = entry.path.replace(/\/+$/, '');
    if (path === this.expected || path === `./${this.expected}`) {
      this.candidates.push({ path: entry.path, type: entry.type, mode: entry.mode ?? 0, size: entry.size });
    } else if (path.endsWith(`/${this.expected}`) && this.nestedMatch === undefined) {
      this.nestedMatch = entry.path;
    }
  }

  private onTarProblem(code: string, message: string | Error): void {
    const text = message instanceof Error ? message.message : message;
    if (/truncated/i.test(text)) this.fail('truncated tar archive');
    // Garbage before any valid entry means the gzip held something other than a tar.
    else if (code === 'TAR_BAD_ARCHIVE' || this.entryCount === 0) this.fail('not a tar archive');
    else this.fail(`damaged tar archive (${text})`);
  }

  private fail(reason: string): void {
    if (this.failure === undefined) this.failure = reason;
    this.halt();
  }

  /** Detaches gunzip and the parser so the rest of the file is only hashed. */
  private halt(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.gunzip.removeAllListeners('data');
    this.gunzip.destroy();
    for (const wake of [...this.wakeWriters]) wake();
    this.markFinished();
  }

  private conclude(): void {
    this.stopped = true;
    this.markFinished();
  }

  private judge(): Verdict {
    if (this.failure !== undefined) return { accepted: false, reason: this.failure };
    const name = this.expected;
    if (this.candidates.length === 0) {
      const hint = this.nestedMatch === undefined ? '' : ` at the archive root (found ${this.nestedMatch})`;
      return { accepted: false, reason: `no executable named ${name} inside${hint}` };
    }
    if (this.candidates.length > 1) {
      return { accepted: false, reason: `more than one entry named ${name}` };
    }
    const candidate = this.candidates[0] as Candidate;
    if (candidate.type === 'SymbolicLink') {
      return { accepted: false, reason: `${name} is a symlink, not a regular file` };
    }
    if (candidate.type === 'Link') {
      return { accepted: false, reason: `${name} is a hard link, not a regular file` };
    }
    if (candidate.type === 'Directory') {
      return { accepted: false, reason: `${name} is a directory, not a regular file` };
    }
    if (!REGULAR_FILE_TYPES.has(candidate.type)) {
      return { accepted: false, reason: `${name} is a ${candidate.type} entry, not a regular file` };
    }
    if ((candidate.mode & 0o111) === 0) {
      return { accepted: false, reason: `${name} is not executable` };
    }
    if (candidate.size === 0) {
      return { accepted: false, reason: `${name} is empty` };
    }
    return { accepted: true, executableEntry: candidate.path };
  }
}

/** Whether a path leaves the directory it is unpacked in: absolute, a drive, or a `..` step. */
function escapes(path: string): boolean {
  if (/^[/\\]/.test(path) || /^[A-Za-z]:/.test(path)) return true;
  return path.split(/[/\\]+/).includes('..');
}

/**
 * An entry that would write outside the directory it is unpacked in, or a link pointing out of
 * it. Whatever unpacks the archive later (the supervisor, an operator's tar) should never meet one.
 */
function unsafeEntry(entry: ReadEntry): string | undefined {
  // The raw header path: node-tar's Parser reports it as written; only its Unpack strips it.
  if (escapes(entry.path)) return `unsafe entry ${JSON.stringify(entry.path)}: absolute or with a .. step`;
  if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
    const target = (entry.linkpath ?? '').replace(/\\/g, '/');
    // A symlink's target is relative to the link's own directory; a hard link's to the archive root.
    const base = entry.type === 'SymbolicLink' ? entry.path.split('/').slice(0, -1).join('/') : '';
    const resolved = posix.normalize(posix.join('/root', base, target));
    const absolute = target.startsWith('/') || /^[A-Za-z]:/.test(target);
    if (absolute || (resolved !== '/root' && !resolved.startsWith('/root/'))) {
      return `unsafe link ${JSON.stringify(entry.path)} -> ${JSON.stringify(entry.linkpath ?? '')}: points outside the archive`;
    }
  }
  return undefined;
}

function describeGzipError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'Z_BUF_ERROR' || /unexpected end/i.test(error.message)) return 'truncated gzip stream';
  return `damaged gzip stream (${error.message})`;
}
