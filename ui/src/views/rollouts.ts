// Rollouts: the list, and one rollout with each wave as a progress bar by upgrade state, the
// failure ratio against its limit, why it paused, its agents by state, and the actions (each
// confirmed first).
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api, query } from '../api';
import { Badge, ErrorNote, Facts, ProgressBar, time } from '../components';
import { Freshness, useLive } from '../live';
import { href } from '../router';
import { UPGRADE_STATES, type Rollout, type RolloutList, type RolloutMember } from '../types';
import { RolloutProgress } from './overview';

const percent = (ratio: number): string => `${(ratio * 100).toFixed(1)}%`;

export function Rollouts() {
  const live = useLive(() => api<RolloutList>('GET', 'v1/rollouts'), 'rollouts');
  return html`<section><h1>Rollouts</h1>
    <p><a href=${href(['rollouts', 'new'])}>New rollout</a></p>
    <${Freshness} live=${live} />
    ${live.data ? html`<div class="table-wrap" tabindex="0" role="region" aria-label="Rollouts"><table id="rollouts-table"><caption>Rollouts, newest first</caption>
      <thead><tr><th scope="col">Version</th><th scope="col">Status</th><th scope="col">Progress</th><th scope="col">Failure ratio</th><th scope="col">Created</th></tr></thead>
      <tbody>${[...live.data.rollouts].reverse().map((rollout) => html`<tr>
        <td><a href=${href(['rollouts', rollout.id])}>${rollout.version}</a></td><td><${Badge} state=${rollout.status} /></td>
        <td>${rollout.states.installed} of ${rollout.agents} installed</td>
        <td>${percent(rollout.failure_ratio)} (limit ${percent(rollout.max_failure_ratio)})</td><td>${time(rollout.created_at)}</td></tr>`)}
      </tbody></table></div>
      ${live.data.rollouts.length === 0 ? html`<p>No rollout yet.</p>` : null}` : null}
  </section>`;
}

const ACTIONS: Array<{ verb: 'pause' | 'resume' | 'retry' | 'cancel'; label: string; question: string; allowed: (rollout: Rollout) => boolean }> = [
  { verb: 'pause', label: '‖ Pause', question: 'Pause this rollout? No agent is offered the version until it resumes.', allowed: (rollout) => rollout.status === 'active' },
  { verb: 'resume', label: '▶ Resume', question: 'Resume this rollout?', allowed: (rollout) => rollout.status === 'paused' },
  { verb: 'retry', label: '↺ Retry failed and stuck', question: 'Offer the version again to every failed and stuck agent?', allowed: (rollout) => rollout.status !== 'cancelled' },
  { verb: 'cancel', label: '■ Cancel', question: 'Cancel this rollout? It cannot be resumed.', allowed: (rollout) => rollout.status !== 'cancelled' },
];

export function RolloutPage({ id }: { id: string }) {
  const [state, setState] = useState('');
  const [notice, setNotice] = useState<{ text: string; failed: boolean } | undefined>();
  const live = useLive(async () => {
    const [rollout, members] = await Promise.all([
      api<Rollout>('GET', `v1/rollouts/${encodeURIComponent(id)}`),
      api<{ agents: RolloutMember[] }>('GET', `v1/rollouts/${encodeURIComponent(id)}/agents${query({ state, limit: 500 })}`),
    ]);
    // The state the members were asked for: until the new answer comes, the old one stays shown.
    return { rollout, members: members.agents, shownState: state };
  }, `${id} ${state}`);
  const act = async (verb: string, question: string) => {
    if (!window.confirm(question)) return;
    try {
      const answer = await api<{ status?: string; retried?: string[] }>('POST', `v1/rollouts/${encodeURIComponent(id)}/${verb}`, { body: verb === 'retry' ? {} : undefined });
      setNotice({ text: verb === 'retry' ? `${answer.retried?.length ?? 0} agent(s) will be offered the version again.` : `The rollout is ${answer.status}.`, failed: false });
    } catch (error) {
      setNotice({ text: `Could not ${verb}: ${(error as Error).message}`, failed: true });
    }
    live.reload();
  };
  const rollout = live.data?.rollout;
  return html`<section>
    <p><a href=${href(['rollouts'])}>← Rollouts</a></p>
    <h1>Rollout of ${rollout?.version ?? '…'}</h1>
    <${Freshness} live=${live} />
    ${notice ? (notice.failed ? html`<${ErrorNote} message=${notice.text} />` : html`<p role="status" class="hint">${notice.text}</p>`) : null}
    ${rollout ? html`<div class="grid">
      <section class="card" aria-labelledby="rollout-state"><h2 id="rollout-state">State</h2>
        <${Facts} rows=${[
          ['Status', html`<span id="rollout-status"><${Badge} state=${rollout.status} /></span>`],
          ['Why', rollout.reason ? html`<span id="rollout-reason">${rollout.reason}</span>` : null],
          ['Failure ratio', html`<span id="failure-ratio">${percent(rollout.failure_ratio)} of ${rollout.offered} offered; pauses above ${percent(rollout.max_failure_ratio)}${rollout.failure_ratio > rollout.max_failure_ratio ? ' ⚠ over the limit' : ''}</span>`],
          ['Selector', html`<code>${JSON.stringify(rollout.selector)}</code>`],
          ['Starts', time(rollout.start_time)],
          ['Downgrades', rollout.allow_downgrade ? 'allowed' : 'refused'],
        ]} />
        <div class="actions">${ACTIONS.map((action) => html`<button type="button" data-action=${action.verb}
          disabled=${!action.allowed(rollout)} onClick=${() => act(action.verb, action.question)}>${action.label}</button>`)}</div>
      </section>
      <section class="card" aria-labelledby="rollout-all"><h2 id="rollout-all">All agents (${rollout.agents})</h2>
        <${RolloutProgress} rollout=${rollout} /></section>
      ${rollout.waves.map((wave, index) => html`<section class="card wave" data-wave=${index} aria-labelledby=${`wave-${index}`}>
        <h2 id=${`wave-${index}`}>Wave ${index + 1}: up to ${wave.percent}% (${wave.agents} agents)</h2>
        <p>${wave.opened_at ? `Opened ${time(wave.opened_at)}` : 'Not open yet'}; opens the next at ${percent(wave.min_success_ratio)} installed${wave.min_wait_seconds ? ` and ${wave.min_wait_seconds} s` : ''}.</p>
        <${ProgressBar} label=${`Wave ${index + 1}`} total=${wave.agents} segments=${UPGRADE_STATES.map((name) => ({ name, count: wave.states[name] }))} />
      </section>`)}
    </div>
    <section aria-labelledby="rollout-members"><h2 id="rollout-members">Agents</h2>
      <div class="field"><label for="member-state">Show agents in state</label>
        <select id="member-state" value=${state} onChange=${(event: Event) => setState((event.target as HTMLSelectElement).value)}>
          <option value="">any state</option>${UPGRADE_STATES.map((name) => html`<option value=${name}>${name.replace('_', ' ')}</option>`)}
        </select></div>
      <div class="table-wrap" tabindex="0" role="region" aria-label="Agents of this rollout"><table id="members-table"><caption>${live.data!.members.length} agent(s)${live.data!.shownState ? ` ${live.data!.shownState.replace('_', ' ')}` : ''}</caption>
        <thead><tr><th scope="col">Agent</th><th scope="col">Wave</th><th scope="col">State</th><th scope="col" class="hide-narrow">Since</th><th scope="col" class="hide-narrow">From</th><th scope="col">Download</th><th scope="col">Error</th></tr></thead>
        <tbody>${live.data!.members.map((member) => html`<tr>
          <td><a href=${href(['agents', member.instance_uid])}><code>${member.instance_uid}</code></a></td><td>${member.wave + 1}</td>
          <td><${Badge} state=${member.state} /></td><td class="hide-narrow">${time(member.state_since)}</td><td class="hide-narrow">${member.from_version}</td>
          <td>${member.download_percent === null ? '—' : `${Math.round(member.download_percent)}%`}</td><td>${member.error_message ?? ''}</td></tr>`)}
        </tbody></table></div>
    </section>` : null}
  </section>`;
}
