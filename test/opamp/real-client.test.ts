// A real OpAMP client from npm (@elastic/opamp-client-node, HTTP polling, no AcceptsPackages)
// polls the real server a dozen times: not one error on either side.
import pino from 'pino';
import t from 'tap';
import { createOpAMPClient } from '@elastic/opamp-client-node';
import { uidToString } from '../../src/opamp/codec';
import { startServer } from '../helpers/server';
import { waitFor } from '../helpers/wait';

/** Polls the client makes before it is stopped: its first, then heartbeats 0.2 s apart. */
const POLLS = 12;

t.test('@elastic/opamp-client-node polls without a single error', async (t) => {
  // Every refused or failed request is logged by the server with its error code.
  const serverErrors: unknown[] = [];
  // Start-up warnings (such as "no agent key exists") are about configuration, not this client.
  let started = false;
  const logger = pino({ level: 'info' }, {
    write: (line: string) => {
      const entry = JSON.parse(line) as { code?: string; level: number };
      if (started && (entry.code !== undefined || entry.level >= 40)) serverErrors.push(entry);
    },
  });
  const server = await startServer({}, { logger });
  started = true;
  t.teardown(() => server.close());

  const clientProblems: unknown[] = [];
  const record = (level: string) => (...args: unknown[]) => clientProblems.push({ level, args });
  const quiet = () => undefined;
  const log = { trace: quiet, debug: quiet, info: quiet, warn: record('warn'), error: record('error'), fatal: record('fatal') };
  const client = createOpAMPClient({
    endpoint: `${server.url}/v1/opamp`,
    log: { ...log, child: () => log } as never, // the client's logger type is pino-shaped; ours records calls
    heartbeatIntervalSeconds: 0.2,
  });
  client.setAgentDescription({
    identifyingAttributes: { 'service.name': 'node-app', 'service.version': '1.2.3' },
    nonIdentifyingAttributes: { 'os.type': 'linux', 'host.name': 'test-host' },
  });
  client.start();
  // The sequence number counts the client's messages from 1; listAgents writes the batched ones first.
  await waitFor(`${POLLS} polls of the client`, async () => {
    const [agent] = await server.store.listAgents({ limit: 1 });
    return agent !== undefined && agent.sequenceNum >= POLLS;
  }, { timeoutMs: 30_000 });
  await client.shutdown();

  t.same(clientProblems, [], 'the client logged no warning or error');
  t.same(serverErrors, [], 'the server logged no refusal, warning or error');
  const agents = await server.store.listAgents({ limit: 10 });
  t.equal(agents.length, 1, 'one agent recorded');
  t.same(agents[0]!.description?.identifying, { 'service.name': 'node-app', 'service.version': '1.2.3' });
  t.ok(agents[0]!.sequenceNum >= POLLS, `sequence reached ${agents[0]!.sequenceNum}`);
  t.match(agents[0]!.instanceUid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  t.equal(uidToString(Buffer.from(agents[0]!.instanceUid.replace(/-/g, ''), 'hex')), agents[0]!.instanceUid);
});
