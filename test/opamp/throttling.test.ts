// Shedding load as the spec's Throttling section asks: 429 per agent or address, 503 when the
// process is overloaded, each with Retry-After (30-60 s) and a ServerToAgent Unavailable error
// whose retry_info says the same; admitted agents keep being served, nothing stored breaks.
import t, { type Test } from 'tap';
import { uidToString } from '../../src/opamp/codec';
import { poll, startServer, uid, type HttpAnswer } from '../helpers/server';
import { waitFor } from '../helpers/wait';

const UNAVAILABLE = 2;

function expectShed(t: Test, answer: HttpAnswer, status: number): void {
  t.equal(answer.status, status, `HTTP ${status}`);
  const seconds = Number(answer.headers.get('retry-after'));
  t.ok(seconds >= 30 && seconds <= 60, `Retry-After ${seconds} s is 30 s plus up to 30 s of jitter`);
  const error = answer.message?.errorResponse;
  t.equal(error?.type, UNAVAILABLE, 'ServerToAgent error of type Unavailable');
  t.equal(Number(error?.retryInfo?.retryAfterNanoseconds), seconds * 1e9, 'retry_info says the same as Retry-After');
  t.equal(Number(answer.message?.capabilities ?? 0), 0, 'capabilities unset on an error');
}

t.test('per-agent limit: a burst far over it gets 429, others are still served', async (t) => {
  const server = await startServer({ 'rate-limit-per-agent': '5/1m' });
  t.teardown(() => server.close());
  const noisy = uid(500);
  const answers: HttpAnswer[] = [];
  for (let sequenceNum = 0; sequenceNum < 40; sequenceNum += 1) {
    answers.push(await poll(server.url, { instanceUid: noisy, sequenceNum, capabilities: 1 }));
  }
  t.same(answers.slice(0, 5).map((answer) => answer.status), [200, 200, 200, 200, 200], 'the first five are admitted');
  for (const answer of answers.slice(5)) {
    if (answer.status !== 429) t.fail(`expected 429, got ${answer.status}`);
  }
  expectShed(t, answers[5]!, 429);
  t.same(Buffer.from(answers[5]!.message!.instanceUid), noisy, 'the refusal names the agent');
  const record = await server.store.getAgent(uidToString(noisy));
  t.equal(record?.sequenceNum, 4, 'refused polls changed nothing stored');
  const quiet = await poll(server.url, { instanceUid: uid(501), capabilities: 1 });
  t.equal(quiet.status, 200, 'another agent is still served');
});

t.test('more agents than the limiter keeps: a misbehaving agent is still limited', async (t) => {
  // The limiter keeps 50 agents; 300 others poll in between. The least recently seen are
  // forgotten, and an agent polling far too often is never the least recently seen.
  const server = await startServer({ 'rate-limit-per-agent': '5/1m', 'rate-limit-tracked-keys': '50' });
  t.teardown(() => server.close());
  const noisy = uid(800);
  const statuses: number[] = [];
  for (let round = 0; round < 30; round += 1) {
    statuses.push((await poll(server.url, { instanceUid: noisy, sequenceNum: round, capabilities: 1 })).status);
    for (let other = 0; other < 10; other += 1) {
      const answer = await poll(server.url, { instanceUid: uid(1000 + round * 10 + other), capabilities: 1 });
      if (answer.status !== 200) t.fail(`agent ${round * 10 + other} polled once and got ${answer.status}`);
    }
  }
  t.same(statuses.slice(0, 5), [200, 200, 200, 200, 200], 'the first five are admitted');
  t.same(statuses.slice(5), Array.from({ length: 25 }, () => 429), 'every later poll is refused, 300 other agents notwithstanding');
  t.equal((await server.store.getAgent(uidToString(noisy)))?.sequenceNum, 4, 'refused polls changed nothing stored');
});

t.test('per-address limit (off by default) refuses before the body is read', async (t) => {
  const server = await startServer({ 'rate-limit-per-address': '3/1m' });
  t.teardown(() => server.close());
  const statuses: number[] = [];
  let last: HttpAnswer | undefined;
  for (let index = 0; index < 6; index += 1) {
    last = await poll(server.url, { instanceUid: uid(600 + index), capabilities: 1 });
    statuses.push(last.status);
  }
  t.same(statuses, [200, 200, 200, 429, 429, 429]);
  expectShed(t, last!, 429);
});

t.test('an overloaded process answers 503 before it falls over', async (t) => {
  // A heap threshold every process exceeds: the next sample puts the server under pressure.
  // Until that sample, polls are served; each comes from an agent of its own, so the one shed
  // is an agent nothing was ever stored for.
  const server = await startServer({ 'overload-heap-used': '1KiB' });
  t.teardown(() => server.close());
  let seed = 700;
  const answer = await waitFor('a poll shed with 503', async () => {
    seed += 1;
    const sent = await poll(server.url, { instanceUid: uid(seed), capabilities: 1 });
    return sent.status === 200 ? undefined : sent;
  });
  expectShed(t, answer, 503);
  t.notOk(await server.store.getAgent(uidToString(uid(seed))), 'the shed poll stored nothing');
});

t.test('defaults: 60 polls a minute per agent, nothing per address', async (t) => {
  const { resolveConfig } = await import('../../src/config');
  const config = resolveConfig({ flags: {}, env: {} });
  t.same(config.rateLimitPerAgent, { max: 60, windowMs: 60_000 });
  t.equal(config.rateLimitPerAddress, undefined);
  t.equal(config.rateLimitTrackedKeys, 250_000, 'the limiter keeps a fleet, not the 5,000 keys of its default');
});
