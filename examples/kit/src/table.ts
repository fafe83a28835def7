/** Markdown tables for results that go straight into a README. */

/** A GitHub-flavoured markdown table; columns are padded so the source reads as a table too. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, j) => Math.max(h.length, 3, ...rows.map((row) => (row[j] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${widths.map((w, j) => (cells[j] ?? '').padEnd(w)).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}
