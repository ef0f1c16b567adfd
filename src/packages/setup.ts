// Assembles the package side of the server from the configuration: trust policy, the
// directory source, the catalog and the offers that follow it.
import path from 'node:path';
import type { Logger } from 'pino';
import { createDirectorySource } from '../../plugins/directory';
import type { ReleasesSource } from '../../plugins/releases';
import { releasesSourceFromConfig } from '../../plugins/releases/config';
import type { ServeConfig } from '../config';
import { policyFromOptions, type SignaturePolicy } from '../signing/policy';
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
  logger.info({ trustedRoot: trust.current.source }, `Sigstore trusted root: ${trust.current.source}`);
  if (config.allowUnsigned) {
    logger.warn('--allow-unsigned is on: packages without any signature will be offered (development only)');
  }
  if (config.trustedRoot === undefined && config.trustedRootRefresh) {
    // Never awaited: start-up and polls go on with the embedded root while this runs.
    void refreshTrustedRoot({
      dataDirectory: path.resolve(config.dataDir),
      onError: (error) => logger.info({ err: error }, 'TUF refresh of the trusted root failed; keeping the embedded root'),
    }).then((fresh) => {
      if (fresh) {
        trust.current = fresh;
        logger.info({ trustedRoot: fresh.source }, `Sigstore trusted root: ${fresh.source}`);
      }
    });
  }
  const sources: PackageSource[] = [];
  if (config.packagesDir !== undefined) sources.push(createDirectorySource({ directory: path.resolve(config.packagesDir), logger }));
  if (releases) sources.push(releases);
  const catalog = new Catalog({
    sources,
    verify: makeVerify(trust, policy, config.signatureFormat),
    rescanIntervalMs: config.rescanInterval,
    logger,
  });
  const offers = new OfferBook({ target: config.offer, signatureFormat: config.signatureFormat });
  offers.follow(catalog);
  await catalog.start();
  const offerable = catalog.offerable().length;
  logger.info({ offerable, total: catalog.list().length, offer: config.offer }, `catalog ready: ${offerable} offerable package(s)`);
  return { catalog, offers, trust, policy, releases };
}
