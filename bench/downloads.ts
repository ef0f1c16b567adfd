// Downloads of a 100 MB tarball through ours and through fs.createReadStream piped to a bare
// node:http response, to 1 and 50 wrk connections, with and without a Range header; the
// server's resident memory is sampled from /proc during the 50-client runs.
import fs from 'node:fs';
import path from 'node:path';
import { makeCollectorTarball } from '../test/fixtures/tarballs';
import { DISTRIBUTION, OFFERED_VERSION } from './bodies';
import { SHEDDING_OFF } from './settings';
import { ServerUnderTest } from './children';
import { MemorySampler, residentMegabytes } from './proc';
import type { Settings } from './settings';
import { fixed, ratioOf, verdict, type Row, type Section } from './table';
import { runWrk } from './wrk';

interface Case {
  clients: number;
  range: boolean;
}

interface CaseResult {
  megabytesPerSecond: number;
  memory?: { beforeMegabytes: number; peakMegabytes: number; lastMegabytes: number };
}

const CASES: Case[] = [
  { clients: 1, range: false },
  { clients: 1, range: true },
  { clients: 50, range: false },
  { clients: 50, range: true },
];

async function runCases(server: ServerUnderTest, downloadPath: string, size: number, settings: Settings): Promise<CaseResult[]> {
  const url = `${server.url}${downloadPath}`;
  await runWrk({ url, seconds: 1, connections: 1, threads: 1 }, settings.scratch);
  const results: CaseResult[] = [];
  for (const item of CASES) {
    // The second half of the file: a resumed download.
    const headers = item.range ? { Range: `bytes=${Math.floor(size / 2)}-` } : undefined;
    const sampler = item.clients > 1 ? new MemorySampler(server.pid) : undefined;
    const beforeMegabytes = residentMegabytes(server.pid);
    const load = await runWrk({ url, seconds: settings.downloadSeconds, connections: item.clients, threads: 1, headers, timeoutSeconds: 60 }, settings.scratch);
    if (load.socketErrors > 0 || load.statusErrors > 0) throw new Error(`${server.kind} download: ${load.socketErrors} socket errors, ${load.statusErrors} bad statuses`);
    const memory = sampler?.stop();
    results.push({
      megabytesPerSecond: load.megabytesPerSecond,
      memory: memory ? { beforeMegabytes, peakMegabytes: memory.peakMegabytes, lastMegabytes: memory.lastMegabytes } : undefined,
    });
  }
  return results;
}

export async function downloads(settings: Settings): Promise<Section> {
  const directory = path.join(settings.scratch, 'download-packages');
  fs.mkdirSync(directory, { recursive: true });
  const tarball = await makeCollectorTarball(directory, {
    distribution: DISTRIBUTION,
    version: OFFERED_VERSION,
    os: 'linux',
    arch: 'amd64',
    sizeBytes: settings.downloadBytes,
  });
  const size = fs.statSync(tarball.path).size;
  // The directory source holds back files modified in the last second (still being written?);
  // an old mtime has the catalog take it at start-up, before any load, not mid-run.
  const settled = new Date(Date.now() - 3_600_000);
  fs.utimesSync(tarball.path, settled, settled);
  const downloadPath = `/v1/packages/${tarball.sha256.toString('hex')}/${encodeURIComponent(tarball.fileName)}`;

  const bare = await ServerUnderTest.start('bare-download', { file: tarball.path });
  const bareResults = await runCases(bare, downloadPath, size, settings).finally(() => bare.stop());
  const ours = await ServerUnderTest.start('ours', {
    flags: { ...SHEDDING_OFF, 'data-dir': path.join(settings.scratch, 'download-data'), 'packages-dir': directory, 'allow-unsigned': true, 'rescan-interval': '1h' },
  });
  const ourResults = await runCases(ours, downloadPath, size, settings).finally(() => ours.stop());

  const rows: Row[] = CASES.map((item, index) => {
    const mine = ourResults[index]!.megabytesPerSecond;
    const theirs = bareResults[index]!.megabytesPerSecond;
    return {
      figure: `MB/s, ${item.clients} client${item.clients > 1 ? 's' : ''}${item.range ? ', Range (2nd half)' : ''}`,
      ours: fixed(mine),
      baseline: fixed(theirs),
      ratio: ratioOf(mine, theirs),
      target: '≥ 0.90x',
      result: verdict(mine / theirs >= 0.9),
    };
  });
  for (const [index, item] of CASES.entries()) {
    const mine = ourResults[index]!.memory;
    const theirs = bareResults[index]!.memory;
    if (!mine || !theirs) continue;
    const growth = mine.peakMegabytes - mine.beforeMegabytes;
    rows.push({
      figure: `Peak RSS growth during 50 downloads${item.range ? ', Range' : ''} (before → peak → end)`,
      ours: `+${fixed(growth)} MB (${fixed(mine.beforeMegabytes)} → ${fixed(mine.peakMegabytes)} → ${fixed(mine.lastMegabytes)})`,
      baseline: `+${fixed(theirs.peakMegabytes - theirs.beforeMegabytes)} MB (${fixed(theirs.beforeMegabytes)} → ${fixed(theirs.peakMegabytes)} → ${fixed(theirs.lastMegabytes)})`,
      ratio: '',
      target: 'flat: ≤ +64 MB',
      result: verdict(growth <= 64),
    });
  }
  return {
    title: `Downloads (${fixed(size / 1e6)} MB tarball, wrk, ${settings.downloadSeconds} s per case)`,
    rows,
    notes: [
      'MB/s counts every body byte wrk read in the window, finished downloads or not (1 MB = 10^6 bytes); memory is VmRSS of the server process sampled every 100 ms (MB = 2^20 bytes). 50 whole copies would be 5 GB, so "flat" allows only streaming buffers.',
    ],
  };
}
