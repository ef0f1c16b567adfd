// Waiting in tests: poll a condition until it holds or a deadline passes, never a fixed sleep.
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** How long to keep trying before failing (default 10 s: a busy CI machine is slow). */
  timeoutMs?: number;
  /** Pause between two checks (default 20 ms). */
  intervalMs?: number;
}

/**
 * Resolves with the first truthy value `condition` returns; rejects naming `what` when the
 * deadline passes first. The condition may be asynchronous (an HTTP request, a store read).
 */
export async function waitFor<T>(
  what: string,
  condition: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(options.intervalMs ?? 20);
  }
}

/**
 * Whether `promise` settles within `ms`. For a test that must give a wrong ordering its chance
 * to happen without waiting forever when the code under test rightly holds back; never a
 * failure on its own.
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  const watched = promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await Promise.race([watched, sleep(ms)]);
  return settled;
}
