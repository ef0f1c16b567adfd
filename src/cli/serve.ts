// `opamp-package-server serve`: reads the options (config.ts's table: flags, environment,
// config file, defaults), starts the server and stops it cleanly on SIGTERM or SIGINT.
import { resolveConfig, serveFlagNames } from '../config';
import { parseCommand } from './arguments';
import { SERVE_USAGE } from './usage';

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

/** Runs `serve`; resolves only for --help (the server itself ends the process when stopped). */
export async function runServe(argv: string[], print: (text: string) => void): Promise<number> {
  const names = serveFlagNames();
  const parsed = parseCommand(
    'opamp-package-server serve',
    normalizeBooleanFlags(argv, names.booleans),
    {
      config: { type: 'string' },
      ...Object.fromEntries([...names.strings, ...names.booleans].map((name) => [name, { type: 'string' as const }])),
    },
    { aliases: names.booleans.map((name) => `no-${name}`) },
  );
  const { config: configFile, help, ...flags } = parsed.values as Record<string, string | boolean | undefined>;
  if (help === true) {
    print(SERVE_USAGE);
    return 0;
  }
  const definedFlags = Object.fromEntries(Object.entries(flags).filter(([, value]) => value !== undefined)) as Record<
    string,
    string | boolean
  >;
  const config = resolveConfig({
    flags: definedFlags,
    env: process.env,
    configFile: typeof configFile === 'string' ? configFile : process.env.OPAMP_CONFIG,
  });
  // The server's code is loaded once the options are known good: --help and a bad flag need none of it.
  const [{ buildApp }, { describeStore }] = await Promise.all([import('../app'), import('../store/open')]);
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
