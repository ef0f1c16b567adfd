// The database goes away under load and comes back: the server answers 503 with Retry-After and
// retry_info meanwhile, does not crash, writes its batch once the database returns, and loses
// nothing it confirmed to an agent. The test runs a PostgreSQL cluster of its own so it can stop it.
import t from 'tap';
import { Pool } from 'pg';
import { uidToString } from '../../src/opamp/codec';
import { createPrivateCluster, privateClusterUnavailable, waitFor } from '../helpers/private-postgres';
import { description, poll, startServer, uid, type HttpAnswer } from '../helpers/server';

const unavailable = privateClusterUnavailable();
if (unavailable !== undefined) {
  t.plan(0, `needs a private PostgreSQL cluster: ${unavailable}`);
} else {
  t.test('PostgreSQL stopped mid-load, then back', async (t) => {
    const cluster = await createPrivateCluster();
    const server = await startServer({ store: cluster.url, 'write-batch-ms': '200' }).catch((error: unknown) => {
      cluster.destroy();
      throw error;
    });
    t.teardown(async () => {
      await server.close();
      cluster.destroy();
    });
    const agents = Array.from({ length: 20 }, (_, index) => uid(9000 + index));
    /** What each agent was last told with a 200: the durable description and the sequence number. */
    const confirmed = new Map<string, { sequenceNum: number; version: string }>();
    const sequence = new Map<string, number>();
    const outcomes: HttpAnswer[] = [];

    const pollAgent = async (agent: Buffer, version: string | undefined): Promise<HttpAnswer> => {
      const key = uidToString(agent);
      const sequenceNum = sequence.get(key) ?? 0;
      const answer = await poll(server.url, {
        instanceUid: agent,
        sequenceNum,
        capabilities: 1,
        ...(version === undefined ? {} : { agentDescription: description({ 'service.name': 'otelcol-contrib', 'service.version': version }) }),
      });
      outcomes.push(answer);
      if (answer.status === 200) {
        sequence.set(key, sequenceNum + 1);
        const previous = confirmed.get(key);
        confirmed.set(key, { sequenceNum, version: version ?? previous!.version });
      }
      return answer;
    };

    // Every agent known and written, then a round of routine polls sitting in the batch.
    for (const agent of agents) t.equal((await pollAgent(agent, '0.100.0')).status, 200);
    // A load running through the outage: routine polls and durable changes (a new version).
    let running = true;
    let round = 0;
    const load = (async () => {
      while (running) {
        round += 1;
        await Promise.all(agents.map((agent, index) => pollAgent(agent, index % 4 === 0 ? `0.${100 + round}.0` : undefined)));
      }
    })();

    await waitFor(() => round >= 3, 20_000, 'a few rounds before the outage');
    cluster.stop('immediate');
    const failedBefore = outcomes.filter((answer) => answer.status !== 200).length;
    await waitFor(() => outcomes.filter((answer) => answer.status !== 200).length > failedBefore + 10, 30_000, 'polls refused while the database is down');

    // While it is down: a new agent is refused with the spec's Unavailable answer.
    const refused = await poll(server.url, { instanceUid: uid(9999), sequenceNum: 0, capabilities: 1 });
    t.equal(refused.status, 503, 'a poll that needs the store gets 503');
    const retryAfter = Number(refused.headers.get('retry-after'));
    t.ok(retryAfter >= 30, `Retry-After says when to come back (${retryAfter})`);
    t.equal(refused.message?.errorResponse?.type, 2, 'error_response of type Unavailable');
    t.equal(Number(refused.message?.errorResponse?.retryInfo?.retryAfterNanoseconds), retryAfter * 1e9, 'retry_info says the same');
    const status = await fetch(`${server.url}/api/status`);
    t.equal(status.status, 503, '/api/status reports the failing store');
    t.equal(((await status.json()) as { status: string }).status, 'DEGRADED');
    const listing = await fetch(`${server.url}/api/v1/agents`);
    t.equal(listing.status, 503, 'the admin API answers 503, not a crash');
    const body = (await listing.json()) as { code: string };
    t.equal(body.code, 'STORE_FAILURE');

    cluster.start();
    // Back: polls are answered again (the pool opens new connections by itself).
    await waitFor(async () => (await poll(server.url, { instanceUid: uid(9999), sequenceNum: 0, capabilities: 1 })).status === 200,
      30_000, 'polls answered once the database is back');
    await waitFor(() => outcomes.slice(-agents.length).every((answer) => answer.status === 200), 30_000, 'the load answered again');
    running = false;
    await load;
    t.ok(outcomes.every((answer) => answer.status === 200 || answer.status === 503), 'every poll got 200 or 503, nothing else');
    t.ok(outcomes.some((answer) => answer.status === 503), 'some polls met the outage');

    // The batch timer writes what waited, with no stop or flush to help it: the table comes to
    // hold what every agent was last told.
    const pool = new Pool({ connectionString: cluster.url });
    t.teardown(() => pool.end());
    const behind = async (): Promise<string[]> => {
      const rows = await pool.query<{ instance_uid: string; sequence_num: string; record: string }>(
        'SELECT instance_uid, sequence_num, record FROM agents',
      );
      const stored = new Map(rows.rows.map((row) => [row.instance_uid, row]));
      const missing: string[] = [];
      for (const [key, expected] of confirmed) {
        const row = stored.get(key);
        const version = row && (JSON.parse(row.record) as { description?: { identifying?: Record<string, string> } })
          .description?.identifying?.['service.version'];
        if (!row || Number(row.sequence_num) < expected.sequenceNum || version !== expected.version) {
          missing.push(`${key}: stored ${row?.sequence_num}/${version}, answered ${expected.sequenceNum}/${expected.version}`);
        }
      }
      return missing;
    };
    let lastBehind: string[] = [];
    await waitFor(async () => (lastBehind = await behind()).length === 0, 20_000, 'the batch written').catch(() => undefined);
    t.same(lastBehind, [], 'every sequence number and version answered with a 200 is in the database');
    t.equal(confirmed.size, agents.length, 'every agent was confirmed at least once');
  });

  t.test('a refused durable change keeps the routine write that waited before it', async (t) => {
    const cluster = await createPrivateCluster();
    // A long batch window: the routine poll is still waiting when the database goes.
    const server = await startServer({ store: cluster.url, 'write-batch-ms': '3600000' }).catch((error: unknown) => {
      cluster.destroy();
      throw error;
    });
    t.teardown(async () => {
      await server.close();
      cluster.destroy();
    });
    const agent = uid(9100);
    const first = description({ 'service.name': 'otelcol-contrib', 'service.version': '0.100.0' });
    t.equal((await poll(server.url, { instanceUid: agent, sequenceNum: 0, capabilities: 1, agentDescription: first })).status, 200);
    t.equal((await poll(server.url, { instanceUid: agent, sequenceNum: 1, capabilities: 1 })).status, 200, 'routine poll answered from the batch');
    cluster.stop('immediate');
    const changed = description({ 'service.name': 'otelcol-contrib', 'service.version': '0.101.0' });
    const refused = await poll(server.url, { instanceUid: agent, sequenceNum: 2, capabilities: 1, agentDescription: changed });
    t.equal(refused.status, 503, 'the durable change cannot be written, so it is refused');
    cluster.start();
    await server.store.flush();
    const pool = new Pool({ connectionString: cluster.url });
    t.teardown(() => pool.end());
    const row = await pool.query<{ sequence_num: string; record: string }>('SELECT sequence_num, record FROM agents WHERE instance_uid = $1', [uidToString(agent)]);
    t.equal(Number(row.rows[0]?.sequence_num), 1, 'the sequence number answered before the outage is written');
    t.match(row.rows[0]?.record, /0\.100\.0/, 'the refused description is not');
    // The agent retries its refused message; the server knows its sequence and takes it as next.
    const retried = await poll(server.url, { instanceUid: agent, sequenceNum: 2, capabilities: 1, agentDescription: changed });
    t.equal(retried.status, 200);
    t.equal(Number(retried.message?.flags ?? 0) & 1, 0, 'no full state asked: nothing the agent was told was lost');
  });
}
