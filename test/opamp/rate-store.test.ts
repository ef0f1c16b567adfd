// The rate limits' counters: the local store's counting, kept in two generations of maps.
import t from 'tap';
import { GenerationalRateStore } from '../../src/opamp/rate-store';

function count(store: GenerationalRateStore, key: string, windowMs = 60_000): number {
  let current = -1;
  store.incr(key, (_error, counter) => {
    current = counter.current;
  }, windowMs);
  return current;
}

t.test('counts each key within its window and starts again after it', async (t) => {
  const store = new GenerationalRateStore({ cache: 10 });
  t.same([count(store, 'a'), count(store, 'a'), count(store, 'b'), count(store, 'a')], [1, 2, 1, 3]);
  t.equal(count(store, 'c', 0), 1, 'a window of zero is over at once');
  t.equal(count(store, 'c', 0), 1);
});

t.test('a key polling often is never forgotten among more keys than the cache holds', async (t) => {
  const store = new GenerationalRateStore({ cache: 100 });
  let noisy = 0;
  for (let agent = 0; agent < 1000; agent += 1) {
    count(store, `agent-${agent}`);
    if (agent % 10 === 0) noisy = count(store, 'noisy');
  }
  t.equal(noisy, 100, 'every request of the noisy key was counted');
  // A key seen once, 1,000 keys ago, is forgotten: memory stays bounded.
  t.equal(count(store, 'agent-0'), 1);
});

t.test('the last `cache` keys seen are remembered', async (t) => {
  const store = new GenerationalRateStore({ cache: 50 });
  for (let agent = 0; agent < 120; agent += 1) count(store, `agent-${agent}`);
  const again = [];
  for (let agent = 70; agent < 120; agent += 1) again.push(count(store, `agent-${agent}`));
  t.ok(again.every((current) => current === 2), 'each of the last 50 counted twice');
});

t.test('read tells the count without moving it; a route gets a store of its own size', async (t) => {
  const store = new GenerationalRateStore();
  count(store, 'a');
  count(store, 'a');
  let read = -1;
  store.read('a', (_error, counter) => {
    read = counter.current;
  }, 60_000);
  t.equal(read, 2);
  t.equal(count(store, 'a'), 3);
  const child = store.child({ cache: 1 });
  t.equal(count(child, 'a'), 1, 'the child counts apart from its parent');
});
