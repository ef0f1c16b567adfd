// An open-loop load generator (wrk2 is not packaged for Debian, and wrk 4 only runs closed
// loops). Request i is due at start + i / rate whatever happened to earlier ones, and its
// latency is measured from that scheduled instant, so time a request spends waiting behind a
// slow one counts (no coordinated omission). Runs as its own process: node dist/bench/open-loop.js.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import zlib from 'node:zlib';
import { decodeServerToAgent } from '../src/opamp/codec';
import { readBodies } from './bodies';
import { BENCH_AUTHORIZATION } from './settings';

export interface OpenLoopOptions {
  url: string;
  bodiesDirectory: string;
  /** Requests per second offered. */
  rate: number;
  /** Sent at the same rate but not recorded, so the JIT and the connections are warm. */
  warmupSeconds: number;
  durationSeconds: number;
  /** Kept-alive connections at most; a request finding none free waits (and that wait counts). */
  sockets: number;
  /** Decode every answer and count those carrying packages_available. */
  decode: boolean;
}

export interface OpenLoopResult {
  offered: number;
  completed: number;
  /** Answers per second over the recorded window (from its first slot to the last answer). */
  achievedRate: number;
  errors: number;
  non200: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Answers carrying packages_available, over every request including warm-up. */
  withPackages: number;
  /** Distinct agents that were sent packages_available at least once. */
  agentsOffered: number;
  /** Every answer, including warm-up. */
  answers: number;
}

function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

async function run(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const bodies = readBodies(options.bodiesDirectory);
  const target = new URL('/v1/opamp', options.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.sockets, maxFreeSockets: options.sockets });
  const warmup = Math.round(options.rate * options.warmupSeconds);
  const total = warmup + Math.round(options.rate * options.durationSeconds);
  const latencies = new Float64Array(total - warmup);
  const intervalMs = 1000 / options.rate;
  let sent = 0;
  let finished = 0;
  let recorded = 0;
  let errors = 0;
  let non200 = 0;
  let withPackages = 0;
  const offeredAgents = new Set<number>();
  let lastAnswerMs = 0;
  const startMs = performance.now() + 20;

  return new Promise((resolve) => {
    const complete = (): void => {
      finished += 1;
      if (finished < total) return;
      agent.destroy();
      const sorted = latencies.subarray(0, recorded).sort();
      const windowSeconds = (lastAnswerMs - (startMs + warmup * intervalMs)) / 1000;
      resolve({
        offered: total - warmup,
        completed: recorded,
        achievedRate: windowSeconds > 0 ? recorded / windowSeconds : Number.NaN,
        errors,
        non200,
        p50Ms: percentile(sorted, 0.5),
        p90Ms: percentile(sorted, 0.9),
        p99Ms: percentile(sorted, 0.99),
        p999Ms: percentile(sorted, 0.999),
        maxMs: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
        withPackages,
        agentsOffered: offeredAgents.size,
        answers: finished,
      });
    };

    const fire = (index: number, scheduledMs: number): void => {
      const item = bodies[index % bodies.length]!;
      const headers: http.OutgoingHttpHeaders = {
        'content-type': 'application/x-protobuf', 'content-length': item.body.byteLength, authorization: BENCH_AUTHORIZATION,
      };
      if (item.gzip) headers['content-encoding'] = 'gzip';
      if (item.acceptsGzip) headers['accept-encoding'] = 'gzip';
      const request = http.request(
        { agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            if (index >= warmup) {
              lastAnswerMs = performance.now();
              latencies[recorded] = lastAnswerMs - scheduledMs;
              recorded += 1;
            }
            if (response.statusCode !== 200) non200 += 1;
            else if (options.decode) {
              let bytes = Buffer.concat(chunks);
              if (response.headers['content-encoding'] === 'gzip') bytes = zlib.gunzipSync(bytes);
              if (decodeServerToAgent(bytes).packagesAvailable) {
                withPackages += 1;
                offeredAgents.add(item.agent);
              }
            }
            complete();
          });
        },
      );
      request.on('error', () => {
        errors += 1;
        complete();
      });
      request.end(item.body);
    };

    // A 1 ms timer rather than a busy loop: the generator shares two cores with the server.
    // Requests due in the same millisecond go out together, still timed from their own slot.
    const tick = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - startMs) / intervalMs) + 1);
      while (sent < due) {
        fire(sent, startMs + sent * intervalMs);
        sent += 1;
      }
      if (sent < total) setTimeout(tick, 1);
    };
    setTimeout(tick, Math.max(0, startMs - performance.now()));
  });
}

if (require.main === module) {
  const options = JSON.parse(process.argv[2] ?? '{}') as OpenLoopOptions;
  run(options).then(
    (result) => process.send?.({ type: 'result', result }),
    (error: unknown) => {
      process.stderr.write(`open-loop generator failed: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}
