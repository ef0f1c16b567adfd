// A PostgreSQL cluster of the test's own (initdb + pg_ctl on a free port, in a temporary
// directory), so that a test can stop and start its database. The shared server on 5432 is never
// touched. initdb refuses to run as root, so as root every command runs as the `postgres` user.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface PrivateCluster {
  url: string;
  port: number;
  start(): void;
  /** `immediate`: the server dies at once, dropping every connection (as a crash or failover does). */
  stop(mode?: 'fast' | 'immediate'): void;
  /** Stops the cluster and removes its directory. */
  destroy(): void;
}

/** The bin directory of the newest PostgreSQL installed, or undefined. */
function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = fs.readdirSync(root);
  } catch {
    return undefined;
  }
  const usable = versions
    .filter((version) => fs.existsSync(path.join(root, version, 'bin', 'initdb')) && fs.existsSync(path.join(root, version, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return usable[0] === undefined ? undefined : path.join(root, usable[0], 'bin');
}

const isRoot = process.getuid?.() === 0;

function hasUser(name: string): boolean {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why the cluster cannot be made here, or undefined when it can. */
export function privateClusterUnavailable(): string | undefined {
  if (postgresBin() === undefined) return 'no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin';
  if (isRoot && !hasUser('postgres')) return 'running as root and there is no `postgres` user to run initdb as';
  if (isRoot && !fs.existsSync('/usr/sbin/runuser') && !fs.existsSync('/sbin/runuser')) return 'running as root without runuser';
  return undefined;
}

function run(command: string, args: string[]): void {
  const [file, argv] = isRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  execFileSync(file, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function createPrivateCluster(): Promise<PrivateCluster> {
  const bin = postgresBin()!;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'opamp-pg-'));
  if (isRoot) execFileSync('chown', ['postgres', directory]);
  const data = path.join(directory, 'data');
  const port = await freePort();
  run(path.join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  // The socket goes in the cluster's own directory: /var/run/postgresql belongs to the shared server.
  const serverOptions = `-p ${port} -k ${directory} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const pgCtl = path.join(bin, 'pg_ctl');
  const cluster: PrivateCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start: () => run(pgCtl, ['-D', data, '-o', serverOptions, '-l', path.join(directory, 'log'), '-w', 'start']),
    stop: (mode = 'fast') => run(pgCtl, ['-D', data, '-m', mode, '-w', 'stop']),
    destroy: () => {
      try {
        cluster.stop('immediate');
      } catch {
        // Already stopped.
      }
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
  cluster.start();
  return cluster;
}

/** Polls `condition` until it holds or the deadline passes; the last failure is rethrown. */
export async function waitFor<T>(condition: () => Promise<T | undefined> | T | undefined, deadlineMs = 20_000, what = 'condition'): Promise<T> {
  const until = Date.now() + deadlineMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
