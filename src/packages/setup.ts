// Assembles the package side of the server from the configuration: trust policy, the
// directory source, the catalog and the offers that follow it.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import type { Logger } from 'pino';
import { createDirectorySource } from '../../plugins/directory';
import type { ReleasesSource } from '../../plugins/releases';
import { releasesSourceFromConfig } from '../../plugins/releases/config';
import type { ServeConfig } from '../config';
import { describePolicy, policyFromOptions, type SignaturePolicy } from '../signing/policy';
import { loadTrustedRoot, refreshTrustedRoot, type LoadedTrustedRoot } from '../signing/trust';
import { verifyArtifact, type SignatureVerdict } from '../signing/verifier';
import { Catalog, type VerifyFunction } from './catalog';
import { OfferBook } from './offers';
import type { PackageSource, SourceFile } from './source';

export interface PackageServices {
  catalog: Catalog;
  offers: OfferBook;
  trust: { current: LoadedTrustedRoot };
  policy: SignaturePolicy;
  /** The release feed followed (--releases), if any. */
  releases: ReleasesSource | undefined;
  /**
   * Puts a new trusted root in force (the TUF refresh's way in) and resolves once every file of
   * the catalog has been verified again under it.
   */
  replaceTrustedRoot(root: LoadedTrustedRoot): Promise<void>;
}

/**
 * Everything a verdict depends on besides the file itself: the trusted root, the signer policy
 * and the offered signature format. Verdicts reached under another key are reached again.
 */
export function trustKey(root: LoadedTrustedRoot, policy: SignaturePolicy, signatureFormat: string): string {
  // The root in canonical form: the same root fetched again, spelled differently, is no change.
  const canonicalRoot = JSON.stringify(TrustedRoot.toJSON(TrustedRoot.fromJSON(JSON.parse(root.trustedRootJson))));
  return createHash('sha256')
    .update(canonicalRoot)
    .update('\u0000')
    .update(describePolicy(policy))
    .update('\u0000')
    .update(signatureFormat)
    .digest('hex');
}

/** The signature check the catalog runs once per artifact, holding the current trusted root. */
export function makeVerify(
  trust: { current: LoadedTrustedRoot },
  policy: SignaturePolicy,
  signatureFormat: 'cosign' | 'bundle',
): VerifyFunction {
  return async (file: SourceFile): Promise<SignatureVerdict> => {
    const verdict = await verifyArtifact(
      { artifactPath: file.tarballPath, sidecars: file.sidecars },
      { trustMaterial: trust.current.trustMaterial },
      policy,
    );
    if (signatureFormat === 'bundle' && verdict.verified && verdict.method === 'cosign-pair') {
      return { ...verdict, verified: false, reason: 'no Sigstore bundle, which --signature-format bundle offers' };
    }
    return verdict;
  };
}

export async function createPackageServices(config: ServeConfig, logger: Logger): Promise<PackageServices | undefined> {
  const policy = policyFromOptions(config);
  if (config.packagesDir === undefined && config.releases === undefined) {
    if (config.offer !== 'none') logger.warn(`--offer ${config.offer} has no effect without --packages-dir or --releases`);
    return undefined;
  }
  // Checked before anything starts, so a bad --releases-* value fails fast.
  const releases = releasesSourceFromConfig(config, logger);
  const trust = { current: await loadTrustedRoot({ file: config.trustedRoot }) };
  let currentKey = trustKey(trust.current, policy, config.signatureFormat);
  logger.info({ trustedRoot: trust.current.source }, `Sigstore trusted root: ${trust.current.source}`);
  if (config.allowUnsigned) {
    logger.warn('--allow-unsigned is on: packages without any signature will be offered (development only)');
  }
  const sources: PackageSource[] = [];
  if (config.packagesDir !== undefined) sources.push(createDirectorySource({ directory: path.resolve(config.packagesDir), logger }));
  if (releases) sources.push(releases);
  const catalog = new Catalog({
    sources,
    verify: makeVerify(trust, policy, config.signatureFormat),
    trustKey: () => currentKey,
    rescanIntervalMs: config.rescanInterval,
    logger,
  });
  const replaceTrustedRoot = async (root: LoadedTrustedRoot): Promise<void> => {
    trust.current = root;
    currentKey = trustKey(root, policy, config.signatureFormat);
    logger.info({ trustedRoot: root.source }, `Sigstore trusted root: ${root.source}; verifying the catalog again`);
    await catalog.rescan();
  };
  if (config.trustedRoot === undefined && config.trustedRootRefresh) {
    // Never awaited: start-up and polls go on with the embedded root while this runs.
    void refreshTrustedRoot({
      dataDirectory: path.resolve(config.dataDir),
      onError: (error) => logger.info({ err: error }, 'TUF refresh of the trusted root failed; keeping the embedded root'),
    }).then((fresh) => {
      if (fresh) void replaceTrustedRoot(fresh);
    });
  }
  const offers = new OfferBook({ target: config.offer, signatureFormat: config.signatureFormat });
  offers.follow(catalog);
  await catalog.start();
  const offerable = catalog.offerable().length;
  logger.info({ offerable, total: catalog.list().length, offer: config.offer }, `catalog ready: ${offerable} offerable package(s)`);
  return { catalog, offers, trust, policy, releases, replaceTrustedRoot };
}
