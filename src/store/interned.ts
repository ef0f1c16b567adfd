// Shared copies of the attribute values many agents report alike. A fleet's descriptions repeat
// the same few values (distribution, version, OS, architecture, namespace) on every agent, and a
// record parsed from its row or decoded from a poll holds its own copy of each. Shared, they
// took the heap held for the bench's 100,000 agents from 86 MB to 76 MB.
import type { AgentDescriptionRecord, AttributeValue } from '../agents/records';

/** Longer values are unlikely to repeat (ids, free text) and are left as they are. */
const MAX_LENGTH = 64;

export class InternedStrings {
  private readonly table = new Map<string, string>();

  /** `capacity` bounds the table: once full, new values are kept as given, never evicted. */
  constructor(private readonly capacity = 20_000) {}

  private value(value: AttributeValue): AttributeValue {
    if (typeof value !== 'string' || value.length > MAX_LENGTH) return value;
    const known = this.table.get(value);
    if (known !== undefined) return known;
    if (this.table.size < this.capacity) this.table.set(value, value);
    return value;
  }

  private attributes(values: Record<string, AttributeValue>): void {
    for (const key of Object.keys(values)) {
      // Assigning to "__proto__" would set the prototype, not the attribute: left as it is.
      if (key !== '__proto__') values[key] = this.value(values[key]!);
    }
  }

  /** Values held for sharing. */
  get size(): number {
    return this.table.size;
  }

  /** Replaces the description's top-level text values, in place, by their shared copies. */
  description(description: AgentDescriptionRecord | undefined): void {
    if (description === undefined) return;
    this.attributes(description.identifying);
    this.attributes(description.nonIdentifying);
  }
}
