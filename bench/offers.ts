// Offers at poll time: a fleet where half the agents accept packages and an (unsigned,
// --allow-unsigned) package is offered. Every answer is decoded to count packages_available,
// and the server counts its own hashing and signature calls after start-up.
import fs from 'node:fs';
import path from 'node:path';
import { allPackagesHash, packageHash } from '../src/packages/offers';
import { makeCollectorTarball } from '../test/fixtures/tarballs';
import { acceptsPackages, DISTRIBUTION, OFFERED_VERSION, writeBodies } from './bodies';
import { SHEDDING_OFF } from './settings';
import { runOpenLoop, ServerUnderTest } from './children';
import type { OpenLoopResult } from './open-loop';
import type { Settings } from './settings';
import { fixed, ratioOf, verdict, type Section } from './table';

interface OfferRun {
  result: OpenLoopResult;
  cpuMicrosPerPoll: number;
  cryptoCalls: number;
}

export async function offers(settings: Settings): Promise<Section> {
  const packagesDirectory = path.join(settings.scratch, 'offer-packages');
  fs.mkdirSync(packagesDirectory, { recursive: true });
  const tarball = await makeCollectorTarball(packagesDirectory, { distribution: DISTRIBUTION, version: OFFERED_VERSION, os: 'linux', arch: 'amd64' });
  // The directory source holds back files modified in the last second (still being written?);
  // an old mtime has the catalog take it at start-up, before any load, not mid-run.
  const settled = new Date(Date.now() - 3_600_000);
  fs.utimesSync(tarball.path, settled, settled);
  // The hash the server will offer (unsigned: an empty signature), so agents that report
  // package statuses report the one they were given, as a real agent would.
  const offered = allPackagesHash([{ name: '', hash: packageHash('', `v${OFFERED_VERSION}`, tarball.sha256, Buffer.alloc(0)) }]);
  const agents = Array.from({ length: 1000 }, (_, index) => index);
  const polls = settings.offersRate * settings.offersSeconds;
  const perAgent = Math.ceil(polls / agents.length) + 1;
  const bodies = writeBodies(path.join(settings.scratch, 'offer-bodies'), agents, { first: 1, last: perAgent }, offered);

  const run = async (offer: string): Promise<OfferRun> => {
    const dataDirectory = fs.mkdtempSync(path.join(settings.scratch, `offers-${offer}-`));
    const server = await ServerUnderTest.start('ours', {
      flags: { ...SHEDDING_OFF, 'data-dir': dataDirectory, 'packages-dir': packagesDirectory, 'allow-unsigned': true, offer, 'rescan-interval': '1h' },
      countCrypto: true,
    });
    try {
      const before = await server.stats();
      const result = await runOpenLoop({
        url: server.url,
        bodiesDirectory: bodies.directory,
        rate: settings.offersRate,
        warmupSeconds: 0,
        durationSeconds: settings.offersSeconds,
        sockets: 64,
        decode: true,
      });
      const after = await server.stats();
      return { result, cpuMicrosPerPoll: (after.cpuMicros - before.cpuMicros) / result.answers, cryptoCalls: after.cryptoCalls - before.cryptoCalls };
    } finally {
      await server.stop();
    }
  };
  const withOffer = await run('latest');
  const without = await run('none');
  const accepting = agents.filter(acceptsPackages).length;
  const share = withOffer.result.withPackages / withOffer.result.answers;
  const expectedShare = accepting / withOffer.result.answers;
  const perAgentOffers = withOffer.result.withPackages / Math.max(1, withOffer.result.agentsOffered);
  return {
    title: `Offers (${agents.length} agents, ${accepting} accept packages, ${fixed(settings.offersRate)} polls/s open loop for ${settings.offersSeconds} s; rate limits and overload checks off)`,
    rows: [
      { figure: 'Share of answers carrying packages_available', ours: `${fixed(share * 100, 2)}%`, baseline: `${fixed(expectedShare * 100, 2)}% (1st poll of each acceptor)`, ratio: ratioOf(share, expectedShare), target: '= first poll only', result: verdict(withOffer.result.withPackages <= accepting && withOffer.result.agentsOffered === accepting) },
      { figure: 'packages_available per offered agent', ours: fixed(perAgentOffers, 2), baseline: '1.00', ratio: ratioOf(perAgentOffers, 1), target: '1.00', result: verdict(perAgentOffers === 1) },
      { figure: 'Hash/sign/verify calls while polling', ours: fixed(withOffer.cryptoCalls), baseline: `${fixed(without.cryptoCalls)} (--offer none)`, ratio: '', target: '0', result: verdict(withOffer.cryptoCalls === 0) },
      { figure: 'CPU per poll, offer vs --offer none', ours: `${fixed(withOffer.cpuMicrosPerPoll)} µs`, baseline: `${fixed(without.cpuMicrosPerPoll)} µs`, ratio: ratioOf(withOffer.cpuMicrosPerPoll, without.cpuMicrosPerPoll), target: '', result: '' },
      { figure: 'p99 latency, offer vs --offer none', ours: `${fixed(withOffer.result.p99Ms, 2)} ms`, baseline: `${fixed(without.result.p99Ms, 2)} ms`, ratio: ratioOf(withOffer.result.p99Ms, without.result.p99Ms), target: '', result: '' },
    ],
    notes: [
      `${withOffer.result.answers} answers (${withOffer.result.errors + withOffer.result.non200} errors/non-200); one in ten acceptors reports package statuses carrying the offered all_packages_hash. Crypto calls are counted by wrapping node:crypto's hash/sign/verify entry points in the server process after start-up.`,
    ],
  };
}
