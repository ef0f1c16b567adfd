// The console's shell: sign-in, the navigation, and the view the URL's hash names.
import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { forgetKey, onAuthFailure } from './api';
import { useRoute, type Route } from './router';
import { accessAfter, probeAccess, Refused, SignIn, type Access } from './signin';
import { NewRollout } from './views/new-rollout';
import { Agent } from './views/agent';
import { Agents } from './views/agents';
import { Overview } from './views/overview';
import { Packages } from './views/packages';
import { RolloutPage, Rollouts } from './views/rollouts';

const SECTIONS: Array<{ part: string; title: string }> = [
  { part: '', title: 'Overview' },
  { part: 'agents', title: 'Agents' },
  { part: 'rollouts', title: 'Rollouts' },
  { part: 'packages', title: 'Packages' },
];

function View({ route }: { route: Route }) {
  const [section = '', id] = route.parts;
  switch (section) {
    case '':
      return html`<${Overview} />`;
    case 'packages':
      return html`<${Packages} />`;
    case 'rollouts':
      if (route.parts[1] === 'new') return html`<${NewRollout} />`;
      return route.parts[1] ? html`<${RolloutPage} id=${route.parts[1]} />` : html`<${Rollouts} />`;
    case 'agents':
      return id === undefined ? html`<${Agents} route=${route} />` : html`<${Agent} uid=${id} key=${id} />`;
    default:
      return html`<section><h1>Not found</h1><p>No view is called <code>${section}</code>. <a href="#/">Go to the overview</a>.</p></section>`;
  }
}

function Navigation({ route, withKey, onSignOut }: { route: Route; withKey: boolean; onSignOut: () => void }) {
  const current = route.parts[0] ?? '';
  return html`<header class="top">
    <a class="brand" href="#/">OpAMP package server</a>
    <nav aria-label="Views">
      <ul>
        ${SECTIONS.map((section) => html`<li>
          <a href=${`#/${section.part}`} aria-current=${current === section.part ? 'page' : undefined}>${section.title}</a>
        </li>`)}
      </ul>
    </nav>
    ${withKey ? html`<button type="button" class="signout" onClick=${onSignOut}>Sign out</button>` : null}
  </header>`;
}

function App() {
  const route = useRoute();
  const [access, setAccess] = useState<Access>({ kind: 'checking' });
  useEffect(() => {
    void probeAccess().then(setAccess);
    return onAuthFailure((error) => setAccess(accessAfter(error)));
  }, []);
  const signOut = () => {
    forgetKey();
    setAccess({ kind: 'needs-key', message: 'Signed out.' });
  };
  switch (access.kind) {
    case 'checking':
      return html`<main id="main"><p role="status">Connecting to the server…</p></main>`;
    case 'needs-key':
      return html`<main id="main"><${SignIn} message=${access.message} onAccess=${setAccess} /></main>`;
    case 'forbidden':
    case 'unreachable':
      return html`<main id="main"><${Refused} access=${access} /></main>`;
    case 'signed-in':
      return html`<${Navigation} route=${route} withKey=${access.withKey} onSignOut=${signOut} />
        <main id="main"><${View} route=${route} /></main>`;
  }
}

const root = document.getElementById('app')!;
// The static "Loading" text is for the moment before the script runs; Preact appends, so clear it.
root.textContent = '';
render(html`<${App} />`, root);
