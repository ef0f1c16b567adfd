// Answers ready in one turn of the event loop are written together at its end, not one by one
// between the polls; with coalesceAnswers: false each goes out as soon as it is ready. Either
// way every agent gets its own answer, byte for byte the same.
import type net from 'node:net';
import Fastify, { type FastifyReply } from 'fastify';
import pino from 'pino';
import t, { type Test } from 'tap';
import { AnswerBatch } from '../../src/opamp/answer-batch';
import { createPollService, openStore, opampRoute, type PollService } from '../../src/index';
import { decodeServerToAgent, encodeAgentToServer } from '../../src/opamp/codec';
import { startServer, temporaryDirectory, uid } from '../helpers/server';

const PROTOBUF = { 'content-type': 'application/x-protobuf' };

t.test('AnswerBatch sends nothing at once, everything in order after the I/O turn, past a send that throws', async (t) => {
  const sent: string[] = [];
  const errors: unknown[] = [];
  const batch = new AnswerBatch((error) => errors.push(error));
  const reply = (name: string, fails = false) =>
    ({
      send(payload: Buffer) {
        if (fails) throw new Error(`${name} failed`);
        sent.push(`${name}:${payload.toString()}`);
        return this;
      },
    }) as unknown as FastifyReply;
  batch.send(reply('a'), Buffer.from('1'));
  batch.send(reply('b', true), Buffer.from('2'));
  batch.send(reply('c'), Buffer.from('3'));
  t.same(sent, [], 'nothing is written while the turn goes on');
  t.equal(batch.size, 3);
  await new Promise((resolve) => setImmediate(resolve));
  t.same(sent, ['a:1', 'c:3'], 'then all of them, in the order they were ready');
  t.equal(errors.length, 1, 'the send that threw is reported, and did not hold the others back');
  t.equal(batch.size, 0);
  batch.send(reply('d'), Buffer.from('4'));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(sent, ['a:1', 'c:3', 'd:4'], 'a later turn is flushed on its own');
});

/** A Fastify app with the route, recording when each poll is handled and when its answer is sent. */
async function appRecording(t: Test, coalesceAnswers: boolean | undefined) {
  const logger = pino({ level: 'silent' });
  const { agents: store } = await openStore({ store: 'sqlite', dataDir: temporaryDirectory(), writeBatchMs: 50 }, logger);
  const events: string[] = [];
  const service = createPollService({ store, offers: undefined, offlineAfterMs: 90_000, logger });
  const poll: PollService = (message, baseUrl, subject) => {
    events.push(`poll ${message.sequenceNum}`);
    return service(message, baseUrl, subject);
  };
  const app = Fastify();
  app.addHook('onSend', async (request, _reply, payload) => {
    if (request.url === '/v1/opamp') events.push(`send ${request.headers['x-poll']}`);
    return payload;
  });
  await app.register(opampRoute, { poll, ...(coalesceAnswers === undefined ? {} : { coalesceAnswers }) });
  t.teardown(async () => {
    await app.close();
    await store.close();
  });
  return { app, events };
}

const bodyOf = (agent: number, sequenceNum: number) =>
  Buffer.from(encodeAgentToServer({ instanceUid: uid(agent), sequenceNum, capabilities: 1 }));

for (const coalesceAnswers of [undefined, false]) {
  const mode = coalesceAnswers === false ? 'coalesceAnswers: false' : 'by default';
  t.test(`${mode}: polls that arrive together ${coalesceAnswers === false ? 'are answered one by one' : 'are answered together'}`, async (t) => {
    const { app, events } = await appRecording(t, coalesceAnswers);
    // Known agents first, so that every poll below is answered from memory.
    for (let agent = 1; agent <= 3; agent += 1) {
      await app.inject({ method: 'POST', url: '/v1/opamp', payload: bodyOf(agent, 0), headers: { ...PROTOBUF, 'x-poll': '0' } });
    }
    events.length = 0;
    const answers = await Promise.all([1, 2, 3].map((agent) =>
      app.inject({ method: 'POST', url: '/v1/opamp', payload: bodyOf(agent, agent * 10), headers: { ...PROTOBUF, 'x-poll': String(agent * 10) } })));
    for (const [index, answer] of answers.entries()) {
      t.equal(answer.statusCode, 200);
      t.same(Buffer.from(decodeServerToAgent(answer.rawPayload).instanceUid), uid(index + 1), 'each agent gets its own answer');
    }
    const expected = coalesceAnswers === false
      ? ['poll 10', 'send 10', 'poll 20', 'send 20', 'poll 30', 'send 30']
      : ['poll 10', 'poll 20', 'poll 30', 'send 10', 'send 20', 'send 30'];
    t.same(events, expected, coalesceAnswers === false ? 'each answer is sent as soon as its poll is handled' : 'the answers go out after all three polls were handled');
  });
}

t.test('over real sockets: many agents at once each get their own answer, the same bytes in both modes', async (t) => {
  const bodies: Buffer[][] = [];
  for (const coalesceAnswers of [true, false]) {
    const { app } = await appRecording(t, coalesceAnswers);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as net.AddressInfo;
    const answers = await Promise.all(Array.from({ length: 40 }, async (_, agent) => {
      const response = await fetch(`http://127.0.0.1:${port}/v1/opamp`, {
        method: 'POST', headers: { ...PROTOBUF, 'accept-encoding': agent % 2 === 0 ? 'gzip' : 'identity' }, body: bodyOf(agent + 100, 0),
      });
      t.equal(response.status, 200);
      return Buffer.from(await response.arrayBuffer());
    }));
    answers.forEach((answer, agent) =>
      t.same(Buffer.from(decodeServerToAgent(answer).instanceUid), uid(agent + 100), `agent ${agent} is answered about itself`));
    bodies.push(answers);
  }
  t.same(bodies[0], bodies[1], 'coalescing changes when answers are written, not what they say');
});

t.test('the real server: --coalesce-answers on by default, and false answers each poll as it is handled', async (t) => {
  for (const flag of [undefined, 'false']) {
    // The poll service reads the clock once per poll: a mark of when each poll was handled.
    const events: string[] = [];
    const server = await startServer(flag === undefined ? {} : { 'coalesce-answers': flag }, {
      now: () => {
        events.push('poll');
        return Date.now();
      },
    });
    t.teardown(() => server.close());
    t.equal(server.config.coalesceAnswers, flag === undefined, `--coalesce-answers ${flag ?? '(default)'} is read`);
    const inject = (agent: number, sequenceNum: number) =>
      server.app.inject({ method: 'POST', url: '/v1/opamp', payload: bodyOf(agent, sequenceNum), headers: PROTOBUF });
    for (const agent of [1, 2, 3]) await inject(agent, 0);
    events.length = 0;
    await Promise.all([1, 2, 3].map((agent) => inject(agent, 1).then((answer) => events.push(`answer ${answer.statusCode}`))));
    t.same(events, flag === undefined
      ? ['poll', 'poll', 'poll', 'answer 200', 'answer 200', 'answer 200']
      : ['poll', 'answer 200', 'poll', 'answer 200', 'poll', 'answer 200'], flag === undefined ? 'answered together' : 'answered one by one');
  }
});
