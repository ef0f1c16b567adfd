// `signature verify` as an operator runs it: exit status and what it prints.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { runSignatureVerify } from '../../src/cli/signature';
import { createSigstoreWorld, DEFAULT_TEST_IDENTITY, DEFAULT_TEST_ISSUER } from '../fixtures/sigstore-world';

async function run(argv: string[]): Promise<{ status: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await runSignatureVerify(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { status, out: out.join('\n'), err: err.join('\n') };
}

const vectors = path.join(__dirname, '..', 'fixtures', 'public-good');
const REAL_IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';

t.test('the real vector verifies against the embedded root', async (t) => {
  const common = [
    path.join(vectors, 'a.txt'),
    '--signer-identity',
    REAL_IDENTITY,
    '--signer-repository',
    'sigstore-conformance/extremely-dangerous-public-oidc-beacon',
  ];
  const bundle = await run([...common, '--bundle', path.join(vectors, 'bundle.sigstore.json')]);
  t.equal(bundle.status, 0, bundle.err);
  t.match(bundle.out, `signer identity: ${REAL_IDENTITY}`);
  t.match(bundle.out, 'signer issuer: https://token.actions.githubusercontent.com');
  t.match(bundle.out, /\nverified$/);
  t.notMatch(bundle.out, /note:/);

  const pair = await run([
    ...common,
    '--certificate',
    path.join(vectors, 'a.txt.pem'),
    '--signature',
    path.join(vectors, 'a.txt.sig'),
  ]);
  t.equal(pair.status, 0, pair.err);
  t.match(pair.out, /note: .*no transparency log entry/);
  t.match(pair.out, /\nverified$/);
});

t.test('the default policy rejects the real vector with the reason', async (t) => {
  const result = await run([path.join(vectors, 'a.txt'), '--bundle', path.join(vectors, 'bundle.sigstore.json')]);
  t.equal(result.status, 1);
  t.match(result.err, /verification failed: wrong identity/);
  t.notMatch(result.out, /verified/);
});

t.test('a mock-world package against its own trusted root', async (t) => {
  const world = await createSigstoreWorld();
  const directory = t.testdir();
  const rootPath = await world.trustedRootPath(directory);
  const tarball = path.join(directory, 'otelcol-contrib_0.111.0_linux_amd64.tar.gz');
  await writeFile(tarball, 'tarball bytes');
  const bundlePath = await world.signBundle(tarball);
  const good = await run([tarball, '--bundle', bundlePath, '--trusted-root', rootPath]);
  t.equal(good.status, 0, good.err);
  t.match(good.out, `signer identity: ${DEFAULT_TEST_IDENTITY}`);
  t.match(good.out, `signer issuer: ${DEFAULT_TEST_ISSUER}`);
  t.match(good.out, `trusted root: file:${rootPath}`);

  const wrongIssuer = await run([tarball, '--bundle', bundlePath, '--trusted-root', rootPath, '--signer-issuer', 'https://x']);
  t.equal(wrongIssuer.status, 1);
  t.match(wrongIssuer.err, /wrong issuer/);

  // The public-good root does not know the mock CA.
  const publicRoot = await run([tarball, '--bundle', bundlePath]);
  t.equal(publicRoot.status, 1);
  t.match(publicRoot.err, /untrusted CA/);

  await writeFile(tarball, 'other bytes');
  const tampered = await run([tarball, '--bundle', bundlePath, '--trusted-root', rootPath]);
  t.equal(tampered.status, 1);
  t.match(tampered.err, /tampered/);
});

t.test('usage errors exit with 2', async (t) => {
  const cases: string[][] = [
    [],
    ['a.txt'],
    ['a.txt', 'b.txt', '--bundle', 'x'],
    ['a.txt', '--bundle', 'x', '--certificate', 'y', '--signature', 'z'],
    ['a.txt', '--certificate', 'y'],
    ['a.txt', '--bundle', 'x', '--unknown'],
    ['a.txt', '--bundle', 'x', '--signer-identity', 'a', '--signer-identity-regexp', 'b'],
    ['a.txt', '--bundle', 'x', '--signer-identity-regexp', '('],
  ];
  for (const argv of cases) {
    const result = await run(argv);
    t.equal(result.status, 2, argv.join(' '));
    t.match(result.err, /usage: opamp-package-server signature verify/);
  }
});

t.test('a bad trusted root file exits with 1 and names the option', async (t) => {
  const result = await run([path.join(vectors, 'a.txt'), '--bundle', 'x', '--trusted-root', '/nonexistent/root.json']);
  t.equal(result.status, 1);
  t.match(result.err, /--trusted-root/);
});

t.test('--help prints the usage', async (t) => {
  const result = await run(['--help']);
  t.equal(result.status, 0);
  t.match(result.out, /usage:/);
});
