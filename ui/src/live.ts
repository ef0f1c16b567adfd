// Live data: each view loads what it shows and loads it again every few seconds. A refresh
// replaces the data in place, so scroll position, filters and half-filled forms stay; a failed
// refresh keeps the last good data and says how old it is.
import { html } from 'htm/preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError } from './api';

export const REFRESH_MS = 5000;

export interface Live<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loadedAt: number | undefined;
  failedAt: number | undefined;
  /** Loads now (after an action), without waiting for the timer. */
  reload(): void;
}

export function useLive<T>(load: () => Promise<T>, key: string, intervalMs = REFRESH_MS): Live<T> {
  const [state, setState] = useState<Omit<Live<T>, 'reload'>>({ data: undefined, error: undefined, loadedAt: undefined, failedAt: undefined });
  const loader = useRef(load);
  loader.current = load;
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async (): Promise<void> => {
      try {
        const data = await loader.current();
        if (!stopped) setState({ data, error: undefined, loadedAt: Date.now(), failedAt: undefined });
      } catch (error) {
        if (!stopped) setState((previous) => ({ ...previous, error: error as ApiError, failedAt: Date.now() }));
      }
      if (!stopped) timer = setTimeout(run, intervalMs);
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [key, tick, intervalMs]);
  const reload = useCallback(() => setTick((value) => value + 1), []);
  return { ...state, reload };
}

const clock = (ms: number): string => new Date(ms).toLocaleTimeString();

/** One line saying how fresh the view is; loud when the last refresh failed. */
export function Freshness({ live }: { live: Live<unknown> }) {
  if (live.error !== undefined) {
    const shown = live.loadedAt === undefined ? 'nothing loaded yet' : `showing data from ${clock(live.loadedAt)}`;
    return html`<p class="freshness failed" role="alert" data-testid="refresh-failed">
      <span aria-hidden="true">⚠ </span>Refresh failed at ${clock(live.failedAt ?? Date.now())}: ${live.error.message} (${shown}).
    </p>`;
  }
  if (live.loadedAt === undefined) return html`<p class="freshness" role="status">Loading…</p>`;
  return html`<p class="freshness" role="status">Updated ${clock(live.loadedAt)}; refreshes every ${REFRESH_MS / 1000} s.</p>`;
}
