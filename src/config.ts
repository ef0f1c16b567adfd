// One table of every `serve` option. It drives flag parsing, environment variables, the JSON
// config file, defaults, validation and the --help text, so the four can never disagree.
import fs from 'node:fs';
import v8 from 'node:v8';
import { ConfigError } from './errors';
import { defaultMaxConnections } from './listener';
import { parseTrustedProxies, type TrustProxySetting } from './proxy-trust';

type Kind =
  | 'string' | 'port' | 'duration' | 'bytes' | 'boolean' | 'level' | 'offer' | 'format' | 'url' | 'agentAuth' | 'store'
  | 'milliseconds' | 'rate' | 'durationOrOff' | 'heapLimit' | 'delivery' | 'sizeOrOff' | 'count'
  | 'trustProxy' | 'connections' | 'clientAuth' | 'tlsVersion';

interface OptionSpec {
  key: keyof ServeConfig;
  flag: string;
  env: string;
  kind: Kind;
  default: string | undefined;
  help: string;
}

/** A rate limit: so many requests per window. */
export interface RateSetting {
  max: number;
  windowMs: number;
}

export interface ServeConfig {
  host: string;
  /** undefined when off. */
  rateLimitPerAgent: RateSetting | undefined;
  /** undefined when off. */
  rateLimitPerAddress: RateSetting | undefined;
  /** Keys (agents, addresses) each rate limiter keeps track of. */
  rateLimitTrackedKeys: number;
  /** Milliseconds; 0 when off. */
  overloadEventLoopDelay: number;
  /** Bytes; 0 when off. */
  overloadHeapUsed: number;
  /** Milliseconds; 0 when off. */
  overloadStoreLatency: number;
  port: number;
  dataDir: string;
  /** `sqlite`, or a postgres:// / postgresql:// URL. */
  store: string;
  /** Milliseconds between writes of batched (routine) agent changes. */
  writeBatchMs: number;
  routineWriteMs: number;
  maxMessageBytes: number;
  maxResponseBytes: number;
  /** Write the poll answers ready in one turn of the event loop together. */
  coalesceAnswers: boolean;
  /** Milliseconds. */
  agentOfflineAfter: number;
  logLevel: string;
  packagesDir: string | undefined;
  /** Milliseconds. */
  rescanInterval: number;
  offer: string;
  publicUrl: string | undefined;
  /** true: every peer may forward; a list: only these proxies (addresses or CIDRs). */
  trustProxy: TrustProxySetting;
  trustedRoot: string | undefined;
  trustedRootRefresh: boolean;
  signerIssuer: string | undefined;
  signerIdentity: string | undefined;
  signerIdentityRegexp: string | undefined;
  signerRepository: string | undefined;
  allowUnsigned: boolean;
  signatureFormat: 'cosign' | 'bundle';
  agentKeysFile: string | undefined;
  adminKeysFile: string | undefined;
  /** `keys`: on as soon as any agent key exists; `none`: never. */
  agentAuth: 'keys' | 'none';
  /** Milliseconds. */
  downloadTokenLifetime: number;
  /** Milliseconds. */
  forgetAgentsAfter: number;
  /** Milliseconds: an agent offered or upgrading with no change for this long is stuck. */
  stuckAfter: number;
  /** A release feed to follow (github:OWNER/REPO or a mirror URL); parsed by the releases source. */
  releases: string | undefined;
  releasesApiUrl: string;
  releasesTokenFile: string | undefined;
  /** Comma-separated distribution names. */
  releasesDistributions: string;
  /** Comma-separated OS/ARCH pairs. */
  releasesPlatforms: string;
  /** newest:N, a comma-separated list of versions, or a semver range. */
  releasesVersions: string;
  /** Default: `<data-dir>/releases`. */
  releasesCacheDir: string | undefined;
  releasesDelivery: 'cache' | 'passthrough';
  /** Milliseconds. */
  releasesRefresh: number;
  /** Bytes; 0 when off. */
  releasesCacheMaxBytes: number;
  /** File name of a release's checksums file; `{distribution}` is replaced. */
  releasesChecksums: string;
  releasesMaxAssetBytes: number;
  /** Milliseconds. */
  releasesConnectTimeout: number;
  /** Milliseconds. */
  releasesReadTimeout: number;
  releasesParallelDownloads: number;
  /** Serve the web console at /ui/. */
  ui: boolean;
  /** Milliseconds a client has to send a request's headers. */
  headersTimeout: number;
  /** Milliseconds a client has to send a whole request. */
  requestTimeout: number;
  /** Milliseconds a connection may pass with no bytes moving either way. */
  idleTimeout: number;
  /** Connections held at once; new ones past it are refused. */
  maxConnections: number;
  /** PEM certificate (with its chain) and key: HTTPS on --port when set. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** PEM CA whose client certificates are accepted (mutual TLS). */
  tlsClientCa: string | undefined;
  tlsClientAuth: 'required' | 'optional';
  tlsMinVersion: 'TLSv1.2' | 'TLSv1.3';
  /** Only from the config file: a list of accepted signers (see README). */
  signers: unknown;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const OPTIONS: OptionSpec[] = [
  { key: 'rateLimitPerAgent', flag: 'rate-limit-per-agent', env: 'OPAMP_RATE_LIMIT_PER_AGENT', kind: 'rate', default: '60/1m', help: 'Polls allowed per agent (instance uid), as COUNT/WINDOW, or off; over it: 429 with Retry-After.' },
  { key: 'rateLimitPerAddress', flag: 'rate-limit-per-address', env: 'OPAMP_RATE_LIMIT_PER_ADDRESS', kind: 'rate', default: 'off', help: 'Requests allowed per client address (honours --trust-proxy), as COUNT/WINDOW, or off.' },
  { key: 'rateLimitTrackedKeys', flag: 'rate-limit-tracked-keys', env: 'OPAMP_RATE_LIMIT_TRACKED_KEYS', kind: 'count', default: '250000', help: 'Agents (and addresses) each rate limit keeps track of; past it the least recently seen are forgotten. At least the fleet size.' },
  { key: 'overloadEventLoopDelay', flag: 'overload-event-loop-delay', env: 'OPAMP_OVERLOAD_EVENT_LOOP_DELAY', kind: 'durationOrOff', default: '1s', help: 'Event-loop delay past which polls get 503 with Retry-After, or off.' },
  { key: 'overloadHeapUsed', flag: 'overload-heap-used', env: 'OPAMP_OVERLOAD_HEAP_USED', kind: 'heapLimit', default: 'auto', help: 'Heap use past which polls get 503: a size, auto (90% of the heap limit) or off.' },
  { key: 'overloadStoreLatency', flag: 'overload-store-latency', env: 'OPAMP_OVERLOAD_STORE_LATENCY', kind: 'durationOrOff', default: '2s', help: 'Store round trip (probed every 5 s) past which polls get 503, or off.' },
  { key: 'headersTimeout', flag: 'headers-timeout', env: 'OPAMP_HEADERS_TIMEOUT', kind: 'duration', default: '10s', help: 'Time a client has to send its request headers; a client trickling them is cut off (408).' },
  { key: 'requestTimeout', flag: 'request-timeout', env: 'OPAMP_REQUEST_TIMEOUT', kind: 'duration', default: '30s', help: 'Time a client has to send a whole request, body included (at least --headers-timeout).' },
  { key: 'idleTimeout', flag: 'idle-timeout', env: 'OPAMP_IDLE_TIMEOUT', kind: 'duration', default: '2m', help: 'A connection with no bytes moving either way for this long is closed: a download whose client stopped reading. Keep it above the 65 s keep-alive.' },
  { key: 'maxConnections', flag: 'max-connections', env: 'OPAMP_MAX_CONNECTIONS', kind: 'connections', default: 'auto', help: 'Connections held at once; past it new connections are refused while open ones are served. auto: the open-file limit less 256.' },
  { key: 'tlsCert', flag: 'tls-cert', env: 'OPAMP_TLS_CERT', kind: 'string', default: undefined, help: 'PEM certificate, its chain after it: serve HTTPS on --port (with --tls-key). Reloaded when the file changes.' },
  { key: 'tlsKey', flag: 'tls-key', env: 'OPAMP_TLS_KEY', kind: 'string', default: undefined, help: 'PEM private key of --tls-cert. Reloaded when the file changes.' },
  { key: 'tlsClientCa', flag: 'tls-client-ca', env: 'OPAMP_TLS_CLIENT_CA', kind: 'string', default: undefined, help: 'PEM CA of accepted client certificates: mutual TLS. Reloaded when the file changes.' },
  { key: 'tlsClientAuth', flag: 'tls-client-auth', env: 'OPAMP_TLS_CLIENT_AUTH', kind: 'clientAuth', default: 'required', help: 'With --tls-client-ca: required (no certificate, no connection) or optional (clients without one are let in; a certificate that does not verify is still refused).' },
  { key: 'tlsMinVersion', flag: 'tls-min-version', env: 'OPAMP_TLS_MIN_VERSION', kind: 'tlsVersion', default: 'TLSv1.2', help: 'Lowest TLS version accepted: TLSv1.2 or TLSv1.3.' },
  { key: 'host', flag: 'host', env: 'OPAMP_HOST', kind: 'string', default: '127.0.0.1', help: 'Address to listen on.' },
  { key: 'port', flag: 'port', env: 'OPAMP_PORT', kind: 'port', default: '4320', help: 'TCP port (4320 is the OpAMP default; 0 picks a free one).' },
  { key: 'dataDir', flag: 'data-dir', env: 'OPAMP_DATA_DIR', kind: 'string', default: './data', help: 'Directory of the embedded SQLite store.' },
  { key: 'store', flag: 'store', env: 'OPAMP_STORE', kind: 'store', default: 'sqlite', help: 'sqlite (one instance, file in --data-dir) or a postgres:// URL shared by several instances (?schema=name picks a schema).' },
  { key: 'writeBatchMs', flag: 'write-batch-ms', env: 'OPAMP_WRITE_BATCH_MS', kind: 'milliseconds', default: '1000', help: 'Milliseconds between batched writes of last-seen times, sequence numbers and download progress; a crash loses at most this window of them.' },
  { key: 'routineWriteMs', flag: 'routine-write-ms', env: 'OPAMP_ROUTINE_WRITE_MS', kind: 'milliseconds', default: '10000', help: 'SQLite store: last-seen times, sequence numbers and download progress are held until the oldest has waited this many milliseconds, then all written in one round in key order, so an agent polling more often is written about once per this interval (listings and shutdown write everything first); a crash loses at most this plus --write-batch-ms of them.' },
  { key: 'maxMessageBytes', flag: 'max-message-bytes', env: 'OPAMP_MAX_MESSAGE_BYTES', kind: 'bytes', default: '4MiB', help: 'Largest AgentToServer body, before and after gunzip (413 above it).' },
  { key: 'maxResponseBytes', flag: 'max-response-bytes', env: 'OPAMP_MAX_RESPONSE_BYTES', kind: 'bytes', default: '4MiB', help: 'Largest ServerToAgent body before compression (500 above it).' },
  { key: 'coalesceAnswers', flag: 'coalesce-answers', env: 'OPAMP_COALESCE_ANSWERS', kind: 'boolean', default: 'true', help: 'Write the poll answers that are ready in one turn of the event loop back to back at its end, so one wake-up of the peer serves them all (false: each as soon as it is ready).' },
  { key: 'agentOfflineAfter', flag: 'agent-offline-after', env: 'OPAMP_AGENT_OFFLINE_AFTER', kind: 'duration', default: '90s', help: 'An agent not heard from for this long counts as offline.' },
  { key: 'logLevel', flag: 'log-level', env: 'OPAMP_LOG_LEVEL', kind: 'level', default: 'info', help: `Log level: ${LOG_LEVELS.join(', ')}.` },
  { key: 'packagesDir', flag: 'packages-dir', env: 'OPAMP_PACKAGES_DIR', kind: 'string', default: undefined, help: 'Directory of release tarballs and their signature sidecars to offer.' },
  { key: 'rescanInterval', flag: 'rescan-interval', env: 'OPAMP_RESCAN_INTERVAL', kind: 'duration', default: '5s', help: 'How often the packages directory is rescanned (it is also watched).' },
  { key: 'offer', flag: 'offer', env: 'OPAMP_OFFER', kind: 'offer', default: 'none', help: 'Version offered to agents that accept packages: none, latest or X.Y.Z.' },
  { key: 'publicUrl', flag: 'public-url', env: 'OPAMP_PUBLIC_URL', kind: 'url', default: undefined, help: 'Base URL of download links in offers (default: derived from each request).' },
  { key: 'trustProxy', flag: 'trust-proxy', env: 'OPAMP_TRUST_PROXY', kind: 'trustProxy', default: 'false', help: 'Honour X-Forwarded-Proto/Host/Prefix and X-Forwarded-For: true (from any peer), false, or the proxies allowed to send them as a comma-separated list of addresses and CIDRs (10.0.0.0/8,127.0.0.1).' },
  { key: 'trustedRoot', flag: 'trusted-root', env: 'OPAMP_TRUSTED_ROOT', kind: 'string', default: undefined, help: 'Sigstore TrustedRoot JSON file (default: the public-good root).' },
  { key: 'trustedRootRefresh', flag: 'trusted-root-refresh', env: 'OPAMP_TRUSTED_ROOT_REFRESH', kind: 'boolean', default: 'true', help: 'Without --trusted-root: refresh the public-good root through TUF in the background (false for air-gapped sites).' },
  { key: 'signerIssuer', flag: 'signer-issuer', env: 'OPAMP_SIGNER_ISSUER', kind: 'string', default: undefined, help: 'OIDC issuer the signing certificate must carry (default: GitHub Actions).' },
  { key: 'signerIdentity', flag: 'signer-identity', env: 'OPAMP_SIGNER_IDENTITY', kind: 'string', default: undefined, help: 'Exact certificate identity (SAN) of the signer.' },
  { key: 'signerIdentityRegexp', flag: 'signer-identity-regexp', env: 'OPAMP_SIGNER_IDENTITY_REGEXP', kind: 'string', default: undefined, help: 'Regular expression (always anchored) for the signer identity (default: the collector release workflow).' },
  { key: 'signerRepository', flag: 'signer-repository', env: 'OPAMP_SIGNER_REPOSITORY', kind: 'string', default: undefined, help: 'GitHub repository that built the artifact (default: open-telemetry/opentelemetry-collector-releases; empty skips the check).' },
  { key: 'allowUnsigned', flag: 'allow-unsigned', env: 'OPAMP_ALLOW_UNSIGNED', kind: 'boolean', default: 'false', help: 'Development only: offer packages that carry no signature.' },
  { key: 'agentKeysFile', flag: 'agent-keys-file', env: 'OPAMP_AGENT_KEYS_FILE', kind: 'string', default: undefined, help: 'File of agent keys, one name:key a line; reread when it changes.' },
  { key: 'adminKeysFile', flag: 'admin-keys-file', env: 'OPAMP_ADMIN_KEYS_FILE', kind: 'string', default: undefined, help: 'File of admin API keys, one name:key a line; reread when it changes. Without any, the admin API answers only on loopback.' },
  { key: 'agentAuth', flag: 'agent-auth', env: 'OPAMP_AGENT_AUTH', kind: 'agentAuth', default: 'keys', help: 'keys: agents need a key as soon as any agent key exists; none: never ask for one.' },
  { key: 'downloadTokenLifetime', flag: 'download-token-lifetime', env: 'OPAMP_DOWNLOAD_TOKEN_LIFETIME', kind: 'duration', default: '24h', help: 'How long the download token in an offer stays valid (agent auth on).' },
  { key: 'forgetAgentsAfter', flag: 'forget-agents-after', env: 'OPAMP_FORGET_AGENTS_AFTER', kind: 'duration', default: '30d', help: 'Agents not heard from for this long are forgotten.' },
  { key: 'stuckAfter', flag: 'stuck-after', env: 'OPAMP_STUCK_AFTER', kind: 'duration', default: '2h', help: 'In a rollout, an agent offered or upgrading with no change for this long counts as stuck.' },
  { key: 'signatureFormat', flag: 'signature-format', env: 'OPAMP_SIGNATURE_FORMAT', kind: 'format', default: 'cosign', help: 'Offered signature: cosign ("<b64 cert> <b64 sig>") or bundle (Sigstore bundle JSON).' },
  { key: 'releases', flag: 'releases', env: 'OPAMP_RELEASES', kind: 'string', default: undefined, help: 'Follow a release feed: github: (the collector releases), github:OWNER/REPO, or a mirror base URL laid out as BASE/vVERSION/ASSET.' },
  { key: 'releasesApiUrl', flag: 'releases-api-url', env: 'OPAMP_RELEASES_API_URL', kind: 'url', default: 'https://api.github.com', help: 'Base URL of the GitHub API for github: feeds (GitHub Enterprise: https://HOST/api/v3).' },
  { key: 'releasesTokenFile', flag: 'releases-token-file', env: 'OPAMP_RELEASES_TOKEN_FILE', kind: 'string', default: undefined, help: 'File holding a GitHub token, sent as a bearer token to the API only (raises its rate limit); reread at each refresh.' },
  { key: 'releasesDistributions', flag: 'releases-distributions', env: 'OPAMP_RELEASES_DISTRIBUTIONS', kind: 'string', default: 'otelcol-contrib', help: 'Comma-separated distributions to follow (otelcol, otelcol-contrib, otelcol-k8s, ...).' },
  { key: 'releasesPlatforms', flag: 'releases-platforms', env: 'OPAMP_RELEASES_PLATFORMS', kind: 'string', default: 'linux/amd64,linux/arm64', help: 'Comma-separated OS/ARCH to follow, in goreleaser names (linux/armv7, linux/386, linux/ppc64le, darwin/arm64, windows/amd64) or as agents report them.' },
  { key: 'releasesVersions', flag: 'releases-versions', env: 'OPAMP_RELEASES_VERSIONS', kind: 'string', default: 'newest:3', help: 'Versions to follow: newest:N stable releases, a comma-separated list (may name pre-releases and nightly; a mirror needs one), or a semver range.' },
  { key: 'releasesCacheDir', flag: 'releases-cache-dir', env: 'OPAMP_RELEASES_CACHE_DIR', kind: 'string', default: undefined, help: 'Where downloaded releases are kept (default: DATA-DIR/releases).' },
  { key: 'releasesDelivery', flag: 'releases-delivery', env: 'OPAMP_RELEASES_DELIVERY', kind: 'delivery', default: 'cache', help: 'cache: agents download from this server; passthrough: offers point at the upstream URL (checked here first; no download token attached).' },
  { key: 'releasesRefresh', flag: 'releases-refresh', env: 'OPAMP_RELEASES_REFRESH', kind: 'duration', default: '1h', help: 'How often the release feed is asked for new releases (also POST /api/v1/packages/refresh).' },
  { key: 'releasesCacheMaxBytes', flag: 'releases-cache-max-bytes', env: 'OPAMP_RELEASES_CACHE_MAX_BYTES', kind: 'sizeOrOff', default: 'off', help: 'Largest release cache: older followed versions past it are not fetched, or evicted, unless a rollout or --offer needs them; or off.' },
  { key: 'releasesChecksums', flag: 'releases-checksums', env: 'OPAMP_RELEASES_CHECKSUMS', kind: 'string', default: 'opentelemetry-collector-releases_{distribution}_checksums.txt', help: 'Name of a release\'s checksums file ({distribution} is replaced).' },
  { key: 'releasesMaxAssetBytes', flag: 'releases-max-asset-bytes', env: 'OPAMP_RELEASES_MAX_ASSET_BYTES', kind: 'bytes', default: '1GiB', help: 'Largest tarball fetched from the feed; a larger one is rejected.' },
  { key: 'releasesConnectTimeout', flag: 'releases-connect-timeout', env: 'OPAMP_RELEASES_CONNECT_TIMEOUT', kind: 'duration', default: '10s', help: 'Connect timeout for the release feed (HTTPS_PROXY, HTTP_PROXY and NO_PROXY are honoured).' },
  { key: 'releasesReadTimeout', flag: 'releases-read-timeout', env: 'OPAMP_RELEASES_READ_TIMEOUT', kind: 'duration', default: '60s', help: 'Longest wait for headers or the next bytes from the release feed; an interrupted download resumes at the next refresh.' },
  { key: 'releasesParallelDownloads', flag: 'releases-parallel-downloads', env: 'OPAMP_RELEASES_PARALLEL_DOWNLOADS', kind: 'count', default: '2', help: 'Release files downloaded at the same time.' },
  { key: 'ui', flag: 'ui', env: 'OPAMP_UI', kind: 'boolean', default: 'true', help: 'Serve the web console at /ui/ (it calls the admin API with the same keys); false turns it off.' },
];

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const UNITS_BYTES: Record<string, number> = {
  b: 1, kb: 1000, kib: 1024, mb: 1_000_000, mib: 1024 ** 2, gb: 1_000_000_000, gib: 1024 ** 3,
};

/** Parses `90s`, `5m`, `250ms`, `2h`, `30d`; a bare number is seconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNITS_MS[(match[2] ?? 's').toLowerCase()]!);
}

/** Parses `4MiB`, `64KB`, `1048576`; a bare number is bytes. */
export function parseBytes(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*$/i.exec(text);
  if (!match) return undefined;
  return Math.floor(Number(match[1]) * UNITS_BYTES[(match[2] ?? 'b').toLowerCase()]!);
}

function convert(spec: OptionSpec, raw: string, origin: string): unknown {
  const fail = (why: string): never => {
    throw new ConfigError(`invalid --${spec.flag} (${origin}): ${JSON.stringify(raw)} ${why}`);
  };
  switch (spec.kind) {
    case 'string':
      return raw;
    case 'port': {
      const port = /^\d+$/.test(raw) ? Number(raw) : NaN;
      return port >= 0 && port <= 65535 ? port : fail('is not a TCP port (0-65535)');
    }
    case 'duration': {
      const value = parseDuration(raw);
      return value !== undefined && value > 0 ? value : fail('is not a positive duration such as 90s, 5m or 2h');
    }
    case 'bytes': {
      const value = parseBytes(raw);
      return value !== undefined && value >= 64 ? value : fail('is not a size of at least 64 bytes, such as 4MiB');
    }
    case 'boolean': {
      if (/^(true|1|yes|on)$/i.test(raw)) return true;
      if (/^(false|0|no|off)$/i.test(raw)) return false;
      return fail('is not true or false');
    }
    case 'level':
      return LOG_LEVELS.includes(raw) ? raw : fail(`is not one of ${LOG_LEVELS.join(', ')}`);
    case 'offer':
      return raw === 'none' || raw === 'latest' || /^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/.test(raw)
        ? raw.replace(/^v/, '')
        : fail('is not none, latest or a version X.Y.Z');
    case 'store':
      return raw === 'sqlite' || /^postgres(?:ql)?:\/\/\S+$/i.test(raw) ? raw : fail('is not sqlite or a postgres:// URL');
    case 'milliseconds': {
      const value = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      return value >= 1 && value <= 3_600_000 ? value : fail('is not a whole number of milliseconds from 1 to 3600000');
    }
    case 'rate': {
      if (raw === 'off') return undefined;
      const match = /^(\d+)\/(.+)$/.exec(raw.trim());
      const max = match ? Number(match[1]) : NaN;
      const windowMs = match ? parseDuration(match[2]!) : undefined;
      return max >= 1 && windowMs !== undefined && windowMs > 0
        ? { max, windowMs }
        : fail('is not COUNT/WINDOW such as 60/1m, or off');
    }
    case 'durationOrOff': {
      if (raw === 'off' || raw === '0') return 0;
      const value = parseDuration(raw);
      return value !== undefined && value > 0 ? value : fail('is not a duration such as 1s or 500ms, or off');
    }
    case 'heapLimit': {
      if (raw === 'off' || raw === '0') return 0;
      if (raw === 'auto') return Math.floor(v8.getHeapStatistics().heap_size_limit * 0.9);
      const value = parseBytes(raw);
      return value !== undefined && value > 0 ? value : fail('is not a size such as 1GiB, auto or off');
    }
    case 'delivery':
      return raw === 'cache' || raw === 'passthrough' ? raw : fail('is not cache or passthrough');
    case 'sizeOrOff': {
      if (raw === 'off' || raw === '0') return 0;
      const value = parseBytes(raw);
      return value !== undefined && value > 0 ? value : fail('is not a size such as 20GiB, or off');
    }
    case 'count': {
      const value = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      return value >= 1 ? value : fail('is not a whole number of at least 1');
    }
    case 'trustProxy': {
      if (/^(true|1|yes|on)$/i.test(raw)) return true;
      if (/^(false|0|no|off)$/i.test(raw)) return false;
      const proxies = parseTrustedProxies(raw);
      return typeof proxies === 'string' ? fail(`is not true, false or a list of proxy addresses: it ${proxies}`) : proxies;
    }
    case 'connections': {
      if (raw === 'auto') return defaultMaxConnections();
      const value = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      return value >= 1 ? value : fail('is not a whole number of at least 1, or auto');
    }
    case 'clientAuth':
      return raw === 'required' || raw === 'optional' ? raw : fail('is not required or optional');
    case 'tlsVersion':
      return raw === 'TLSv1.2' || raw === 'TLSv1.3' ? raw : fail('is not TLSv1.2 or TLSv1.3');
    case 'agentAuth':
      return raw === 'keys' || raw === 'none' ? raw : fail('is not keys or none');
    case 'format':
      return raw === 'cosign' || raw === 'bundle' ? raw : fail('is not cosign or bundle');
    case 'url': {
      let parsed: URL | undefined;
      try {
        parsed = new URL(raw);
      } catch {
        return fail('is not an absolute URL');
      }
      return parsed.protocol === 'http:' || parsed.protocol === 'https:'
        ? raw.replace(/\/+$/, '')
        : fail('is not an http(s) URL');
    }
  }
}

export interface ConfigSources {
  /** Values from the command line, by flag name; `true` for a boolean flag given alone. */
  flags: Record<string, string | boolean>;
  env: NodeJS.ProcessEnv;
  configFile?: string;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`invalid --config: cannot read ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`invalid --config: ${file} is not JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`invalid --config: ${file} must hold a JSON object`);
  }
  const known = new Set<string>([...OPTIONS.map((option) => option.key as string), 'signers']);
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) throw new ConfigError(`invalid --config: unknown key "${key}" in ${file}`);
  }
  return parsed as Record<string, unknown>;
}

/** Resolves every option: flag, then environment, then config file, then default. */
export function resolveConfig(sources: ConfigSources): ServeConfig {
  const fileValues = sources.configFile === undefined ? {} : readConfigFile(sources.configFile);
  const result: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    const flagValue = sources.flags[spec.flag];
    const envValue = sources.env[spec.env];
    const fileValue = fileValues[spec.key];
    let raw: string | undefined;
    let origin = 'default';
    if (flagValue !== undefined) {
      raw = typeof flagValue === 'boolean' ? String(flagValue) : flagValue;
      origin = 'flag';
    } else if (envValue !== undefined) {
      raw = envValue;
      origin = spec.env;
    } else if (fileValue !== undefined) {
      if (typeof fileValue !== 'string' && typeof fileValue !== 'number' && typeof fileValue !== 'boolean') {
        throw new ConfigError(`invalid --config: "${spec.key}" must be a string, number or boolean`);
      }
      raw = String(fileValue);
      origin = `config key "${spec.key}"`;
    } else {
      raw = spec.default;
    }
    result[spec.key] = raw === undefined ? undefined : convert(spec, raw, origin);
  }
  result.signers = fileValues.signers;
  // Node refuses a header deadline past the request deadline.
  if ((result.headersTimeout as number) > (result.requestTimeout as number)) {
    throw new ConfigError(`invalid --headers-timeout: it must not be longer than --request-timeout`);
  }
  return result as unknown as ServeConfig;
}

/** Options that may be given without a value (then true); --trust-proxy also takes a list. */
function standsAlone(option: OptionSpec): boolean {
  return option.kind === 'boolean' || option.kind === 'trustProxy';
}

/** Flag names of `serve`, for the argument parser: booleans may stand alone. */
export function serveFlagNames(): { strings: string[]; booleans: string[] } {
  return {
    strings: OPTIONS.filter((option) => !standsAlone(option)).map((option) => option.flag),
    booleans: OPTIONS.filter(standsAlone).map((option) => option.flag),
  };
}

export function optionsHelp(): string {
  return OPTIONS.map((option) => {
    const defaultText = option.default === undefined ? '' : ` [default: ${option.default}]`;
    return `  --${option.flag.padEnd(24)} ${option.env.padEnd(30)} "${option.key}"\n      ${option.help}${defaultText}`;
  }).join('\n');
}
