// The batch queue both stores write their routine updates through: what leaves the queue, what
// stays for the next batch, and that batches never overlap. The store contract (contract.ts)
// covers the same through each store; these cases pin the queue's own rules.
import t from 'tap';
import { BatchQueue } from '../../src/store/batch-queue';
import { waitFor } from '../helpers/wait';

/** A timer that never fires within a test: batches are written only when asked. */
const NEVER = 3_600_000;

t.test('a synchronous writer: written entries leave the queue, a failed batch stays whole', async (t) => {
  const written: string[][] = [];
  let failing = false;
  const queue = new BatchQueue<string, void>({
    write: (entries) => {
      if (failing) throw new Error('disk full');
      written.push(entries);
    },
    intervalMs: NEVER,
    onError: () => t.fail('no timer batch runs here'),
  });
  t.teardown(() => queue.stop());
  queue.entries.set('a', 'a1');
  queue.entries.set('b', 'b1');
  failing = true;
  t.throws(() => queue.write(), { message: 'disk full' }, 'a write asked for directly throws');
  t.same([...queue.entries.values()], ['a1', 'b1'], 'and keeps everything queued');
  failing = false;
  t.equal(queue.write(), undefined, 'returns nothing: the rows are written in this turn');
  t.same(written, [['a1', 'b1']]);
  t.equal(queue.entries.size, 0);
  queue.entries.set('c', 'c1');
  queue.write(1);
  t.same(written.at(-1), ['c1'], 'a limit takes at most that many');
  queue.entries.set('f', 'f1');
  queue.entries.set('d', 'd1');
  queue.entries.set('e', 'e1');
  queue.write(2);
  t.same(written.at(-1), ['d1', 'f1'], 'the first ones queued, handed over in the order of their keys');
  t.same([...queue.entries.keys()], ['e'], 'the rest waits');
});

t.test('an asynchronous writer: one batch at a time, and an entry replaced meanwhile stays', async (t) => {
  let inFlight = 0;
  let mostInFlight = 0;
  const releases: Array<() => void> = [];
  const written: string[][] = [];
  const queue = new BatchQueue<string, Promise<void>>({
    write: async (entries) => {
      inFlight += 1;
      mostInFlight = Math.max(mostInFlight, inFlight);
      await new Promise<void>((resolve) => releases.push(resolve));
      written.push(entries);
      inFlight -= 1;
    },
    intervalMs: NEVER,
    onError: () => t.fail('no timer batch runs here'),
  });
  t.teardown(() => queue.stop());
  queue.entries.set('a', 'a1');
  const first = queue.write();
  queue.entries.set('a', 'a2');
  const second = queue.write();
  await waitFor('the first batch to start', () => releases.length === 1);
  releases.shift()!();
  await first;
  t.same(written, [['a1']]);
  t.equal(queue.entries.get('a'), 'a2', 'the newer entry was not dropped with the written one');
  await waitFor('the second batch to start', () => releases.length === 1);
  releases.shift()!();
  await second;
  t.same(written, [['a1'], ['a2']]);
  t.equal(queue.entries.size, 0);
  t.equal(mostInFlight, 1, 'the second batch waited for the first');
});

t.test('the timer writes in chunks until nothing is queued, and reports a failure', async (t) => {
  const written: string[][] = [];
  const errors: unknown[] = [];
  let failing = true;
  const queue = new BatchQueue<string, void>({
    write: (entries) => {
      if (failing) throw new Error('locked');
      written.push(entries);
    },
    intervalMs: 10,
    chunkRows: 2,
    onError: (error) => errors.push(error),
  });
  t.teardown(() => queue.stop());
  // Queued out of order: the timer writes every due entry sorted by key, so that neighbouring
  // rows share index pages.
  for (const key of ['d', 'b', 'e', 'a', 'c']) queue.entries.set(key, key);
  await waitFor('a failed timer batch to be reported', () => errors.length > 0);
  t.match(errors[0], { message: 'locked' });
  t.equal(queue.entries.size, 5, 'nothing was dropped');
  failing = false;
  await waitFor('the queue to be written', () => queue.entries.size === 0);
  t.same(written, [['a', 'b'], ['c', 'd'], ['e']], 'chunks of two, in the order of the keys');
});

t.test('after stop the timer writes nothing more; a write asked for still goes', async (t) => {
  const written: string[][] = [];
  const queue = new BatchQueue<string, void>({ write: (entries) => void written.push(entries), intervalMs: 10, onError: () => undefined });
  queue.stop();
  queue.entries.set('a', 'a1');
  // What must not happen cannot be waited for: several intervals give the timer every chance.
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.same(written, [], 'the timer wrote nothing');
  queue.write();
  t.same(written, [['a1']], 'the last write, as a store makes it on close');
});

t.test('with a hold, a round starts once the entry queued first has waited, and takes everything queued', async (t) => {
  // Each written entry with the tick it was written in.
  const written: Array<{ name: string; queued: number; writtenAt: number }> = [];
  const queue = new BatchQueue<{ name: string; tick: number }, void>({
    write: (entries) => {
      for (const entry of entries) written.push({ name: entry.name, queued: entry.tick, writtenAt: queue.tick });
    },
    intervalMs: 20,
    holdTicks: 3,
    queuedTick: (entry) => entry.tick,
    onError: (error) => t.fail(String(error)),
  });
  t.teardown(() => queue.stop());
  const startTick = queue.tick;
  queue.entries.set('late', { name: 'late', tick: queue.tick });
  await waitFor('two ticks', () => queue.tick >= startTick + 2);
  // Queued later, but first in key order.
  queue.entries.set('early', { name: 'early', tick: queue.tick });
  await waitFor('the first round', () => written.length > 0);
  t.same(written.map((entry) => entry.name), ['early', 'late'], 'one round took both, in key order');
  const round = written[0]!.writtenAt;
  t.ok(round >= startTick + 4, 'the entry queued first waited its three ticks and the next');
  t.ok(written.every((entry) => entry.writtenAt === round), 'the one queued later did not wait for a round of its own');
  t.ok(round - written[0]!.queued < 4, 'so it waited less than the hold');

  // An agent written in that round and queued again waits for a round of its own.
  queue.entries.set('late', { name: 'late', tick: queue.tick });
  const queuedAgain = queue.tick;
  await waitFor('the second round', () => written.length > 2);
  t.ok(written[2]!.writtenAt >= queuedAgain + 4, 'the next round waited the whole hold');

  queue.entries.set('direct', { name: 'direct', tick: queue.tick });
  queue.write();
  t.same(written.at(-1), { name: 'direct', queued: queue.tick, writtenAt: queue.tick }, 'a write asked for directly does not wait');
});

t.test('a round larger than a chunk goes out in key order across chunks, whatever the first characters', async (t) => {
  const written: string[][] = [];
  const queue = new BatchQueue<string, void>({
    write: (entries) => void written.push(entries),
    intervalMs: 10,
    chunkRows: 3,
    onError: (error) => t.fail(String(error)),
  });
  t.teardown(() => queue.stop());
  const keys = ['f0', 'a9', '', 'b1', 'a1', 'Z', 'f00', 'b0', '0a', 'é'];
  for (const key of keys) queue.entries.set(key, key);
  await waitFor('the round', () => queue.entries.size === 0);
  t.same(written.flat(), [...keys].sort(), 'every key once, in code-unit order');
  t.ok(written.every((chunk) => chunk.length <= 3), 'in chunks of at most three');
  t.equal(written.length, 4, 'chunks are filled across groups of first characters');
});
