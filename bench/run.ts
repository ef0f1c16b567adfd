// `npm run bench [-- --quick]`: measures the server against same-run baselines and prints one
// table. The server under test and each baseline run in their own child process; wrk (or the
// open-loop generator) runs in another. Everything shares this machine's cores.
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { downloads } from './downloads';
import { equalRate } from './equal-rate';
import { offers } from './offers';
import { fleetPolls, openLoop } from './polls';
import { postgresRows, postgresUrl } from './postgres';
import { coreCount, cpuModel } from './proc';
import { settingsFrom } from './settings';
import { printTable, type Section } from './table';
import { wrkAvailable } from './wrk';

const write = (text: string): void => {
  process.stdout.write(text);
};
const progress = (text: string): void => {
  process.stderr.write(`[bench] ${text}\n`);
};

async function main(): Promise<number> {
  if (!wrkAvailable()) {
    process.stderr.write(
      'bench: wrk is not on PATH. Install it (Debian/Ubuntu: apt-get install wrk) and run again;\n' +
        'the bench does not fall back to a Node load generator, which would saturate before the server does.\n',
    );
    return 1;
  }
  const settings = settingsFrom(process.argv.slice(2));
  // Anything else running on these cores skews every figure; say so in the output.
  const loadAtStart = os.loadavg();
  const started = performance.now();
  const sections: Section[] = [];
  let failed = false;
  const part = async (name: string, body: () => Promise<Section>): Promise<void> => {
    // Matched on the first word, so `--only fleet,open` picks "fleet polls" and "open loop".
    if (settings.only.length > 0 && !settings.only.includes(name.split(' ')[0]!)) return;
    progress(`${name}…`);
    try {
      sections.push(await body());
    } catch (error) {
      failed = true;
      process.stderr.write(`bench: ${name} failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    }
  };

  let fleetDirectory: string | undefined;
  await part('fleet polls', async () => {
    const outcome = await fleetPolls(settings);
    fleetDirectory = outcome.largestFleetDirectory;
    return outcome.section;
  });
  if (fleetDirectory !== undefined) {
    const directory = fleetDirectory;
    await part('open loop', () => openLoop(settings, directory));
  }
  await part('equal rate', () => equalRate(settings));
  const databaseUrl = postgresUrl();
  if (databaseUrl !== undefined) await part('PostgreSQL store', () => postgresRows(settings, databaseUrl));
  else progress('PostgreSQL rows skipped: set OPAMP_BENCH_POSTGRES_URL to a database to include them');
  await part('offers', () => offers(settings));
  await part('downloads', () => downloads(settings));

  const cores = coreCount();
  const [loadBefore] = loadAtStart;
  write(`\nopamp-package-server bench${settings.quick ? ' (--quick)' : ''}: ${new Date().toISOString()}, Node ${process.version}, ${cores} cores (${cpuModel()})\n`);
  write(
    `Cores: the server under test is one Node process (one JS thread); the load generator is wrk with ${settings.wrkThreads} thread ` +
      `(or the open-loop Node process). Both share the same ${cores} cores over loopback; nothing is pinned.\n` +
      `Load average when the bench started: ${loadBefore!.toFixed(2)} (above ~0.5 something else was using the cores).\n\n`,
  );
  printTable(sections, write);
  write(`\nTotal bench time: ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  fs.rmSync(settings.scratch, { recursive: true, force: true });
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
