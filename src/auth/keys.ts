// API keys: the `name:key` file format, the Authorization header forms agents and operators
// send, and a key ring that names the holder of a presented key.
import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import type { Logger } from 'pino';
import { ConfigError } from '../errors';

export interface NamedKey {
  name: string;
  key: string;
}

export interface KeyDigest {
  name: string;
  /** SHA-256 of the key. */
  digest: Buffer;
}

export const KEY_NAME_PATTERN = /^[A-Za-z0-9._@-]{1,64}$/;

export function keyDigest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** Parses `name:key` lines; blank lines and `#` comments are skipped. Throws on anything else. */
export function parseKeyFile(text: string, file: string): NamedKey[] {
  const keys: NamedKey[] = [];
  const names = new Set<string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${file} line ${index + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ConfigError(`invalid key file: ${where} is not name:key`);
    const name = line.slice(0, colon).trim();
    const key = line.slice(colon + 1).trim();
    if (!KEY_NAME_PATTERN.test(name)) throw new ConfigError(`invalid key file: ${where}: name may use letters, digits and . _ @ - (at most 64)`);
    if (key === '') throw new ConfigError(`invalid key file: ${where}: the key is empty`);
    if (names.has(name)) throw new ConfigError(`invalid key file: ${where}: the name ${name} is used twice`);
    names.add(name);
    keys.push({ name, key });
  });
  return keys;
}

/** The key in `Authorization: ApiKey <key>` or `Authorization: Bearer <key>`. */
export function presentedKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:ApiKey|Bearer)\s+(\S+)\s*$/i.exec(header.trim());
  return match?.[1];
}

/**
 * Keys indexed by their SHA-256. Looking up the digest of the presented key means no comparison
 * ever runs over the secret itself; the final timingSafeEqual keeps the check constant-time even
 * if the map's own string comparison were ever replaced by one on raw keys.
 */
export class KeyRing {
  private readonly byDigest = new Map<string, KeyDigest>();

  constructor(keys: KeyDigest[] = []) {
    for (const key of keys) this.byDigest.set(key.digest.toString('hex'), key);
  }

  get size(): number {
    return this.byDigest.size;
  }

  names(): string[] {
    return [...this.byDigest.values()].map((key) => key.name);
  }

  has(name: string): boolean {
    return this.names().includes(name);
  }

  /** The name of the key presented, or undefined when it is none of these. */
  identify(presented: string | undefined): string | undefined {
    if (presented === undefined || this.byDigest.size === 0) return undefined;
    const digest = keyDigest(presented);
    const found = this.byDigest.get(digest.toString('hex'));
    return found !== undefined && timingSafeEqual(found.digest, digest) ? found.name : undefined;
  }
}

export interface WatchedKeyFileOptions {
  file: string;
  logger: Logger;
  /** How often the file's modification time is checked. */
  intervalMs?: number;
  onChange(ring: KeyRing): void;
}

/**
 * A key file read at start (a bad file stops the start) and reread whenever it changes. A bad
 * edit later keeps the keys that were in force and logs why, so a typo never locks everyone out.
 */
export class WatchedKeyFile {
  private readonly options: WatchedKeyFileOptions;
  private readonly listener: (current: fs.Stats, previous: fs.Stats) => void;

  constructor(options: WatchedKeyFileOptions) {
    this.options = options;
    options.onChange(this.read());
    // watchFile polls stat(), which also sees a file replaced by rename (how editors and
    // secret managers write), where fs.watch would lose track of the old inode.
    this.listener = (current, previous) => {
      if (current.mtimeMs === previous.mtimeMs && current.size === previous.size && current.ino === previous.ino) return;
      try {
        const ring = this.read();
        options.onChange(ring);
        options.logger.info({ file: options.file, keys: ring.size }, 'key file reread');
      } catch (error) {
        options.logger.error({ file: options.file, err: error }, 'key file unreadable or invalid; keeping the keys in force');
      }
    };
    fs.watchFile(options.file, { interval: options.intervalMs ?? 1000, persistent: false }, this.listener);
  }

  private read(): KeyRing {
    let text: string;
    try {
      text = fs.readFileSync(this.options.file, 'utf8');
    } catch (error) {
      throw new ConfigError(`cannot read key file ${this.options.file}: ${(error as Error).message}`);
    }
    return new KeyRing(parseKeyFile(text, this.options.file).map((entry) => ({ name: entry.name, digest: keyDigest(entry.key) })));
  }

  close(): void {
    fs.unwatchFile(this.options.file, this.listener);
  }
}
