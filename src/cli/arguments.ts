// Argument parsing shared by every command: node:util parseArgs, strict, with -h/--help on each
// command, and an unknown option answered with the closest known one, so a typo costs one look.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closest, distance } from 'fastest-levenshtein';

type OptionTable = NonNullable<ParseArgsConfig['options']>;

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

/** A mistake in the command line: the message is for the operator; exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * The known option nearest to `given` (both without dashes), when it is near enough to be the
 * likely intent: at most a third of its letters wrong, and never fewer than two allowed.
 */
export function closestOption(given: string, known: readonly string[]): string | undefined {
  if (known.length === 0) return undefined;
  const candidate = closest(given, [...known]);
  return distance(given, candidate) <= Math.max(2, Math.floor(given.length / 3)) ? candidate : undefined;
}

/** parseArgs's complaint, reworded: an unknown option names the closest known one. */
function explain(error: unknown, known: readonly string[], command: string): UsageError {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const unknown = /^Unknown option '(-{1,2})([^'=]+)/.exec(message);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown !== null) {
    const suggestion = closestOption(unknown[2]!, known);
    const hint = suggestion === undefined ? `; see ${command} --help` : `; did you mean --${suggestion}?`;
    return new UsageError(`unknown option ${unknown[1]}${unknown[2]}${hint}`);
  }
  const unexpected = /^Unexpected argument '([^']*)'/.exec(message);
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' && unexpected !== null) {
    return new UsageError(`unexpected argument "${unexpected[1]}"; see ${command} --help`);
  }
  return new UsageError(message);
}

/**
 * Parses `args` strictly against `options` plus -h/--help. Throws UsageError for anything
 * parseArgs refuses. `command` (e.g. `opamp-package-server serve`) is named in hints.
 */
export function parseCommand<Options extends OptionTable>(
  command: string,
  args: string[],
  options: Options,
  extra: { allowPositionals?: boolean; aliases?: readonly string[] } = {},
) {
  const config = {
    args,
    options: { ...options, ...HELP } as Options & typeof HELP,
    allowPositionals: extra.allowPositionals ?? false,
    strict: true as const,
  };
  try {
    return parseArgs(config);
  } catch (error) {
    throw explain(error, [...Object.keys(config.options), ...(extra.aliases ?? [])], command);
  }
}
