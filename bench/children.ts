// Starting and talking to the bench's child processes: the server under test and the open-loop
// generator. Each is `node dist/bench/<file>.js`, forked with an IPC channel.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { ChildMessage, ServerKind, ServerProcessOptions } from './server-process';
import type { OpenLoopOptions, OpenLoopResult } from './open-loop';

const START_TIMEOUT_MS = 120_000;

function waitFor<T extends { type: string }>(child: ChildProcess, type: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child ${child.pid} sent no "${type}" within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (message: { type: string }): void => {
      if (message.type !== type) return;
      cleanup();
      resolve(message as T);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`child ${child.pid} exited (${code}) before sending "${type}"`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

export interface ServerStats {
  cpuMicros: number;
  cryptoCalls: number;
  residentBytes: number;
}

export class ServerUnderTest {
  private paused = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly kind: ServerKind,
    readonly port: number,
  ) {}

  static async start(kind: ServerKind, options: ServerProcessOptions = {}): Promise<ServerUnderTest> {
    // BENCH_CPU_PROF=<directory> writes a V8 CPU profile of every server process on exit.
    const profile = process.env.BENCH_CPU_PROF;
    const child = fork(path.join(__dirname, 'server-process.js'), [kind, JSON.stringify(options)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`, `--cpu-prof-name=${kind}-${Date.now()}.cpuprofile`] : [],
    });
    const ready = await waitFor<Extract<ChildMessage, { type: 'ready' }>>(child, 'ready', START_TIMEOUT_MS);
    return new ServerUnderTest(child, kind, ready.port);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stats(): Promise<ServerStats> {
    const answer = waitFor<Extract<ChildMessage, { type: 'stats' }>>(this.child, 'stats', 10_000);
    this.child.send({ type: 'stats' });
    return answer;
  }

  /**
   * Stops the process (SIGSTOP) while other servers are measured. Work a server defers (a batch
   * of writes held for later, a checkpoint) would otherwise run during another server's round,
   * slowing it and going uncounted in its own figures; stopped, the server does that work when
   * it runs again, inside its own measurement.
   */
  pause(): void {
    if (this.child.exitCode === null && !this.paused) {
      this.child.kill('SIGSTOP');
      this.paused = true;
    }
  }

  resume(): void {
    if (this.child.exitCode === null && this.paused) {
      this.child.kill('SIGCONT');
      this.paused = false;
    }
  }

  async stop(): Promise<void> {
    this.resume();
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Runs the open-loop generator in its own process and returns what it measured. */
export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const child = fork(path.join(__dirname, 'open-loop.js'), [JSON.stringify(options)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const timeoutMs = (options.warmupSeconds + options.durationSeconds) * 1000 + 60_000;
  const result = await waitFor<{ type: 'result'; result: OpenLoopResult }>(child, 'result', timeoutMs);
  child.disconnect();
  return result.result;
}
