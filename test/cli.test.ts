// The command line as an operator uses it: serve's options and their precedence, a clean stop
// that loses nothing, a restart that keeps agents, and encode/decode with curl.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { resolveConfig } from '../src/config';
import { decodeServerToAgent } from '../src/opamp/codec';
import { runCli, startServeProcess } from './helpers/cli';
import { poll, temporaryDirectory, uid } from './helpers/server';

t.test('option precedence: flag, then environment, then config file, then default', async (t) => {
  const dir = temporaryDirectory();
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify({ port: 5000, dataDir: '/from/file', host: '0.0.0.0', signerRepository: 'x/y' }));
  const config = resolveConfig({
    flags: { port: '6000' },
    env: { OPAMP_PORT: '7000', OPAMP_DATA_DIR: '/from/env', OPAMP_SIGNER_REPOSITORY: '' },
    configFile: file,
  });
  t.equal(config.port, 6000, 'flag wins');
  t.equal(config.dataDir, '/from/env', 'environment beats file');
  t.equal(config.host, '0.0.0.0', 'file beats default');
  t.equal(config.signerRepository, '', 'an empty value is a value');
  t.equal(config.agentOfflineAfter, 90_000, 'default');
  t.equal(config.maxMessageBytes, 4 * 1024 * 1024);
});

t.test('a bad option stops the start with one line naming it', async (t) => {
  for (const [args, env, name] of [
    [['serve', '--port', 'abc'], {}, '--port'],
    [['serve', '--max-message-bytes', 'lots'], {}, '--max-message-bytes'],
    [['serve'], { OPAMP_AGENT_OFFLINE_AFTER: '-1' }, '--agent-offline-after'],
    [['serve', '--offer', 'newest'], {}, '--offer'],
    [['serve', '--no-such-flag'], {}, '--no-such-flag'],
  ] as const) {
    const result = runCli([...args], undefined, env);
    t.equal(result.status, 2, `${name}: exit status 2`);
    const lines = result.stderr.trim().split('\n');
    t.equal(lines.length, 1, `${name}: one line`);
    t.match(lines[0], name);
  }
});

t.test('--help lists every option with its variable', async (t) => {
  const result = runCli(['--help']);
  t.equal(result.status, 0);
  const text = result.stdout.toString();
  for (const fragment of ['--data-dir', 'OPAMP_DATA_DIR', '"dataDir"', '--max-response-bytes', '--agent-offline-after']) {
    t.match(text, fragment);
  }
});

t.test('a poll with curl, encoded and decoded by the command line', async (t) => {
  const dataDir = temporaryDirectory();
  const server = await startServeProcess(['--data-dir', dataDir]);
  t.teardown(() => server.stop());
  const json = JSON.stringify({
    instance_uid: Buffer.from(uid(200)).toString('base64'),
    sequence_num: '0',
    capabilities: '1',
    agent_description: { identifying_attributes: [{ key: 'service.name', value: { string_value: 'otelcol-contrib' } }] },
  });
  const encoded = runCli(['encode', 'agent-to-server'], json);
  t.equal(encoded.status, 0, encoded.stderr);
  const bodyFile = path.join(dataDir, 'poll.bin');
  fs.writeFileSync(bodyFile, encoded.stdout);
  const answer = execFileSync('curl', [
    '-sS', '--compressed', '-H', 'Content-Type: application/x-protobuf', '--data-binary', `@${bodyFile}`,
    `${server.url}/v1/opamp`,
  ]);
  const decoded = runCli(['decode', 'server-to-agent'], answer);
  t.equal(decoded.status, 0, decoded.stderr);
  const object = JSON.parse(decoded.stdout.toString());
  t.equal(object.instanceUid, Buffer.from(uid(200)).toString('base64'));
  t.equal(object.capabilities, '25');
  t.equal(object.flags, '1', 'a new agent is asked for its full state');
  const message = decodeServerToAgent(answer);
  t.equal(Number(message.capabilities), 0x19);

  const status = execFileSync('curl', [
    '-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Content-Type: text/plain', '--data-binary', `@${bodyFile}`,
    `${server.url}/v1/opamp`,
  ]).toString();
  t.equal(status, '415');
});

t.test('SIGTERM flushes batched writes and a restart keeps every agent', async (t) => {
  const dataDir = temporaryDirectory();
  const first = await startServeProcess(['--data-dir', dataDir]);
  const agents = [uid(300), uid(301), uid(302)];
  for (const agent of agents) await poll(first.url, { instanceUid: agent, sequenceNum: 0, capabilities: 1 });
  // Sequence-only polls are batched writes: only a clean stop writes them.
  for (const agent of agents) {
    const answer = await poll(first.url, { instanceUid: agent, sequenceNum: 1, capabilities: 1 });
    t.equal(answer.status, 200, 'the sequence-only poll is applied');
  }
  t.equal(await first.stop('SIGTERM'), 0, 'exit status 0 on SIGTERM');

  const second = await startServeProcess(['--data-dir', dataDir]);
  t.teardown(() => second.stop());
  for (const agent of agents) {
    const answer = await poll(second.url, { instanceUid: agent, sequenceNum: 2, capabilities: 1 });
    t.equal(Number(answer.message!.flags) & 1, 0, 'the agent is known after the restart, sequence intact');
  }
});

t.test('the README documents every option of serve', async (t) => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const { OPTIONS } = await import('../src/config');
  for (const option of OPTIONS) {
    t.match(readme, `| \`--${option.flag}\` | \`${option.env}\` | \`${option.key}\` |`, `--${option.flag} is in the options table`);
  }
});
