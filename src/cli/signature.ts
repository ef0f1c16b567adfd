// `opamp-package-server signature verify`: checks one file the way the server would before
// offering it, in the spirit of `cosign verify-blob`, so operators can test a release and a
// policy without starting the server.

import { describePolicy } from '../signing/policy';
import { parseCommand } from './arguments';
import { SIGNATURE_VERIFY_USAGE } from './usage';
import { POLICY_OPTIONS, policyAndTrust } from './policy-options';
import { verifyArtifact } from '../signing/verifier';

export interface CommandOutput {
  out: (line: string) => void;
  err: (line: string) => void;
}


const EXIT_VERIFIED = 0;
const EXIT_REJECTED = 1;
const EXIT_USAGE = 2;

/**
 * Runs `signature verify`. `argv` holds the arguments after `signature verify`. Returns the exit
 * status: 0 verified, 1 rejected (or the trusted root could not be loaded), 2 usage error.
 */
export async function runSignatureVerify(argv: string[], output: CommandOutput): Promise<number> {
  let parsed;
  try {
    parsed = parseCommand(
      'opamp-package-server signature verify',
      argv,
      {
        bundle: { type: 'string' },
        certificate: { type: 'string' },
        signature: { type: 'string' },
        ...POLICY_OPTIONS,
      },
      { allowPositionals: true },
    );
  } catch (error) {
    return usageError(output, error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    output.out(SIGNATURE_VERIFY_USAGE);
    return EXIT_VERIFIED;
  }
  if (positionals.length !== 1) return usageError(output, 'give exactly one FILE to verify');
  const pairGiven = values.certificate !== undefined || values.signature !== undefined;
  if (values.bundle !== undefined && pairGiven) {
    return usageError(output, 'give either --bundle or --certificate with --signature, not both');
  }
  if (values.bundle === undefined && !pairGiven) {
    return usageError(output, 'give --bundle, or --certificate with --signature');
  }
  if (pairGiven && (values.certificate === undefined || values.signature === undefined)) {
    return usageError(output, '--certificate and --signature go together');
  }

  const setup = await policyAndTrust(values);
  if (!setup.ok) {
    if (setup.usage) return usageError(output, setup.message);
    output.err(`error: ${setup.message}`);
    return EXIT_REJECTED;
  }
  const { policy, trust } = setup;

  const artifactPath = positionals[0];
  const sidecars =
    values.bundle !== undefined
      ? { bundlePath: values.bundle }
      : { certificatePath: values.certificate, signaturePath: values.signature };
  let verdict;
  try {
    verdict = await verifyArtifact({ artifactPath, sidecars }, trust, policy);
  } catch (error) {
    output.err(`error: cannot read ${artifactPath}: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_REJECTED;
  }

  output.out(`trusted root: ${trust.source}`);
  output.out(`policy: ${describePolicy(policy)}`);
  if (verdict.signerIdentity !== undefined) output.out(`signer identity: ${verdict.signerIdentity}`);
  if (verdict.signerIssuer !== undefined) output.out(`signer issuer: ${verdict.signerIssuer}`);
  if (verdict.signerRepository !== undefined) output.out(`signer repository: ${verdict.signerRepository}`);
  if (!verdict.verified) {
    output.err(`verification failed: ${verdict.reason ?? 'unknown reason'}${verdict.code ? ` (${verdict.code})` : ''}`);
    return EXIT_REJECTED;
  }
  if (verdict.weakerCheck) {
    output.out(
      'note: certificate + signature only: no transparency log entry was checked and the certificate chain was ' +
        'checked at its issuance time; a .sigstore.json bundle gives the stronger check',
    );
  }
  output.out('verified');
  return EXIT_VERIFIED;
}

function usageError(output: CommandOutput, message: string): number {
  output.err(`error: ${message}`);
  output.err(SIGNATURE_VERIFY_USAGE);
  return EXIT_USAGE;
}
