// The verifier against a private Sigstore: what passes, what fails, and with which reason.

import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { createSigstoreWorld, DEFAULT_TEST_IDENTITY, DEFAULT_TEST_ISSUER, DEFAULT_TEST_REPOSITORY, type SignOptions } from '../fixtures/sigstore-world';
import { loadTrustedRoot } from '../../src/signing/trust';
import { policyFromOptions, type SignaturePolicy } from '../../src/signing/policy';
import { verifyArtifact, type SignatureCode, type SignatureVerdict } from '../../src/signing/verifier';
import type { Sidecars } from '../../src/packages/source';

const defaultPolicy = policyFromOptions({});
let counter = 0;

t.test('verifier against a mock Sigstore', async (t) => {
  const world = await createSigstoreWorld();
  const directory = t.testdir();
  const trust = await loadTrustedRoot({ file: await world.trustedRootPath(directory) });

  async function artifact(content = `package ${counter}`): Promise<string> {
    counter += 1;
    const filePath = path.join(directory, `otelcol-contrib_${counter}.tar.gz`);
    await writeFile(filePath, content);
    return filePath;
  }

  async function check(
    form: 'bundle' | 'pair',
    options: SignOptions = {},
    policy: SignaturePolicy = defaultPolicy,
    tamper = false,
  ): Promise<SignatureVerdict> {
    const artifactPath = await artifact();
    let sidecars: Sidecars;
    if (form === 'bundle') {
      sidecars = { bundlePath: await world.signBundle(artifactPath, options) };
    } else {
      sidecars = await world.signCosignPair(artifactPath, options);
    }
    if (tamper) await writeFile(artifactPath, 'something else');
    return verifyArtifact({ artifactPath, sidecars }, trust, policy);
  }

  t.test('a valid bundle verifies under the supervisor defaults', async (t) => {
    const verdict = await check('bundle');
    t.equal(verdict.verified, true, verdict.reason ?? 'verified');
    t.equal(verdict.method, 'bundle');
    t.equal(verdict.weakerCheck, false);
    t.equal(verdict.signerIdentity, DEFAULT_TEST_IDENTITY);
    t.equal(verdict.signerIssuer, DEFAULT_TEST_ISSUER);
    t.equal(verdict.signerRepository, DEFAULT_TEST_REPOSITORY);
    t.ok(verdict.wireSignatures?.bundle);
    t.match(verdict.wireSignatures?.cosign.toString(), /^[A-Za-z0-9+/=]+ [A-Za-z0-9+/=]+$/);
  });

  t.test('a bundle with a TSA timestamp as well verifies', async (t) => {
    const verdict = await check('bundle', { withTimestamp: true });
    t.equal(verdict.verified, true, verdict.reason ?? 'verified');
  });

  t.test('a valid cosign pair verifies, marked as the weaker check', async (t) => {
    const verdict = await check('pair');
    t.equal(verdict.verified, true, verdict.reason ?? 'verified');
    t.equal(verdict.method, 'cosign-pair');
    t.equal(verdict.weakerCheck, true);
    t.equal(verdict.signerIdentity, DEFAULT_TEST_IDENTITY);
    t.notOk(verdict.wireSignatures?.bundle);
  });

  const failures: Array<[string, SignOptions, RegExp, SignatureCode, SignaturePolicy?]> = [
    ['wrong SAN', { identity: 'https://github.com/someone/else/.github/workflows/release.yaml@refs/tags/v1' }, /^wrong identity/, 'UNTRUSTED_SIGNER'],
    ['wrong issuer', { issuer: 'https://accounts.google.com' }, /^wrong issuer/, 'UNTRUSTED_ISSUER'],
    ['wrong repository', { repository: 'someone/else' }, /^wrong repository/, 'UNTRUSTED_REPOSITORY'],
    ['no repository extension', { repository: null }, /^wrong repository/, 'UNTRUSTED_REPOSITORY'],
    ['CA not in the root', { untrustedCa: true }, /^untrusted CA/, 'UNTRUSTED_CA'],
    ['missing SCT', { withoutSct: true }, /^no SCT/, 'MISSING_SCT'],
    [
      'unanchored-regexp attack',
      { identity: 'https://evil.example/open-telemetry/opentelemetry-collector-releases/.github/workflows/base-release.yaml@refs/tags/v1' },
      /^wrong identity/,
      'UNTRUSTED_SIGNER',
      policyFromOptions({
        signerIdentityRegexp: 'https://github.com/open-telemetry/opentelemetry-collector-releases/.github/workflows/base-release.yaml@refs/tags/.*',
      }),
    ],
  ];
  for (const form of ['bundle', 'pair'] as const) {
    t.test(`${form}: tampered artifact`, async (t) => {
      const verdict = await check(form, {}, defaultPolicy, true);
      t.equal(verdict.verified, false);
      t.match(verdict.reason, /^tampered/);
      t.equal(verdict.code, 'SIGNATURE_MISMATCH');
      t.notOk(verdict.wireSignatures);
    });
    for (const [name, options, reason, code, policy] of failures) {
      t.test(`${form}: ${name}`, async (t) => {
        const verdict = await check(form, options, policy ?? defaultPolicy);
        t.equal(verdict.verified, false);
        t.match(verdict.reason, reason);
        t.equal(verdict.code, code);
        t.notOk(verdict.wireSignatures);
      });
    }
  }

  t.test('the default identity regexp rejects the look-alike SAN', async (t) => {
    const identity =
      'https://evil.example/https://github.com/open-telemetry/opentelemetry-collector-releases/.github/workflows/base-release.yaml@refs/tags/v1';
    const verdict = await check('bundle', { identity });
    t.equal(verdict.verified, false);
    t.match(verdict.reason, /^wrong identity/);
  });

  t.test('bundle: expired certificate', async (t) => {
    const verdict = await check('bundle', { expiredCertificate: true });
    t.equal(verdict.verified, false);
    t.match(verdict.reason, /^expired certificate/);
    t.equal(verdict.code, 'CERTIFICATE_EXPIRED');
  });

  t.test('bundle: no tlog entry', async (t) => {
    const verdict = await check('bundle', { withoutTlogEntry: true });
    t.equal(verdict.verified, false);
    t.match(verdict.reason, /^no tlog entry/);
    t.equal(verdict.code, 'MISSING_TLOG_ENTRY');
  });

  t.test('an empty repository in the policy skips the repository check', async (t) => {
    const verdict = await check('bundle', { repository: 'someone/else' }, policyFromOptions({ signerRepository: '' }));
    t.equal(verdict.verified, true, verdict.reason ?? 'verified');
    t.equal(verdict.signerRepository, 'someone/else');
  });

  t.test('any one signer rule suffices', async (t) => {
    const policy = policyFromOptions({
      signers: [
        { issuer: 'https://accounts.google.com', identity: 'someone@example.com' },
        { issuerRegexp: 'https://token\\.actions\\..*', identity: 'https://example.com/workflow@refs/heads/main' },
      ],
      signerRepository: '',
    });
    const verdict = await check('pair', { identity: 'https://example.com/workflow@refs/heads/main' }, policy);
    t.equal(verdict.verified, true, verdict.reason ?? 'verified');
  });

  t.test('a signature from another world is untrusted', async (t) => {
    const other = await createSigstoreWorld();
    const artifactPath = await artifact();
    const bundlePath = await other.signBundle(artifactPath);
    const verdict = await verifyArtifact({ artifactPath, sidecars: { bundlePath } }, trust, defaultPolicy);
    t.equal(verdict.verified, false);
    t.match(verdict.reason, /^untrusted CA/);
  });

  t.test('unsigned: rejected unless the policy allows it', async (t) => {
    const artifactPath = await artifact();
    const rejected = await verifyArtifact({ artifactPath, sidecars: {} }, trust, defaultPolicy);
    t.match(rejected, { verified: false, method: 'unsigned', reason: 'no signature', code: 'UNSIGNED' });
    const allowed = await verifyArtifact(
      { artifactPath, sidecars: {} },
      trust,
      policyFromOptions({ allowUnsigned: true }),
    );
    t.match(allowed, { verified: true, method: 'unsigned' });
    t.notOk(allowed.wireSignatures);
  });

  t.test('allowUnsigned never excuses a bad signature', async (t) => {
    const verdict = await check('bundle', {}, policyFromOptions({ allowUnsigned: true }), true);
    t.equal(verdict.verified, false);
  });

  t.test('a certificate without its signature is malformed', async (t) => {
    const artifactPath = await artifact();
    const { certificatePath } = await world.signCosignPair(artifactPath);
    const verdict = await verifyArtifact({ artifactPath, sidecars: { certificatePath } }, trust, defaultPolicy);
    t.equal(verdict.verified, false);
    t.match(verdict.reason, /^malformed signature/);
  });

  t.test('openssl independently accepts the cosign wire signature', async (t) => {
    const content = 'a collector tarball';
    for (const form of ['bundle', 'pair'] as const) {
      const artifactPath = await artifact(content);
      const sidecars =
        form === 'bundle' ? { bundlePath: await world.signBundle(artifactPath) } : await world.signCosignPair(artifactPath);
      const verdict = await verifyArtifact({ artifactPath, sidecars }, trust, defaultPolicy);
      t.equal(verdict.verified, true, verdict.reason ?? 'verified');
      const wire = verdict.wireSignatures?.cosign.toString('utf8') ?? '';
      const space = wire.indexOf(' ');
      t.ok(space > 0, 'the wire signature has two halves');
      const certificatePem = Buffer.from(wire.slice(0, space), 'base64').toString('utf8');
      const signature = Buffer.from(wire.slice(space + 1), 'base64');
      const certificateFile = path.join(directory, `${form}-wire.pem`);
      const signatureFile = path.join(directory, `${form}-wire.sig`);
      const publicKeyFile = path.join(directory, `${form}-wire.pub`);
      await writeFile(certificateFile, certificatePem);
      await writeFile(signatureFile, signature);
      const text = execFileSync('openssl', ['x509', '-in', certificateFile, '-noout', '-text'], { encoding: 'utf8' });
      t.match(text, `URI:${DEFAULT_TEST_IDENTITY}`);
      t.match(text, /1\.3\.6\.1\.4\.1\.57264\.1\.1:\s*\n\s*https:\/\/token\.actions\.githubusercontent\.com/);
      t.match(text, /1\.3\.6\.1\.4\.1\.57264\.1\.5:\s*\n\s*open-telemetry\/opentelemetry-collector-releases/);
      execFileSync('openssl', ['x509', '-in', certificateFile, '-noout', '-pubkey', '-out', publicKeyFile]);
      const result = execFileSync(
        'openssl',
        ['dgst', '-sha256', '-verify', publicKeyFile, '-signature', signatureFile, artifactPath],
        { encoding: 'utf8' },
      );
      t.match(result, /Verified OK/);
    }
  });
});
