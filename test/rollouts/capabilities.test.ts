// A poll that carries capabilities 0 (a bare poll: nothing to report but its instance_uid) keeps
// the agent's stored capabilities but is not answered with an offer; the rollouts follow the
// same rule, so an agent is taken on by the very answer that carries its offer.
import t from 'tap';
import { uidToString } from '../../src/opamp/codec';
import { poll, uid } from '../helpers/server';
import { ACCEPTS_PACKAGES, agentMessage, nextSeed, topLevel } from '../e2e/helpers';
import { fleet } from './helpers';

t.test('a bare poll neither takes an agent into a rollout nor gets its offer', async (t) => {
  const { server, admin } = await fleet(t);
  const created = await admin('POST', '/api/v1/rollouts', { version: '0.112.0' });
  t.equal(created.status, 201, created.text);
  const id = created.body.id as string;
  const members = async (): Promise<string[]> => {
    const listed = await admin('GET', `/api/v1/rollouts/${id}/agents`);
    t.equal(listed.status, 200, listed.text);
    return (listed.body.agents as Array<{ instance_uid: string }>).map((member) => member.instance_uid);
  };

  // Known to the server, with AcceptsPackages, while the rollout takes no one on.
  t.equal((await admin('POST', `/api/v1/rollouts/${id}/pause`)).status, 200);
  const agent = { seed: nextSeed(), version: '0.110.0' };
  const agentUid = uidToString(uid(agent.seed));
  const known = await poll(server.url, agentMessage(agent, 0));
  t.equal(known.status, 200);
  t.equal(topLevel(known.message), undefined, 'nothing offered while the rollout is paused');
  t.same(await members(), []);
  t.equal((await admin('POST', `/api/v1/rollouts/${id}/resume`)).status, 200);

  const bare = await poll(server.url, { instanceUid: uid(agent.seed), sequenceNum: 1 });
  t.equal(bare.status, 200);
  t.notOk(bare.message?.packagesAvailable, 'a bare poll is not answered with an offer');
  t.same(await members(), [], 'nor taken into the rollout');
  const stored = await server.store.getAgent(agentUid);
  t.equal(stored?.capabilities, ACCEPTS_PACKAGES, 'the stored capabilities stay what the agent last said');

  const full = await poll(server.url, agentMessage(agent, 2));
  t.equal(full.status, 200);
  t.equal(topLevel(full.message)?.version, 'v0.112.0', 'the next poll with AcceptsPackages is offered the rollout version');
  t.same(await members(), [agentUid], 'and taken on by that same answer');
});
