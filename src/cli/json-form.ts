// The OpAMP JSON form (the protobuf JSON mapping) on stdin/stdout, for curl users: encode turns
// JSON into the binary message, decode does the reverse.
import { proto } from '../opamp/codec';

/** Fields whose JSON value is a map: their keys are data (package names, ...) and stay as written. */
const MAP_FIELDS = new Set([
  'packages',
  'componentHealthMap',
  'configMap',
  'otherConnections',
  'otherSettings',
  'components',
  'subComponentMap',
]);

const camel = (name: string): string => name.replace(/_([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase());

/** The JSON mapping accepts both proto field names (snake_case) and lowerCamelCase; protobufjs wants the latter. */
function normalizeKeys(value: unknown, keysAreData = false): unknown {
  if (Array.isArray(value)) return value.map((item) => normalizeKeys(item));
  if (value === null || typeof value !== 'object') return value;
  const result: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    const name = keysAreData ? key : camel(key);
    result[name] = keysAreData ? normalizeKeys(child) : normalizeKeys(child, MAP_FIELDS.has(name));
  }
  return result;
}

export type MessageName = 'agent-to-server' | 'server-to-agent';

const TYPES = { 'agent-to-server': proto.AgentToServer, 'server-to-agent': proto.ServerToAgent } as const;

export function isMessageName(name: string | undefined): name is MessageName {
  return name === 'agent-to-server' || name === 'server-to-agent';
}

export function encodeJson(name: MessageName, text: string): Uint8Array {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`stdin is not JSON: ${(error as Error).message}`, { cause: error });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error('stdin must hold one JSON object');
  }
  const type = TYPES[name];
  const message = type.fromObject(normalizeKeys(parsed) as Record<string, unknown>);
  return type.encode(message).finish();
}

export function decodeToJson(name: MessageName, bytes: Uint8Array): string {
  const type = TYPES[name];
  const message = type.decode(bytes);
  const object = type.toObject(message as never, { longs: String, enums: String, bytes: String, json: true });
  return JSON.stringify(object, null, 2);
}
