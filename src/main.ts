#!/usr/bin/env node
// Command line: parse arguments, then hand over to the command. Nothing else lives here.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { buildApp } from './app';
import { optionsHelp, resolveConfig, serveFlagNames } from './config';
import { ServerError } from './errors';
import { describeStore } from './store/open';
import { decodeToJson, encodeJson, isMessageName } from './cli/json-form';
import { runSignatureVerify } from './cli/signature';
import { runPackagesVerify } from './cli/packages';

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
  help                                Show this text.

Options of serve (flag, environment variable, key of the --config JSON file).
Precedence: flag, environment, config file, default.
  --config FILE                  JSON file whose keys are the option names below
${optionsHelp()}
`;

function readStdin(): Buffer {
  return readFileSync(0);
}

/**
 * Boolean options may stand alone (`--trust-proxy`), take a value (`--trust-proxy false`,
 * `--trust-proxy=false`, `--trust-proxy 10.0.0.0/8,127.0.0.1`) or be negated (`--no-trust-proxy`); parseArgs knows only the first,
 * so they are rewritten to `--name=value` first.
 */
function normalizeBooleanFlags(argv: string[], booleans: string[]): string[] {
  const result: string[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const token = argv[index]!;
    const name = token.startsWith('--') ? token.slice(2) : '';
    if (booleans.includes(name)) {
      const next = argv[index + 1];
      // serve takes no positional arguments, so a word after the flag is its value (checked later).
      if (next !== undefined && !next.startsWith('-')) {
        result.push(`--${name}=${next}`);
        index += 1;
      } else {
        result.push(`--${name}=true`);
      }
    } else if (name.startsWith('no-') && booleans.includes(name.slice(3))) {
      result.push(`--${name.slice(3)}=false`);
    } else {
      result.push(token);
    }
  }
  return result;
}

async function serve(argv: string[]): Promise<number> {
  const names = serveFlagNames();
  const parsed = parseArgs({
    args: normalizeBooleanFlags(argv, names.booleans),
    options: {
      config: { type: 'string' },
      ...Object.fromEntries([...names.strings, ...names.booleans].map((name) => [name, { type: 'string' as const }])),
    },
    allowPositionals: false,
    strict: true,
  });
  const { config: configFile, ...flags } = parsed.values as Record<string, string | boolean | undefined>;
  const definedFlags = Object.fromEntries(Object.entries(flags).filter(([, value]) => value !== undefined)) as Record<
    string,
    string | boolean
  >;
  const config = resolveConfig({
    flags: definedFlags,
    env: process.env,
    configFile: typeof configFile === 'string' ? configFile : process.env.OPAMP_CONFIG,
  });
  const { app, logger } = await buildApp(config);
  const address = await app.listen({ host: config.host, port: config.port });
  logger.info({ address, store: describeStore(config) }, `opamp-package-server listening on ${address}/v1/opamp`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing requests in flight and flushing the store');
    app.close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return new Promise<number>(() => undefined);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'encode':
    case 'decode': {
      const name = rest[0];
      if (!isMessageName(name) || rest.length !== 1) {
        process.stderr.write(`usage: opamp-package-server ${command} agent-to-server|server-to-agent\n`);
        return 2;
      }
      if (command === 'encode') {
        process.stdout.write(encodeJson(name, readStdin().toString('utf8')));
      } else {
        let bytes = readStdin();
        if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = (await import('node:zlib')).gunzipSync(bytes);
        process.stdout.write(`${decodeToJson(name, bytes)}\n`);
      }
      return 0;
    }
    case 'signature':
      if (rest[0] !== 'verify') {
        process.stderr.write('usage: opamp-package-server signature verify FILE (--bundle B | --certificate PEM --signature SIG)\n');
        return 2;
      }
      return runSignatureVerify(rest.slice(1), printer);
    case 'packages':
      if (rest[0] !== 'verify') {
        process.stderr.write('usage: opamp-package-server packages verify DIR [policy options]\n');
        return 2;
      }
      return runPackagesVerify(rest.slice(1), printer);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command "${command}"; run opamp-package-server --help\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const text = error instanceof ServerError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
      ? (error as Error).message
      : `error: ${error instanceof Error ? error.message : String(error)}`;
    process.stderr.write(`opamp-package-server: ${text}\n`);
    process.exitCode = error instanceof ServerError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
  },
);
