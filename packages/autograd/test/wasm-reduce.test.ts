import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randn, sum, tensor } from '../src/index.ts';
import { reduceAxis, rowSums, WASM_MIN_SUM } from '../src/kernels/reduce.ts';
import { setWasmEnabled } from '../src/kernels/wasm/module.ts';
import { wasmSumAxis } from '../src/kernels/wasm/reduce.ts';

let previousSetting = true;
beforeAll(() => {
  // These tests are about the wasm kernel itself, so they run it even when TENSORLOOM_WASM=0.
  previousSetting = setWasmEnabled(true);
});
afterAll(() => {
  setWasmEnabled(previousSetting);
});

/** The JavaScript loop of `reduceAxis`, with the backend off so that it cannot dispatch. */
function sumJs(x: Float32Array, outer: number, n: number, inner: number): Float32Array {
  const out = new Float32Array(outer * inner);
  setWasmEnabled(false);
  try {
    reduceAxis('sum', x, outer, n, inner, out);
  } finally {
    setWasmEnabled(true);
  }
  return out;
}

const special = fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 3.4e38, -0);

describe('wasm float32 axis sum', () => {
  it('matches the JavaScript loop bit for bit, for any [outer, n, inner] (vector lanes and tails)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 70 }),
        fc.integer({ min: 1, max: 23 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.array(fc.tuple(fc.nat(), special), { maxLength: 3 }),
        (outer, n, inner, seed, specials) => {
          const x = new Float32Array(outer * n * inner);
          let s = seed;
          for (let i = 0; i < x.length; i++) {
            s = (Math.imul(s, 1103515245) + 12345) >>> 0;
            // Mixed magnitudes, so the float32 rounding of every partial sum matters.
            x[i] = ((s / 2 ** 32) * 2 - 1) * 2 ** ((s >>> 3) % 20);
          }
          if (x.length > 0) for (const [at, v] of specials) x[at % x.length] = v;
          const out = new Float32Array(outer * inner).fill(Number.NaN);
          expect(wasmSumAxis(x, outer, n, inner, out)).toBe(true);
          expect(out).toEqual(sumJs(x, outer, n, inner));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('serves large float32 sums of the sum op over a leading dim, which equal the JavaScript ones', () => {
    const g = randn([1600, 384]);
    expect(g.size).toBeGreaterThanOrEqual(WASM_MIN_SUM);
    const viaOp = sum(g, 0);
    expect(viaOp.data).toEqual(sumJs(g.data as Float32Array, 1, 1600, 384));
    // Over the last dim: the row sums' order (partial sums by lane), on every path.
    const rows = new Float32Array(1600);
    rowSums(g.data, 1600, 384, rows);
    expect(sum(g, 1).data).toEqual(rows);
  });

  it('declines float64 and leaves its output untouched', () => {
    const out = new Float64Array(4).fill(7);
    expect(wasmSumAxis(new Float64Array(16), 1, 4, 4, out)).toBe(false);
    expect(Array.from(out)).toEqual([7, 7, 7, 7]);
  });
});

describe('sums over the last dim', () => {
  /** The rule written out: element k into partial sum k mod L from +0, then the partial sums pairwise. */
  function reference(row: ArrayLike<number>, f32: boolean): number {
    const r = f32 ? Math.fround : (v: number) => v;
    const p = [0, 0, 0, 0];
    for (let k = 0; k < row.length; k++) p[k % (f32 ? 4 : 2)] = r(p[k % (f32 ? 4 : 2)]! + row[k]!);
    return f32 ? r(r(p[0]! + p[1]!) + r(p[2]! + p[3]!)) : p[0]! + p[1]!;
  }

  it('add by vector lanes, on every path and in both dtypes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 41 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 1000 }),
        (rows, n, f32, seed) => {
          const values = Array.from(
            { length: rows * n },
            (_, i) => Math.sin(seed + i) * 2 ** ((seed + i) % 24),
          );
          const x = f32 ? Float32Array.from(values) : Float64Array.from(values);
          const expected = Array.from({ length: rows }, (_, o) =>
            reference(x.subarray(o * n, (o + 1) * n), f32),
          );
          const out = f32 ? new Float32Array(rows) : new Float64Array(rows);
          rowSums(x, rows, n, out);
          expect(Array.from(out)).toEqual(expected);
          const t = tensor(Array.from(x), { shape: [rows, n], dtype: f32 ? 'float32' : 'float64' });
          expect(Array.from(sum(t, 1).data)).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });
});
