// Calls to the admin API, relative to the page (<prefix>/ui/), so a reverse proxy's prefix needs
// nothing from the console. The admin key lives in sessionStorage only: it goes with the tab.

const KEY_STORAGE = 'opamp-console-admin-key';

export class ApiError extends Error {
  /** The key the refused call carried, if any: only that key is forgotten on a 401, never one
   *  stored while the call was on its way (a sign-in racing the first probe). */
  sentKey: string | null = null;

  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

type AuthListener = (error: ApiError) => void;
const authListeners = new Set<AuthListener>();

/** Called with every 401 and 403: the shell shows the sign-in again, or says why it is refused. */
export function onAuthFailure(listener: AuthListener): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function keepKey(key: string): void {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY_STORAGE);
}

/** Forgets the stored key only if it is the one the server refused. */
export function forgetRefusedKey(refused: string): void {
  if (storedKey() === refused) forgetKey();
}

interface CallOptions {
  body?: unknown;
  /** Statuses answered with a body worth showing (GET /api/status is 503 when degraded). */
  accept?: number[];
  /** Whether a 401/403 should reach the shell (the sign-in's own probe handles its own). */
  notify?: boolean;
}

/** One call: `path` is under /api (`v1/agents`, `status`). Rejects with an ApiError. */
export async function api<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = storedKey();
  if (key !== null) headers.authorization = `ApiKey ${key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(`../api/${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      cache: 'no-store',
    });
  } catch (error) {
    throw new ApiError(0, 'NETWORK', `the server did not answer (${(error as Error).message})`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (response.ok || options.accept?.includes(response.status)) return parsed as T;
  const body = (parsed ?? {}) as { code?: string; error?: string };
  const error = new ApiError(response.status, body.code ?? `HTTP_${response.status}`, body.error ?? response.statusText);
  error.sentKey = key;
  if ((response.status === 401 || response.status === 403) && options.notify !== false) {
    for (const listener of authListeners) listener(error);
  }
  throw error;
}

/** A query string of the set values only. */
export function query(values: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}
