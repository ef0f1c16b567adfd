// Hash routing: every view has a URL of its own (#/agents?state=online, #/rollouts/ID), so a link
// can be shared and the back button works, with no server route per view.
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  /** The path's parts: ['agents', UID], ['rollouts', 'new'], [] for the overview. */
  parts: string[];
  params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const text = hash.replace(/^#\/?/, '');
  const [path = '', search = ''] = text.split('?', 2);
  return { parts: path.split('/').filter((part) => part !== '').map(decodeURIComponent), params: new URLSearchParams(search) };
}

export function href(parts: string[], params: Record<string, string | undefined> = {}): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) search.set(name, value);
  const text = search.toString();
  return `#/${parts.map(encodeURIComponent).join('/')}${text === '' ? '' : `?${text}`}`;
}

/** Replaces the query of the current view (filters), without a history entry per keystroke. */
export function replaceParams(parts: string[], params: Record<string, string | undefined>): void {
  history.replaceState(null, '', href(parts, params));
  window.dispatchEvent(new HashChangeEvent('hashchange'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}
