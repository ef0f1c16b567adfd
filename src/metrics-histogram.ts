// A latency histogram for the hot path, registered in a prom-client registry like any other
// metric. prom-client's own Histogram validates and hashes the labels on every observation,
// which on the poll path (three observations per poll) cost more than reading the agent's
// record; here each label set is a child made once, and an observation is a few array writes.
// prom-client still formats and serves it: this only supplies the numbers it asks for.
import type { Histogram, Registry } from 'prom-client';

type Labels = Record<string, string>;

export class HistogramChild {
  /** Per bucket, not cumulative; the last slot counts values above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Labels,
    private readonly bounds: number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let index = 0;
    while (index < bounds.length && value > bounds[index]!) index += 1;
    this.counts[index]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

export class LocalHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly children = new Map<string, HistogramChild>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: string[],
    private readonly bounds: number[],
    registry: Registry,
  ) {
    // registerMetric is typed for prom-client's own classes; the registry only ever calls
    // name, get() and reset(), which this class has, with the same shapes.
    registry.registerMetric(this as unknown as Histogram);
  }

  /** The child for these label values (in labelNames order), made on first use. */
  child(...values: string[]): HistogramChild {
    const key = values.join('\u0000');
    let child = this.children.get(key);
    if (child === undefined) {
      const labels: Labels = {};
      this.labelNames.forEach((name, index) => {
        labels[name] = values[index] ?? '';
      });
      child = new HistogramChild(labels, this.bounds);
      this.children.set(key, child);
    }
    return child;
  }

  /** What prom-client's Histogram.get() returns: cumulative buckets, sum and count per child. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const values: Sample[] = [];
    for (const child of this.children.values()) {
      let cumulative = 0;
      this.bounds.forEach((bound, index) => {
        cumulative += child.counts[index]!;
        values.push({ value: cumulative, labels: { le: bound, ...child.labels }, metricName: `${this.name}_bucket` });
      });
      values.push({ value: child.count, labels: { le: '+Inf', ...child.labels }, metricName: `${this.name}_bucket` });
      values.push({ value: child.sum, labels: child.labels, metricName: `${this.name}_sum` });
      values.push({ value: child.count, labels: child.labels, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.children.clear();
  }
}
