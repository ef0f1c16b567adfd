// The command line's help and its answers to mistakes, as an operator meets them: every command
// takes -h/--help, and a mistyped option or command is named with the closest known one.
import t from 'tap';
import { runCliAsync } from './helpers/cli';

t.test('every command answers -h and --help with its usage and exit status 0', async (t) => {
  const commands: Array<[string[], RegExp]> = [
    [[], /^Usage: opamp-package-server <command>/],
    [['serve'], /^Usage: opamp-package-server serve \[options\][\s\S]*--rate-limit-per-agent/],
    [['encode'], /^usage: opamp-package-server encode agent-to-server\|server-to-agent/],
    [['decode'], /^usage: opamp-package-server decode agent-to-server\|server-to-agent/],
    [['signature'], /^usage: opamp-package-server signature verify FILE/],
    [['signature', 'verify'], /^usage: opamp-package-server signature verify FILE/],
    [['packages'], /^usage: opamp-package-server packages verify DIR/],
    [['packages', 'verify'], /^usage: opamp-package-server packages verify DIR/],
  ];
  // Both spellings for serve; the others alternate. All at once: each is a process of its own.
  const runs = commands.flatMap(([command, usage], index) =>
    (command[0] === 'serve' ? ['--help', '-h'] : [index % 2 === 0 ? '--help' : '-h']).map((flag) => ({
      shown: [...command, flag].join(' '),
      usage,
      answer: runCliAsync([...command, flag]),
    })),
  );
  for (const { shown, usage, answer } of runs) {
    const result = await answer;
    t.equal(result.status, 0, `${shown}: exit status 0`);
    t.match(result.stdout, usage, `${shown}: its usage on stdout`);
    t.equal(result.stderr, '', `${shown}: nothing on stderr`);
  }
  const help = await runCliAsync(['help', 'serve']);
  t.equal(help.status, 0);
  t.match(help.stdout, /^Usage: opamp-package-server serve/, 'help COMMAND shows that command\'s usage');
});

t.test('an unknown option or command names the closest known one', async (t) => {
  const cases: Array<[string[], string]> = [
    [['serve', '--trust-proxi'], 'unknown option --trust-proxi; did you mean --trust-proxy?'],
    [['serve', '--no-trust-proxi'], 'unknown option --no-trust-proxi; did you mean --no-trust-proxy?'],
    [['serve', '--pakages-dir', '/tmp'], 'unknown option --pakages-dir; did you mean --packages-dir?'],
    [['serve', '--xyzzy'], 'unknown option --xyzzy; see opamp-package-server serve --help'],
    [['encode', '--hlep'], 'unknown option --hlep; did you mean --help?'],
    [['signature', 'verify', 'file', '--bundel', 'b.json'], 'unknown option --bundel; did you mean --bundle?'],
    [['packages', 'verify', '/tmp', '--trusted-rot', 'r.json'], 'unknown option --trusted-rot; did you mean --trusted-root?'],
    [['srve'], 'unknown command "srve"; did you mean serve?'],
  ];
  const answers = cases.map(([args]) => runCliAsync(args));
  for (const [index, [args, message]] of cases.entries()) {
    const result = await answers[index]!;
    t.equal(result.status, 2, `${args.join(' ')}: exit status 2`);
    t.match(result.stderr, message, `${args.join(' ')}: names it`);
  }
});
