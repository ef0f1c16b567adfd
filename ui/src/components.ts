// Small pieces every view uses. A state is always told by an icon and a word, never by colour
// alone; the colour only repeats it.
import { html } from 'htm/preact';
import type { UpgradeState } from './types';

// Icons from blocks common fonts carry (Debian's chromium drew ⏸ and ⧗ as empty boxes).
// Typed by the server's own state lists, so a state added there fails the build until it has one.
const UPGRADE_ICONS: Record<UpgradeState, string> = {
  scheduled: '◷', offered: '✉', downloading: '↓', installing: '⚙', installed: '✔', failed: '✖', stuck: '‼', rolled_back: '↺',
};
const STATE_ICONS: Record<string, string> = {
  ...UPGRADE_ICONS,
  online: '●', offline: '○', disconnected: '⊘',
  active: '▶', paused: '‖', cancelled: '■',
  ok: '✔', failing: '✖', HEALTHY: '✔', DEGRADED: '⚠', offerable: '✔', rejected: '✖', healthy: '✔', unhealthy: '✖',
};

/** A state as icon + text; the class only adds colour. */
export function Badge({ state, label }: { state: string; label?: string }) {
  return html`<span class=${`badge state-${state}`}><span aria-hidden="true">${STATE_ICONS[state] ?? '•'} </span>${label ?? state.replace(/_/g, ' ')}</span>`;
}

export interface Segment {
  name: string;
  count: number;
}

/** A bar of segments in proportion, each labelled in text below for readers of every kind. */
export function ProgressBar({ segments, total, label }: { segments: Segment[]; total: number; label: string }) {
  const shown = segments.filter((segment) => segment.count > 0);
  return html`<div class="progress" role="group" aria-label=${label}>
    <div class="progress-track" aria-hidden="true">
      ${shown.map((segment) => html`<span class=${`progress-part state-${segment.name}`}
        style=${{ width: `${total === 0 ? 0 : (segment.count / total) * 100}%` }}></span>`)}
    </div>
    <ul class="progress-legend">
      ${segments.map((segment) => html`<li data-state=${segment.name}><${Badge} state=${segment.name} />: <strong>${segment.count}</strong></li>`)}
    </ul>
  </div>`;
}

export function ErrorNote({ message }: { message: string }) {
  return html`<p class="error" role="alert"><span aria-hidden="true">✖ </span>${message}</p>`;
}

export function time(text: string | null | undefined): string {
  return text ? new Date(text).toLocaleString() : '—';
}

/** A table of name/value pairs. */
export function Facts({ rows }: { rows: Array<[string, unknown]> }) {
  return html`<dl class="facts">
    ${rows.map(([name, value]) => html`<div><dt>${name}</dt><dd>${value ?? '—'}</dd></div>`)}
  </dl>`;
}
