// A new rollout: a form for the request body of POST /api/v1/rollouts, with a live preview
// (POST /api/v1/rollouts/preview) of what it would take; create stays disabled until the
// preview answers for exactly what the form says.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorNote } from '../components';
import { useLive } from '../live';
import { href } from '../router';
import type { PackageList, RolloutPreview } from '../types';

interface Draft { version: string; selector: string; waves: string; minutes: string; start: string; ratio: string; downgrade: boolean }

/** The body the form describes, or what is missing for one. */
export function rolloutBody(draft: Draft): { body?: Record<string, unknown>; problem?: string } {
  if (draft.version === '') return { problem: 'Choose a version.' };
  const body: Record<string, unknown> = { version: draft.version, max_failure_ratio: Number(draft.ratio) / 100, allow_downgrade: draft.downgrade };
  if (draft.selector.trim() !== '') {
    try {
      body.selector = JSON.parse(draft.selector);
    } catch {
      return { problem: 'The selector is not JSON.' };
    }
  }
  if (draft.minutes !== '') body.rollout_duration_seconds = Number(draft.minutes) * 60;
  else body.waves = draft.waves.split(',').map((text) => ({ percent: Number(text.trim()) }));
  if (draft.start !== '') body.start_time = new Date(draft.start).toISOString();
  return { body };
}

export function NewRollout() {
  const catalog = useLive(() => api<PackageList>('GET', 'v1/packages'), 'new-rollout-catalog');
  // The form's own state: the catalog's refresh never touches it.
  const [draft, setDraft] = useState<Draft>({ version: '', selector: '', waves: '10, 50, 100', minutes: '', start: '', ratio: '10', downgrade: false });
  const [preview, setPreview] = useState<{ of?: string; answer?: RolloutPreview; error?: string }>({});
  const { body, problem } = rolloutBody(draft);
  const text = JSON.stringify(body ?? null);
  useEffect(() => {
    if (body === undefined) return undefined;
    // Asked once typing pauses, not at every keystroke.
    const timer = setTimeout(() => {
      api<RolloutPreview>('POST', 'v1/rollouts/preview', { body }).then(
        (answer) => setPreview({ of: text, answer }),
        (error: Error) => setPreview({ of: text, error: error.message }),
      );
    }, 300);
    return () => clearTimeout(timer);
  }, [text]);
  const versions = [...new Set((catalog.data?.packages ?? []).filter((file) => file.offerable).map((file) => file.version))];
  const field = (name: keyof Draft) => (event: Event) => {
    const input = event.target as HTMLInputElement;
    setDraft({ ...draft, [name]: input.type === 'checkbox' ? input.checked : input.value });
  };
  const ready = preview.of === text && preview.answer !== undefined;
  const create = async (event: Event) => {
    event.preventDefault();
    if (!ready || !window.confirm(`Offer ${draft.version} to ${preview.answer!.agents} agent(s)?`)) return;
    try {
      const created = await api<{ id: string }>('POST', 'v1/rollouts', { body });
      window.location.hash = href(['rollouts', created.id]);
    } catch (error) {
      setPreview({ of: text, error: (error as Error).message });
    }
  };
  const shown = preview.answer;
  return html`<section><h1>New rollout</h1>
    <form class="fields" onSubmit=${create}>
      <div class="field"><label for="new-version">Version (offerable in the catalog)</label>
        <select id="new-version" value=${draft.version} onChange=${field('version')}>
          <option value="">Choose…</option>${versions.map((version) => html`<option value=${version}>${version}</option>`)}</select></div>
      <div class="field"><label for="new-selector">Selector (JSON; empty takes every agent)</label>
        <textarea id="new-selector" rows="3" value=${draft.selector} onInput=${field('selector')}
          placeholder='{"os": ["linux"], "attributes": {"deployment.environment": ["prod"]}}'></textarea></div>
      <div class="field"><label for="new-waves">Waves (cumulative percents, the last 100)</label>
        <input id="new-waves" value=${draft.waves} onInput=${field('waves')} disabled=${draft.minutes !== ''} /></div>
      <div class="field"><label for="new-minutes">Or spread evenly over (minutes)</label>
        <input id="new-minutes" type="number" min="1" value=${draft.minutes} onInput=${field('minutes')} /></div>
      <div class="field"><label for="new-start">Start (local time; empty: now)</label>
        <input id="new-start" type="datetime-local" value=${draft.start} onInput=${field('start')} /></div>
      <div class="field"><label for="new-ratio">Pause when failures exceed (% of offered)</label>
        <input id="new-ratio" type="number" min="0" max="100" step="0.1" value=${draft.ratio} onInput=${field('ratio')} /></div>
      <div class="field"><input id="new-downgrade" type="checkbox" checked=${draft.downgrade} onChange=${field('downgrade')} />
        <label for="new-downgrade">Allow downgrades</label></div>
      <section class="card" id="preview" aria-live="polite" aria-labelledby="preview-title"><h2 id="preview-title">Preview</h2>
        ${problem !== undefined ? html`<p>${problem}</p>`
          : preview.of !== text ? html`<p role="status">Asking the server…</p>`
          : preview.error !== undefined ? html`<${ErrorNote} message=${preview.error} />`
          : shown ? html`<p><strong id="preview-matched">${shown.matched}</strong> agent(s) match;
              <strong id="preview-agents">${shown.agents}</strong> would be offered ${draft.version}.</p>
            <ol id="preview-waves">${shown.waves.map((wave, index) => html`<li>Wave ${index + 1} (up to ${wave.percent}%): <strong class="count">${wave.agents}</strong> agent(s)</li>`)}</ol>
            <p>Left out: ${shown.already_at_version} already at the version, ${shown.no_package_capability} not accepting packages,
              ${shown.no_artifact.length} with no package for their platform, ${shown.downgrades_refused.length} refused a downgrade.
              Downgraded: ${shown.downgrades.length}.</p>` : null}
      </section>
      <div class="actions"><button type="submit" id="create-rollout" disabled=${!ready}>Create rollout</button></div>
    </form>
  </section>`;
}
