// Rollouts that go wrong: a failure burst that pauses the rollout on its own, a resume, a retry
// the supervisor accepts because the package hash changed, a cancel, a stuck agent and an agent
// that rolls back.
import t from 'tap';
import { uidToString } from '../../src/opamp/codec';
import { SupervisorAgent } from '../helpers/supervisor-agent';
import { fleet } from './helpers';

const upgradedTo = (version: string) => (agent: SupervisorAgent) => agent.currentVersion === version;

t.test('a failure burst pauses the rollout; resume and retry carry it through', async (t) => {
  const { admin, agents, pollAll, tick } = await fleet(t);
  const healthy = agents(4);
  const failing = agents(4, { failInstall: 'disk full' });
  const everyone = [...healthy, ...failing];
  await pollAll(everyone);
  const created = await admin('POST', '/api/v1/rollouts', { version: '0.112.0', max_failure_ratio: 0.25 });
  t.equal(created.status, 201);
  const id = created.body.id as string;

  await pollAll(everyone, 6);
  t.equal(healthy.filter(upgradedTo('0.112.0')).length, 4);
  await tick();
  let shown = await admin('GET', `/api/v1/rollouts/${id}`);
  t.equal(shown.body.status, 'paused', 'paused by itself');
  t.match(shown.body.reason, /failure ratio 0\.500 \(4 failed or stuck of 8 offered\)/);
  t.equal(shown.body.states.failed, 4);
  const failed = await admin('GET', `/api/v1/rollouts/${id}/agents?state=failed`);
  t.same(failed.body.agents.map((member: { error_message: string }) => member.error_message), ['disk full', 'disk full', 'disk full', 'disk full']);

  // While paused, an agent that appears is not offered anything, by this or the default.
  const late = agents(1);
  await pollAll(late, 3);
  t.equal(late[0]!.offersReceived, 0, 'nothing offered while paused');

  const resumed = await admin('POST', `/api/v1/rollouts/${id}/resume`);
  t.equal(resumed.status, 200);
  await tick();
  t.equal((await admin('GET', `/api/v1/rollouts/${id}`)).body.status, 'active', 'failures before the resume are acknowledged');
  await pollAll(late, 6);
  t.equal(late[0]!.currentVersion, '0.112.0', 'a late agent is admitted and upgraded after the resume');

  // The agents' disks are fixed; without a new hash the supervisor would refuse the same package.
  // The helper keeps its options private; the test reaches in to mend the disks.
  for (const agent of failing) delete (agent as unknown as { options: { failInstall?: string } }).options.failInstall;
  const downloadsBefore = failing.map((agent) => agent.downloads);
  const chosen = uidToString(failing[0]!.instanceUid);
  const one = await admin('POST', `/api/v1/rollouts/${id}/retry`, { instance_uids: [chosen] });
  t.equal(one.status, 200, JSON.stringify(one.body));
  t.same(one.body.retried, [chosen], 'only the listed agent');
  await pollAll(failing, 6);
  t.equal(failing[0]!.currentVersion, '0.112.0', 'the retried agent took the new hash');
  t.equal(failing[0]!.downloads, downloadsBefore[0]! + 1);
  t.equal(failing.filter(upgradedTo('0.112.0')).length, 1, 'the others were not offered again');

  const rest = await admin('POST', `/api/v1/rollouts/${id}/retry`);
  t.equal(rest.status, 200, JSON.stringify(rest.body));
  t.equal(rest.body.retried.length, 3);
  await pollAll(failing, 6);
  t.equal(failing.filter(upgradedTo('0.112.0')).length, 4);
  await tick();
  shown = await admin('GET', `/api/v1/rollouts/${id}`);
  t.equal(shown.body.states.installed, 9);
  t.equal(shown.body.status, 'active');
  const history = (await admin('GET', `/api/v1/agents/${chosen}`)).body.rollout_history.map((change: { to_state: string }) => change.to_state);
  t.same(history.slice(0, 3), ['installed', 'installing', 'downloading'], 'the history shows the retry through to the end');
  t.ok(history.includes('failed'));
});

t.test('cancel stops new offers; upgraded agents stay', async (t) => {
  const { admin, agents, pollAll, tick, clock } = await fleet(t, { offer: 'latest' });
  // Created before any agent is known: both are admitted as they appear, one per wave.
  const created = await admin('POST', '/api/v1/rollouts', { version: '0.111.0', waves: [{ percent: 50 }, { percent: 100 }] });
  const id = created.body.id as string;
  const first = agents(2);
  await pollAll(first, 6);
  t.equal(first.filter(upgradedTo('0.111.0')).length, 1, 'the explicit rollout overrides --offer latest');
  const cancelled = await admin('POST', `/api/v1/rollouts/${id}/cancel`);
  t.equal(cancelled.status, 200);
  t.equal(cancelled.body.status, 'cancelled');
  t.match(cancelled.body.reason, /cancelled by/);
  clock.advance(3_600_000);
  await tick();
  await pollAll(first, 6);
  t.same(first.map((agent) => agent.currentVersion).sort(), ['0.110.0', '0.111.0'], 'nothing more offered; the upgraded one stays');
  t.equal((await admin('POST', `/api/v1/rollouts/${id}/resume`)).status, 409, 'a cancelled rollout cannot resume');
  t.equal((await admin('POST', `/api/v1/rollouts/${id}/pause`)).status, 409);
  t.equal((await admin('GET', '/api/v1/rollouts/00000000-0000-7000-8000-000000000000')).status, 404);
});

t.test('a stuck agent and a rolled-back agent', async (t) => {
  const { admin, agents, pollAll, tick, clock, server } = await fleet(t, { 'stuck-after': '10m' });
  const [quiet, steady] = agents(2);
  await pollAll([quiet!, steady!]);
  const created = await admin('POST', '/api/v1/rollouts', { version: '0.112.0', max_failure_ratio: 1 });
  const id = created.body.id as string;
  await quiet!.poll(); // offered, then silent
  await pollAll([steady!], 6);
  t.equal(steady!.currentVersion, '0.112.0');

  clock.advance(9 * 60_000);
  await tick();
  t.equal((await admin('GET', `/api/v1/rollouts/${id}`)).body.states.stuck, 0, 'not yet');
  clock.advance(2 * 60_000);
  await tick();
  const shown = await admin('GET', `/api/v1/rollouts/${id}`);
  t.equal(shown.body.states.stuck, 1, 'stuck after --stuck-after without change');
  t.equal(shown.body.status, 'active', 'under max_failure_ratio');
  const stuck = (await admin('GET', `/api/v1/rollouts/${id}/agents?state=stuck`)).body.agents[0];
  t.equal(stuck.instance_uid, uidToString(quiet!.instanceUid));
  t.match(stuck.error_message, /no change since .* \(offered\)/);

  // The same collector comes back on its old version: its supervisor restarted it on 0.110.0.
  const again = new SupervisorAgent({ serverUrl: server.url, instanceUid: steady!.instanceUid, version: '0.110.0' });
  await again.poll();
  await again.poll();
  const member = (await admin('GET', `/api/v1/agents/${uidToString(steady!.instanceUid)}`)).body.rollout.member;
  t.equal(member.state, 'rolled_back');
  t.match(member.error_message, /reports 0\.110\.0 after installing 0\.112\.0/);
});
