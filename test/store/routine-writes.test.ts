// --routine-write-ms on a real server over HTTP: what another process reading the SQLite file
// sees of an agent's heartbeats. They are held, then written once the hold has passed; a listing
// and a shutdown write them at once.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import t from 'tap';
import { uidToString } from '../../src/opamp/codec';
import { poll, startServer, uid } from '../helpers/server';
import { waitFor } from '../helpers/wait';

t.test('heartbeats are written once the hold has passed, and at once for a listing or a shutdown', async (t) => {
  const server = await startServer({ 'write-batch-ms': '50', 'routine-write-ms': '3000', 'rate-limit-per-agent': 'off' });
  let closed = false;
  t.teardown(() => (closed ? undefined : server.close()));
  const agent = uid(7101);
  const file = path.join(server.config.dataDir, 'opamp-package-server.sqlite');
  const onDisk = (): number => {
    const reader = new Database(file, { readonly: true });
    try {
      const row = reader.prepare('SELECT sequence_num FROM agents WHERE instance_uid = ?').get(uidToString(agent)) as { sequence_num: number } | undefined;
      return row?.sequence_num ?? -1;
    } finally {
      reader.close();
    }
  };
  const heartbeat = async (sequenceNum: number) => {
    const answer = await poll(server.url, { instanceUid: agent, sequenceNum, capabilities: 0x19 });
    t.equal(answer.status, 200);
    t.notOk(answer.message?.flags, `poll ${sequenceNum} is a heartbeat: nothing more is asked`);
  };

  const first = await poll(server.url, {
    instanceUid: agent, sequenceNum: 0, capabilities: 0x19,
    agentDescription: { identifyingAttributes: [{ key: 'service.name', value: { stringValue: 'otelcol-contrib' } }] },
  });
  t.equal(first.status, 200);
  t.equal(onDisk(), 0, 'a new agent is written before it is answered');
  for (const sequence of [1, 2, 3]) await heartbeat(sequence);
  // Ten batch intervals: without the hold, the batch would have written them by now.
  await sleep(500);
  t.equal(onDisk(), 0, 'heartbeats within the hold are not written at each batch');
  await waitFor('the held heartbeat written', () => onDisk() === 3, { timeoutMs: 15_000 });

  await heartbeat(4);
  const listing = await fetch(`${server.url}/api/v1/agents`);
  t.equal(listing.status, 200);
  t.equal(onDisk(), 4, 'a listing writes what is held first');

  await heartbeat(5);
  await server.close();
  closed = true;
  t.equal(onDisk(), 5, 'a shutdown writes what is held');
});
