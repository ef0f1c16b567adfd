// Shared by the end-to-end tests: a release directory that a running server watches, packages
// put into it the way an operator's tooling would (signed, back-dated, renamed in whole), a
// server on a mock Sigstore root, and a bare poll that reads the offer an agent would get.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { Test } from 'tap';
import { AgentCapability, type AgentToServerInit, type PackageAvailable, type ServerToAgent } from '../../src/opamp/codec';
import { makeCollectorTarball, type CollectorTarballOptions } from '../fixtures/tarballs';
import type { SignOptions, World } from '../fixtures/sigstore-world';
import { description, poll, startServer, temporaryDirectory, uid, type TestServer } from '../helpers/server';
import { waitFor } from '../helpers/wait';

export const ACCEPTS_PACKAGES =
  AgentCapability.ReportsStatus | AgentCapability.AcceptsPackages | AgentCapability.ReportsPackageStatuses;
export const NO_PACKAGES = AgentCapability.ReportsStatus;

export interface PackageSpec extends Partial<CollectorTarballOptions> {
  version: string;
  /** How the package is signed (default bundle). */
  signing?: 'bundle' | 'pair' | 'none';
  signOptions?: SignOptions;
  /** Replace the tarball with another sound one after signing. */
  tamper?: boolean;
}

export interface PlacedPackage {
  fileName: string;
  /** Every file placed: the tarball and its sidecars. */
  paths: string[];
  sha256: Buffer;
  sha256Hex: string;
}

/**
 * Builds and signs a package in a staging directory beside `directory`, back-dates it two
 * minutes, then renames the sidecars and finally the tarball into place: what an atomic install
 * of a finished release looks like to the directory source.
 */
export async function placePackage(world: World, directory: string, spec: PackageSpec): Promise<PlacedPackage> {
  const staging = fs.mkdtempSync(path.join(path.dirname(directory), 'staging-'));
  const options: CollectorTarballOptions = {
    distribution: 'otelcol-contrib',
    os: 'linux',
    arch: 'amd64',
    ...spec,
  };
  const tarball = await makeCollectorTarball(staging, options);
  const sidecars: string[] = [];
  const signing = spec.signing ?? 'bundle';
  if (signing === 'bundle') sidecars.push(await world.signBundle(tarball.path, spec.signOptions));
  if (signing === 'pair') {
    const pair = await world.signCosignPair(tarball.path, spec.signOptions);
    sidecars.push(pair.certificatePath, pair.signaturePath);
  }
  if (spec.tamper) {
    fs.rmSync(tarball.path);
    await makeCollectorTarball(staging, { ...options, extraFiles: { 'README.md': 'not what was signed' } });
  }
  const old = new Date(Date.now() - 120_000);
  const paths: string[] = [];
  for (const file of [...sidecars, tarball.path]) {
    fs.utimesSync(file, old, old);
    const target = path.join(directory, path.basename(file));
    fs.renameSync(file, target);
    paths.push(target);
  }
  fs.rmSync(staging, { recursive: true, force: true });
  const bytes = fs.readFileSync(path.join(directory, tarball.fileName));
  const sha256 = createHash('sha256').update(bytes).digest();
  return { fileName: tarball.fileName, paths, sha256, sha256Hex: sha256.toString('hex') };
}

export function removePackage(placed: PlacedPackage): void {
  for (const file of placed.paths) fs.rmSync(file, { force: true });
}

/** A fresh release directory (inside its own parent, where staging directories go) and the mock root. */
export async function releaseDirectory(world: World): Promise<{ directory: string; rootPath: string }> {
  const parent = temporaryDirectory('opamp-e2e-');
  const directory = path.join(parent, 'releases');
  fs.mkdirSync(directory);
  const rootPath = await world.trustedRootPath(parent);
  return { directory, rootPath };
}

/** Log lines a server wrote, parsed; `logger` goes to startServer. */
export function captureLogs(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** Starts the real server on the mock root with the given flags; closed when the test ends. */
export async function startPackageServer(
  t: Test,
  rootPath: string,
  directory: string,
  flags: Record<string, string | boolean> = {},
  logger?: Logger,
): Promise<TestServer> {
  const server = await startServer(
    {
      'packages-dir': directory,
      'trusted-root': rootPath,
      'trusted-root-refresh': false,
      ...flags,
    },
    logger ? { logger } : {},
  );
  t.teardown(() => server.close());
  return server;
}

export interface BareAgent {
  seed: number;
  distribution?: string;
  version?: string;
  os?: string;
  arch?: string;
  capabilities?: number;
}

/** An agent's message as a single poll sends it: full description, chosen capabilities. */
export function agentMessage(agent: BareAgent, sequenceNum = 0, extra: Partial<AgentToServerInit> = {}): AgentToServerInit {
  const identifying: Record<string, string> = { 'service.name': agent.distribution ?? 'otelcol-contrib' };
  if (agent.version !== undefined) identifying['service.version'] = agent.version;
  return {
    instanceUid: uid(agent.seed),
    sequenceNum,
    capabilities: agent.capabilities ?? ACCEPTS_PACKAGES,
    agentDescription: description(identifying, { 'os.type': agent.os ?? 'linux', 'host.arch': agent.arch ?? 'amd64' }),
    ...extra,
  };
}

/** What a new agent with this description is offered right now (undefined: nothing). */
export async function offerFor(
  server: { url: string },
  agent: BareAgent,
  headers?: Record<string, string>,
): Promise<PackageAvailable | undefined> {
  const answer = await poll(server.url, agentMessage(agent), headers);
  if (answer.status !== 200) throw new Error(`poll answered HTTP ${answer.status}`);
  return topLevel(answer.message);
}

export function topLevel(message: ServerToAgent | undefined): PackageAvailable | undefined {
  return message?.packagesAvailable?.packages?.[''] ?? undefined;
}

let seeds = 1000;
/** A uid seed no other agent in this process uses. */
export function nextSeed(): number {
  seeds += 1;
  return seeds;
}

/** Polls `check` until it returns something other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<{ value: T; elapsedMs: number }> {
  const started = Date.now();
  // Wrapped, so that a value waitFor would read as false (0, '', false) still ends the wait.
  const found = await waitFor(what, async () => {
    const value = await check();
    return value === undefined ? undefined : { value };
  }, { timeoutMs, intervalMs: 50 });
  return { value: found.value, elapsedMs: Date.now() - started };
}

export function hex(bytes: Uint8Array | null | undefined): string {
  return bytes ? Buffer.from(bytes).toString('hex') : '';
}
