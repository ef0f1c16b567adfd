// Signing in: the probe asks the admin API for one agent. On loopback without admin keys that
// just works; otherwise the page asks for a key and keeps it in sessionStorage only.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { ApiError, api, forgetRefusedKey, keepKey, storedKey } from './api';

export type Access =
  | { kind: 'checking' }
  | { kind: 'signed-in'; withKey: boolean }
  | { kind: 'needs-key'; message: string | undefined }
  | { kind: 'forbidden'; message: string }
  | { kind: 'unreachable'; message: string };

/** Whether the API answers us now, and if not, why. */
export async function probeAccess(): Promise<Access> {
  try {
    await api('GET', 'v1/agents?limit=1', { notify: false });
    return { kind: 'signed-in', withKey: storedKey() !== null };
  } catch (error) {
    return accessAfter(error as ApiError);
  }
}

export function accessAfter(error: ApiError): Access {
  if (error.status === 401) {
    const refused = error.sentKey;
    if (refused !== null) forgetRefusedKey(refused);
    return { kind: 'needs-key', message: refused !== null ? `The server refused this key: ${error.message}` : undefined };
  }
  if (error.status === 403) return { kind: 'forbidden', message: error.message };
  if (error instanceof ApiError) return { kind: 'unreachable', message: error.message };
  return { kind: 'unreachable', message: String(error) };
}

export function SignIn({ message, onAccess }: { message: string | undefined; onAccess: (access: Access) => void }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    keepKey(key.trim());
    onAccess(await probeAccess());
    setBusy(false);
  };
  return html`<section class="signin" aria-labelledby="signin-title">
    <h1 id="signin-title">Sign in</h1>
    <p>This server asks for an admin key (one line of <code>--admin-keys-file</code>). It is kept in this tab only and sent as <code>Authorization: ApiKey</code>.</p>
    ${message ? html`<p class="error" role="alert" data-testid="signin-error"><span aria-hidden="true">✖ </span>${message}</p>` : null}
    <form onSubmit=${submit}>
      <label for="admin-key">Admin key</label>
      <input id="admin-key" name="admin-key" type="password" autocomplete="current-password" required
        value=${key} onInput=${(event: Event) => setKey((event.target as HTMLInputElement).value)} />
      <button type="submit" disabled=${busy || key.trim() === ''}>Sign in</button>
    </form>
  </section>`;
}

export function Refused({ access }: { access: Extract<Access, { kind: 'forbidden' | 'unreachable' }> }) {
  const title = access.kind === 'forbidden' ? 'Access refused' : 'The server does not answer';
  return html`<section class="signin" aria-labelledby="refused-title">
    <h1 id="refused-title">${title}</h1>
    <p class="error" role="alert" data-testid="access-refused"><span aria-hidden="true">✖ </span>${access.message}</p>
    ${access.kind === 'forbidden'
      ? html`<p>Without admin keys the admin API, and so this console, answers only on the server's own machine (loopback, no proxy). Configure <code>--admin-keys-file</code> to use it from elsewhere.</p>`
      : null}
    <button type="button" onClick=${() => location.reload()}>Try again</button>
  </section>`;
}
