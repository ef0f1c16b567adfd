// Whole rollouts over the real server, driven by a fleet of supervisor-like agents: waves that
// open in turn, a preview that matches what the rollout then does, which rollout applies.
import t from 'tap';
import { uidToString } from '../../src/opamp/codec';
import { fleet } from './helpers';

t.test('two waves open in turn; the preview matches what the rollout does', async (t) => {
  const { admin, agents, pollAll, tick, clock } = await fleet(t);
  const fleetAgents = agents(10);
  await pollAll(fleetAgents);
  const body = { version: '0.112.0', waves: [{ percent: 30, min_wait_seconds: 60 }, { percent: 100 }] };

  const preview = await admin('POST', '/api/v1/rollouts/preview', body);
  t.equal(preview.status, 200, JSON.stringify(preview.body));
  t.match(preview.body, { matched: 10, agents: 10, waves: [{ percent: 30, agents: 3 }, { percent: 100, agents: 7 }] });
  t.same((await admin('GET', '/api/v1/rollouts')).body.rollouts, [], 'a preview creates nothing');

  const created = await admin('POST', '/api/v1/rollouts', body);
  t.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.id as string;
  t.same(created.body.waves.map((wave: { agents: number }) => wave.agents), [3, 7], 'the waves the preview announced');
  t.equal(created.body.states.scheduled, 10);

  await pollAll(fleetAgents, 6);
  const upgraded = () => fleetAgents.filter((agent) => agent.currentVersion === '0.112.0').length;
  t.equal(upgraded(), 3, 'only the first wave upgraded');
  await tick();
  let shown = await admin('GET', `/api/v1/rollouts/${id}`);
  t.equal(shown.body.waves[0].states.installed, 3);
  t.equal(shown.body.waves[1].opened_at, null, 'the second wave waits its minimum time');

  clock.advance(61_000);
  await tick();
  shown = await admin('GET', `/api/v1/rollouts/${id}`);
  t.not(shown.body.waves[1].opened_at, null, 'the second wave opened once the first succeeded and waited');
  await pollAll(fleetAgents, 6);
  t.equal(upgraded(), 10, 'everyone upgraded');
  shown = await admin('GET', `/api/v1/rollouts/${id}`);
  t.equal(shown.body.states.installed, 10);
  t.same(fleetAgents.flatMap((agent) => agent.errors), []);

  const detail = await admin('GET', `/api/v1/agents/${uidToString(fleetAgents[0]!.instanceUid)}`);
  t.equal(detail.status, 200);
  t.equal(detail.body.rollout.id, id, 'the agent says which rollout applies');
  t.equal(detail.body.rollout.member.state, 'installed');
  t.same(detail.body.rollout_history.map((change: { to_state: string }) => change.to_state).reverse(),
    ['scheduled', 'offered', 'downloading', 'downloading', 'installing', 'installed']);
});
