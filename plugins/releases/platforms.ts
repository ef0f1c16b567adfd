// Architecture names: agents report Go's GOARCH, the semantic conventions' values, or uname's
// spelling; release assets use goreleaser's names. Stand-in until the shared table in
// src/agents/ exists, then this file goes.
const TO_RELEASE_ARCH: Record<string, string> = {
  x86_64: 'amd64',
  aarch64: 'arm64',
  arm: 'armv7',
  arm32: 'armv7',
  x86: '386',
  i386: '386',
  i686: '386',
  ppc64: 'ppc64le',
};

/** The goreleaser architecture name that a reported or configured name stands for. */
export function releaseArch(arch: string): string {
  const lower = arch.toLowerCase();
  return TO_RELEASE_ARCH[lower] ?? lower;
}
