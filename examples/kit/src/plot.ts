/**
 * A tiny SVG line plot: axes with round-number ticks (linear or log y), several named series, a legend,
 * optional horizontal reference lines. Plain strings, no dependency; the file opens in any browser and
 * renders on GitHub.
 */

/** One line: points (x[i], y[i]); non-finite points (and ≤ 0 on a log axis) break the line. */
export interface Series {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** CSS colour; a palette colour when omitted. */
  color?: string;
  dashed?: boolean;
  /** Stroke width. Default 1.8. */
  width?: number;
}

/** A horizontal reference line with a label, e.g. a baseline. */
export interface RefLine {
  y: number;
  label: string;
  color?: string;
}

/** Options of `linePlot`. */
export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Default 720. */
  width?: number;
  /** Default 420. */
  height?: number;
  /** Logarithmic y axis (base 10). */
  logY?: boolean;
  /** Force the y range (data outside is clipped). */
  yMin?: number;
  yMax?: number;
  /** Horizontal reference lines. */
  refLines?: readonly RefLine[];
  /** Where the legend goes. Default 'top-right'. */
  legend?: 'top-right' | 'bottom-right' | 'top-left' | 'bottom-left';
}

/** Colour-blind-friendly palette (Okabe–Ito). */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Rounds for SVG coordinates (2 decimals keeps files small). */
function r(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** Tick values: multiples of 1, 2 or 5 × 10^k spanning [lo, hi] with about `count` ticks. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  // k·step rounded to the step's decimals: no accumulated float noise (0.6, not 0.6000000000000001).
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) {
    ticks.push(Number((k * step).toFixed(decimals)) || 0);
  }
  return ticks;
}

/** A tick label without float noise: 0.30000000000000004 → 0.3, 12000 → 12000, 1e-7 → 1e-7. */
export function tickLabel(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  return String(Number(v.toPrecision(6)));
}

/** Renders the series as an SVG document. */
export function linePlot(series: readonly Series[], options: PlotOptions): string {
  const W = options.width ?? 720;
  const H = options.height ?? 420;
  const logY = options.logY ?? false;
  const m = { left: 72, right: 20, top: 40, bottom: 52 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const fy = (v: number) => (logY ? Math.log10(v) : v);
  const ok = (x: number, y: number) => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0);

  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (const s of series) {
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i]!;
      const y = s.y[i]!;
      if (!ok(x, y)) continue;
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, fy(y));
      y1 = Math.max(y1, fy(y));
    }
  }
  for (const ref of options.refLines ?? []) {
    if (ok(0, ref.y)) {
      y0 = Math.min(y0, fy(ref.y));
      y1 = Math.max(y1, fy(ref.y));
    }
  }
  if (options.yMin !== undefined) y0 = fy(options.yMin);
  if (options.yMax !== undefined) y1 = fy(options.yMax);
  if (!Number.isFinite(x0)) [x0, x1] = [0, 1];
  if (!Number.isFinite(y0)) [y0, y1] = [0, 1];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];

  // y ticks: decades on a log axis (widened to whole decades), round numbers on a linear one.
  let yTicks: number[];
  if (logY) {
    y0 = Math.floor(y0);
    y1 = Math.ceil(y1);
    const step = Math.max(1, Math.ceil((y1 - y0) / 8));
    yTicks = [];
    for (let e = y0; e <= y1; e += step) {
      yTicks.push(e);
      // Few decades: label 2× and 5× too, so the axis can be read between powers of ten.
      if (y1 - y0 <= 3 && e < y1) yTicks.push(e + Math.log10(2), e + Math.log10(5));
    }
  } else {
    const pad = (y1 - y0) * 0.04;
    if (options.yMin === undefined) y0 -= pad;
    if (options.yMax === undefined) y1 += pad;
    yTicks = niceTicks(y0, y1);
  }
  const xTicks = niceTicks(x0, x1, 8);
  const px = (x: number) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const py = (v: number) => m.top + ph - ((v - y0) / (y1 - y0)) * ph;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(
    `<text x="${r(W / 2)}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(options.title)}</text>`,
  );
  out.push(`<g stroke="#e5e5e5" stroke-width="1">`);
  for (const t of yTicks)
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${r(py(t))}" y2="${r(py(t))}"/>`);
  for (const t of xTicks)
    out.push(`<line x1="${r(px(t))}" x2="${r(px(t))}" y1="${m.top}" y2="${m.top + ph}"/>`);
  out.push('</g>');
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (const t of yTicks) {
    const label = logY ? tickLabel(10 ** t) : tickLabel(t);
    out.push(`<text x="${m.left - 6}" y="${r(py(t) + 4)}" text-anchor="end">${esc(label)}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<text x="${r(px(t))}" y="${m.top + ph + 16}" text-anchor="middle">${esc(tickLabel(t))}</text>`);
  }
  out.push(
    `<text x="${r(m.left + pw / 2)}" y="${H - 10}" text-anchor="middle" font-size="13">${esc(options.xLabel)}</text>`,
  );
  out.push(
    `<text transform="translate(16 ${r(m.top + ph / 2)}) rotate(-90)" text-anchor="middle" font-size="13">${esc(options.yLabel)}</text>`,
  );
  out.push(
    `<clipPath id="plot-area"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></clipPath>`,
  );
  out.push('<g clip-path="url(#plot-area)" fill="none">');
  for (const ref of options.refLines ?? []) {
    if (!ok(0, ref.y)) continue;
    const y = r(py(fy(ref.y)));
    const color = ref.color ?? '#777';
    out.push(
      `<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" stroke="${color}" stroke-dasharray="2 4"/>`,
    );
    out.push(
      `<text x="${m.left + 6}" y="${r(py(fy(ref.y)) - 5)}" fill="${color}" stroke="none">${esc(ref.label)}</text>`,
    );
  }
  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length]!;
    let d = '';
    let pen = false;
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i]!;
      const y = s.y[i]!;
      if (!ok(x, y)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${r(px(x))} ${r(py(fy(y)))}`;
      pen = true;
    }
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(
      `<path d="${d}" stroke="${color}" stroke-width="${s.width ?? 1.8}"${dash} stroke-linejoin="round"/>`,
    );
  });
  out.push('</g>');

  // Legend: a white box with one swatch per series.
  const where = options.legend ?? 'top-right';
  const lw = 22 + 7 * Math.max(...series.map((s) => s.name.length), 4);
  const lh = 8 + 18 * series.length;
  const lx = where.endsWith('right') ? m.left + pw - lw - 8 : m.left + 8;
  const ly = where.startsWith('top') ? m.top + 8 : m.top + ph - lh - 8;
  out.push(
    `<rect x="${lx}" y="${ly}" width="${lw}" height="${lh}" fill="#ffffff" fill-opacity="0.85" stroke="#bbb"/>`,
  );
  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length]!;
    const y = ly + 14 + 18 * k;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(
      `<line x1="${lx + 6}" x2="${lx + 20}" y1="${y - 4}" y2="${y - 4}" stroke="${color}" stroke-width="2.5"${dash}/>`,
    );
    out.push(`<text x="${lx + 25}" y="${y}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
