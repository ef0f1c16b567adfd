// Pre-encoded AgentToServer bodies for a simulated fleet, written once per scenario and read
// by both load generators (wrk through Lua, and the open-loop generator), so every server in a
// comparison sees byte-identical requests.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { PackageStatusCode } from '../src/agents/package-status';
import { AgentCapability, encodeAgentToServer, uidToString, type AgentToServerInit } from '../src/opamp/codec';
import type { AgentDescriptionRecord, AgentRecord } from '../src/agents/records';

export const DISTRIBUTION = 'otelcol-contrib';
export const AGENT_VERSION = '0.110.0';
export const OFFERED_VERSION = '0.111.0';

/** Every poll carries these, as a supervised collector's do. */
const BASE_CAPABILITIES =
  AgentCapability.ReportsStatus | AgentCapability.ReportsHealth | AgentCapability.ReportsHeartbeat |
  AgentCapability.ReportsEffectiveConfig | AgentCapability.ReportsOwnMetrics;
const PACKAGE_CAPABILITIES = AgentCapability.AcceptsPackages | AgentCapability.ReportsPackageStatuses;

/** The full description goes out on the first poll and then every this many polls. */
const DESCRIPTION_EVERY = 25;
/** Package-reporting agents send statuses on polls where `sequence % STATUS_EVERY === 3`. */
const STATUS_EVERY = 10;

/**
 * A UUIDv7-shaped uid for agent number `agent`, the same in seeding and in bodies. The last
 * four bytes are the number scrambled (a multiplication by an odd constant, so no two agents
 * share one): agents poll in rotation by number, and uids in that same order would write every
 * batch of the store's rows in key order, which no real fleet's polls arrive in.
 */
export function agentUid(agent: number): Buffer {
  const bytes = Buffer.alloc(16);
  bytes.writeUInt32BE(0x0190_0000, 0);
  bytes.writeUInt32BE(Math.imul(agent, 0x9e37_79b1) >>> 0, 12);
  bytes[6] = 0x70;
  bytes[8] = 0x80;
  return bytes;
}

/** Half the agents accept packages, one in ten compresses, one in ten of the first half reports statuses. */
export const acceptsPackages = (agent: number): boolean => agent % 2 === 0;
export const usesGzip = (agent: number): boolean => agent % 10 === 1;
export const reportsStatuses = (agent: number): boolean => agent % 10 === 0;

function attributes(agent: number): { identifying: Record<string, string>; nonIdentifying: Record<string, string> } {
  return {
    identifying: {
      'service.name': DISTRIBUTION,
      'service.version': AGENT_VERSION,
      'service.instance.id': uidToString(agentUid(agent)),
    },
    nonIdentifying: {
      'host.name': `node-${agent}.cluster.example`,
      'os.type': 'linux',
      'host.arch': 'amd64',
      'os.description': 'Debian GNU/Linux 12 (bookworm)',
      'host.id': `i-${(agent * 2654435761 >>> 0).toString(16).padStart(8, '0')}`,
      'k8s.namespace.name': 'observability',
    },
  };
}

function keyValues(values: Record<string, string>) {
  return Object.entries(values).map(([key, value]) => ({ key, value: { stringValue: value } }));
}

/** The stored form of the same description, for seeding the store directly. */
export function descriptionRecord(agent: number): AgentDescriptionRecord {
  return attributes(agent);
}

/** A record as the server would have stored it after the agent's first poll (sequence 1). */
export function seededRecord(agent: number, nowMs: number): AgentRecord {
  return {
    instanceUid: uidToString(agentUid(agent)),
    capabilities: BASE_CAPABILITIES | (acceptsPackages(agent) ? PACKAGE_CAPABILITIES : 0),
    sequenceNum: 1,
    description: descriptionRecord(agent),
    health: { healthy: true, status: 'StatusOK', lastError: '', startTimeUnixNano: 1.7e18, statusTimeUnixNano: 1.7e18 },
    packageStatuses: undefined,
    lastOffer: undefined,
    firstSeenMs: nowMs,
    lastSeenMs: nowMs,
    disconnected: false,
  };
}

/** One poll of one agent; `sequence` counts from 1. */
export function agentMessage(agent: number, sequence: number, offeredHash: Buffer): AgentToServerInit {
  const message: AgentToServerInit = {
    instanceUid: agentUid(agent),
    sequenceNum: sequence,
    capabilities: BASE_CAPABILITIES | (acceptsPackages(agent) ? PACKAGE_CAPABILITIES : 0),
  };
  if (sequence === 1 || sequence % DESCRIPTION_EVERY === 0) {
    const { identifying, nonIdentifying } = attributes(agent);
    message.agentDescription = {
      identifyingAttributes: keyValues(identifying),
      nonIdentifyingAttributes: keyValues(nonIdentifying),
    };
    message.health = { healthy: true, status: 'StatusOK', startTimeUnixNano: 1.7e18, statusTimeUnixNano: 1.7e18 };
  }
  if (acceptsPackages(agent) && reportsStatuses(agent) && sequence % STATUS_EVERY === 3) {
    message.packageStatuses = {
      serverProvidedAllPackagesHash: offeredHash,
      packages: {
        '': {
          name: '',
          agentHasVersion: `v${AGENT_VERSION}`,
          serverOfferedVersion: `v${OFFERED_VERSION}`,
          status: PackageStatusCode.Downloading,
          downloadDetails: { downloadPercent: (sequence * 7) % 100, downloadBytesPerSecond: 4e6 },
        },
      },
    };
  }
  return message;
}

export interface BodySet {
  directory: string;
  count: number;
  agents: number;
  gzipShare: number;
}

/**
 * A poll as opamp-go (and so the collector's supervisor) sends it once nothing has changed:
 * uid, sequence number and capabilities, no description, health or statuses.
 */
export function heartbeatMessage(agent: number, sequence: number): AgentToServerInit {
  return {
    instanceUid: agentUid(agent),
    sequenceNum: sequence,
    capabilities: BASE_CAPABILITIES | (acceptsPackages(agent) ? PACKAGE_CAPABILITIES : 0),
  };
}

/**
 * How a poll is coded on the wire (the third column of `bodies.idx`): 0 plain both ways; 1 a
 * gzipped body that also asks for a gzipped answer; 2 a plain body with `Accept-Encoding: gzip`,
 * as Go's http.Client (so opamp-go and the supervisor) sends every request.
 */
export type Coding = 0 | 1 | 2;

/**
 * Writes `bodies.bin` (the bodies back to back) and `bodies.idx` (one line per body:
 * offset, length, coding, agent number), round by round so each agent's sequence rises.
 */
function writeMessages(
  directory: string,
  agents: number[],
  sequences: { first: number; last: number },
  message: (agent: number, sequence: number) => AgentToServerInit,
  codingOf: (agent: number) => Coding,
): BodySet {
  fs.mkdirSync(directory, { recursive: true });
  const chunks: Buffer[] = [];
  const lines: string[] = [];
  let offset = 0;
  let compressed = 0;
  for (let sequence = sequences.first; sequence <= sequences.last; sequence += 1) {
    for (const agent of agents) {
      let body = Buffer.from(encodeAgentToServer(message(agent, sequence)));
      const coding = codingOf(agent);
      if (coding === 1) {
        body = zlib.gzipSync(body);
        compressed += 1;
      }
      chunks.push(body);
      lines.push(`${offset} ${body.byteLength} ${coding} ${agent}`);
      offset += body.byteLength;
    }
  }
  fs.writeFileSync(path.join(directory, 'bodies.bin'), Buffer.concat(chunks));
  fs.writeFileSync(path.join(directory, 'bodies.idx'), `${lines.join('\n')}\n`);
  return { directory, count: lines.length, agents: agents.length, gzipShare: compressed / lines.length };
}

/** Full polls (descriptions, statuses) of a mixed fleet; one agent in ten compresses. */
export function writeBodies(directory: string, agents: number[], sequences: { first: number; last: number }, offeredHash: Buffer): BodySet {
  return writeMessages(directory, agents, sequences, (agent, sequence) => agentMessage(agent, sequence, offeredHash), (agent) => (usesGzip(agent) ? 1 : 0));
}

/** Heartbeats only, plain bodies that accept a gzipped answer as opamp-go's do: a settled fleet between changes. */
export function writeHeartbeats(directory: string, agents: number[], sequences: { first: number; last: number }): BodySet {
  return writeMessages(directory, agents, sequences, heartbeatMessage, () => 2);
}

export interface LoadedBody {
  body: Buffer;
  /** The body is gzipped. */
  gzip: boolean;
  /** The poll sends Accept-Encoding: gzip. */
  acceptsGzip: boolean;
  agent: number;
}

export function readBodies(directory: string): LoadedBody[] {
  const blob = fs.readFileSync(path.join(directory, 'bodies.bin'));
  const text = fs.readFileSync(path.join(directory, 'bodies.idx'), 'utf8');
  return text.trim().split('\n').map((line) => {
    const [offset, length, coding, agent] = line.split(' ').map(Number) as [number, number, number, number];
    return { body: blob.subarray(offset, offset + length), gzip: coding === 1, acceptsGzip: coding !== 0, agent };
  });
}
