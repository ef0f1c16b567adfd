// The trust-policy options shared by `signature verify` and `packages verify`, read the same
// way `serve` reads them, so an operator's check and the server's verdict cannot differ.
import { ConfigError } from '../errors';
import { policyFromOptions, type SignaturePolicy } from '../signing/policy';
import { loadTrustedRoot, type LoadedTrustedRoot } from '../signing/trust';

/** parseArgs definitions of the policy options. */
export const POLICY_OPTIONS = {
  'trusted-root': { type: 'string' },
  'signer-issuer': { type: 'string' },
  'signer-identity': { type: 'string' },
  'signer-identity-regexp': { type: 'string' },
  'signer-repository': { type: 'string' },
} as const;

export interface PolicyValues {
  'trusted-root'?: string;
  'signer-issuer'?: string;
  'signer-identity'?: string;
  'signer-identity-regexp'?: string;
  'signer-repository'?: string;
}

export type PolicySetup =
  | { ok: true; policy: SignaturePolicy; trust: LoadedTrustedRoot }
  /** `usage`: the options themselves are wrong (exit 2); otherwise the root could not be loaded. */
  | { ok: false; usage: boolean; message: string };

export async function policyAndTrust(values: PolicyValues, allowUnsigned = false): Promise<PolicySetup> {
  let policy: SignaturePolicy;
  try {
    policy = policyFromOptions({
      signerIssuer: values['signer-issuer'],
      signerIdentity: values['signer-identity'],
      signerIdentityRegexp: values['signer-identity-regexp'],
      signerRepository: values['signer-repository'],
      allowUnsigned,
    });
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, usage: true, message: error.message };
    throw error;
  }
  try {
    return { ok: true, policy, trust: await loadTrustedRoot({ file: values['trusted-root'] }) };
  } catch (error) {
    return { ok: false, usage: false, message: error instanceof Error ? error.message : String(error) };
  }
}
