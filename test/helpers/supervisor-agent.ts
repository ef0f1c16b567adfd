// A test agent that talks to the server the way the OpenTelemetry Collector supervisor (built
// on the opamp-go HTTP client) does: binary protobuf POSTs, gzip answers, capabilities on every
// message, status compression, retry of the same request on 429/503, and a package install that
// reports each step (Downloading 0%, Downloading 100%, Installing, Installed or InstallFailed)
// in its own message on the following polls, so the server never sees a blocked poll loop.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { PackageStatusCode } from '../../src/agents/package-status';
import {
  AgentCapability,
  ServerToAgentFlag,
  decodeServerToAgent,
  encodeAgentToServer,
  proto,
  uidToString,
  type AgentDescription,
  type AgentToServerInit,
  type KeyValue,
  type PackageAvailable,
  type PackageStatus,
  type ServerToAgent,
} from '../../src/opamp/codec';
import { download, postMessage } from './supervisor-agent-http';

export interface SupervisorAgentOptions {
  serverUrl: string;
  instanceUid?: Buffer;
  /** service.name, and the executable the agent expects (default `otelcol-contrib`). */
  distribution?: string;
  /** service.version, without `v` (default `0.110.0`). */
  version?: string;
  os?: string;
  arch?: string;
  hostName?: string;
  acceptsPackages?: boolean;
  /** Extra request headers on every OpAMP POST, e.g. Authorization. */
  headers?: Record<string, string>;
  /** When set, the install step fails with this message after the download succeeds. */
  failInstall?: string;
  gzipRequests?: boolean;
  /** Upper bound on one Retry-After wait, so tests stay fast (default 50 ms). */
  maxRetryDelayMs?: number;
  /** How many 429/503 answers to retry before giving up on a message (default 10). */
  maxRetries?: number;
  /** Request timeout for OpAMP POSTs and downloads (default 10 s). */
  timeoutMs?: number;
}

export interface AgentError {
  /** `http`: a non-200 answer; `network`: no answer; `server`: a 200 carrying error_response. */
  kind: 'http' | 'network' | 'server' | 'decode';
  status?: number;
  message: string;
}

/** What the agent does next for an offer it accepted; each step is one message. */
type InstallStep = 'downloading' | 'download' | 'installing' | 'finish';

interface InstallJob {
  allPackagesHash: Uint8Array;
  offer: PackageAvailable;
  next: InstallStep;
  /** The status being built up; stale fields (download_details) stay, as in opamp-go. */
  status: PackageStatus;
}

interface StatusReport {
  status: PackageStatus;
  /** The all_packages_hash of the offer this status answers. */
  allPackagesHash: Uint8Array;
}

const TOP_LEVEL_PACKAGE = '';

export class SupervisorAgent {
  instanceUid: Buffer;
  currentVersion: string;
  readonly distribution: string;
  /** Every decoded answer, in order. */
  readonly received: ServerToAgent[] = [];
  /** Every message sent (as built, before encoding), in order; retries are not repeated here. */
  readonly sent: AgentToServerInit[] = [];
  /** Each PackageStatus sent for the top-level package, in order. */
  readonly statusesSent: PackageStatus[] = [];
  readonly errors: AgentError[] = [];
  offersReceived = 0;
  downloads = 0;
  retries = 0;
  /** Content-Encoding of the last OpAMP answer, to check the server compresses. */
  lastResponseEncoding: string | undefined;

  private readonly options: SupervisorAgentOptions;
  private sequenceNum = 0;
  private sendDescription = true;
  private sendHealth = true;
  private readonly startTimeUnixNano = Date.now() * 1_000_000;
  /** The all_packages_hash of the last offer fully installed (opamp-go keeps only successes). */
  private processedAllPackagesHash: Uint8Array | undefined;
  private installedPackageHash: Uint8Array | undefined;
  private installedPackageVersion: string | undefined;
  private job: InstallJob | undefined;
  /** An offer that arrived while another install ran; opamp-go serialises syncs the same way. */
  private queuedOffer: ServerToAgent | undefined;
  /** The package status to send in the next message (status compression sends it once). */
  private pendingStatuses: StatusReport | undefined;
  /** Last package status sent, resent when the server asks for full state. */
  private lastStatuses: StatusReport | undefined;
  private reportFullState = false;
  /** Set by a successful install; becomes currentVersion once Installed has been sent. */
  private restartedVersion: string | undefined;

  constructor(options: SupervisorAgentOptions) {
    this.options = options;
    this.instanceUid = options.instanceUid ?? uuidV7();
    this.distribution = options.distribution ?? 'otelcol-contrib';
    this.currentVersion = options.version ?? '0.110.0';
  }

  get capabilities(): number {
    let capabilities = AgentCapability.ReportsStatus | AgentCapability.ReportsHealth;
    if (this.options.acceptsPackages !== false) {
      capabilities |= AgentCapability.AcceptsPackages | AgentCapability.ReportsPackageStatuses;
    }
    return capabilities;
  }

  /** True while an accepted offer is still being downloaded or installed. */
  get installing(): boolean {
    return this.job !== undefined;
  }

  /**
   * One exchange: advances any install in progress by one step (which may download the file),
   * sends one message and processes the answer. A failed exchange resolves with an empty answer
   * and records the failure in `errors`, as the real client drops the message and carries on.
   */
  async poll(): Promise<ServerToAgent> {
    if (this.job !== undefined) await this.advanceInstall(this.job);
    const message = this.buildMessage();
    this.sent.push(message);
    if (this.restartedVersion !== undefined) {
      // The restarted collector reports its new version after Installed went out; the
      // supervisor forwards that description in its next message.
      this.currentVersion = this.restartedVersion;
      this.restartedVersion = undefined;
      this.sendDescription = true;
    }
    if (this.job === undefined && this.queuedOffer !== undefined) {
      // The install that held this offer back has now sent its final status.
      const queued = this.queuedOffer;
      this.queuedOffer = undefined;
      this.considerOffer(queued);
    }
    const body = Buffer.from(encodeAgentToServer(message));
    const answerBytes = await this.exchange(body);
    if (answerBytes === undefined) return proto.ServerToAgent.create();
    let answer: ServerToAgent;
    try {
      answer = decodeServerToAgent(answerBytes);
    } catch (error) {
      this.errors.push({ kind: 'decode', message: `undecodable answer: ${(error as Error).message}` });
      return proto.ServerToAgent.create();
    }
    this.received.push(answer);
    this.handleAnswer(answer);
    return answer;
  }

  /** Polls until the predicate holds; fails after maxPolls with what the agent last reported. */
  async runUntil(
    predicate: (agent: SupervisorAgent) => boolean,
    options: { maxPolls?: number; intervalMs?: number } = {},
  ): Promise<number> {
    const maxPolls = options.maxPolls ?? 30;
    for (let polls = 0; polls < maxPolls; polls += 1) {
      if (predicate(this)) return polls;
      await this.poll();
      if (options.intervalMs !== undefined && options.intervalMs > 0) await sleep(options.intervalMs);
    }
    if (predicate(this)) return maxPolls;
    const lastStatus = this.statusesSent[this.statusesSent.length - 1];
    throw new Error(
      `condition not met after ${maxPolls} polls (version ${this.currentVersion}, ` +
        `last status ${JSON.stringify(lastStatus ?? null)}, errors ${JSON.stringify(this.errors)})`,
    );
  }

  private buildMessage(): AgentToServerInit {
    const message: AgentToServerInit = {
      instanceUid: this.instanceUid,
      sequenceNum: this.sequenceNum,
      capabilities: this.capabilities,
    };
    this.sequenceNum += 1;
    if (this.sendDescription || this.reportFullState) message.agentDescription = this.describe();
    if (this.sendHealth || this.reportFullState) {
      message.health = { healthy: true, startTimeUnixNano: this.startTimeUnixNano, status: 'StatusOK' };
    }
    if (this.pendingStatuses !== undefined) {
      message.packageStatuses = {
        packages: { [TOP_LEVEL_PACKAGE]: this.pendingStatuses.status },
        serverProvidedAllPackagesHash: this.pendingStatuses.allPackagesHash,
      };
      this.statusesSent.push(this.pendingStatuses.status);
      this.lastStatuses = this.pendingStatuses;
    } else if (this.reportFullState && this.lastStatuses !== undefined) {
      message.packageStatuses = {
        packages: { [TOP_LEVEL_PACKAGE]: this.lastStatuses.status },
        serverProvidedAllPackagesHash: this.lastStatuses.allPackagesHash,
      };
    }
    this.pendingStatuses = undefined;
    this.sendDescription = false;
    this.sendHealth = false;
    this.reportFullState = false;
    return message;
  }

  private describe(): AgentDescription {
    return {
      identifyingAttributes: [
        stringAttribute('service.name', this.distribution),
        stringAttribute('service.version', this.currentVersion),
        stringAttribute('service.instance.id', uidToString(this.instanceUid)),
      ],
      nonIdentifyingAttributes: [
        stringAttribute('os.type', this.options.os ?? 'linux'),
        stringAttribute('host.arch', this.options.arch ?? 'amd64'),
        stringAttribute('host.name', this.options.hostName ?? hostname()),
      ],
    };
  }

  private async exchange(body: Buffer): Promise<Buffer | undefined> {
    const url = `${this.options.serverUrl.replace(/\/+$/, '')}/v1/opamp`;
    const headers: Record<string, string> = {
      'Content-Type': 'application/x-protobuf',
      'Accept-Encoding': 'gzip',
      'OpAMP-Instance-UID': uidToString(this.instanceUid),
      'User-Agent': 'supervisor-agent-test',
      ...this.options.headers,
    };
    let payload = body;
    if (this.options.gzipRequests === true) {
      payload = gzipSync(body);
      headers['Content-Encoding'] = 'gzip';
    }
    const maxRetries = this.options.maxRetries ?? 10;
    for (let attempt = 0; ; attempt += 1) {
      let response;
      try {
        response = await postMessage(url, headers, payload, this.options.timeoutMs ?? 10_000);
      } catch (error) {
        this.errors.push({ kind: 'network', message: (error as Error).message });
        return undefined;
      }
      this.lastResponseEncoding = response.contentEncoding;
      if (response.status === 200) return response.body;
      if ((response.status === 429 || response.status === 503) && attempt < maxRetries) {
        // opamp-go resends the very same request after max(backoff, Retry-After).
        this.retries += 1;
        await sleep(this.retryDelay(response.retryAfter, attempt));
        continue;
      }
      this.errors.push({ kind: 'http', status: response.status, message: `HTTP ${response.status} from ${url}` });
      return undefined;
    }
  }

  private retryDelay(retryAfter: string | undefined, attempt: number): number {
    const cap = this.options.maxRetryDelayMs ?? 50;
    const backoff = Math.min(cap, 5 * 2 ** attempt);
    if (retryAfter === undefined) return backoff;
    const seconds = Number(retryAfter);
    const requested = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now();
    if (!Number.isFinite(requested)) return backoff;
    return Math.min(cap, Math.max(backoff, requested));
  }

  private handleAnswer(answer: ServerToAgent): void {
    if (answer.errorResponse) {
      this.errors.push({ kind: 'server', message: answer.errorResponse.errorMessage ?? 'error_response without message' });
    }
    const newUid = answer.agentIdentification?.newInstanceUid;
    if (newUid && newUid.length === 16) {
      this.instanceUid = Buffer.from(newUid);
      // service.instance.id follows the uid, so the description changed.
      this.sendDescription = true;
    }
    if ((Number(answer.flags ?? 0) & ServerToAgentFlag.ReportFullState) !== 0) this.reportFullState = true;
    if (answer.packagesAvailable) {
      this.offersReceived += 1;
      if (this.job !== undefined) this.queuedOffer = answer;
      else this.considerOffer(answer);
    }
  }

  /** opamp-go's first step: an offer whose all_packages_hash was already processed is ignored. */
  private considerOffer(answer: ServerToAgent): void {
    if (this.options.acceptsPackages === false) return;
    const available = answer.packagesAvailable;
    if (!available) return;
    const allPackagesHash = available.allPackagesHash ?? new Uint8Array();
    if (this.processedAllPackagesHash !== undefined && sameBytes(this.processedAllPackagesHash, allPackagesHash)) return;
    const offer = available.packages?.[TOP_LEVEL_PACKAGE];
    if (offer === undefined) {
      // Nothing for this agent to install (addon-only or empty offer): noted, nothing reported.
      this.processedAllPackagesHash = allPackagesHash;
      return;
    }
    const status: PackageStatus = {
      name: TOP_LEVEL_PACKAGE,
      serverOfferedVersion: offer.version ?? '',
      serverOfferedHash: offer.hash ?? new Uint8Array(),
    };
    if (this.installedPackageHash !== undefined) {
      status.agentHasVersion = this.installedPackageVersion;
      status.agentHasHash = this.installedPackageHash;
    }
    if (this.installedPackageHash !== undefined && offer.hash && sameBytes(this.installedPackageHash, offer.hash)) {
      // Already installed: report it and skip the download, as opamp-go does.
      this.processedAllPackagesHash = allPackagesHash;
      this.pendingStatuses = { status: { ...status, status: PackageStatusCode.Installed }, allPackagesHash };
      return;
    }
    this.job = { allPackagesHash, offer, next: 'downloading', status };
  }

  private async advanceInstall(job: InstallJob): Promise<void> {
    switch (job.next) {
      case 'downloading':
        job.status = { ...job.status, status: PackageStatusCode.Downloading, downloadDetails: { downloadPercent: 0 } };
        job.next = 'download';
        break;
      case 'download':
        await this.downloadOffered(job);
        break;
      case 'installing':
        job.status = { ...job.status, status: PackageStatusCode.Installing };
        job.next = 'finish';
        break;
      case 'finish':
        this.finishInstall(job);
        break;
    }
    this.pendingStatuses = { status: job.status, allPackagesHash: job.allPackagesHash };
  }

  private async downloadOffered(job: InstallJob): Promise<void> {
    const file = job.offer.file;
    const headers: Array<[string, string]> = (file?.headers?.headers ?? []).map((header) => [
      header.key ?? '',
      header.value ?? '',
    ]);
    this.downloads += 1;
    let failure: string | undefined;
    try {
      if (!file?.downloadUrl) throw new Error('the offer has no download_url');
      const result = await download(file.downloadUrl, headers, this.options.timeoutMs ?? 10_000);
      if (result.status !== 200) failure = `download failed: HTTP ${result.status}`;
      else if (!file.contentHash || !sameBytes(result.sha256, file.contentHash)) failure = 'content hash mismatch';
    } catch (error) {
      failure = `download failed: ${(error as Error).message}`;
    }
    if (failure !== undefined) {
      job.status = { ...job.status, status: PackageStatusCode.InstallFailed, errorMessage: failure };
      this.endJob();
      return;
    }
    job.status = { ...job.status, status: PackageStatusCode.Downloading, downloadDetails: { downloadPercent: 100 } };
    job.next = 'installing';
  }

  private finishInstall(job: InstallJob): void {
    if (this.options.failInstall !== undefined) {
      job.status = { ...job.status, status: PackageStatusCode.InstallFailed, errorMessage: this.options.failInstall };
      this.endJob();
      return;
    }
    const offeredVersion = job.offer.version ?? '';
    const offeredHash = job.offer.hash ?? new Uint8Array();
    job.status = {
      ...job.status,
      status: PackageStatusCode.Installed,
      agentHasVersion: offeredVersion,
      agentHasHash: offeredHash,
    };
    this.installedPackageVersion = offeredVersion;
    this.installedPackageHash = offeredHash;
    this.processedAllPackagesHash = job.allPackagesHash;
    this.restartedVersion = offeredVersion.replace(/^v/, '');
    this.endJob();
  }

  /** The job's final status still goes out in this poll; poll() then looks at a queued offer. */
  private endJob(): void {
    this.job = undefined;
  }
}

function stringAttribute(key: string, value: string): KeyValue {
  return { key, value: { stringValue: value } };
}

function sameBytes(left: Uint8Array, right: Uint8Array): boolean {
  return Buffer.from(left.buffer, left.byteOffset, left.byteLength).equals(
    Buffer.from(right.buffer, right.byteOffset, right.byteLength),
  );
}

/** 16 bytes laid out as a UUIDv7: 48-bit millisecond time, version 7, RFC 4122 variant. */
export function uuidV7(): Buffer {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(Date.now(), 0, 6);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x70;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  return bytes;
}

