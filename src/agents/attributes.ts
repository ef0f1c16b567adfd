// Converts OpAMP attributes (KeyValue/AnyValue) into plain JSON for the store, enforcing the
// limits that keep one hostile description from costing the server much: how many attributes,
// and how deeply values may nest.
import { ServerError } from '../errors';
import type { AgentDescription, AnyValue, ComponentHealth, KeyValue } from '../opamp/codec';
import type { AgentDescriptionRecord, AttributeValue } from './records';

export const MAX_ATTRIBUTES = 1000;
export const MAX_NESTING = 32;

function convertValue(value: AnyValue | null | undefined, depth: number): AttributeValue {
  if (depth > MAX_NESTING) {
    throw new ServerError('NESTING_TOO_DEEP', `an attribute value nests deeper than ${MAX_NESTING} levels`);
  }
  if (!value) return null;
  if (value.stringValue !== undefined && value.stringValue !== null) return value.stringValue;
  if (value.boolValue !== undefined && value.boolValue !== null) return value.boolValue;
  if (value.intValue !== undefined && value.intValue !== null) return Number(value.intValue);
  if (value.doubleValue !== undefined && value.doubleValue !== null) return value.doubleValue;
  if (value.bytesValue) return { bytes: Buffer.from(value.bytesValue).toString('base64') };
  if (value.arrayValue) return (value.arrayValue.values ?? []).map((item) => convertValue(item, depth + 1));
  if (value.kvlistValue) return convertList(value.kvlistValue.values ?? [], depth + 1);
  return null;
}

function convertList(list: KeyValue[], depth: number): Record<string, AttributeValue> {
  const result: Record<string, AttributeValue> = {};
  for (const pair of list) {
    // Object.defineProperty keeps a key such as "__proto__" an ordinary property.
    Object.defineProperty(result, pair.key ?? '', {
      value: convertValue(pair.value, depth),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return result;
}

export function descriptionToRecord(description: AgentDescription): AgentDescriptionRecord {
  const identifying = description.identifyingAttributes ?? [];
  const nonIdentifying = description.nonIdentifyingAttributes ?? [];
  if (identifying.length + nonIdentifying.length > MAX_ATTRIBUTES) {
    throw new ServerError(
      'TOO_MANY_ATTRIBUTES',
      `agent_description has ${identifying.length + nonIdentifying.length} attributes; at most ${MAX_ATTRIBUTES} are accepted`,
    );
  }
  return { identifying: convertList(identifying, 1), nonIdentifying: convertList(nonIdentifying, 1) };
}

/** Checks the limits on component health, which nests maps of itself and carries attributes. */
export function checkHealth(health: ComponentHealth, depth = 1): void {
  if (depth > MAX_NESTING) {
    throw new ServerError('NESTING_TOO_DEEP', `component health nests deeper than ${MAX_NESTING} levels`);
  }
  const attributes = health.attributes ?? [];
  if (attributes.length > MAX_ATTRIBUTES) {
    throw new ServerError('TOO_MANY_ATTRIBUTES', `component health has more than ${MAX_ATTRIBUTES} attributes`);
  }
  convertList(attributes, depth);
  for (const child of Object.values(health.componentHealthMap ?? {})) checkHealth(child, depth + 1);
}

/** Reads an attribute as text from the identifying, then the non-identifying attributes. */
export function attributeText(description: AgentDescriptionRecord | undefined, key: string): string | undefined {
  if (!description) return undefined;
  const value = Object.hasOwn(description.identifying, key)
    ? description.identifying[key]
    : Object.hasOwn(description.nonIdentifying, key)
      ? description.nonIdentifying[key]
      : undefined;
  if (value === undefined || value === null) return undefined;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}
