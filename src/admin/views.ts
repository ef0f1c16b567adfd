// How stored records look in the admin API: the shapes of openapi/admin.yaml. Every field the
// API answers with is snake_case, as its request bodies are; the records keep TypeScript's names.
import { attributeText } from '../agents/attributes';
import { packageStatusName } from '../agents/package-status';
import { agentPlatform } from '../agents/platform';
import { agentState, type AgentRecord, type HealthRecord, type PackageStatusChange, type PackageStatusRecord } from '../agents/records';
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
    instance_uid: record.instanceUid,
    state: agentState(record, nowMs, offlineAfterMs),
    first_seen: iso(record.firstSeenMs),
    last_seen: iso(record.lastSeenMs),
    distribution: platform.distribution,
    // The version as reported, even when it is not semver (the offers ignore those).
    version: attributeText(record.description, 'service.version') ?? null,
    os: platform.os ?? null,
    arch: platform.arch ?? null,
    capabilities: capabilityNames(record.capabilities),
    healthy: record.health?.healthy ?? null,
    last_offer: record.lastOffer
      ? { version: record.lastOffer.version, all_packages_hash: record.lastOffer.allPackagesHash, sent_at: iso(record.lastOffer.sentAtMs) }
      : null,
  };
}

export function historyView(change: PackageStatusChange) {
  return {
    at: iso(change.atMs),
    package: change.packageName,
    from_status: packageStatusName(change.fromStatus),
    to_status: packageStatusName(change.toStatus),
    from_version: change.fromVersion,
    to_version: change.toVersion,
    error_message: change.errorMessage,
  };
}

/** One package as the agent reported it, in the API's names. */
function packageStatusView(item: PackageStatusRecord) {
  return {
    name: item.name,
    status: packageStatusName(item.status),
    agent_has_version: item.agentHasVersion,
    agent_has_hash: item.agentHasHash,
    server_offered_version: item.serverOfferedVersion,
    server_offered_hash: item.serverOfferedHash,
    error_message: item.errorMessage,
    ...(item.downloadPercent === undefined ? {} : { download_percent: item.downloadPercent }),
    ...(item.downloadBytesPerSecond === undefined ? {} : { download_bytes_per_second: item.downloadBytesPerSecond }),
  };
}

function healthView(health: HealthRecord) {
  return {
    healthy: health.healthy,
    status: health.status,
    last_error: health.lastError,
    start_time_unix_nano: health.startTimeUnixNano,
    status_time_unix_nano: health.statusTimeUnixNano,
  };
}

export function agentDetail(record: AgentRecord, history: PackageStatusChange[], nowMs: number, offlineAfterMs: number) {
  const statuses = record.packageStatuses;
  return {
    ...agentSummary(record, nowMs, offlineAfterMs),
    sequence_num: record.sequenceNum,
    capabilities_mask: record.capabilities,
    client_certificate_subject: record.clientCertificateSubject ?? null,
    // Attribute keys (host.name, service.version) are data and keep their OpenTelemetry names.
    description: record.description
      ? { identifying: record.description.identifying, non_identifying: record.description.nonIdentifying }
      : null,
    health: record.health ? healthView(record.health) : null,
    package_statuses: statuses
      ? {
          packages: Object.values(statuses.packages).map(packageStatusView),
          server_provided_all_packages_hash: statuses.serverProvidedAllPackagesHash,
          error_message: statuses.errorMessage,
        }
      : null,
    history: history.map(historyView),
  };
}

export function packageView(entry: CatalogEntry) {
  const signature = entry.signature;
  return {
    file_name: entry.fileName,
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
          weaker_check: signature.weakerCheck,
          signer_identity: signature.signerIdentity ?? null,
          signer_issuer: signature.signerIssuer ?? null,
          reason: signature.reason ?? null,
        }
      : null,
    ingested_at: iso(entry.ingestedAtMs),
  };
}
