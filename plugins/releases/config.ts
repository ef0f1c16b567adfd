// The releases source's options from the server's configuration, each bad value a clear
// ConfigError naming its flag (the table in src/config.ts only knows them as text).
import path from 'node:path';
import type { Logger } from 'pino';
import type { ServeConfig } from '../../src/config';
import { ConfigError } from '../../src/errors';
import { createReleasesSource, type ReleasesSource } from './index';
import { parseDistributions, parseFeed, parsePlatforms, parseVersionSelection } from './selection';

function check<T>(flag: string, value: T | string): T {
  if (typeof value === 'string') throw new ConfigError(`invalid --${flag}: ${value}`);
  return value;
}

export function releasesSourceFromConfig(config: ServeConfig, logger: Logger): ReleasesSource | undefined {
  if (config.releases === undefined) return undefined;
  const feed = check('releases', parseFeed(config.releases));
  const selection = check('releases-versions', parseVersionSelection(config.releasesVersions));
  if (feed.kind === 'mirror' && selection.kind !== 'list') {
    throw new ConfigError('invalid --releases-versions: a mirror cannot be listed, so it needs a list of versions such as 0.111.0,0.112.0');
  }
  if (!config.releasesChecksums.includes('{distribution}') && config.releasesDistributions.includes(',')) {
    logger.warn('--releases-checksums has no {distribution}: every distribution reads the same checksums file');
  }
  return createReleasesSource({
    feedText: config.releases,
    feed,
    apiUrl: config.releasesApiUrl,
    tokenFile: config.releasesTokenFile,
    distributions: check('releases-distributions', parseDistributions(config.releasesDistributions)),
    platforms: check('releases-platforms', parsePlatforms(config.releasesPlatforms)),
    selection,
    cacheDir: path.resolve(config.releasesCacheDir ?? path.join(config.dataDir, 'releases')),
    passthrough: config.releasesDelivery === 'passthrough',
    refreshMs: config.releasesRefresh,
    cacheMaxBytes: config.releasesCacheMaxBytes,
    checksumsTemplate: config.releasesChecksums,
    maxAssetBytes: config.releasesMaxAssetBytes,
    connectTimeoutMs: config.releasesConnectTimeout,
    readTimeoutMs: config.releasesReadTimeout,
    parallelDownloads: config.releasesParallelDownloads,
    requireSignature: !config.allowUnsigned,
    logger,
  });
}
