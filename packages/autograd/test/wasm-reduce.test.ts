import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randn, sum } from '../src/index.ts';
import { reduceAxis, WASM_MIN_SUM } from '../src/kernels/reduce.ts';
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

  it('serves large float32 sums of the sum op, which equal the JavaScript ones', () => {
    const g = randn([1600, 384]);
    expect(g.size).toBeGreaterThanOrEqual(WASM_MIN_SUM);
    const viaOp = sum(g, 0);
    expect(viaOp.data).toEqual(sumJs(g.data as Float32Array, 1, 1600, 384));
    const rows = sum(g, 1);
    expect(rows.data).toEqual(sumJs(g.data as Float32Array, 1600, 384, 1));
  });

  it('declines float64 and leaves its output untouched', () => {
    const out = new Float64Array(4).fill(7);
    expect(wasmSumAxis(new Float64Array(16), 1, 4, 4, out)).toBe(false);
    expect(Array.from(out)).toEqual([7, 7, 7, 7]);
  });
});
