/**
 * Reductions along one axis. A tensor is viewed as [outer, n, inner] around the reduced axis, so every
 * reduction is two flat loops; reducing several axes applies this repeatedly.
 */
import type { TypedArray } from '../dtype.ts';
import { wasmSumAxis } from './wasm/reduce.ts';

export type AxisReduction = 'sum' | 'max' | 'min';

/**
 * Float32 sums sent to wasm, in elements of x: from the size where the JavaScript loop (~1.3 ns per
 * element) costs more than copying in and out, up to 16 MB, since x is copied whole into wasm memory, which
 * never shrinks (a larger sum is rare and keeps the JavaScript loop rather than the memory). Also needs four
 * adjacent outputs (inner ≥ 4): the kernel adds them as one vector.
 */
export const WASM_MIN_SUM = 2048;
const WASM_MAX_SUM = 1 << 22;
const WASM_MIN_INNER = 4;

/**
 * out[o, i] = reduction over k of x[o, k, i] for a row-major x [outer, n, inner]. Large float32 sums run
 * on the WebAssembly kernel, which matches this loop bit for bit.
 */
export function reduceAxis(
  kind: AxisReduction,
  x: TypedArray,
  outer: number,
  n: number,
  inner: number,
  out: TypedArray,
): void {
  if (
    kind === 'sum' &&
    inner >= WASM_MIN_INNER &&
    outer * n * inner >= WASM_MIN_SUM &&
    outer * n * inner <= WASM_MAX_SUM &&
    wasmSumAxis(x, outer, n, inner, out)
  ) {
    return;
  }
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    const dst = o * inner;
    if (kind === 'sum') {
      for (let i = 0; i < inner; i++) out[dst + i] = 0;
      for (let k = 0; k < n; k++) {
        const row = base + k * inner;
        for (let i = 0; i < inner; i++) out[dst + i]! += x[row + i]!;
      }
    } else {
      const isMax = kind === 'max';
      for (let i = 0; i < inner; i++) out[dst + i] = x[base + i]!;
      for (let k = 1; k < n; k++) {
        const row = base + k * inner;
        for (let i = 0; i < inner; i++) {
          const v = x[row + i]!;
          const cur = out[dst + i]!;
          // NaN wins, as in PyTorch: a NaN anywhere makes the max NaN.
          if (Number.isNaN(v) || (isMax ? v > cur : v < cur)) out[dst + i] = v;
        }
      }
    }
  }
}

/** Index of the first max (or min) along the axis; NaN counts as the extreme. */
export function argAxis(
  isMax: boolean,
  x: TypedArray,
  outer: number,
  n: number,
  inner: number,
  out: TypedArray,
): void {
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    for (let i = 0; i < inner; i++) {
      let best = x[base + i]!;
      let at = 0;
      for (let k = 1; k < n && !Number.isNaN(best); k++) {
        const v = x[base + k * inner + i]!;
        if (Number.isNaN(v) || (isMax ? v > best : v < best)) {
          best = v;
          at = k;
        }
      }
      out[o * inner + i] = at;
    }
  }
}
