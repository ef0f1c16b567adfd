// The PackageStatusEnum of the OpAMP protocol: the numbers agents report for a package, and the
// names the admin API shows for them.

export const PackageStatusCode = {
  Installed: 0,
  InstallPending: 1,
  Installing: 2,
  InstallFailed: 3,
  Downloading: 4,
} as const;

/** Indexed by the number; the spelling openapi/admin.yaml gives the status field. */
const STATUS_NAMES: readonly string[] = ['installed', 'install_pending', 'installing', 'install_failed', 'downloading'];

/** The admin API's name of a status number; `unknown` for a number this protocol version lacks. */
export function packageStatusName(status: number | undefined): string | null {
  if (status === undefined) return null;
  return STATUS_NAMES[status] ?? 'unknown';
}
