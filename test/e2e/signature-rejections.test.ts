// Nothing unverified is ever offered over /v1/opamp: each way a package can fail its signature
// or archive check, asked for as `latest` and by its exact version, through the real server.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { createSigstoreWorld, DEFAULT_TEST_IDENTITY } from '../fixtures/sigstore-world';
import { SupervisorAgent } from '../helpers/supervisor-agent';
import {
  captureLogs,
  hex,
  nextSeed,
  offerFor,
  placePackage,
  releaseDirectory,
  startPackageServer,
  type PackageSpec,
  type PlacedPackage,
} from './helpers';

interface RejectedKind {
  name: string;
  spec: PackageSpec;
  reason: RegExp;
}

const REJECTED: RejectedKind[] = [
  { name: 'tampered tarball (bundle)', spec: { version: '0.120.0', tamper: true }, reason: /^signature: tampered/ },
  { name: 'tampered tarball (cosign pair)', spec: { version: '0.120.1', signing: 'pair', tamper: true }, reason: /^signature: tampered/ },
  {
    name: 'wrong SAN',
    spec: { version: '0.121.0', signOptions: { identity: 'https://github.com/someone/else/.github/workflows/release.yaml@refs/tags/v1' } },
    reason: /^signature: wrong identity/,
  },
  {
    name: 'look-alike SAN (unanchored regexp attempt)',
    spec: { version: '0.121.1', signOptions: { identity: `https://evil.example/${DEFAULT_TEST_IDENTITY}` } },
    reason: /^signature: wrong identity/,
  },
  { name: 'wrong issuer', spec: { version: '0.122.0', signOptions: { issuer: 'https://accounts.google.com' } }, reason: /^signature: wrong issuer/ },
  { name: 'wrong repository', spec: { version: '0.123.0', signOptions: { repository: 'someone/else' } }, reason: /^signature: wrong repository/ },
  { name: 'CA not in the root', spec: { version: '0.124.0', signOptions: { untrustedCa: true } }, reason: /^signature: untrusted CA/ },
  {
    name: 'CA not in the root (cosign pair)',
    spec: { version: '0.124.1', signing: 'pair', signOptions: { untrustedCa: true } },
    reason: /^signature: untrusted CA/,
  },
  { name: 'expired certificate', spec: { version: '0.125.0', signOptions: { expiredCertificate: true } }, reason: /^signature: expired certificate/ },
  { name: 'missing SCT', spec: { version: '0.126.0', signOptions: { withoutSct: true } }, reason: /^signature: no SCT/ },
  { name: 'missing SCT (cosign pair)', spec: { version: '0.126.1', signing: 'pair', signOptions: { withoutSct: true } }, reason: /^signature: no SCT/ },
  { name: 'bundle without tlog entry', spec: { version: '0.127.0', signOptions: { withoutTlogEntry: true } }, reason: /^signature: no tlog entry/ },
  { name: 'no signature at all', spec: { version: '0.128.0', signing: 'none' }, reason: /^signature: no signature/ },
  { name: 'tarball without the executable', spec: { version: '0.129.0', entryName: 'something-else' }, reason: /^no executable named otelcol-contrib inside/ },
];

t.test('signature verification before any offer', async (t) => {
  const world = await createSigstoreWorld();
  const { directory, rootPath } = await releaseDirectory(world);
  const valid = await placePackage(world, directory, { version: '0.111.0' });
  const validPair = await placePackage(world, directory, { version: '0.111.0', arch: 'arm64', signing: 'pair' });
  const rejected = new Map<string, PlacedPackage>();
  for (const kind of REJECTED) rejected.set(kind.name, await placePackage(world, directory, kind.spec));

  t.test('the catalog lists every rejected package with its reason, and logs it', async (t) => {
    const logs = captureLogs();
    const server = await startPackageServer(t, rootPath, directory, { offer: 'latest' }, logs.logger);
    const entries = server.packages?.catalog.list() ?? [];
    for (const kind of REJECTED) {
      const entry = entries.find((candidate) => candidate.version === kind.spec.version);
      t.equal(entry?.offerable, false, `${kind.name}: not offerable`);
      t.match(entry?.reason, kind.reason, `${kind.name}: ${entry?.reason}`);
      const logged = logs.lines.find((line) => line.file === entry?.fileName && line.msg !== undefined);
      t.match(logged, { level: 40, msg: /^package rejected: / }, `${kind.name}: logged as rejected`);
    }
    t.equal(entries.find((entry) => entry.fileName === valid.fileName)?.offerable, true);
    t.equal(entries.find((entry) => entry.fileName === validPair.fileName)?.offerable, true);
    const pairLog = logs.lines.find((line) => line.file === validPair.fileName);
    t.match(pairLog?.msg, /weaker check/, 'the cosign pair is listed as the weaker check');
  });

  t.test('--offer latest skips every rejected version, over many polls', async (t) => {
    for (const format of ['cosign', 'bundle'] as const) {
      const server = await startPackageServer(t, rootPath, directory, { offer: 'latest', 'signature-format': format });
      const offer = await offerFor(server, { seed: nextSeed(), version: '0.110.0' });
      t.equal(offer?.version, 'v0.111.0', `${format}: the highest verified version, not a rejected higher one`);
      t.equal(hex(offer?.file?.contentHash), valid.sha256Hex);
      const agent = new SupervisorAgent({ serverUrl: server.url, version: '0.110.0' });
      await agent.runUntil((a) => a.currentVersion === '0.111.0' && !a.installing, { maxPolls: 20 });
      for (let index = 0; index < 10; index += 1) await agent.poll();
      const versions = agent.received.flatMap((answer) => {
        const version = answer.packagesAvailable?.packages?.['']?.version;
        return version ? [version] : [];
      });
      t.same(versions, ['v0.111.0'], `${format}: only the verified version was ever offered`);
    }
  });

  t.test('asking for a rejected version by its exact number offers nothing', async (t) => {
    for (const kind of REJECTED) {
      const server = await startPackageServer(t, rootPath, directory, { offer: kind.spec.version });
      const agent = new SupervisorAgent({ serverUrl: server.url, version: '0.110.0' });
      for (let index = 0; index < 5; index += 1) await agent.poll();
      t.equal(agent.offersReceived, 0, `${kind.name}: never offered`);
      t.equal(await offerFor(server, { seed: nextSeed(), version: '0.100.0' }), undefined);
    }
  });

  t.test('a rejected package cannot be downloaded either', async (t) => {
    const server = await startPackageServer(t, rootPath, directory, { offer: 'latest' });
    for (const placed of rejected.values()) {
      const response = await fetch(`${server.url}/v1/packages/${placed.sha256Hex}/${placed.fileName}`);
      t.equal(response.status, 404, placed.fileName);
    }
  });

  t.test('a valid bundle and a valid cosign pair are offered', async (t) => {
    const server = await startPackageServer(t, rootPath, directory, { offer: '0.111.0' });
    const amd = await offerFor(server, { seed: nextSeed(), version: '0.110.0' });
    t.equal(hex(amd?.file?.contentHash), valid.sha256Hex, 'bundle-signed package offered');
    t.match(Buffer.from(amd?.file?.signature ?? []).toString('utf8'), /^[A-Za-z0-9+/=]+ [A-Za-z0-9+/=]+$/);
    const arm = await offerFor(server, { seed: nextSeed(), version: '0.110.0', arch: 'arm64' });
    t.equal(hex(arm?.file?.contentHash), validPair.sha256Hex, 'cosign-pair package offered');
    const pem = readFileSync(validPair.paths[0] as string, 'utf8').trim();
    t.match(Buffer.from(arm?.file?.signature ?? []).toString('utf8'), new RegExp(`^${pem.replace(/[+/=]/g, '\\$&')} `));

    // The bundle format can only be derived from a bundle: a bare pair is not offered then.
    const bundleServer = await startPackageServer(t, rootPath, directory, { offer: '0.111.0', 'signature-format': 'bundle' });
    t.ok(await offerFor(bundleServer, { seed: nextSeed(), version: '0.110.0' }));
    t.equal(await offerFor(bundleServer, { seed: nextSeed(), version: '0.110.0', arch: 'arm64' }), undefined);
    const entry = bundleServer.packages?.catalog.list().find((candidate) => candidate.fileName === validPair.fileName);
    t.match(entry?.reason, /no Sigstore bundle/);
  });

  t.test('--allow-unsigned offers an unsigned package and excuses nothing else', async (t) => {
    const logs = captureLogs();
    const server = await startPackageServer(t, rootPath, directory, { offer: 'latest', 'allow-unsigned': true }, logs.logger);
    t.ok(logs.lines.some((line) => line.level === 40 && /--allow-unsigned is on/.test(String(line.msg))), 'warned at start');
    const unsigned = rejected.get('no signature at all');
    const offer = await offerFor(server, { seed: nextSeed(), version: '0.110.0' });
    t.equal(offer?.version, 'v0.128.0', 'the unsigned package is now the latest');
    t.equal(hex(offer?.file?.contentHash), unsigned?.sha256Hex);
    t.equal(Buffer.from(offer?.file?.signature ?? []).length, 0, 'no signature to send');
    const unsignedLog = logs.lines.find((line) => line.file === unsigned?.fileName);
    t.match(unsignedLog?.msg, /UNSIGNED/);
    for (const kind of REJECTED) {
      if (kind.spec.signing === 'none') continue;
      const exact = await startPackageServer(t, rootPath, directory, { offer: kind.spec.version, 'allow-unsigned': true });
      t.equal(await offerFor(exact, { seed: nextSeed(), version: '0.110.0' }), undefined, `${kind.name}: still refused`);
    }
  });
});
