// The PackageSource contract: where release assets come from. A source only finds files and
// tells when they may have changed; hashing, inspection and signature checks happen once, in
// the catalog, whatever the source.

/** Signing material found beside a tarball. Paths are local files. */
export interface Sidecars {
  /** `<tarball>.sigstore.json`: a Sigstore bundle. */
  bundlePath?: string;
  /** `<tarball>.pem`: base64 of the PEM signing certificate (cosign sign-blob output). */
  certificatePath?: string;
  /** `<tarball>.sig`: base64 of the DER signature (cosign sign-blob output). */
  signaturePath?: string;
}

/** One release asset, complete and stable on disk, as a source reports it. */
export interface SourceFile {
  /** The asset's file name, e.g. `otelcol-contrib_0.111.0_linux_amd64.tar.gz`. */
  fileName: string;
  distribution: string;
  /** Version without a leading `v`, e.g. `0.111.0`. */
  version: string;
  os: string;
  arch: string;
  tarballPath: string;
  sidecars: Sidecars;
  /**
   * Changes whenever the tarball or one of its sidecars changes (size, mtime, inode).
   * The catalog ingests a file again only when this changes.
   */
  fingerprint: string;
  /**
   * Where agents download the file instead of this server (a release feed in passthrough
   * delivery). Never part of a package hash, so it can change without a new offer.
   */
  deliveryUrl?: string;
  /**
   * Set when the source can already tell the file is unusable (a tarball whose name does not
   * follow the release pattern): the catalog lists it as rejected with this reason and never
   * opens it. Name fields are empty then.
   */
  rejected?: string;
}

/** A file a source refused, or deleted after the catalog refused it: listed, never offered. */
export interface RejectedFile {
  fileName: string;
  distribution: string;
  version: string;
  os: string;
  arch: string;
  reason: string;
  /** What the file should hash to, when the source knows. */
  sha256Hex: string | undefined;
  atMs: number;
}

export interface PackageSource {
  /** Short name for logs and listings, e.g. `directory:/srv/releases`. */
  readonly name: string;
  /** The complete set of stable assets right now. Half-written files are left out. */
  scan(): Promise<SourceFile[]>;
  /** Optional early nudge: call `onChange` when a rescan is worth doing before the next tick. */
  watch?(onChange: () => void): void;
  /** Optional: told when the catalog refused one of its files (a downloading source deletes it). */
  refusedByCatalog?(file: SourceFile, reason: string): void;
  /** Optional: files it refused itself, for the listing. */
  rejections?(): RejectedFile[];
  close(): Promise<void>;
}
