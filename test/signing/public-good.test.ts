// The verifier against a real artifact signed through the public-good Sigstore instance, checked
// offline against both the root embedded in @sigstore/tuf and a copy of it on disk.

import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { loadTrustedRoot, type LoadedTrustedRoot } from '../../src/signing/trust';
import { policyFromOptions } from '../../src/signing/policy';
import { verifyArtifact } from '../../src/signing/verifier';
import { identityFromCertificate } from '../../src/signing/certificate';

const vectors = path.join(__dirname, '..', 'fixtures', 'public-good');
const artifactPath = path.join(vectors, 'a.txt');
const SIGNER_IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const SIGNER_ISSUER = 'https://token.actions.githubusercontent.com';
const SIGNER_REPOSITORY = 'sigstore-conformance/extremely-dangerous-public-oidc-beacon';

const policy = policyFromOptions({ signerIdentity: SIGNER_IDENTITY, signerRepository: SIGNER_REPOSITORY });
const bundleSidecars = { bundlePath: path.join(vectors, 'bundle.sigstore.json') };
const pairSidecars = {
  certificatePath: path.join(vectors, 'a.txt.pem'),
  signaturePath: path.join(vectors, 'a.txt.sig'),
};

const roots: Array<[string, () => Promise<LoadedTrustedRoot>]> = [
  ['embedded root', () => loadTrustedRoot({})],
  ['root file', () => loadTrustedRoot({ file: path.join(vectors, 'public-good-trusted_root.json') })],
];

for (const [name, load] of roots) {
  t.test(`${name}: bundle verifies`, async (t) => {
    const trust = await load();
    const verdict = await verifyArtifact({ artifactPath, sidecars: bundleSidecars }, trust, policy);
    t.equal(verdict.verified, true, verdict.reason ?? 'verified');
    t.equal(verdict.method, 'bundle');
    t.equal(verdict.weakerCheck, false);
    t.equal(verdict.signerIdentity, SIGNER_IDENTITY);
    t.equal(verdict.signerIssuer, SIGNER_ISSUER);
    t.equal(verdict.signerRepository, SIGNER_REPOSITORY);
    t.same(verdict.wireSignatures?.bundle, await readFile(bundleSidecars.bundlePath));
    // The cosign form derived from the bundle is byte for byte the published .pem/.sig pair.
    const pem = (await readFile(pairSidecars.certificatePath, 'utf8')).trim();
    const sig = (await readFile(pairSidecars.signaturePath, 'utf8')).trim();
    t.equal(verdict.wireSignatures?.cosign.toString('utf8'), `${pem} ${sig}`);
  });

  t.test(`${name}: cosign pair verifies with the weaker check`, async (t) => {
    const trust = await load();
    const verdict = await verifyArtifact({ artifactPath, sidecars: pairSidecars }, trust, policy);
    t.equal(verdict.verified, true, verdict.reason ?? 'verified');
    t.equal(verdict.method, 'cosign-pair');
    t.equal(verdict.weakerCheck, true);
    t.equal(verdict.signerIdentity, SIGNER_IDENTITY);
    t.equal(verdict.signerIssuer, SIGNER_ISSUER);
    t.equal(verdict.signerRepository, SIGNER_REPOSITORY);
    t.notOk(verdict.wireSignatures?.bundle);
  });
}

t.test('the real vector fails the supervisor default policy', async (t) => {
  const trust = await loadTrustedRoot({});
  const verdict = await verifyArtifact({ artifactPath, sidecars: bundleSidecars }, trust, policyFromOptions({}));
  t.equal(verdict.verified, false);
  t.match(verdict.reason, /^wrong identity/);
  t.equal(verdict.signerIdentity, SIGNER_IDENTITY);
});

t.test('the real vector fails with another repository', async (t) => {
  const trust = await loadTrustedRoot({});
  const other = policyFromOptions({ signerIdentity: SIGNER_IDENTITY, signerRepository: 'someone/else' });
  for (const sidecars of [bundleSidecars, pairSidecars]) {
    const verdict = await verifyArtifact({ artifactPath, sidecars }, trust, other);
    t.equal(verdict.verified, false);
    t.match(verdict.reason, /^wrong repository/);
  }
});

t.test('a tampered copy of the real artifact fails both forms', async (t) => {
  const directory = t.testdir();
  const tampered = path.join(directory, 'a.txt');
  await writeFile(tampered, Buffer.concat([await readFile(artifactPath), Buffer.from('!')]));
  const trust = await loadTrustedRoot({});
  for (const sidecars of [bundleSidecars, pairSidecars]) {
    const verdict = await verifyArtifact({ artifactPath: tampered, sidecars }, trust, policy);
    t.equal(verdict.verified, false);
    t.equal(verdict.code, 'SIGNATURE_MISMATCH');
    t.match(verdict.reason, /^tampered/);
  }
});

t.test('a sidecar that is not a signature is malformed, not a crash', async (t) => {
  const directory = t.testdir({ 'junk.json': '{"mediaType": "nope"}', 'junk.sig': 'not base64 !!' });
  await copyFile(pairSidecars.certificatePath, path.join(directory, 'a.pem'));
  const trust = await loadTrustedRoot({});
  const fromBundle = await verifyArtifact(
    { artifactPath, sidecars: { bundlePath: path.join(directory, 'junk.json') } },
    trust,
    policy,
  );
  t.equal(fromBundle.verified, false);
  t.match(fromBundle.reason, /^malformed signature/);
  const fromPair = await verifyArtifact(
    {
      artifactPath,
      sidecars: { certificatePath: path.join(directory, 'a.pem'), signaturePath: path.join(directory, 'junk.sig') },
    },
    trust,
    policy,
  );
  t.equal(fromPair.verified, false);
  t.match(fromPair.reason, /^malformed signature/);
});

t.test('identity can be read from the certificate for listings', async (t) => {
  const identity = identityFromCertificate(await readFile(pairSidecars.certificatePath, 'utf8'));
  t.same(identity, { identity: SIGNER_IDENTITY, issuer: SIGNER_ISSUER, repository: SIGNER_REPOSITORY });
  t.equal(identityFromCertificate('garbage'), undefined);
});
