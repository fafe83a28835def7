/**
 * A noisy synthetic seasonal series and its forecasting windows:
 *   y(t) = 0.8·sin(2πt/24) + 0.4·sin(2πt/60 + 1) + 0.002·t + ε,   ε ~ N(0, σ²)
 * (a "daily" and a slower season, a trend, and noise). Windows are made level-free: inputs and targets are
 * taken relative to the last observed value, so a model trained early in the series still applies after the
 * trend has moved the level, and the naive last-value forecast is exactly "predict 0".
 */
import { randint, randn, type Tensor, tensor } from '@tensorloom/autograd';

/** The series' shape. */
export interface SeriesOptions {
  length: number;
  noise: number;
}

/** Draws the series (noise from the seeded global generator). */
export function makeSeries({ length, noise }: SeriesOptions): Float32Array {
  const eps = randn([length]).data;
  const y = new Float32Array(length);
  for (let t = 0; t < length; t++) {
    y[t] =
      0.8 * Math.sin((2 * Math.PI * t) / 24) +
      0.4 * Math.sin((2 * Math.PI * t) / 60 + 1) +
      0.002 * t +
      noise * eps[t]!;
  }
  return y;
}

/** A batch of windows: context [context, B, 1] (time-major) and targets [B, horizon], both minus the last context value. */
export interface WindowBatch {
  x: Tensor;
  y: Tensor;
  /** The last context value of each window (add it back to get levels). */
  level: Float32Array;
  /** Index in the series of each window's first forecast step. */
  starts: number[];
}

/** Windows whose forecast starts at `starts[b]`: context y[s − C .. s − 1], targets y[s .. s + H − 1]. */
export function windowsAt(
  series: Float32Array,
  starts: readonly number[],
  context: number,
  horizon: number,
): WindowBatch {
  const B = starts.length;
  const x = new Float32Array(context * B);
  const y = new Float32Array(B * horizon);
  const level = new Float32Array(B);
  starts.forEach((s, b) => {
    if (s < context || s + horizon > series.length)
      throw new Error(
        `windowsAt: a window at ${s} needs [${s - context}, ${s + horizon}) inside [0, ${series.length})`,
      );
    const last = series[s - 1]!;
    level[b] = last;
    for (let t = 0; t < context; t++) x[t * B + b] = series[s - context + t]! - last;
    for (let k = 0; k < horizon; k++) y[b * horizon + k] = series[s + k]! - last;
  });
  return {
    x: tensor(x, { shape: [context, B, 1] }),
    y: tensor(y, { shape: [B, horizon] }),
    level,
    starts: [...starts],
  };
}

/** `batch` random windows with forecasts starting in [from, to − horizon]. */
export function randomWindows(
  series: Float32Array,
  batch: number,
  context: number,
  horizon: number,
  from: number,
  to: number,
): WindowBatch {
  const lo = Math.max(from, context);
  const hi = to - horizon + 1;
  if (hi <= lo)
    throw new Error(`randomWindows: no room for windows of ${context} + ${horizon} in [${from}, ${to})`);
  return windowsAt(series, Array.from(randint(lo, hi, [batch]).data), context, horizon);
}
