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

/**
 * Elements a float sum over the last dim adds into separate partial sums: one per lane of a 16-byte vector
 * (4 in float32, 2 in float64), so that the fused kernels add a vector at a time (kernels/fused.ts,
 * wasm/fused.ts) and every path adds in the same order.
 */
export function sumLanes(f32: boolean): number {
  return f32 ? 4 : 2;
}

/**
 * The sum over a tensor's last dim: out[o] = Σ_k x[o, k] for a row-major float x [outer, n]. Element k goes
 * into partial sum k mod L (L = `sumLanes`), each partial sum adds in index order from +0, and the result is
 * (p0 + p1) + (p2 + p3) in float32, p0 + p1 in float64, each addition rounded to the dtype. Independent
 * partial sums run in parallel (a sum in one chain waits for each addition), and sum long rows more
 * accurately than one chain.
 */
export function rowSums(x: TypedArray, outer: number, n: number, out: TypedArray): void {
  const f32 = x instanceof Float32Array;
  const r = Math.fround;
  const full = n - (n % sumLanes(f32));
  for (let o = 0; o < outer; o++) {
    const base = o * n;
    let p0 = 0;
    let p1 = 0;
    let p2 = 0;
    let p3 = 0;
    if (f32) {
      for (let k = 0; k < full; k += 4) {
        p0 = r(p0 + x[base + k]!);
        p1 = r(p1 + x[base + k + 1]!);
        p2 = r(p2 + x[base + k + 2]!);
        p3 = r(p3 + x[base + k + 3]!);
      }
      if (full < n) p0 = r(p0 + x[base + full]!);
      if (full + 1 < n) p1 = r(p1 + x[base + full + 1]!);
      if (full + 2 < n) p2 = r(p2 + x[base + full + 2]!);
      out[o] = r(r(p0 + p1) + r(p2 + p3));
    } else {
      for (let k = 0; k < full; k += 2) {
        p0 += x[base + k]!;
        p1 += x[base + k + 1]!;
      }
      if (full < n) p0 += x[base + full]!;
      out[o] = p0 + p1;
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
