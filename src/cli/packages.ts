// `opamp-package-server packages verify DIR`: runs the server's own ingest (archive check, hash,
// signature verdict under the policy) over a release directory, offline and without serving, so an
// operator sees what would be offered and why anything would not be, before it reaches an agent.

import path from 'node:path';
import { createDirectorySource } from '../../plugins/directory';
import { ingestFile, type CatalogEntry } from '../packages/catalog';
import { makeVerify } from '../packages/setup';
import type { SourceFile } from '../packages/source';
import { describePolicy } from '../signing/policy';
import { parseCommand } from './arguments';
import { PACKAGES_VERIFY_USAGE } from './usage';
import { POLICY_OPTIONS, policyAndTrust } from './policy-options';
import type { CommandOutput } from './signature';


const EXIT_VERIFIED = 0;
const EXIT_REJECTED = 1;
const EXIT_USAGE = 2;

const WEAKER_CHECK_NOTE = 'weaker check: cosign certificate+signature, no transparency-log time';

/**
 * Runs `packages verify`. `argv` holds the arguments after `packages verify`. Returns the exit
 * status: 0 when every asset verified, 1 when any was rejected or none was found (or the
 * directory or trusted root could not be read), 2 for a usage error.
 */
export async function runPackagesVerify(argv: string[], output: CommandOutput): Promise<number> {
  let parsed;
  try {
    parsed = parseCommand(
      'opamp-package-server packages verify',
      argv,
      {
        ...POLICY_OPTIONS,
        'allow-unsigned': { type: 'boolean' },
        'signature-format': { type: 'string' },
      },
      { allowPositionals: true },
    );
  } catch (error) {
    return usageError(output, error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    output.out(PACKAGES_VERIFY_USAGE);
    return EXIT_VERIFIED;
  }
  if (positionals.length !== 1) return usageError(output, 'give exactly one DIR to verify');
  const signatureFormat = values['signature-format'] ?? 'cosign';
  if (signatureFormat !== 'cosign' && signatureFormat !== 'bundle') {
    return usageError(output, `--signature-format must be cosign or bundle, got ${JSON.stringify(signatureFormat)}`);
  }

  const setup = await policyAndTrust(values, values['allow-unsigned'] ?? false);
  if (!setup.ok) {
    if (setup.usage) return usageError(output, setup.message);
    output.err(`error: ${setup.message}`);
    return EXIT_REJECTED;
  }
  const policy = setup.policy;
  const trust = { current: setup.trust };

  const directory = positionals[0] as string;
  // Nothing is being copied in while an operator checks a directory, so files are taken as found.
  const source = createDirectorySource({ directory: path.resolve(directory), stableAfterMs: 0 });
  let files: SourceFile[];
  try {
    files = await source.scan();
  } catch (error) {
    output.err(`error: ${describe(error)}`);
    return EXIT_REJECTED;
  } finally {
    await source.close();
  }

  output.out(`trusted root: ${trust.current.source}`);
  output.out(`policy: ${describePolicy(policy)}; offered signature format: ${signatureFormat}`);
  if (policy.allowUnsigned) output.out('warning: --allow-unsigned is on: unsigned packages pass (development only)');
  if (files.length === 0) {
    output.err(`no release assets found in ${directory}`);
    return EXIT_REJECTED;
  }

  const verify = makeVerify(trust, policy, signatureFormat);
  let rejected = 0;
  // One at a time: a signature check holds the whole tarball in memory.
  for (const file of files) {
    let entry: CatalogEntry | undefined;
    let readFailure: string | undefined;
    try {
      entry = await ingestFile(file, verify, source.name);
    } catch (error) {
      readFailure = `cannot read the file: ${describe(error)}`;
    }
    output.out('');
    for (const line of describeAsset(file, entry, readFailure)) output.out(line);
    if (entry === undefined || !entry.offerable) rejected += 1;
  }
  output.out('');
  output.out(`${files.length - rejected} verified, ${rejected} rejected`);
  return rejected === 0 ? EXIT_VERIFIED : EXIT_REJECTED;
}

function describeAsset(file: SourceFile, entry: CatalogEntry | undefined, readFailure: string | undefined): string[] {
  const lines = [
    file.fileName,
    `  version:           ${file.version}`,
    `  platform:          ${file.os}/${file.arch}`,
    `  distribution:      ${file.distribution}`,
  ];
  if (entry === undefined) return [...lines, `  rejected: ${readFailure ?? 'not ingested'}`];
  lines.push(`  sha256:            ${entry.sha256Hex}`);
  const signature = entry.signature;
  lines.push(`  signature:         ${signatureKind(file, signature?.method)}`);
  if (signature?.signerIdentity !== undefined) lines.push(`  signer identity:   ${signature.signerIdentity}`);
  if (signature?.signerIssuer !== undefined) lines.push(`  signer issuer:     ${signature.signerIssuer}`);
  if (signature?.signerRepository !== undefined) lines.push(`  signer repository: ${signature.signerRepository}`);
  if (!entry.offerable) {
    lines.push(`  rejected: ${entry.reason ?? 'not offerable'}`);
  } else if (signature?.method === 'unsigned') {
    lines.push('  verified: UNSIGNED (--allow-unsigned)');
  } else if (signature?.weakerCheck) {
    lines.push(`  verified (${WEAKER_CHECK_NOTE})`);
  } else {
    lines.push('  verified');
  }
  return lines;
}

/** Names the signing material, also when the archive was refused before the signature was read. */
function signatureKind(file: SourceFile, method: string | undefined): string {
  if (method === 'bundle' || (method === undefined && file.sidecars.bundlePath !== undefined)) {
    return 'Sigstore bundle (.sigstore.json)';
  }
  if (method === 'cosign-pair' || (method === undefined && (file.sidecars.certificatePath ?? file.sidecars.signaturePath))) {
    return 'cosign certificate + signature (.pem + .sig)';
  }
  return 'none';
}

function usageError(output: CommandOutput, message: string): number {
  output.err(`error: ${message}`);
  output.err(PACKAGES_VERIFY_USAGE);
  return EXIT_USAGE;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
