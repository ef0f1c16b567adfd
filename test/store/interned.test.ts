// Sharing repeated attribute values must never change a description, and the table of shared
// values must stay bounded whatever agents report.
import t from 'tap';
import { InternedStrings } from '../../src/store/interned';
import type { AgentDescriptionRecord } from '../../src/agents/records';

const described = (host: string): AgentDescriptionRecord => ({
  identifying: { 'service.name': 'otelcol-contrib', 'service.version': '0.110.0' },
  nonIdentifying: JSON.parse(
    `{"host.name": ${JSON.stringify(host)}, "__proto__": "plain", "nested": {"list": [1, "two"]}, "flag": true, "long": ${JSON.stringify('x'.repeat(100))}}`,
  ) as AgentDescriptionRecord['nonIdentifying'],
});

t.test('a description keeps every value, key and nesting', async (t) => {
  const interned = new InternedStrings();
  for (const host of ['a', 'b', 'a']) {
    const description = described(host);
    interned.description(description);
    t.same(description, described(host));
    t.ok(Object.hasOwn(description.nonIdentifying, '__proto__'), '__proto__ stays an attribute');
    t.equal(Object.getPrototypeOf(description.nonIdentifying), Object.prototype, 'and the prototype is untouched');
  }
  t.equal(interned.size, 4, 'the short top-level texts: name, version and two hosts');
  interned.description(undefined);
});

t.test('the table stops growing at its capacity', async (t) => {
  const interned = new InternedStrings(10);
  for (let agent = 0; agent < 100; agent += 1) {
    const description = described(`host-${agent}`);
    interned.description(description);
    t.equal(description.nonIdentifying['host.name'], `host-${agent}`);
  }
  t.equal(interned.size, 10);
});
