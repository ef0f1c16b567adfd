// The one table the bench prints: each figure beside its same-run baseline, the ratio, and the
// target it is held against. Printed as Markdown so a run can be pasted into BENCHMARKS.md.

export type Verdict = 'PASS' | 'MISS' | '';

export interface Row {
  figure: string;
  ours: string;
  baseline: string;
  ratio: string;
  target: string;
  result: Verdict;
}

export interface Section {
  title: string;
  rows: Row[];
  notes: string[];
}

export const fixed = (value: number, digits = 0): string =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';

export const ratioOf = (ours: number, baseline: number): string =>
  Number.isFinite(ours) && Number.isFinite(baseline) && baseline !== 0 ? `${(ours / baseline).toFixed(2)}x` : 'n/a';

/** A ratio already computed (a median of per-round ratios). */
export const times = (ratio: number): string => (Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : 'n/a');

export const verdict = (met: boolean): Verdict => (met ? 'PASS' : 'MISS');

export function printTable(sections: Section[], write: (text: string) => void): void {
  const header: Row = { figure: 'Figure', ours: 'Ours', baseline: 'Baseline (same run)', ratio: 'Ratio', target: 'Target', result: '' };
  const cells = (row: Row): string[] => [row.figure, row.ours, row.baseline, row.ratio, row.target, row.result || (row === header ? 'Result' : '')];
  const all = sections.flatMap((section) => section.rows);
  const widths = cells(header).map((text, column) => Math.max(text.length, ...all.map((row) => cells(row)[column]!.length)));
  const line = (values: string[]): string => `| ${values.map((value, column) => value.padEnd(widths[column]!)).join(' | ')} |`;
  write(`${line(cells(header))}\n`);
  write(`${line(widths.map((width) => '-'.repeat(width)))}\n`);
  for (const section of sections) {
    write(`${line([`**${section.title}**`, '', '', '', '', ''])}\n`);
    for (const row of section.rows) write(`${line(cells(row))}\n`);
  }
  const notes = sections.flatMap((section) => section.notes.map((note) => `- ${section.title}: ${note}`));
  if (notes.length > 0) write(`\n${notes.join('\n')}\n`);
}
