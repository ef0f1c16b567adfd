// Downgrades need allow_downgrade; a version outside the catalog is refused; a restart in the
// middle of a rollout loses nothing (states, waves, pause).
import t from 'tap';
import { fleet } from './helpers';

t.test('a downgrade is refused without allow_downgrade and done with it', async (t) => {
  const { admin, agents, pollAll } = await fleet(t);
  const ahead = agents(2, { version: '0.112.0' });
  await pollAll(ahead);
  const body = { version: '0.111.0' };
  const preview = await admin('POST', '/api/v1/rollouts/preview', body);
  t.equal(preview.body.agents, 0);
  t.equal(preview.body.downgrades_refused.length, 2, 'the preview names the agents it would have to downgrade');
  const refused = await admin('POST', '/api/v1/rollouts', body);
  t.equal(refused.body.agents, 0);
  await pollAll(ahead, 4);
  t.same(ahead.map((agent) => agent.offersReceived), [0, 0], 'nothing offered');

  const allowed = await admin('POST', '/api/v1/rollouts', { ...body, allow_downgrade: true });
  t.equal(allowed.status, 201);
  t.equal(allowed.body.agents, 2, 'the newest rollout takes the agents over');
  await pollAll(ahead, 6);
  t.same(ahead.map((agent) => agent.currentVersion), ['0.111.0', '0.111.0'], 'downgraded');
});

t.test('requests that cannot be a rollout', async (t) => {
  const { admin } = await fleet(t);
  const both = await admin('POST', '/api/v1/rollouts', { version: '0.112.0', waves: [{ percent: 100 }], rollout_duration_seconds: 60 });
  t.equal(both.status, 400);
  t.match(both.body.error, /not both/);
  t.equal((await admin('POST', '/api/v1/rollouts', { version: '0.199.0' })).status, 422, 'not in the catalog');
  t.equal((await admin('POST', '/api/v1/rollouts/preview', { version: '0.199.0' })).status, 422);
  t.equal((await admin('POST', '/api/v1/rollouts', { version: '0.112.0', waves: [{ percent: 50 }] })).status, 400, 'last wave under 100');
  t.equal((await admin('POST', '/api/v1/rollouts', { version: '0.112.0', selector: { version: 'not a range' } })).status, 400);
  t.same((await admin('GET', '/api/v1/rollouts')).body.rollouts, []);
});

t.test('start_time and a duration: nothing before the start, offers spread over the period', async (t) => {
  const { admin, agents, pollAll, clock } = await fleet(t);
  const many = agents(4);
  await pollAll(many);
  const start = new Date(clock.nowMs + 60_000).toISOString();
  await admin('POST', '/api/v1/rollouts', { version: '0.112.0', start_time: start, rollout_duration_seconds: 400 });
  await pollAll(many, 2);
  t.same(many.map((agent) => agent.offersReceived), [0, 0, 0, 0], 'nothing before start_time');
  clock.advance(60_000);
  await pollAll(many, 1);
  t.equal(many.filter((agent) => agent.offersReceived > 0).length, 1, 'the first of four slots');
  clock.advance(200_000);
  await pollAll(many, 1);
  t.equal(many.filter((agent) => agent.offersReceived > 0).length, 3, 'three slots have passed');
  clock.advance(100_000);
  await pollAll(many, 6);
  t.equal(many.filter((agent) => agent.currentVersion === '0.112.0').length, 4);
});

t.test('a restart in the middle of a rollout loses nothing', async (t) => {
  const first = await fleet(t);
  const group = first.agents(6);
  await first.pollAll(group);
  const created = await first.admin('POST', '/api/v1/rollouts', {
    version: '0.112.0', waves: [{ percent: 50 }, { percent: 100 }], max_failure_ratio: 0.5,
  });
  const id = created.body.id as string;
  await first.pollAll(group, 2); // the first wave is mid-download
  const before = (await first.admin('GET', `/api/v1/rollouts/${id}`)).body;
  t.equal(before.waves[0].states.downloading, 3);
  const port = Number(new URL(first.server.url).port);
  await first.server.close();

  const second = await fleet(t, {}, { config: first.config, clock: first.clock, port });
  const after = (await second.admin('GET', `/api/v1/rollouts/${id}`)).body;
  t.same(after, before, 'the rollout, its waves and every state survived the restart');
  await second.pollAll(group, 6);
  await second.tick();
  await second.pollAll(group, 6);
  t.equal(group.filter((agent) => agent.currentVersion === '0.112.0').length, 6, 'carried through on the new instance');
  t.equal((await second.admin('GET', `/api/v1/rollouts/${id}`)).body.states.installed, 6);
  t.same(group.flatMap((agent) => agent.errors.filter((error) => error.kind !== 'network')), []);
});
