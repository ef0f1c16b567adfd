#!/usr/bin/env node
// Command line: parse arguments, then hand over to the command. Nothing else lives here.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { buildApp } from './app';
import { optionsHelp, resolveConfig, serveFlagNames } from './config';
import { ServerError } from './errors';
import { decodeToJson, encodeJson, isMessageName } from './cli/json-form';

const USAGE = `Usage: opamp-package-server <command> [options]

Commands:
  serve [options]                     Run the OpAMP server (POST /v1/opamp).
  encode agent-to-server|server-to-agent
                                      Read the OpAMP JSON form on stdin, write the binary message.
  decode agent-to-server|server-to-agent
                                      Read a binary message on stdin (gzip allowed), write JSON.
  help                                Show this text.

Options of serve (flag, environment variable, key of the --config JSON file).
Precedence: flag, environment, config file, default.
  --config FILE                  JSON file whose keys are the option names below
${optionsHelp()}
`;

function readStdin(): Buffer {
  return readFileSync(0);
}

async function serve(argv: string[]): Promise<number> {
  const names = serveFlagNames();
  const parsed = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      ...Object.fromEntries(names.strings.map((name) => [name, { type: 'string' as const }])),
      ...Object.fromEntries(names.booleans.map((name) => [name, { type: 'boolean' as const }])),
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
  logger.info({ address, dataDir: config.dataDir }, `opamp-package-server listening on ${address}/v1/opamp`);

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
