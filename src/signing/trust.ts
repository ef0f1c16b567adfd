// Where the server's Sigstore trust comes from: the CA, CT log, Rekor and TSA keys that every
// signature check is anchored to. Start-up must never wait on the network, so the public-good
// root that ships inside @sigstore/tuf is loaded at once; a TUF refresh may replace it later.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { getTrustedRoot } from '@sigstore/tuf';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { ConfigError } from '../errors';

export interface LoadedTrustedRoot {
  trustMaterial: TrustMaterial;
  /** Where the root came from, for logs: `file:/path`, `embedded (...)`, `tuf (refreshed <iso>)`. */
  source: string;
  /** The trusted root as JSON text, so it can be shown, hashed or written out as it was used. */
  trustedRootJson: string;
}

const PUBLIC_GOOD_MIRROR = 'https://tuf-repo-cdn.sigstore.dev';
const TRUSTED_ROOT_TARGET = 'trusted_root.json';
export const EMBEDDED_SOURCE = 'embedded (@sigstore/tuf seeds.json)';

/**
 * Loads the trusted root from `file` (a Sigstore TrustedRoot JSON document) or, without one, the
 * public-good root embedded in @sigstore/tuf. Never touches the network.
 */
export async function loadTrustedRoot(options: { file?: string }): Promise<LoadedTrustedRoot> {
  if (options.file !== undefined) return loadFromFile(options.file);
  return loadEmbedded();
}

async function loadFromFile(file: string): Promise<LoadedTrustedRoot> {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    throw new ConfigError(`--trusted-root ${file}: cannot read the file (${describe(error)})`);
  }
  try {
    return fromJsonText(text, `file:${absolute}`);
  } catch (error) {
    throw new ConfigError(`--trusted-root ${file}: not a valid Sigstore trusted root (${describe(error)})`);
  }
}

async function loadEmbedded(): Promise<LoadedTrustedRoot> {
  // The seeds file is read rather than imported: it lives in node_modules, outside the compiled
  // tree, and @sigstore/tuf keeps it as a plain data file next to its code.
  const seedsPath = require.resolve('@sigstore/tuf/seeds.json');
  const seeds: unknown = JSON.parse(await readFile(seedsPath, 'utf8'));
  const encoded = embeddedTarget(seeds);
  if (encoded === undefined) {
    throw new ConfigError(`the @sigstore/tuf package has no embedded ${TRUSTED_ROOT_TARGET}; pass --trusted-root`);
  }
  return fromJsonText(Buffer.from(encoded, 'base64').toString('utf8'), EMBEDDED_SOURCE);
}

function embeddedTarget(seeds: unknown): string | undefined {
  if (!isRecord(seeds)) return undefined;
  const mirror = seeds[PUBLIC_GOOD_MIRROR];
  if (!isRecord(mirror) || !isRecord(mirror.targets)) return undefined;
  const target = mirror.targets[TRUSTED_ROOT_TARGET];
  return typeof target === 'string' ? target : undefined;
}

/** Parses trusted root JSON text into trust material; throws on anything that is not one. */
export function fromJsonText(text: string, source: string): LoadedTrustedRoot {
  const parsed: unknown = JSON.parse(text);
  if (!isRecord(parsed) || !Array.isArray(parsed.certificateAuthorities)) {
    throw new Error('no certificateAuthorities list');
  }
  const root = TrustedRoot.fromJSON(parsed);
  if (root.certificateAuthorities.length === 0) throw new Error('certificateAuthorities is empty');
  return { trustMaterial: toTrustMaterial(root), source, trustedRootJson: text };
}

export interface RefreshOptions {
  /** The server's data directory; the TUF cache goes in `<dataDirectory>/tuf-cache`. */
  dataDirectory: string;
  /** Upper bound for the whole refresh, in milliseconds. */
  timeoutMs?: number;
  /** TUF mirror; tests point this at a local address. */
  mirrorUrl?: string;
  /** Told why a refresh gave up, for a log line; the refresh itself never throws. */
  onError?: (error: unknown) => void;
}

const DEFAULT_REFRESH_TIMEOUT_MS = 15_000;

/**
 * Tries to fetch a fresher trusted root through TUF. Meant to run in the background after the
 * server is already serving with the embedded root: resolves to the new root, or to undefined
 * when anything goes wrong (offline, timeout, bad metadata). Never rejects.
 */
export async function refreshTrustedRoot(options: RefreshOptions): Promise<LoadedTrustedRoot | undefined> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_REFRESH_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  try {
    // Yield first: the TUF client prepares its cache with synchronous file writes, which must not
    // run inside the caller's start-up turn.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const fetching = getTrustedRoot({
      cachePath: path.join(options.dataDirectory, 'tuf-cache'),
      mirrorURL: options.mirrorUrl ?? PUBLIC_GOOD_MIRROR,
      timeout: timeoutMs,
      retry: 0,
    });
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`TUF refresh timed out after ${timeoutMs} ms`)), timeoutMs);
      // A pending refresh is no reason to keep the process alive.
      timer.unref();
    });
    // The losing promise may still reject later; swallow that so it is never unhandled.
    fetching.catch(() => undefined);
    const root = await Promise.race([fetching, timedOut]);
    const text = JSON.stringify(TrustedRoot.toJSON(root));
    return fromJsonText(text, `tuf (refreshed ${new Date().toISOString()})`);
  } catch (error) {
    options.onError?.(error);
    return undefined;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
