// Closed-loop load with wrk (C, event-driven; it does not saturate before a Node server does,
// which a Node generator on the same two cores would). A Lua script rotates through the
// pre-encoded bodies and prints the figures as one JSON line when the run ends.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BENCH_AUTHORIZATION } from './settings';

const RESULT_MARK = 'BENCH_JSON ';

// Each thread takes the agents whose number modulo the thread count is its own, in file
// order, so every agent's sequence numbers still rise within the thread that sends them.
const POLLS_SCRIPT = `
local counter = 0
function setup(thread)
  thread:set("thread_id", counter)
  counter = counter + 1
end

function init(args)
  local directory = args[1]
  local threads = tonumber(args[2])
  local authorization = args[3]
  local startAt = tonumber(args[4])
  local file = assert(io.open(directory .. "/bodies.bin", "rb"))
  local blob = file:read("*a")
  file:close()
  prepared = {}
  for line in io.lines(directory .. "/bodies.idx") do
    local offset, length, coding, agent = line:match("^(%d+) (%d+) (%d) (%d+)$")
    if tonumber(agent) % threads == thread_id then
      local headers = { ["Content-Type"] = "application/x-protobuf", ["Authorization"] = authorization }
      if coding == "1" then headers["Content-Encoding"] = "gzip" end
      if coding ~= "0" then headers["Accept-Encoding"] = "gzip" end
      local body = blob:sub(tonumber(offset) + 1, tonumber(offset) + tonumber(length))
      prepared[#prepared + 1] = wrk.format("POST", "/v1/opamp", headers, body)
    end
  end
  -- Where the previous run of this load stopped, so each agent's sequence goes on rising.
  position = startAt % #prepared
end

function request()
  position = position + 1
  if position > #prepared then position = 1 end
  return prepared[position]
end
`;

const SUMMARY_SCRIPT = `
function done(summary, latency, counts)
  local errors = summary.errors
  io.write(string.format(
    '${RESULT_MARK}{"requests":%d,"durationMicros":%d,"bytes":%d,"socketErrors":%d,"statusErrors":%d,"timeouts":%d,' ..
    '"p50Micros":%d,"p90Micros":%d,"p99Micros":%d,"maxMicros":%d}\\n',
    summary.requests, summary.duration, summary.bytes, errors.connect + errors.read + errors.write, errors.status,
    errors.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

export interface WrkResult {
  requests: number;
  seconds: number;
  bytes: number;
  socketErrors: number;
  statusErrors: number;
  timeouts: number;
  requestsPerSecond: number;
  megabytesPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function wrkAvailable(): boolean {
  const probe = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  return probe.error === undefined;
}

export interface WrkRun {
  url: string;
  seconds: number;
  connections: number;
  threads: number;
  /** Rotate through the bodies in this directory (written by writeBodies); GET the url when absent. */
  bodiesDirectory?: string;
  /** Bodies already sent from this directory to this server: the run goes on from there. */
  startAt?: number;
  headers?: Record<string, string>;
  timeoutSeconds?: number;
}

export async function runWrk(run: WrkRun, scratch: string): Promise<WrkResult> {
  const script = path.join(scratch, run.bodiesDirectory ? 'polls.lua' : 'summary.lua');
  fs.writeFileSync(script, (run.bodiesDirectory ? POLLS_SCRIPT : '') + SUMMARY_SCRIPT);
  const parameters = [
    `--threads=${run.threads}`,
    `--connections=${run.connections}`,
    `--duration=${run.seconds}s`,
    `--timeout=${run.timeoutSeconds ?? 10}s`,
    `--script=${script}`,
    ...Object.entries(run.headers ?? {}).flatMap(([name, value]) => ['--header', `${name}: ${value}`]),
    run.url,
  ];
  if (run.bodiesDirectory) parameters.push('--', run.bodiesDirectory, String(run.threads), BENCH_AUTHORIZATION, String(run.startAt ?? 0));
  const child = spawn('wrk', parameters, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const line = output.split('\n').find((text) => text.startsWith(RESULT_MARK));
  if (code !== 0 || line === undefined) throw new Error(`wrk failed (exit ${code}):\n${output}`);
  const raw = JSON.parse(line.slice(RESULT_MARK.length)) as Record<string, number>;
  const seconds = raw.durationMicros! / 1e6;
  return {
    requests: raw.requests!,
    seconds,
    bytes: raw.bytes!,
    socketErrors: raw.socketErrors!,
    statusErrors: raw.statusErrors!,
    timeouts: raw.timeouts!,
    requestsPerSecond: raw.requests! / seconds,
    megabytesPerSecond: raw.bytes! / seconds / 1e6,
    p50Ms: raw.p50Micros! / 1000,
    p90Ms: raw.p90Micros! / 1000,
    p99Ms: raw.p99Micros! / 1000,
    maxMs: raw.maxMicros! / 1000,
  };
}
