#!/usr/bin/env node
// Command line: pick the command, let it parse its own arguments, report usage errors. Every
// command answers -h/--help with its usage and exit status 0.
import { readFileSync } from 'node:fs';
import { ServerError } from './errors';
import { UsageError, closestOption, parseCommand } from './cli/arguments';
import { PACKAGES_VERIFY_USAGE, SERVE_OPTIONS_HELP, SERVE_USAGE, SIGNATURE_VERIFY_USAGE, codecUsage } from './cli/usage';

const printer = {
  out: (line: string) => process.stdout.write(`${line}\n`),
  err: (line: string) => process.stderr.write(`${line}\n`),
};

const USAGE = `Usage: opamp-package-server <command> [options]

Commands:
  serve [options]                     Run the OpAMP server (POST /v1/opamp).
  encode agent-to-server|server-to-agent
                                      Read the OpAMP JSON form on stdin, write the binary message.
  decode agent-to-server|server-to-agent
                                      Read a binary message on stdin (gzip allowed), write JSON.
  signature verify FILE (--bundle B | --certificate PEM --signature SIG) [policy options]
                                      Verify one file offline, like cosign verify-blob.
  packages verify DIR [policy options]
                                      Check every release asset in a directory offline, as serve would.
  help [COMMAND]                      Show this text, or the usage of one command.

Every command takes -h or --help.

${SERVE_OPTIONS_HELP}`;

const COMMANDS = ['serve', 'encode', 'decode', 'signature', 'packages', 'help'];

/** The usage text of a command, or undefined for an unknown one. */
function usageOf(command: string): string | undefined {
  switch (command) {
    case 'serve':
      return SERVE_USAGE;
    case 'encode':
    case 'decode':
      return codecUsage(command);
    case 'signature':
      return SIGNATURE_VERIFY_USAGE;
    case 'packages':
      return PACKAGES_VERIFY_USAGE;
    case 'help':
      return USAGE;
    default:
      return undefined;
  }
}

function unknownCommand(command: string): UsageError {
  const suggestion = closestOption(command, COMMANDS);
  const hint = suggestion === undefined ? '' : `; did you mean ${suggestion}?`;
  return new UsageError(`unknown command "${command}"${hint} (opamp-package-server --help lists them)`);
}

async function codec(command: 'encode' | 'decode', argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(`opamp-package-server ${command}`, argv, {}, { allowPositionals: true });
  if (values.help) {
    printer.out(codecUsage(command));
    return 0;
  }
  const name = positionals[0];
  // Loaded only past --help, like every command's own code: usage needs none of it.
  const { decodeToJson, encodeJson, isMessageName } = await import('./cli/json-form');
  if (!isMessageName(name) || positionals.length !== 1) {
    printer.err(codecUsage(command));
    return 2;
  }
  if (command === 'encode') {
    process.stdout.write(encodeJson(name, readFileSync(0).toString('utf8')));
  } else {
    let bytes = readFileSync(0);
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = (await import('node:zlib')).gunzipSync(bytes);
    process.stdout.write(`${decodeToJson(name, bytes)}\n`);
  }
  return 0;
}

/** `signature verify ...` and `packages verify ...`: one subcommand each. */
async function verifyCommand(command: 'signature' | 'packages', argv: string[]): Promise<number> {
  const usage = usageOf(command)!;
  const [subcommand, ...rest] = argv;
  if (subcommand === '--help' || subcommand === '-h' || subcommand === 'help') {
    printer.out(usage);
    return 0;
  }
  if (subcommand !== 'verify') {
    printer.err(subcommand === undefined ? `error: ${command} needs a subcommand` : `error: unknown subcommand "${subcommand}"`);
    printer.err(usage);
    return 2;
  }
  if (command === 'signature') return (await import('./cli/signature')).runSignatureVerify(rest, printer);
  return (await import('./cli/packages')).runPackagesVerify(rest, printer);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return (await import('./cli/serve')).runServe(rest, (text) => process.stdout.write(text));
    case 'encode':
    case 'decode':
      return codec(command, rest);
    case 'signature':
    case 'packages':
      return verifyCommand(command, rest);
    case undefined:
      process.stderr.write(USAGE);
      return 2;
    case 'help':
    case '--help':
    case '-h': {
      const topic = rest[0];
      const text = topic === undefined ? USAGE : usageOf(topic);
      if (text === undefined) throw unknownCommand(topic!);
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
      return 0;
    }
    default:
      if (command.startsWith('-')) {
        throw new UsageError(`${command} comes after a command (opamp-package-server --help lists them)`);
      }
      throw unknownCommand(command);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // A usage or configuration mistake is one line naming it; anything else says it is an error.
    const mistake = error instanceof UsageError || error instanceof ServerError;
    const text = mistake ? (error as Error).message : `error: ${error instanceof Error ? error.message : String(error)}`;
    process.stderr.write(`opamp-package-server: ${text}\n`);
    process.exitCode = mistake ? 2 : 1;
  },
);
