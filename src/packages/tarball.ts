// Inspects a collector release tarball in one streaming pass: the SHA-256 of the raw bytes
// (what agents compare with content_hash) and a gunzip + tar walk proving the archive holds the
// executable the supervisor will install. Memory stays bounded whatever the file holds: bytes
// are hashed and discarded, entry bodies are never kept, and the walk stops early on archives
// that unpack to more than a limit (hashing still runs to the end of the file).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
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
}

const DEFAULT_MAX_UNPACKED_BYTES = 4 * 1024 * 1024 * 1024;
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

function describeGzipError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'Z_BUF_ERROR' || /unexpected end/i.test(error.message)) return 'truncated gzip stream';
  return `damaged gzip stream (${error.message})`;
}
