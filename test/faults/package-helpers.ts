// Shared by the fault tests on the package directory: files put in place whole, the catalog
// listing, and an agent that keeps polling while the catalog works.
import fs from 'node:fs';
import path from 'node:path';
import { poll, uid } from '../helpers/server';

export interface Listed {
  fileName: string;
  offerable: boolean;
  reason: string | null;
  version: string;
}

export const DISTRIBUTION = 'otelcol-contrib';
export const asset = (version: string): string => `${DISTRIBUTION}_${version}_linux_amd64.tar.gz`;

/** Writes a file back-dated two minutes, so the directory source takes it at once. */
export function place(directory: string, fileName: string, bytes: Buffer | string): void {
  const staging = path.join(path.dirname(directory), `.staging-${process.pid}-${Math.random()}`);
  fs.writeFileSync(staging, bytes);
  const old = new Date(Date.now() - 120_000);
  fs.utimesSync(staging, old, old);
  fs.renameSync(staging, path.join(directory, fileName));
}

export async function listing(url: string): Promise<Listed[]> {
  const response = await fetch(`${url}/api/v1/packages`);
  const body = (await response.json()) as { packages: Array<Listed & { file_name?: string }> };
  // The admin API's fields move to snake_case; either spelling reads the same here.
  return body.packages.map((entry) => ({ ...entry, fileName: entry.file_name ?? entry.fileName }));
}

/** Polls one agent until `stop` says so; every answer's status is kept. */
export function keepPolling(url: string, stop: () => boolean): Promise<number[]> {
  return (async () => {
    const statuses: number[] = [];
    for (let sequenceNum = 0; !stop(); sequenceNum += 1) {
      statuses.push((await poll(url, { instanceUid: uid(77_000), sequenceNum, capabilities: 1 })).status);
    }
    return statuses;
  })();
}
