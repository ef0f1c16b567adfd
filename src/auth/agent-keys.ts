// Which agents may poll: keys from --agent-keys-file and keys created through the admin API
// (kept in the store as SHA-256 only). The poll path only reads the in-memory rings; the store's
// keys are reloaded on a timer so that keys made on another instance take effect here too.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ServerError } from '../errors';
import type { AgentStore } from '../store/types';
import { KeyRing, WatchedKeyFile, keyDigest, presentedKey } from './keys';

export interface AgentKeysOptions {
  store: AgentStore;
  logger: Logger;
  file: string | undefined;
  mode: 'keys' | 'none';
  fileIntervalMs?: number;
  /** How often keys made on other instances are picked up. */
  storeRefreshMs?: number;
}

export interface AgentKeyInfo {
  name: string;
  source: 'file' | 'api';
  createdAtMs: number | undefined;
}

/** Authorization headers remembered as accepted; past this many the memory starts afresh. */
const ACCEPTED_HEADERS = 1024;

export class AgentKeys {
  private readonly options: AgentKeysOptions;
  private fileRing = new KeyRing();
  private storeRing = new KeyRing();
  /**
   * Headers already accepted, with their key's name. A fleet presents a handful of keys on
   * every poll, and hashing each one again was a tenth of a poll's CPU. Only accepted headers
   * are kept (a guess always pays for its hash), and the memory is dropped whenever either
   * ring changes, so a revoked key is refused from the next poll on.
   */
  private accepted = new Map<string, string>();
  /**
   * The header accepted last, its name, and the memory it was found in. Polls in a row mostly
   * present the same header, and comparing it costs less than hashing it again for the Map; a
   * memory dropped since (a ring changed) makes it stale.
   */
  private lastHeader: string | undefined;
  private lastName = '';
  private lastMemory: Map<string, string> | undefined;
  private storeCreated = new Map<string, number>();
  private watched: WatchedKeyFile | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(options: AgentKeysOptions) {
    this.options = options;
  }

  static async open(options: AgentKeysOptions): Promise<AgentKeys> {
    const keys = new AgentKeys(options);
    if (options.file !== undefined) {
      keys.watched = new WatchedKeyFile({
        file: options.file,
        logger: options.logger,
        intervalMs: options.fileIntervalMs,
        onChange: (ring) => {
          keys.fileRing = ring;
          keys.accepted = new Map();
        },
      });
    }
    await keys.reload();
    keys.timer = setInterval(() => {
      keys.reload().catch((error: unknown) => options.logger.error({ err: error }, 'could not reload agent keys from the store'));
    }, options.storeRefreshMs ?? 10_000);
    keys.timer.unref();
    return keys;
  }

  /** Reads the API-made keys from the store. */
  async reload(): Promise<void> {
    const stored = await this.options.store.listAgentKeys();
    this.storeRing = new KeyRing(stored.map((key) => ({ name: key.name, digest: Buffer.from(key.keySha256, 'hex') })));
    this.accepted = new Map();
    this.storeCreated = new Map(stored.map((key) => [key.name, key.createdAtMs]));
  }

  /** True when polls must carry a key: some key exists and --agent-auth is not none. */
  get enabled(): boolean {
    return this.options.mode !== 'none' && this.fileRing.size + this.storeRing.size > 0;
  }

  /** The key's name for an Authorization header, or undefined. */
  identify(authorization: string | undefined): string | undefined {
    if (authorization === undefined) return undefined;
    if (authorization === this.lastHeader && this.lastMemory === this.accepted) return this.lastName;
    const remembered = this.accepted.get(authorization);
    if (remembered !== undefined) {
      this.lastHeader = authorization;
      this.lastName = remembered;
      this.lastMemory = this.accepted;
      return remembered;
    }
    const key = presentedKey(authorization);
    const name = this.fileRing.identify(key) ?? this.storeRing.identify(key);
    if (name !== undefined) {
      if (this.accepted.size >= ACCEPTED_HEADERS) this.accepted = new Map();
      this.accepted.set(authorization, name);
    }
    return name;
  }

  list(): AgentKeyInfo[] {
    const fromFile = this.fileRing.names().map((name) => ({ name, source: 'file' as const, createdAtMs: undefined }));
    const fromApi = [...this.storeCreated].map(([name, createdAtMs]) => ({ name, source: 'api' as const, createdAtMs }));
    return [...fromFile, ...fromApi].sort((left, right) => left.name.localeCompare(right.name));
  }

  /** Creates a key through the API; the key itself is returned once and never stored. */
  async create(name: string, given: string | undefined, nowMs: number): Promise<{ name: string; key: string; createdAtMs: number }> {
    if (this.fileRing.has(name)) throw new ServerError('CONFLICT', `an agent key named ${name} exists in the keys file`);
    const key = given ?? randomBytes(32).toString('base64url');
    if (this.identify(`ApiKey ${key}`) !== undefined) throw new ServerError('CONFLICT', 'this key is already in use');
    const added = await this.options.store.addAgentKey({ name, keySha256: keyDigest(key).toString('hex'), createdAtMs: nowMs });
    if (!added) throw new ServerError('CONFLICT', `an agent key named ${name} already exists`);
    await this.reload();
    return { name, key, createdAtMs: nowMs };
  }

  async remove(name: string): Promise<void> {
    if (await this.options.store.deleteAgentKey(name)) {
      await this.reload();
      return;
    }
    if (this.fileRing.has(name)) {
      throw new ServerError('CONFLICT', `the agent key ${name} comes from the keys file; remove it there`);
    }
    throw new ServerError('NOT_FOUND', `no agent key named ${name}`);
  }

  close(): void {
    this.watched?.close();
    if (this.timer) clearInterval(this.timer);
  }
}
