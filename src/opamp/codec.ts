// Thin typed access to the static protobuf code generated from proto/ (see scripts/generate-proto.js).
import './protobuf-runtime';
import { opamp } from '../generated/opamp';

export const proto = opamp.proto.v1;
export type AgentToServer = opamp.proto.v1.AgentToServer;
export type ServerToAgent = opamp.proto.v1.ServerToAgent;
export type ServerToAgentInit = opamp.proto.v1.ServerToAgent.$Properties;
export type AgentToServerInit = opamp.proto.v1.AgentToServer.$Properties;
export type AgentDescription = opamp.proto.v1.AgentDescription.$Properties;
export type KeyValue = opamp.proto.v1.KeyValue.$Properties;
export type AnyValue = opamp.proto.v1.AnyValue.$Properties;
export type PackageStatuses = opamp.proto.v1.PackageStatuses.$Properties;
export type PackageStatus = opamp.proto.v1.PackageStatus.$Properties;
export type PackagesAvailable = opamp.proto.v1.PackagesAvailable.$Properties;
export type PackageAvailable = opamp.proto.v1.PackageAvailable.$Properties;
export type ComponentHealth = opamp.proto.v1.ComponentHealth.$Properties;

export const AgentCapability = {
  ReportsStatus: 0x1,
  AcceptsRemoteConfig: 0x2,
  ReportsEffectiveConfig: 0x4,
  AcceptsPackages: 0x8,
  ReportsPackageStatuses: 0x10,
  ReportsOwnTraces: 0x20,
  ReportsOwnMetrics: 0x40,
  ReportsOwnLogs: 0x80,
  AcceptsOpAMPConnectionSettings: 0x100,
  AcceptsOtherConnectionSettings: 0x200,
  AcceptsRestartCommand: 0x400,
  ReportsHealth: 0x800,
  ReportsRemoteConfig: 0x1000,
  ReportsHeartbeat: 0x2000,
  ReportsAvailableComponents: 0x4000,
  ReportsConnectionSettingsStatus: 0x8000,
} as const;

export const ServerCapability = {
  AcceptsStatus: 0x1,
  OffersPackages: 0x8,
  AcceptsPackagesStatus: 0x10,
} as const;

/** What this server advertises on every successful answer: 0x19. */
export const SERVER_CAPABILITIES =
  ServerCapability.AcceptsStatus | ServerCapability.OffersPackages | ServerCapability.AcceptsPackagesStatus;

export const ServerToAgentFlag = { ReportFullState: 0x1 } as const;
export const AgentToServerFlag = { RequestInstanceUid: 0x1 } as const;

export function decodeAgentToServer(bytes: Uint8Array): AgentToServer {
  return proto.AgentToServer.decode(bytes);
}

export function encodeServerToAgent(message: ServerToAgentInit): Uint8Array {
  return proto.ServerToAgent.encode(message).finish();
}

export function encodeAgentToServer(message: AgentToServerInit): Uint8Array {
  return proto.AgentToServer.encode(message).finish();
}

export function decodeServerToAgent(bytes: Uint8Array): ServerToAgent {
  return proto.ServerToAgent.decode(bytes);
}

/** Character codes of the two hex digits of each byte value: [high, low] at 2 * byte. */
const HEX_CODES = Uint8Array.from(
  Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0')).flatMap((pair) => [pair.charCodeAt(0), pair.charCodeAt(1)]),
);
const DASH = 0x2d;
/** Reused by every call (single-threaded, filled completely before each read). */
const UUID_CODES: number[] = new Array<number>(36).fill(DASH);

/**
 * The uid converted last and its text. The route (for the per-agent limit's key) and the poll
 * service each convert the same decoded uid; handing back the same string also spares the
 * second Map lookup hashing it again. Only the very same array object matches, so an array
 * must not be written to once converted: every caller passes a decoded message's uid or a
 * fresh one.
 */
let lastUid: Uint8Array | undefined;
let lastText = '';

/** Canonical lowercase UUID text of a 16-byte id; other lengths are shown as hex. */
export function uidToString(uid: Uint8Array): string {
  if (uid === lastUid) return lastText;
  lastUid = uid;
  lastText = uidText(uid);
  return lastText;
}

function uidText(uid: Uint8Array): string {
  if (uid.byteLength !== 16) return Buffer.from(uid.buffer, uid.byteOffset, uid.byteLength).toString('hex');
  // Every poll converts its uid and looks it up in a Map. Joining pieces with += builds a rope
  // that the Map must flatten first; one String.fromCharCode call makes a flat string at once,
  // and costs less than half as much with the lookup included.
  let at = 0;
  for (let index = 0; index < 16; index += 1) {
    if (index === 4 || index === 6 || index === 8 || index === 10) at += 1;
    const byte = uid[index]!;
    UUID_CODES[at] = HEX_CODES[2 * byte]!;
    UUID_CODES[at + 1] = HEX_CODES[2 * byte + 1]!;
    at += 2;
  }
  return String.fromCharCode.apply(null, UUID_CODES);
}

export function uidFromString(text: string): Buffer | undefined {
  const hex = text.replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return undefined;
  return Buffer.from(hex, 'hex');
}
