// `packages verify DIR` and `signature verify FILE` as an operator runs them before anything is
// served: what they print per artifact, and their exit status.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { runPackagesVerify } from '../../src/cli/packages';
import { runSignatureVerify } from '../../src/cli/signature';
import { createSigstoreWorld, DEFAULT_TEST_IDENTITY, DEFAULT_TEST_ISSUER } from '../fixtures/sigstore-world';
import { temporaryDirectory } from '../helpers/server';
import { placePackage, releaseDirectory, type PlacedPackage } from './helpers';

type Runner = typeof runPackagesVerify;

async function run(command: Runner, argv: string[]): Promise<{ status: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await command(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { status, out: out.join('\n'), err: err.join('\n') };
}

/** The block printed for one file: from its name to the next blank line. */
function block(output: string, fileName: string): string {
  const start = output.indexOf(`${fileName}\n`);
  if (start < 0) return '';
  const end = output.indexOf('\n\n', start);
  return output.slice(start, end < 0 ? undefined : end);
}

t.test('packages verify', async (t) => {
  const world = await createSigstoreWorld();

  t.test('every artifact verified: one block each, exit 0', async (t) => {
    const { directory, rootPath } = await releaseDirectory(world);
    const bundled = await placePackage(world, directory, { version: '0.111.0' });
    const paired = await placePackage(world, directory, { version: '0.111.0', os: 'darwin', arch: 'arm64', signing: 'pair' });
    fs.writeFileSync(path.join(directory, 'README.txt'), 'not a release asset');
    const result = await run(runPackagesVerify, [directory, '--trusted-root', rootPath]);
    t.equal(result.status, 0, result.err);
    const bundleBlock = block(result.out, bundled.fileName);
    t.match(bundleBlock, /version: +0\.111\.0/);
    t.match(bundleBlock, /platform: +linux\/amd64/);
    t.match(bundleBlock, /distribution: +otelcol-contrib/);
    t.match(bundleBlock, `sha256:            ${bundled.sha256Hex}`);
    t.match(bundleBlock, `signer identity:   ${DEFAULT_TEST_IDENTITY}`);
    t.match(bundleBlock, `signer issuer:     ${DEFAULT_TEST_ISSUER}`);
    t.match(bundleBlock, /\n {2}verified$/);
    const pairBlock = block(result.out, paired.fileName);
    t.match(pairBlock, /platform: +darwin\/arm64/);
    t.match(pairBlock, /verified \(weaker check: cosign certificate\+signature, no transparency-log time\)/);
    t.notMatch(result.out, /README/);
    t.match(result.out, /2 verified, 0 rejected/);
  });

  t.test('any rejection: its reason, exit 1', async (t) => {
    const { directory, rootPath } = await releaseDirectory(world);
    await placePackage(world, directory, { version: '0.111.0' });
    const cases: Array<[string, Parameters<typeof placePackage>[2], RegExp]> = [
      ['tampered', { version: '0.120.0', tamper: true }, /rejected: signature: tampered/],
      ['wrong identity', { version: '0.121.0', signOptions: { identity: 'https://example.com/x@refs/tags/v1' } }, /rejected: signature: wrong identity/],
      ['wrong issuer', { version: '0.122.0', signOptions: { issuer: 'https://accounts.google.com' } }, /rejected: signature: wrong issuer/],
      ['wrong repository', { version: '0.123.0', signOptions: { repository: 'someone/else' } }, /rejected: signature: wrong repository/],
      ['untrusted CA', { version: '0.124.0', signOptions: { untrustedCa: true } }, /rejected: signature: untrusted CA/],
      ['expired', { version: '0.125.0', signOptions: { expiredCertificate: true } }, /rejected: signature: expired certificate/],
      ['no SCT', { version: '0.126.0', signing: 'pair', signOptions: { withoutSct: true } }, /rejected: signature: no SCT/],
      ['no tlog entry', { version: '0.127.0', signOptions: { withoutTlogEntry: true } }, /rejected: signature: no tlog entry/],
      ['unsigned', { version: '0.128.0', signing: 'none' }, /rejected: signature: no signature/],
      ['no executable', { version: '0.129.0', entryName: 'bin/other' }, /rejected: no executable named otelcol-contrib inside/],
    ];
    const placed: PlacedPackage[] = [];
    for (const [, spec] of cases) placed.push(await placePackage(world, directory, spec));
    const result = await run(runPackagesVerify, [directory, '--trusted-root', rootPath]);
    t.equal(result.status, 1);
    cases.forEach(([name, , reason], index) => {
      const text = block(result.out, placed[index]?.fileName ?? '');
      t.match(text, reason, name);
      t.match(text, `sha256:            ${placed[index]?.sha256Hex}`, `${name}: hash shown`);
    });
    t.match(block(result.out, 'otelcol-contrib_0.121.0_linux_amd64.tar.gz'), 'signer identity:   https://example.com/x@refs/tags/v1');
    t.match(result.out, /1 verified, 10 rejected/);

    const allowed = await run(runPackagesVerify, [directory, '--trusted-root', rootPath, '--allow-unsigned']);
    t.match(block(allowed.out, 'otelcol-contrib_0.128.0_linux_amd64.tar.gz'), /verified: UNSIGNED \(--allow-unsigned\)/);
    t.match(allowed.out, /warning: --allow-unsigned/);
    t.equal(allowed.status, 1, 'the other rejections still fail');
  });

  t.test('policy options and signature format change the verdict', async (t) => {
    const { directory, rootPath } = await releaseDirectory(world);
    const paired = await placePackage(world, directory, { version: '0.111.0', signing: 'pair', signOptions: { repository: 'me/mine' } });
    const strict = await run(runPackagesVerify, [directory, '--trusted-root', rootPath]);
    t.equal(strict.status, 1);
    const relaxed = await run(runPackagesVerify, [directory, '--trusted-root', rootPath, '--signer-repository', 'me/mine']);
    t.equal(relaxed.status, 0, relaxed.out);
    const exact = await run(runPackagesVerify, [
      directory, '--trusted-root', rootPath, '--signer-repository', '', '--signer-identity', DEFAULT_TEST_IDENTITY,
    ]);
    t.equal(exact.status, 0);
    const bundleOnly = await run(runPackagesVerify, [directory, '--trusted-root', rootPath, '--signer-repository', '', '--signature-format', 'bundle']);
    t.equal(bundleOnly.status, 1);
    t.match(block(bundleOnly.out, paired.fileName), /rejected: signature: no Sigstore bundle/);
    const publicGood = await run(runPackagesVerify, [directory, '--signer-repository', '']);
    t.equal(publicGood.status, 1, 'the embedded public-good root does not know the test CA');
    t.match(publicGood.out, /rejected: signature: untrusted CA/);
  });

  t.test('nothing to verify, and usage errors', async (t) => {
    const empty = temporaryDirectory('opamp-empty-');
    const none = await run(runPackagesVerify, [empty]);
    t.equal(none.status, 1);
    t.match(none.err, `no release assets found in ${empty}`);
    const missing = await run(runPackagesVerify, [path.join(empty, 'nope')]);
    t.equal(missing.status, 1);
    t.match(missing.err, /does not exist/);
    for (const argv of [[], [empty, empty], [empty, '--bogus'], [empty, '--signature-format', 'pgp'], [
      empty, '--signer-identity', 'a', '--signer-identity-regexp', 'b',
    ]]) {
      const usage = await run(runPackagesVerify, argv);
      t.equal(usage.status, 2, argv.join(' '));
      t.match(usage.err, /usage: opamp-package-server packages verify DIR/);
    }
    const help = await run(runPackagesVerify, ['--help']);
    t.equal(help.status, 0);
    t.match(help.out, /usage:/);
  });
});

t.test('signature verify with the real public-good vector, offline', async (t) => {
  const vectors = path.join(__dirname, '..', 'fixtures', 'public-good');
  const identity =
    'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
  const policy = ['--signer-identity', identity, '--signer-repository', 'sigstore-conformance/extremely-dangerous-public-oidc-beacon'];
  const artifact = path.join(vectors, 'a.txt');
  const bundle = await run(runSignatureVerify, [artifact, '--bundle', path.join(vectors, 'bundle.sigstore.json'), ...policy]);
  t.equal(bundle.status, 0, bundle.err);
  t.match(bundle.out, `signer identity: ${identity}`);
  const pair = await run(runSignatureVerify, [
    artifact, '--certificate', path.join(vectors, 'a.txt.pem'), '--signature', path.join(vectors, 'a.txt.sig'), ...policy,
  ]);
  t.equal(pair.status, 0, pair.err);
  t.match(pair.out, /note: certificate \+ signature only/);
  const defaults = await run(runSignatureVerify, [artifact, '--bundle', path.join(vectors, 'bundle.sigstore.json')]);
  t.equal(defaults.status, 1, 'not the collector release workflow');
  t.match(defaults.err, /wrong identity/);
  const tampered = path.join(temporaryDirectory('opamp-vector-'), 'a.txt');
  fs.writeFileSync(tampered, `${fs.readFileSync(artifact, 'utf8')}!`);
  const changed = await run(runSignatureVerify, [tampered, '--bundle', path.join(vectors, 'bundle.sigstore.json'), ...policy]);
  t.equal(changed.status, 1);
  t.match(changed.err, /tampered/);
});

t.test('packages verify through the built command line', async (t) => {
  const { runCli } = await import('../helpers/cli');
  const empty = temporaryDirectory('opamp-empty-');
  const result = runCli(['packages', 'verify', empty]);
  t.equal(result.status, 1, 'nothing to verify is a failure');
  t.match(result.stdout.toString() + result.stderr, /no release assets found/);
  t.equal(runCli(['packages']).status, 2, 'usage error');
});
