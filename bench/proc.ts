// Readings of a process from /proc, so the server's own figures come from the kernel and not
// from anything the measured process could get wrong about itself.
import fs from 'node:fs';
import os from 'node:os';

/** Kilobytes of a `Vm*` line of /proc/<pid>/status (VmRSS, VmHWM), or NaN when unreadable. */
export function memoryKilobytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const TICKS_PER_SECOND = 100;

/**
 * CPU time (user + system, all threads) of a process in µs, from /proc/<pid>/stat: readable
 * while the process is stopped, which its own process.cpuUsage() is not. Counted in clock ticks
 * of 10 ms (USER_HZ is 100 on Linux), a quarter of a percent of a 4 s round.
 */
export function cpuMicros(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses: fields are counted after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
}

/** Resident megabytes (1 MB = 2^20 bytes, as the kernel counts kB). */
export function residentMegabytes(pid: number): number {
  return memoryKilobytes(pid, 'VmRSS') / 1024;
}

/** Samples VmRSS every `intervalMs` until stopped; reports the highest and the series. */
export class MemorySampler {
  private readonly samples: number[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number, intervalMs = 100) {
    this.timer = setInterval(() => {
      const value = residentMegabytes(this.pid);
      if (!Number.isNaN(value)) this.samples.push(value);
    }, intervalMs);
  }

  stop(): { peakMegabytes: number; firstMegabytes: number; lastMegabytes: number; count: number } {
    clearInterval(this.timer);
    const samples = this.samples.length > 0 ? this.samples : [Number.NaN];
    return {
      peakMegabytes: Math.max(...samples),
      firstMegabytes: samples[0]!,
      lastMegabytes: samples[samples.length - 1]!,
      count: this.samples.length,
    };
  }
}

export function coreCount(): number {
  return os.availableParallelism();
}

/** The CPU model line, so a reader can tell which machine a table came from. */
export function cpuModel(): string {
  return os.cpus()[0]?.model.trim() ?? 'unknown CPU';
}
