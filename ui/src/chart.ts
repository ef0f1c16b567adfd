// A bar chart through Chart.js. The canvas is described for screen readers, and every view that
// draws one also lists the same numbers as text.
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import { BarController, BarElement, CategoryScale, Chart, LinearScale, Tooltip } from 'chart.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip);

export function BarChart({ labels, values, label }: { labels: string[]; values: number[]; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart<'bar'> | null>(null);
  useEffect(() => {
    if (canvas.current === null) return undefined;
    chart.current = new Chart(canvas.current, {
      type: 'bar',
      data: { labels: [], datasets: [{ label, data: [], backgroundColor: '#1f5fa8' }] },
      options: {
        // A refresh redraws in place: no animation, so the chart does not jump every 5 s.
        animation: false,
        maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, ticks: { precision: 0, color: '#1b1f24' } }, x: { ticks: { color: '#1b1f24' } } },
      },
    });
    return () => chart.current?.destroy();
  }, []);
  useEffect(() => {
    const current = chart.current;
    if (current === null) return;
    current.data.labels = labels;
    current.data.datasets[0]!.data = values;
    current.update();
  }, [labels.join('\u0000'), values.join(',')]);
  const summary = labels.map((name, index) => `${name}: ${values[index]}`).join(', ');
  return html`<div class="chart"><canvas ref=${canvas} role="img" aria-label=${`${label}. ${summary}`}></canvas></div>`;
}
