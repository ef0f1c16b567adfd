// The hot-path histogram must scrape exactly as prom-client's own Histogram would for the same
// observations: dashboards and alerts written against one must work against the other.
import t from 'tap';
import { Histogram, Registry } from 'prom-client';
import { LocalHistogram } from '../../src/metrics-histogram';

const BOUNDS = [0.001, 0.01, 0.1, 1];

t.test('scrapes the same text as a prom-client Histogram given the same values', async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const local = new LocalHistogram('latency_seconds', 'Latency.', ['route', 'status_code'], BOUNDS, ours);
  const reference = new Histogram({ name: 'latency_seconds', help: 'Latency.', labelNames: ['route', 'status_code'], buckets: BOUNDS, registers: [theirs] });
  // Values on bucket bounds, between them, above the last and zero.
  const values = [0, 0.001, 0.0011, 0.05, 0.1, 0.5, 1, 2, 30];
  for (const [index, value] of values.entries()) {
    const status = index % 3 === 0 ? '500' : '200';
    local.child('/v1/opamp', status).observe(value);
    reference.observe({ route: '/v1/opamp', status_code: status }, value);
  }
  t.equal(await ours.metrics(), await theirs.metrics());
  t.match(await ours.metrics(), /latency_seconds_bucket\{le="\+Inf",route="\/v1\/opamp",status_code="200"\} 6/);
});

t.test('reset empties every child', async (t) => {
  const registry = new Registry();
  const local = new LocalHistogram('store_seconds', 'Store.', ['operation'], BOUNDS, registry);
  local.child('getAgent').observe(0.002);
  t.match(await registry.metrics(), /store_seconds_count\{operation="getAgent"\} 1/);
  registry.resetMetrics();
  t.notMatch(await registry.metrics(), /store_seconds_count/);
});
