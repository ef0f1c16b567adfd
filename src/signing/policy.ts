// Who may sign the packages the server offers. The defaults are the OpAMP supervisor's own, so a
// package this server calls verified is one the supervisor will accept too.

import { ConfigError } from '../errors';

/** One acceptable signer: an issuer (exact or regexp) and an identity (exact or regexp). */
export type SignerRule = {
  issuer?: string;
  issuerRegexp?: string;
  identity?: string;
  identityRegexp?: string;
};

export interface SignaturePolicy {
  /** Any one rule matching is enough. */
  signers: SignerRule[];
  /** GitHub workflow repository the certificate must name; undefined or '' skips the check. */
  repository: string | undefined;
  /** Offer packages that carry no signature at all. Never excuses a signature that fails. */
  allowUnsigned: boolean;
}

export interface PolicyOptions {
  signerIssuer?: string;
  signerIdentity?: string;
  signerIdentityRegexp?: string;
  signerRepository?: string;
  /** The `signers` list from the JSON config file, not yet validated. */
  signers?: unknown;
  allowUnsigned?: boolean;
}

export const DEFAULT_SIGNER_ISSUER = 'https://token.actions.githubusercontent.com';
export const DEFAULT_SIGNER_IDENTITY_REGEXP =
  '^https://github.com/open-telemetry/opentelemetry-collector-releases/.github/workflows/base-release.yaml@refs/tags/[^/]*$';
export const DEFAULT_SIGNER_REPOSITORY = 'open-telemetry/opentelemetry-collector-releases';

export function policyFromOptions(options: PolicyOptions): SignaturePolicy {
  const repository = options.signerRepository ?? DEFAULT_SIGNER_REPOSITORY;
  const allowUnsigned = options.allowUnsigned ?? false;
  const flagsGiven =
    options.signerIssuer !== undefined ||
    options.signerIdentity !== undefined ||
    options.signerIdentityRegexp !== undefined;
  if (options.signers !== undefined) {
    if (flagsGiven) {
      throw new ConfigError(
        'signers: give either the signers list or --signer-issuer/--signer-identity/--signer-identity-regexp, not both',
      );
    }
    return { signers: signersFromConfig(options.signers), repository, allowUnsigned };
  }
  if (options.signerIdentity !== undefined && options.signerIdentityRegexp !== undefined) {
    throw new ConfigError('--signer-identity and --signer-identity-regexp are mutually exclusive; give one');
  }
  const issuer = nonEmpty(options.signerIssuer ?? DEFAULT_SIGNER_ISSUER, '--signer-issuer');
  let rule: SignerRule;
  if (options.signerIdentity !== undefined) {
    rule = { issuer, identity: nonEmpty(options.signerIdentity, '--signer-identity') };
  } else {
    const source = nonEmpty(options.signerIdentityRegexp ?? DEFAULT_SIGNER_IDENTITY_REGEXP, '--signer-identity-regexp');
    rule = { issuer, identityRegexp: checkedRegexp(source, '--signer-identity-regexp') };
  }
  return { signers: [rule], repository, allowUnsigned };
}

const RULE_KEYS = new Set(['issuer', 'issuerRegexp', 'identity', 'identityRegexp']);

function signersFromConfig(value: unknown): SignerRule[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigError('signers: expected a non-empty list of { issuer | issuerRegexp, identity | identityRegexp }');
  }
  return value.map((entry: unknown, index) => ruleFromConfig(entry, `signers[${index}]`));
}

function ruleFromConfig(entry: unknown, key: string): SignerRule {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new ConfigError(`${key}: expected an object with issuer or issuerRegexp, and identity or identityRegexp`);
  }
  const fields = entry as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!RULE_KEYS.has(name)) {
      throw new ConfigError(`${key}.${name}: unknown key (expected issuer, issuerRegexp, identity or identityRegexp)`);
    }
  }
  const rule: SignerRule = {};
  for (const name of RULE_KEYS) {
    const field = fields[name];
    if (field === undefined) continue;
    if (typeof field !== 'string' || field === '') {
      throw new ConfigError(`${key}.${name}: expected a non-empty string`);
    }
    const isRegexp = name.endsWith('Regexp');
    rule[name as keyof SignerRule] = isRegexp ? checkedRegexp(field, `${key}.${name}`) : field;
  }
  requireOne(rule.issuer, rule.issuerRegexp, `${key}: give exactly one of issuer or issuerRegexp`);
  requireOne(rule.identity, rule.identityRegexp, `${key}: give exactly one of identity or identityRegexp`);
  return rule;
}

function requireOne(exact: string | undefined, pattern: string | undefined, message: string): void {
  if ((exact === undefined) === (pattern === undefined)) throw new ConfigError(message);
}

function nonEmpty(value: string, key: string): string {
  if (value === '') throw new ConfigError(`${key}: must not be empty`);
  return value;
}

/** Rejects a regexp that JavaScript cannot compile, naming the option it came from. */
function checkedRegexp(source: string, key: string): string {
  try {
    anchoredRegexp(source);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`${key}: invalid regular expression ${JSON.stringify(source)} (${detail})`);
  }
  return source;
}

/**
 * Compiles a signer regexp so that it must match the whole value. The pattern is always wrapped,
 * even when it already starts with ^ and ends with $: `^a|b$` looks anchored but matches anything
 * ending in b, and a SAN that merely contains the release workflow path must never pass.
 */
export function anchoredRegexp(source: string): RegExp {
  return new RegExp(`^(?:${source})$`);
}

/** Does one value satisfy an exact-or-regexp pair? A pair with neither set matches nothing. */
function matchesField(value: string | undefined, exact: string | undefined, pattern: string | undefined): boolean {
  if (value === undefined) return false;
  if (exact !== undefined) return value === exact;
  if (pattern !== undefined) return anchoredRegexp(pattern).test(value);
  return false;
}

export type IdentityMismatch = 'wrong identity' | 'wrong issuer' | 'wrong repository';

/**
 * Checks a signer's certificate identity against the policy. Returns undefined when accepted,
 * otherwise the most specific complaint: an identity that some rule accepts only with another
 * issuer is a wrong issuer, not a wrong identity.
 */
export function checkIdentity(
  policy: SignaturePolicy,
  signer: { identity?: string; issuer?: string; repository?: string },
): IdentityMismatch | undefined {
  const identityRules = policy.signers.filter((rule) =>
    matchesField(signer.identity, rule.identity, rule.identityRegexp),
  );
  if (identityRules.length === 0) return 'wrong identity';
  const accepted = identityRules.some((rule) => matchesField(signer.issuer, rule.issuer, rule.issuerRegexp));
  if (!accepted) return 'wrong issuer';
  if (policy.repository !== undefined && policy.repository !== '' && signer.repository !== policy.repository) {
    return 'wrong repository';
  }
  return undefined;
}

/** A one-line description of the policy, for start-up logs and CLI output. */
export function describePolicy(policy: SignaturePolicy): string {
  const rules = policy.signers.map((rule) => {
    const issuer = rule.issuer ?? `/${rule.issuerRegexp ?? ''}/`;
    const identity = rule.identity ?? `/${rule.identityRegexp ?? ''}/`;
    return `${identity} from ${issuer}`;
  });
  const repository = policy.repository ? `, repository ${policy.repository}` : '';
  return `signers: ${rules.join(' or ')}${repository}${policy.allowUnsigned ? ', unsigned allowed' : ''}`;
}
