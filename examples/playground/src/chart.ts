/** A small SVG line chart (axes, grid, legend), drawn as markup so it needs no library. */

/** One line of the chart. */
export interface Series {
  name: string;
  x: number[];
  y: number[];
  color: string;
  /** Mark each point with a dot (for sparse series such as validation). */
  dots?: boolean;
}

/** Sizes and labels. */
export interface ChartOptions {
  width: number;
  height: number;
  xLabel: string;
  yLabel: string;
  /** The x axis spans at least [0, xMax]. */
  xMax: number;
}

/** 1, 2 or 5 times a power of ten: a step that gives about `count` ticks over `span`. */
function niceStep(span: number, count: number): number {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
}

/** The chart's inner SVG markup for a viewBox of `width` × `height`. */
export function lineChart(series: Series[], options: ChartOptions): string {
  const { width, height } = options;
  const pad = { left: 48, right: 16, top: 30, bottom: 34 };
  const xs = series.flatMap((s) => s.x);
  const ys = series.flatMap((s) => s.y).filter(Number.isFinite);
  const xMax = Math.max(options.xMax, ...xs, 1);
  const yMax = ys.length > 0 ? Math.max(...ys) * 1.05 : 7;
  const yStep = niceStep(yMax, 5);
  const yTop = Math.ceil(yMax / yStep) * yStep;
  const px = (x: number) => pad.left + (x / xMax) * (width - pad.left - pad.right);
  const py = (y: number) => height - pad.bottom - (y / yTop) * (height - pad.top - pad.bottom);
  const parts: string[] = [];
  for (let y = 0; y <= yTop + 1e-9; y += yStep) {
    parts.push(
      `<line x1="${pad.left}" x2="${width - pad.right}" y1="${py(y)}" y2="${py(y)}" class="grid"/>`,
      `<text x="${pad.left - 6}" y="${py(y) + 4}" text-anchor="end" class="tick">${+y.toFixed(2)}</text>`,
    );
  }
  const xStep = niceStep(xMax, 6);
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    parts.push(
      `<text x="${px(x)}" y="${height - pad.bottom + 16}" text-anchor="middle" class="tick">${x.toLocaleString('en-US')}</text>`,
    );
  }
  parts.push(
    `<line x1="${pad.left}" x2="${width - pad.right}" y1="${py(0)}" y2="${py(0)}" class="axis"/>`,
    `<text x="${width - pad.right}" y="${height - 4}" text-anchor="end" class="label">${options.xLabel}</text>`,
    `<text x="${pad.left - 40}" y="${pad.top - 14}" class="label">${options.yLabel}</text>`,
  );
  let legendX = pad.left + 60;
  for (const s of series) {
    if (s.x.length > 0) {
      const points = s.x.map((x, i) => `${px(x).toFixed(1)},${py(s.y[i]!).toFixed(1)}`).join(' ');
      parts.push(`<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
      if (s.dots) {
        for (let i = 0; i < s.x.length; i++) {
          parts.push(`<circle cx="${px(s.x[i]!)}" cy="${py(s.y[i]!)}" r="3" fill="${s.color}"/>`);
        }
      }
    }
    parts.push(
      `<rect x="${legendX}" y="${pad.top - 22}" width="14" height="4" rx="2" fill="${s.color}"/>`,
      `<text x="${legendX + 20}" y="${pad.top - 16}" class="legend">${s.name}</text>`,
    );
    legendX += 30 + s.name.length * 7;
  }
  return parts.join('');
}
