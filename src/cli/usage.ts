// The usage text of each command, in a module of its own so that --help loads nothing else.
import { optionsHelp } from '../config';

export const SIGNATURE_VERIFY_USAGE = [
  'usage: opamp-package-server signature verify FILE',
  '         (--bundle FILE.sigstore.json | --certificate FILE.pem --signature FILE.sig)',
  '         [--trusted-root trusted_root.json]',
  '         [--signer-issuer ISSUER]',
  '         [--signer-identity IDENTITY | --signer-identity-regexp REGEXP]',
  '         [--signer-repository OWNER/NAME]   (an empty value skips the repository check)',
].join('\n');

export const PACKAGES_VERIFY_USAGE = [
  'usage: opamp-package-server packages verify DIR',
  '         [--trusted-root trusted_root.json]',
  '         [--signer-issuer ISSUER]',
  '         [--signer-identity IDENTITY | --signer-identity-regexp REGEXP]',
  '         [--signer-repository OWNER/NAME]   (an empty value skips the repository check)',
  '         [--allow-unsigned] [--signature-format cosign|bundle]',
].join('\n');

export const SERVE_OPTIONS_HELP = `Options of serve (flag, environment variable, key of the --config JSON file).
Precedence: flag, environment, config file, default.
  --config FILE                  JSON file whose keys are the option names below
  -h, --help                     Show this text.
${optionsHelp()}
`;

export const SERVE_USAGE = `Usage: opamp-package-server serve [options]

Runs the OpAMP server (POST /v1/opamp), its package downloads and the admin API.

${SERVE_OPTIONS_HELP}`;

export function codecUsage(command: 'encode' | 'decode'): string {
  return [
    `usage: opamp-package-server ${command} agent-to-server|server-to-agent`,
    command === 'encode'
      ? '  Reads the OpAMP JSON form of the message on stdin and writes the binary protobuf to stdout.'
      : '  Reads a binary protobuf message on stdin (gzip allowed) and writes its OpAMP JSON form to stdout.',
  ].join('\n');
}
