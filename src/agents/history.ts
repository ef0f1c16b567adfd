// Package status history: which packages changed status or version between the stored record
// and the one a poll produced. Pure, so the poll service can call it without a store round trip.
import type { PackageStatusChange, PackageStatusesRecord } from './records';

export function packageStatusChanges(
  instanceUid: string,
  before: PackageStatusesRecord | undefined,
  after: PackageStatusesRecord | undefined,
  atMs: number,
): PackageStatusChange[] {
  // Same object: the agent left its statuses out of this message, so nothing changed.
  if (after === undefined || after === before) return [];
  const changes: PackageStatusChange[] = [];
  const names = new Set([...Object.keys(before?.packages ?? {}), ...Object.keys(after.packages)]);
  for (const name of names) {
    const old = before !== undefined && Object.hasOwn(before.packages, name) ? before.packages[name] : undefined;
    const now = Object.hasOwn(after.packages, name) ? after.packages[name] : undefined;
    if (old?.status === now?.status && (old?.agentHasVersion ?? '') === (now?.agentHasVersion ?? '')) continue;
    changes.push({
      instanceUid,
      atMs,
      packageName: name,
      fromStatus: old?.status,
      toStatus: now?.status,
      fromVersion: old?.agentHasVersion ?? '',
      toVersion: now?.agentHasVersion ?? '',
      errorMessage: now?.errorMessage ?? '',
    });
  }
  return changes;
}
