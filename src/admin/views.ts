// How stored records look in the admin API: the shapes of openapi/admin.yaml.
import { attributeText } from '../agents/attributes';
import { packageStatusName } from '../agents/package-status';
import { agentPlatform } from '../agents/platform';
import { agentState, type AgentRecord, type PackageStatusChange } from '../agents/records';
import { AgentCapability } from '../opamp/codec';
import type { CatalogEntry } from '../packages/catalog';

export function capabilityNames(mask: number): string[] {
  return Object.entries(AgentCapability)
    .filter(([, bit]) => (mask & bit) !== 0)
    .map(([name]) => name);
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function agentSummary(record: AgentRecord, nowMs: number, offlineAfterMs: number) {
  const platform = agentPlatform(record.description);
  return {
    instanceUid: record.instanceUid,
    state: agentState(record, nowMs, offlineAfterMs),
    firstSeen: iso(record.firstSeenMs),
    lastSeen: iso(record.lastSeenMs),
    distribution: platform.distribution,
    // The version as reported, even when it is not semver (the offers ignore those).
    version: attributeText(record.description, 'service.version') ?? null,
    os: platform.os ?? null,
    arch: platform.arch ?? null,
    capabilities: capabilityNames(record.capabilities),
    healthy: record.health?.healthy ?? null,
    lastOffer: record.lastOffer
      ? { version: record.lastOffer.version, allPackagesHash: record.lastOffer.allPackagesHash, sentAt: iso(record.lastOffer.sentAtMs) }
      : null,
  };
}

export function historyView(change: PackageStatusChange) {
  return {
    at: iso(change.atMs),
    package: change.packageName,
    fromStatus: packageStatusName(change.fromStatus),
    toStatus: packageStatusName(change.toStatus),
    fromVersion: change.fromVersion,
    toVersion: change.toVersion,
    errorMessage: change.errorMessage,
  };
}

export function agentDetail(record: AgentRecord, history: PackageStatusChange[], nowMs: number, offlineAfterMs: number) {
  const statuses = record.packageStatuses;
  return {
    ...agentSummary(record, nowMs, offlineAfterMs),
    sequenceNum: record.sequenceNum,
    capabilitiesMask: record.capabilities,
    description: record.description ?? null,
    health: record.health ?? null,
    packageStatuses: statuses
      ? {
          packages: Object.values(statuses.packages).map((item) => ({ ...item, status: packageStatusName(item.status) })),
          serverProvidedAllPackagesHash: statuses.serverProvidedAllPackagesHash,
          errorMessage: statuses.errorMessage,
        }
      : null,
    history: history.map(historyView),
  };
}

export function packageView(entry: CatalogEntry) {
  const signature = entry.signature;
  return {
    fileName: entry.fileName,
    source: entry.source,
    distribution: entry.distribution,
    version: entry.version,
    os: entry.os,
    arch: entry.arch,
    size: entry.size,
    sha256: entry.sha256Hex,
    offerable: entry.offerable,
    reason: entry.reason ?? null,
    signature: signature
      ? {
          verified: signature.verified,
          method: signature.method,
          weakerCheck: signature.weakerCheck,
          signerIdentity: signature.signerIdentity ?? null,
          signerIssuer: signature.signerIssuer ?? null,
          reason: signature.reason ?? null,
        }
      : null,
    ingestedAt: iso(entry.ingestedAtMs),
  };
}
