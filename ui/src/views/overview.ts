// The overview: the fleet by state, version and platform, the catalog, rollouts in progress and
// the server's own status, all from the admin API.
import { html } from 'htm/preact';
import { api } from '../api';
import { Badge, Facts, ProgressBar } from '../components';
import { Freshness, useLive } from '../live';
import { href } from '../router';
import { BarChart } from '../chart';
import { UPGRADE_STATES, type AgentState, type Fleet, type Rollout, type RolloutList, type ServerStatus } from '../types';

interface OverviewData {
  status: ServerStatus;
  rollouts: Rollout[];
  fleet: Fleet;
}

async function loadOverview(): Promise<OverviewData> {
  const [status, rollouts, fleet] = await Promise.all([
    api<ServerStatus>('GET', 'status', { accept: [503] }),
    api<RolloutList>('GET', 'v1/rollouts'),
    api<Fleet>('GET', 'v1/fleet'),
  ]);
  return { status, rollouts: rollouts.rollouts, fleet };
}

const AGENT_STATES: AgentState[] = ['online', 'offline', 'disconnected'];

function FleetCounts({ fleet }: { fleet: Fleet }) {
  const versions = fleet.by_version.map((entry) => entry.version ?? 'unknown');
  return html`<div class="grid">
    <section class="card" aria-labelledby="by-state">
      <h2 id="by-state">Agents by state (${fleet.agents})</h2>
      <ul class="counts" data-testid="by-state">
        ${AGENT_STATES.map((state) => html`<li data-state=${state}>
          <a href=${href(['agents'], { state })}><${Badge} state=${state} /></a> <strong>${fleet.by_state[state]}</strong>
        </li>`)}
      </ul>
    </section>
    <section class="card" aria-labelledby="by-platform">
      <h2 id="by-platform">Agents by platform</h2>
      ${fleet.by_platform.length === 0 ? html`<p>No agent yet.</p>` : null}
      <ul class="counts" data-testid="by-platform">
        ${fleet.by_platform.map((entry) => html`<li data-platform=${`${entry.os ?? 'unknown'}/${entry.arch ?? 'unknown'}`}>
          <a href=${href(['agents'], { os: entry.os ?? undefined, arch: entry.arch ?? undefined })}>${entry.os ?? 'unknown'}/${entry.arch ?? 'unknown'}</a>
          <strong>${entry.agents}</strong>
        </li>`)}
      </ul>
    </section>
    <section class="card wide" aria-labelledby="by-version">
      <h2 id="by-version">Agents by version</h2>
      <${BarChart} label="Agents by version" labels=${versions} values=${fleet.by_version.map((entry) => entry.agents)} />
      <ul class="counts" data-testid="by-version">
        ${fleet.by_version.map((entry) => html`<li data-version=${entry.version ?? 'unknown'}>
          ${entry.version === null ? html`<span>unknown</span>` : html`<a href=${href(['agents'], { version: entry.version })}>${entry.version}</a>`}
          <strong>${entry.agents}</strong>
        </li>`)}
      </ul>
    </section>
  </div>`;
}

export function RolloutProgress({ rollout }: { rollout: Rollout }) {
  return html`<${ProgressBar} label=${`Rollout of ${rollout.version}`} total=${rollout.agents}
    segments=${UPGRADE_STATES.map((state) => ({ name: state, count: rollout.states[state] }))} />`;
}

function Rollouts({ rollouts }: { rollouts: Rollout[] }) {
  const current = rollouts.filter((rollout) => rollout.status !== 'cancelled');
  return html`<section class="card" aria-labelledby="current-rollouts">
    <h2 id="current-rollouts">Rollouts running or paused</h2>
    ${current.length === 0 ? html`<p>None. <a href="#/rollouts/new">Start a rollout</a>.</p>` : null}
    ${current.map((rollout) => html`<div class="card" data-rollout=${rollout.id}>
      <p><a href=${href(['rollouts', rollout.id])}>Rollout of ${rollout.version}</a> <${Badge} state=${rollout.status} />
        ${rollout.reason ? html` <span>${rollout.reason}</span>` : null}</p>
      <${RolloutProgress} rollout=${rollout} />
    </div>`)}
  </section>`;
}

function Server({ status }: { status: ServerStatus }) {
  return html`<section class="card" aria-labelledby="server-title">
    <h2 id="server-title">Server</h2>
    <${Facts} rows=${[
      ['Status', html`<${Badge} state=${status.status} />`],
      ['Version', status.version.number],
      ['Store', html`<${Badge} state=${status.store.status} />${status.store.error ? ` ${status.store.error}` : ''}`],
      ['Trusted root', status.trusted_root?.source ?? 'no catalog'],
      ['Agent auth', status.agent_auth],
      ['Admin auth', status.admin_auth],
      ['Release feed', status.release_feed ? html`${status.release_feed.source} <${Badge} state=${status.release_feed.status} />` : 'none'],
    ]} />
  </section>`;
}

function Catalog({ status }: { status: ServerStatus }) {
  return html`<section class="card" aria-labelledby="catalog-title">
    <h2 id="catalog-title">Catalog</h2>
    ${status.catalog.configured
      ? html`<ul class="counts" data-testid="catalog-counts">
          <li><${Badge} state="offerable" /> <strong data-count="offerable">${status.catalog.offerable}</strong></li>
          <li><${Badge} state="rejected" /> <strong data-count="rejected">${status.catalog.rejected}</strong></li>
        </ul>
        <p><a href="#/packages">Every package</a></p>`
      : html`<p>No catalog: the server runs without --packages-dir or --releases.</p>`}
  </section>`;
}

export function Overview() {
  const live = useLive(loadOverview, 'overview');
  const data = live.data;
  return html`<section aria-labelledby="overview-title">
    <h1 id="overview-title">Overview</h1>
    <${Freshness} live=${live} />
    ${data ? html`<${FleetCounts} fleet=${data.fleet} />
      <div class="grid">
        <${Catalog} status=${data.status} />
        <${Server} status=${data.status} />
      </div>
      <${Rollouts} rollouts=${data.rollouts} />` : null}
  </section>`;
}
