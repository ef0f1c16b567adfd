// The agent list with the API's filters, a search over uid and host.name, and cursor paging.
// Filters live in the URL (#/agents?state=online&os=linux), so a filtered list can be shared.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api, query } from '../api';
import { Badge, time } from '../components';
import { Freshness, useLive } from '../live';
import { href, replaceParams, type Route } from '../router';
import type { AgentPage, AgentSummary } from '../types';

const FILTERS = ['state', 'version', 'distribution', 'os', 'arch', 'attribute', 'search'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;
const PAGE_SIZE = 50;

function filtersOf(params: URLSearchParams): Filters {
  return Object.fromEntries(FILTERS.map((name) => [name, params.get(name) ?? ''])) as Filters;
}

function TextFilter({ name, label, hint, values, set }: { name: keyof Filters; label: string; hint?: string; values: Filters; set: (name: keyof Filters, value: string) => void }) {
  return html`<div class="field">
    <label for=${`filter-${name}`}>${label}</label>
    <input id=${`filter-${name}`} name=${name} value=${values[name]} placeholder=${hint}
      onInput=${(event: Event) => set(name, (event.target as HTMLInputElement).value)} />
  </div>`;
}

function FilterForm({ applied }: { applied: Filters }) {
  // The form keeps its own values: a refresh of the list never overwrites what is being typed.
  const [values, setValues] = useState(applied);
  const set = (name: keyof Filters, value: string) => setValues((previous) => ({ ...previous, [name]: value }));
  const submit = (event: Event) => {
    event.preventDefault();
    replaceParams(['agents'], { ...values });
  };
  const clear = () => {
    setValues(filtersOf(new URLSearchParams()));
    replaceParams(['agents'], {});
  };
  return html`<form class="card" role="search" aria-label="Filter agents" onSubmit=${submit}>
    <div class="fields">
      <${TextFilter} name="search" label="Search uid or host name" values=${values} set=${set} />
      <div class="field">
        <label for="filter-state">State</label>
        <select id="filter-state" name="state" value=${values.state} onChange=${(event: Event) => set('state', (event.target as HTMLSelectElement).value)}>
          <option value="">any</option><option value="online">online</option><option value="offline">offline</option><option value="disconnected">disconnected</option>
        </select>
      </div>
      <${TextFilter} name="version" label="Version" hint="0.111.0" values=${values} set=${set} />
      <${TextFilter} name="distribution" label="Distribution" hint="otelcol-contrib" values=${values} set=${set} />
      <${TextFilter} name="os" label="OS" hint="linux" values=${values} set=${set} />
      <${TextFilter} name="arch" label="Architecture" hint="amd64" values=${values} set=${set} />
      <${TextFilter} name="attribute" label="Attribute" hint="key=value" values=${values} set=${set} />
      <div class="field actions">
        <button type="submit">Apply filters</button>
        <button type="button" class="secondary" onClick=${clear}>Clear</button>
      </div>
    </div>
  </form>`;
}

export function AgentTable({ agents }: { agents: AgentSummary[] }) {
  return html`<div class="table-wrap" tabindex="0" role="region" aria-label="Agents"><table data-testid="agents-table">
    <caption class="visually-hidden">Agents</caption>
    <thead><tr><th scope="col">Instance uid</th><th scope="col">State</th><th scope="col">Version</th>
      <th scope="col" class="hide-narrow">Platform</th><th scope="col" class="hide-narrow">Health</th><th scope="col" class="hide-narrow">Last seen</th></tr></thead>
    <tbody>
      ${agents.map((agent) => html`<tr data-uid=${agent.instance_uid}>
        <td><a href=${href(['agents', agent.instance_uid])}><code>${agent.instance_uid}</code></a></td>
        <td><${Badge} state=${agent.state} /></td>
        <td>${agent.version ?? '—'}</td>
        <td class="hide-narrow">${agent.os ?? '?'}/${agent.arch ?? '?'}</td>
        <td class="hide-narrow">${agent.healthy === null ? '—' : html`<${Badge} state=${agent.healthy ? 'healthy' : 'unhealthy'} />`}</td>
        <td class="hide-narrow">${time(agent.last_seen)}</td>
      </tr>`)}
    </tbody>
  </table></div>`;
}

export function Agents({ route }: { route: Route }) {
  const applied = filtersOf(route.params);
  const cursor = route.params.get('cursor') ?? undefined;
  const path = `v1/agents${query({ ...applied, state: undefined, status: applied.state, limit: PAGE_SIZE, cursor })}`;
  const live = useLive(() => api<AgentPage>('GET', path), path);
  const page = live.data;
  return html`<section aria-labelledby="agents-title">
    <h1 id="agents-title">Agents</h1>
    <${FilterForm} applied=${applied} key=${FILTERS.map((name) => applied[name]).join('\u0000')} />
    <${Freshness} live=${live} />
    ${page ? html`<p role="status" data-testid="agents-count">${page.agents.length} agent${page.agents.length === 1 ? '' : 's'} on this page.</p>
      <${AgentTable} agents=${page.agents} />
      <nav class="actions" aria-label="Pages">
        ${cursor ? html`<a class="button secondary" href=${href(['agents'], { ...applied })}>First page</a>` : null}
        ${page.next_cursor ? html`<a class="button" href=${href(['agents'], { ...applied, cursor: page.next_cursor })}>Next page</a>` : null}
      </nav>` : null}
  </section>`;
}
