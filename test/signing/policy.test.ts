// Signer policy: defaults, option rules, config-file validation and regexp anchoring.

import t from 'tap';
import { ConfigError } from '../../src/errors';
import {
  DEFAULT_SIGNER_IDENTITY_REGEXP,
  DEFAULT_SIGNER_ISSUER,
  DEFAULT_SIGNER_REPOSITORY,
  checkIdentity,
  policyFromOptions,
} from '../../src/signing/policy';

const RELEASE =
  'https://github.com/open-telemetry/opentelemetry-collector-releases/.github/workflows/base-release.yaml@refs/tags/v0.111.0';

t.test('defaults are the supervisor defaults', async (t) => {
  const policy = policyFromOptions({});
  t.same(policy, {
    signers: [{ issuer: DEFAULT_SIGNER_ISSUER, identityRegexp: DEFAULT_SIGNER_IDENTITY_REGEXP }],
    repository: DEFAULT_SIGNER_REPOSITORY,
    allowUnsigned: false,
  });
  const signer = { identity: RELEASE, issuer: DEFAULT_SIGNER_ISSUER, repository: DEFAULT_SIGNER_REPOSITORY };
  t.equal(checkIdentity(policy, signer), undefined);
  t.equal(checkIdentity(policy, { ...signer, identity: `${RELEASE}/extra` }), 'wrong identity');
  t.equal(checkIdentity(policy, { ...signer, issuer: 'https://accounts.google.com' }), 'wrong issuer');
  t.equal(checkIdentity(policy, { ...signer, repository: 'fork/releases' }), 'wrong repository');
  t.equal(checkIdentity(policy, { ...signer, repository: undefined }), 'wrong repository');
});

t.test('look-alike identities never match a regexp', async (t) => {
  const unanchored = policyFromOptions({
    signerIdentityRegexp:
      'https://github.com/open-telemetry/opentelemetry-collector-releases/.github/workflows/base-release.yaml@refs/tags/.*',
    signerRepository: '',
  });
  const alternation = policyFromOptions({ signerIdentityRegexp: '^https://good.example/x$|https://other.example/y$' });
  for (const policy of [policyFromOptions({}), unanchored]) {
    for (const identity of [
      `https://evil.example/${RELEASE}`,
      'https://evil.example/open-telemetry/opentelemetry-collector-releases/.github/workflows/base-release.yaml@refs/tags/v1',
    ]) {
      t.equal(checkIdentity(policy, { identity, issuer: DEFAULT_SIGNER_ISSUER }), 'wrong identity', identity);
    }
  }
  t.equal(checkIdentity(policyFromOptions({}), { identity: `${RELEASE}/x`, issuer: DEFAULT_SIGNER_ISSUER }), 'wrong identity');
  t.equal(
    checkIdentity(alternation, { identity: 'https://evil.example/https://other.example/y', issuer: DEFAULT_SIGNER_ISSUER }),
    'wrong identity',
  );
});

t.test('identity options replace the default identity', async (t) => {
  const exact = policyFromOptions({ signerIdentity: 'https://example.com/w@refs/heads/main', signerIssuer: 'https://issuer' });
  t.same(exact.signers, [{ issuer: 'https://issuer', identity: 'https://example.com/w@refs/heads/main' }]);
  const pattern = policyFromOptions({ signerIdentityRegexp: 'https://example\\.com/.*' });
  t.same(pattern.signers, [{ issuer: DEFAULT_SIGNER_ISSUER, identityRegexp: 'https://example\\.com/.*' }]);
  t.equal(policyFromOptions({ signerRepository: '' }).repository, '');
  t.equal(policyFromOptions({ allowUnsigned: true }).allowUnsigned, true);
});

t.test('bad options are configuration errors naming the option', async (t) => {
  const cases: Array<[Parameters<typeof policyFromOptions>[0], RegExp]> = [
    [{ signerIdentity: 'a', signerIdentityRegexp: 'b' }, /--signer-identity.*--signer-identity-regexp/],
    [{ signerIdentityRegexp: '(' }, /--signer-identity-regexp: invalid regular expression/],
    [{ signerIssuer: '' }, /--signer-issuer/],
    [{ signers: 'nope' }, /^signers: expected a non-empty list/],
    [{ signers: [] }, /^signers: expected a non-empty list/],
    [{ signers: [42] }, /^signers\[0\]: expected an object/],
    [{ signers: [{ issuer: 'x' }] }, /^signers\[0\]: give exactly one of identity or identityRegexp/],
    [{ signers: [{ identity: 'x' }] }, /^signers\[0\]: give exactly one of issuer or issuerRegexp/],
    [{ signers: [{ issuer: 'x', issuerRegexp: 'y', identity: 'z' }] }, /^signers\[0\]: give exactly one of issuer/],
    [{ signers: [{ issuer: 'x', identity: 'y' }, { issuer: 'x', identity: 5 }] }, /^signers\[1\]\.identity: expected a non-empty string/],
    [{ signers: [{ issuer: 'x', identityRegexp: '[' }] }, /^signers\[0\]\.identityRegexp: invalid regular expression/],
    [{ signers: [{ issuer: 'x', identity: 'y', subject: 'z' }] }, /^signers\[0\]\.subject: unknown key/],
    [{ signers: [{ issuer: 'x', identity: 'y' }], signerIssuer: 'z' }, /^signers: give either/],
  ];
  for (const [options, message] of cases) {
    t.throws(() => policyFromOptions(options), message, JSON.stringify(options));
    t.throws(() => policyFromOptions(options), ConfigError);
  }
});

t.test('config-file signers: any one rule matching suffices', async (t) => {
  const policy = policyFromOptions({
    signers: [
      { issuer: 'https://accounts.google.com', identity: 'releaser@example.com' },
      { issuerRegexp: 'https://token\\.actions\\.githubusercontent\\.com', identityRegexp: 'https://github\\.com/acme/.*' },
    ],
    signerRepository: '',
  });
  t.equal(checkIdentity(policy, { identity: 'releaser@example.com', issuer: 'https://accounts.google.com' }), undefined);
  t.equal(checkIdentity(policy, { identity: 'https://github.com/acme/x', issuer: DEFAULT_SIGNER_ISSUER }), undefined);
  t.equal(checkIdentity(policy, { identity: 'releaser@example.com', issuer: DEFAULT_SIGNER_ISSUER }), 'wrong issuer');
  t.equal(checkIdentity(policy, { identity: 'someone@example.com', issuer: DEFAULT_SIGNER_ISSUER }), 'wrong identity');
});
