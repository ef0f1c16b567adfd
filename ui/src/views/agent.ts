// One agent: what it says of itself, its health and capabilities, its packages with download
// progress, the last offer, its part in a rollout, and the history of its package statuses.
import { html } from 'htm/preact';
import { api } from '../api';
import { Badge, ErrorNote, Facts, time } from '../components';
import { Freshness, useLive } from '../live';
import { href } from '../router';
import type { AgentDetail, PackageStatus } from '../types';

function Attributes({ title, values }: { title: string; values: Record<string, unknown> }) {
  const entries = Object.entries(values);
  return html`<div>
    <h3>${title}</h3>
    ${entries.length === 0 ? html`<p>None.</p>` : html`<${Facts} rows=${entries.map(([name, value]) => [name, typeof value === 'string' ? value : JSON.stringify(value)])} />`}
  </div>`;
}

function Packages({ agent }: { agent: AgentDetail }) {
  const statuses = agent.package_statuses;
  if (statuses === null) return html`<p>The agent has not reported package statuses.</p>`;
  const row = (item: PackageStatus) => html`<tr>
    <td>${item.name === '' ? html`<em>collector</em>` : item.name}</td>
    <td>${item.status === null ? '—' : html`<${Badge} state=${item.status} />`}</td>
    <td>${item.agent_has_version || '—'}</td>
    <td>${item.server_offered_version || '—'}</td>
    <td>${item.download_percent === undefined ? '—' : html`<progress max="100" value=${item.download_percent} aria-label=${`Download of ${item.name || 'the collector'}`}></progress>
      ${' '}${Math.round(item.download_percent)} %${item.download_bytes_per_second ? ` at ${Math.round(item.download_bytes_per_second / 1024)} KiB/s` : ''}`}</td>
    <td>${item.error_message || '—'}</td>
  </tr>`;
  return html`${statuses.error_message ? html`<${ErrorNote} message=${statuses.error_message} />` : null}
    <div class="table-wrap" tabindex="0" role="region" aria-label="Package statuses"><table data-testid="package-statuses">
      <thead><tr><th scope="col">Package</th><th scope="col">Status</th><th scope="col">Has</th><th scope="col">Offered</th><th scope="col">Download</th><th scope="col">Error</th></tr></thead>
      <tbody>${statuses.packages.map(row)}</tbody>
    </table></div>`;
}

function RolloutPart({ agent }: { agent: AgentDetail }) {
  const rollout = agent.rollout;
  if (!rollout) return html`<p>Not in any rollout.</p>`;
  const member = rollout.member;
  return html`<${Facts} rows=${[
    ['Rollout', html`<a href=${href(['rollouts', rollout.id])}>${rollout.version}</a> <${Badge} state=${rollout.status} />`],
    ['Upgrade state', member ? html`<span data-testid="upgrade-state"><${Badge} state=${member.state} /></span>` : 'not admitted'],
    ['Wave', member ? member.wave + 1 : '—'],
    ['Since', member ? time(member.state_since) : '—'],
    ['From version', member?.from_version ?? '—'],
    ['Retries', member?.retries ?? '—'],
    ['Error', member?.error_message ?? '—'],
  ]} />`;
}

function Timeline({ agent }: { agent: AgentDetail }) {
  if (agent.history.length === 0) return html`<p>No change of package status yet.</p>`;
  return html`<ol class="timeline" data-testid="history">
    ${agent.history.map((change) => html`<li>
      <time datetime=${change.at}>${time(change.at)}</time>
      ${change.package === '' ? 'collector' : change.package}:
      ${change.from_status ?? 'none'} → <${Badge} state=${change.to_status ?? 'unknown'} />
      ${change.from_version !== change.to_version ? ` (${change.from_version || '—'} → ${change.to_version || '—'})` : ''}
      ${change.error_message ? html`<div class="error">${change.error_message}</div>` : null}
    </li>`)}
  </ol>`;
}

export function Agent({ uid }: { uid: string }) {
  const live = useLive(() => api<AgentDetail>('GET', `v1/agents/${encodeURIComponent(uid)}`), uid);
  const agent = live.data;
  return html`<section aria-labelledby="agent-title">
    <p><a href="#/agents">← Agents</a></p>
    <h1 id="agent-title">Agent <code>${uid}</code></h1>
    <${Freshness} live=${live} />
    ${agent ? html`
      <section class="card" aria-labelledby="agent-summary">
        <h2 id="agent-summary">Summary</h2>
        <${Facts} rows=${[
          ['State', html`<span data-testid="agent-state"><${Badge} state=${agent.state} /></span>`],
          ['Version', agent.version],
          ['Distribution', agent.distribution],
          ['Platform', `${agent.os ?? '?'}/${agent.arch ?? '?'}`],
          ['Health', agent.health === null ? 'not reported' : html`<${Badge} state=${agent.health.healthy ? 'healthy' : 'unhealthy'} /> ${agent.health.status}${agent.health.last_error ? `: ${agent.health.last_error}` : ''}`],
          ['First seen', time(agent.first_seen)],
          ['Last seen', time(agent.last_seen)],
          ['Last offer', agent.last_offer ? `${agent.last_offer.version} at ${time(agent.last_offer.sent_at)}` : 'none'],
        ]} />
      </section>
      <section class="card" aria-labelledby="agent-capabilities">
        <h2 id="agent-capabilities">Capabilities</h2>
        <ul class="tags" data-testid="capabilities">${agent.capabilities.map((name) => html`<li><code>${name}</code></li>`)}</ul>
      </section>
      <section class="card" aria-labelledby="agent-packages"><h2 id="agent-packages">Packages</h2><${Packages} agent=${agent} /></section>
      <section class="card" aria-labelledby="agent-rollout"><h2 id="agent-rollout">Rollout and upgrade</h2><${RolloutPart} agent=${agent} /></section>
      <section class="card" aria-labelledby="agent-history"><h2 id="agent-history">Package status history</h2><${Timeline} agent=${agent} /></section>
      <section class="card" aria-labelledby="agent-description">
        <h2 id="agent-description">Description</h2>
        ${agent.description === null ? html`<p>Not reported.</p>` : html`
          <${Attributes} title="Identifying attributes" values=${agent.description.identifying} />
          <${Attributes} title="Non-identifying attributes" values=${agent.description.non_identifying} />`}
      </section>` : null}
  </section>`;
}
