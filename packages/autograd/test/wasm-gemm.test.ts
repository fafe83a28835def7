import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { customOp, gemm, mul, setWasmEnabled as setWasmEnabledPublic, sum, tensor } from '../src/index.ts';
import { matmul, matmulJs, WASM_MIN_WORK } from '../src/kernels/matmul.ts';
import { wasmGemm, wasmGemmCallCount } from '../src/kernels/wasm/gemm.ts';
import {
  isWasmEnabled,
  keepResident,
  setWasmEnabled,
  wasmStatus,
  withResidentOperands,
} from '../src/kernels/wasm/module.ts';
import { wasmModuleSourceHash } from '../src/kernels/wasm/module-wasm.generated.ts';
import { wasmModuleSource } from '../src/kernels/wasm/source.mjs';

/** Unit roundoff of float32. */
const U32 = 2 ** -24;
/** Marks storage around the output window; the kernels must never write there. */
const SENTINEL = 12345.5;

/** Deterministic values in [-1, 1) from a seed (mulberry32), so big operands cost fast-check nothing. */
function randomArray(size: number, seed: number, offset = 0): Float32Array {
  const x = new Float32Array(size + offset).fill(SENTINEL);
  let s = seed >>> 0;
  for (let i = 0; i < size; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    x[offset + i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  }
  return x;
}

interface Problem {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  aOffset: number;
  bOffset: number;
  cOffset: number;
  seed: number;
  /** Add a bias row to every row of C (the kernel then accumulates onto C filled with it). */
  withBias?: boolean;
}

/**
 * Runs the wasm kernel and the JavaScript reference on the same float32 operands and checks, for every
 * entry, |wasm − ref| ≤ 2(k+2)·u·(Σp |A(i,p)||B(p,j)| + |bias(j)|): both are float32 sums of k products (and
 * the bias) in different orders, each within (k+2)u of that sum of magnitudes from the exact value. Also
 * checks nothing outside C's window moved.
 */
function checkAgainstReference(p: Problem): void {
  const { m, n, k, transA, transB, aOffset, bOffset, cOffset, seed, withBias = false } = p;
  const a = randomArray(m * k, seed, aOffset);
  const b = randomArray(k * n, seed + 1, bOffset);
  const tail = 3;
  const c = new Float32Array(cOffset + m * n + tail).fill(SENTINEL);
  // NaN in the window: the kernel must overwrite every entry rather than accumulate into it.
  c.fill(Number.NaN, cOffset, cOffset + m * n);
  const ref = new Float32Array(m * n);
  matmulJs(a, aOffset, b, bOffset, ref, 0, m, n, k, transA, transB);
  const absA = Float64Array.from(a, Math.abs);
  const absB = Float64Array.from(b, Math.abs);
  const bound = new Float64Array(m * n);
  matmulJs(absA, aOffset, absB, bOffset, bound, 0, m, n, k, transA, transB);
  const bias = withBias ? randomArray(n, seed + 2) : null;
  if (bias) {
    for (let i = 0; i < m * n; i++) {
      ref[i]! += bias[i % n]!;
      bound[i]! += Math.abs(bias[i % n]!);
    }
  }

  expect(wasmGemm(a, aOffset, b, bOffset, c, cOffset, m, n, k, transA, transB, bias)).toBe(true);
  const tol = 2 * (k + 2) * U32;
  for (let i = 0; i < m * n; i++) {
    const got = c[cOffset + i]!;
    const want = ref[i]!;
    if (!(Math.abs(got - want) <= tol * bound[i]!)) {
      throw new Error(
        `wasmGemm ${JSON.stringify(p)}: C[${Math.floor(i / n)},${i % n}] = ${got}, reference ${want} ` +
          `(allowed difference ${tol * bound[i]!})`,
      );
    }
  }
  for (let i = 0; i < cOffset; i++) expect(c[i]).toBe(SENTINEL);
  for (let i = cOffset + m * n; i < c.length; i++) expect(c[i]).toBe(SENTINEL);
}

const problem = (dims: fc.Arbitrary<number>, kDims: fc.Arbitrary<number>): fc.Arbitrary<Problem> =>
  fc.record({
    m: dims,
    n: dims,
    k: kDims,
    transA: fc.boolean(),
    transB: fc.boolean(),
    aOffset: fc.nat(5),
    bOffset: fc.nat(5),
    cOffset: fc.nat(5),
    seed: fc.nat(),
    withBias: fc.boolean(),
  });

let previousSetting = true;
beforeAll(() => {
  // These tests are about the wasm kernel itself, so they run it even when TENSORLOOM_WASM=0.
  previousSetting = setWasmEnabled(true);
});
afterAll(() => {
  setWasmEnabled(previousSetting);
});

describe('wasm float32 GEMM backend', () => {
  it('loads in Node (SIMD is available there)', () => {
    expect(wasmStatus()).toBe('ready');
    expect(isWasmEnabled()).toBe(true);
  });

  it('was compiled from the current kernel sources', () => {
    const hash = createHash('sha256').update(wasmModuleSource()).digest('hex');
    expect(wasmModuleSourceHash, 'run node packages/autograd/scripts/build-wasm.mjs').toBe(hash);
  });

  it('matches the JavaScript kernel for M, N, K in 0..70, all transposes and offsets', () => {
    fc.assert(
      fc.property(problem(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 70 })), (p) => {
        checkAgainstReference(p);
      }),
      { numRuns: 250 },
    );
  });

  it('matches the JavaScript kernel at sizes spanning several blocks', () => {
    fc.assert(
      fc.property(problem(fc.integer({ min: 1, max: 150 }), fc.integer({ min: 200, max: 600 })), (p) => {
        checkAgainstReference(p);
      }),
      { numRuns: 10 },
    );
  });

  it('handles every edge of the 4×8 tiling and the K, M and N block boundaries', () => {
    const cases: [number, number, number][] = [
      [1, 1, 1],
      [1, 8, 1],
      [4, 1, 1],
      [3, 7, 5],
      [5, 9, 3],
      [4, 8, 4],
      [129, 17, 3], // crosses the 128-row A block
      [6, 10, 257], // crosses the 256-deep K slice (second slice accumulates)
      [5, 2049, 9], // crosses the 2048-column B block
      [33, 65, 513],
    ];
    for (const [m, n, k] of cases) {
      for (let flags = 0; flags < 8; flags++) {
        checkAgainstReference({
          m,
          n,
          k,
          transA: (flags & 1) === 1,
          transB: (flags & 2) === 2,
          withBias: (flags & 4) === 4,
          aOffset: 1,
          bOffset: 2,
          cOffset: 3,
          seed: m * 1000 + n * 10 + k,
        });
      }
    }
  });

  it('adds a bias as a separate add would, bit for bit, while K fits one 256-deep slice', () => {
    // One slice: the kernel sums the products from zero in registers and adds C (the bias) once at the end,
    // which is fl(product + bias), exactly the rounding of the product followed by a broadcast add.
    for (const [m, n, k] of [
      [1, 384, 128],
      [32, 512, 64],
      [7, 13, 256],
      [1600, 24, 9],
    ] as const) {
      const a = randomArray(m * k, m + k);
      const b = randomArray(n * k, n);
      const bias = randomArray(n, 7);
      const product = new Float32Array(m * n);
      expect(wasmGemm(a, 0, b, 0, product, 0, m, n, k, false, true)).toBe(true);
      const withBias = new Float32Array(m * n);
      expect(wasmGemm(a, 0, b, 0, withBias, 0, m, n, k, false, true, bias)).toBe(true);
      const separate = Float32Array.from(product, (v, i) => v + bias[i % n]!);
      expect(withBias).toEqual(separate);
    }
  });

  it('writes the bias rows for K = 0 with a bias, as the JavaScript kernel does', () => {
    const bias = new Float32Array([1, 2, 3]);
    const c = new Float32Array(8).fill(SENTINEL);
    expect(wasmGemm(new Float32Array(0), 0, new Float32Array(0), 0, c, 1, 2, 3, 0, false, true, bias)).toBe(
      true,
    );
    expect(Array.from(c)).toEqual([SENTINEL, 1, 2, 3, 1, 2, 3, SENTINEL]);
    const js = new Float32Array(8).fill(SENTINEL);
    setWasmEnabled(false);
    try {
      matmul(new Float32Array(0), 0, new Float32Array(0), 0, js, 1, 2, 3, 0, false, true, bias);
    } finally {
      setWasmEnabled(true);
    }
    expect(js).toEqual(c);
  });

  it('writes zeros for K = 0 and nothing for M = 0 or N = 0', () => {
    const c = new Float32Array(8).fill(Number.NaN);
    expect(wasmGemm(new Float32Array(0), 0, new Float32Array(0), 0, c, 1, 2, 3, 0, false, true)).toBe(true);
    expect(Array.from(c)).toEqual([Number.NaN, 0, 0, 0, 0, 0, 0, Number.NaN]);
    const d = new Float32Array(4).fill(SENTINEL);
    expect(wasmGemm(randomArray(6, 1), 0, randomArray(6, 2), 0, d, 0, 0, 2, 3, false, false)).toBe(true);
    expect(wasmGemm(randomArray(6, 1), 0, randomArray(6, 2), 0, d, 0, 2, 0, 3, true, true)).toBe(true);
    expect(Array.from(d)).toEqual([SENTINEL, SENTINEL, SENTINEL, SENTINEL]);
  });

  it('propagates NaN and ±Infinity like the JavaScript kernel, also through padded edge tiles', () => {
    for (let flags = 0; flags < 4; flags++) {
      const [m, n, k] = [5, 6, 7];
      const transA = (flags & 1) === 1;
      const transB = (flags & 2) === 2;
      const a = randomArray(m * k, 10 + flags);
      const b = randomArray(k * n, 20 + flags);
      a[3] = Number.POSITIVE_INFINITY;
      a[17] = Number.NaN;
      b[4] = Number.NEGATIVE_INFINITY;
      b[0] = 0;
      const ref = new Float32Array(m * n);
      const got = new Float32Array(m * n);
      matmulJs(a, 0, b, 0, ref, 0, m, n, k, transA, transB);
      expect(wasmGemm(a, 0, b, 0, got, 0, m, n, k, transA, transB)).toBe(true);
      const kind = (x: number) => (Number.isNaN(x) ? 'nan' : Number.isFinite(x) ? 'finite' : String(x));
      expect(Array.from(got, kind)).toEqual(Array.from(ref, kind));
      expect(Array.from(ref, kind)).toContain('nan');
    }
  });

  it('stays correct across memory growth (views of the old buffer are detached)', () => {
    const small: Problem = {
      m: 3,
      n: 5,
      k: 4,
      transA: false,
      transB: true,
      aOffset: 0,
      bOffset: 0,
      cOffset: 0,
      seed: 7,
    };
    checkAgainstReference(small);
    // About 7 MB of operands and product: more than any earlier test used, so memory must grow. Checked
    // with Freivalds' test, C·x = A·(B·x) for a random x, which costs O(n²) instead of a reference product.
    const size = 768;
    const a = randomArray(size * size, 101);
    const b = randomArray(size * size, 102);
    const c = new Float32Array(size * size);
    expect(wasmGemm(a, 0, b, 0, c, 0, size, size, size, false, false)).toBe(true);
    const x = Float64Array.from(randomArray(size, 103));
    const bx = new Float64Array(size);
    const abx = new Float64Array(size);
    const cx = new Float64Array(size);
    matmulJs(Float64Array.from(b), 0, x, 0, bx, 0, size, 1, size, false, false);
    matmulJs(Float64Array.from(a), 0, bx, 0, abx, 0, size, 1, size, false, false);
    matmulJs(Float64Array.from(c), 0, x, 0, cx, 0, size, 1, size, false, false);
    for (let i = 0; i < size; i++) expect(Math.abs(cx[i]! - abx[i]!)).toBeLessThan(1e-3 * size);
    checkAgainstReference({ ...small, seed: 8 });
  });
});

describe('resident operands (withResidentOperands)', () => {
  const [m, n, k] = [5, 40, 24];
  const product = (a: Float32Array, b: Float32Array, transB = false) => {
    const c = new Float32Array(m * n);
    expect(wasmGemm(a, 0, b, 0, c, 0, m, n, k, false, transB)).toBe(true);
    return c;
  };

  it('give the same products as copying, in every operand position and nested scopes', () => {
    const a = randomArray(m * k, 21);
    const b = randomArray(k * n, 22);
    const plain = product(a, b);
    const plainT = product(a, randomArray(k * n, 22), true);
    withResidentOperands([b], () => {
      expect(product(a, b)).toEqual(plain);
      withResidentOperands([a, b], () => {
        expect(product(a, b)).toEqual(plain);
        expect(product(a, b, true)).toEqual(plainT);
      });
      expect(product(a, b)).toEqual(plain);
    });
  });

  it('are read from the copy made when the scope opened (which is why they must not be written inside)', () => {
    const a = randomArray(m * k, 33);
    const b = randomArray(k * n, 34);
    const want = product(a, b);
    withResidentOperands([b], () => {
      b.fill(0); // breaks the contract on purpose, to show the products inside read the resident copy
      expect(product(a, b)).toEqual(want);
    });
    expect(product(a, b)).toEqual(new Float32Array(m * n));
  });

  it('pack a resident B once per shape, giving bit for bit the products of packing it each time', () => {
    const check = (m: number, n: number, k: number, transA: boolean, transB: boolean, seed: number) => {
      const a = randomArray(m * k, seed);
      const b = randomArray(k * n, seed + 1);
      const plain = new Float32Array(m * n);
      expect(wasmGemm(a, 0, b, 0, plain, 0, m, n, k, transA, transB)).toBe(true);
      withResidentOperands([b], () => {
        for (let round = 0; round < 2; round++) {
          const c = new Float32Array(m * n).fill(Number.NaN);
          expect(wasmGemm(a, 0, b, 0, c, 0, m, n, k, transA, transB)).toBe(true);
          expect(c).toEqual(plain);
        }
      });
    };
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 13 }),
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 1, max: 300 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 1000 }),
        (m, n, k, transA, transB, seed) => check(m, n, k, transA, transB, seed),
      ),
      { numRuns: 60 },
    );
    // Several column blocks (NC = 2048) and depth slices (KC = 256), both layouts.
    check(5, 2100, 300, false, false, 40);
    check(5, 2100, 300, true, true, 41);
    // One array read as B of two shapes in one scope: each shape gets its own packing.
    const a = randomArray(6 * 20, 42);
    const b = randomArray(20 * 30, 43);
    const asWide = new Float32Array(6 * 30);
    const asTall = new Float32Array(6 * 30);
    wasmGemm(a, 0, b, 0, asWide, 0, 6, 30, 20, false, false);
    wasmGemm(a, 0, b, 0, asTall, 0, 6, 30, 20, false, true);
    withResidentOperands([b], () => {
      const c1 = new Float32Array(6 * 30);
      const c2 = new Float32Array(6 * 30);
      wasmGemm(a, 0, b, 0, c1, 0, 6, 30, 20, false, false);
      wasmGemm(a, 0, b, 0, c2, 0, 6, 30, 20, false, true);
      expect(c1).toEqual(asWide);
      expect(c2).toEqual(asTall);
    });
  });

  it('are copied afresh by each scope, so writes between scopes are seen', () => {
    const a = randomArray(m * k, 23);
    const b = randomArray(k * n, 24);
    withResidentOperands([b], () => product(a, b));
    b[0] = 100;
    b[k * n - 1] = -7;
    const want = product(a, b);
    withResidentOperands([b], () => {
      expect(product(a, b)).toEqual(want);
    });
  });

  it('match only the whole array: a view of part of it (or an offset) is copied as usual', () => {
    const big = randomArray(2 * k * n, 25);
    const a = randomArray(m * k, 26);
    const half = big.subarray(k * n);
    const want = product(a, half);
    const wantOffset = new Float32Array(m * n);
    wasmGemm(a, 0, big, k * n, wantOffset, 0, m, n, k, false, false);
    withResidentOperands([big], () => {
      expect(product(a, half)).toEqual(want);
      const c = new Float32Array(m * n);
      expect(wasmGemm(a, 0, big, k * n, c, 0, m, n, k, false, false)).toBe(true);
      expect(c).toEqual(wantOffset);
    });
  });

  it('are released when the scope throws, and later products use fresh data', () => {
    const a = randomArray(m * k, 27);
    const b = randomArray(k * n, 28);
    expect(() =>
      withResidentOperands([b], () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    b.fill(0.5);
    const c = product(a, b);
    const ref = new Float32Array(m * n);
    matmulJs(a, 0, b, 0, ref, 0, m, n, k, false, false);
    for (let i = 0; i < m * n; i++) expect(Math.abs(c[i]! - ref[i]!)).toBeLessThan(1e-5);
  });

  it('can be kept by a VJP for the rest of its backward pass, and are let go when the pass ends', () => {
    const a = randomArray(m * k, 35);
    const b = randomArray(k * n, 36);
    const want = product(a, b);
    keepResident(b); // outside any scope: nothing is kept
    b.fill(0);
    expect(product(a, b)).toEqual(new Float32Array(m * n));
    b.set(randomArray(k * n, 36));
    const seen: Float32Array[] = [];
    const x = tensor([1, 2], { requiresGrad: true });
    const op = customOp('keeps', {
      forward: (v) => mul(v, 1),
      backward: (g) => {
        keepResident(b);
        b.fill(0); // against the contract, to show the pass reads the kept copy
        seen.push(product(a, b));
        return [g];
      },
    });
    sum(op(x)).backward();
    expect(seen[0]).toEqual(want);
    expect(product(a, b)).toEqual(new Float32Array(m * n)); // the pass is over: b is read afresh
  });

  it('leave the products right across memory growth inside the scope', () => {
    const a = randomArray(m * k, 29);
    const b = randomArray(k * n, 30);
    const want = product(a, b);
    withResidentOperands([b], () => {
      // A product big enough to grow memory (about 10 MB), then the resident one again.
      const size = 900;
      const c = new Float32Array(size * size);
      expect(
        wasmGemm(
          randomArray(size * size, 31),
          0,
          randomArray(size * size, 32),
          0,
          c,
          0,
          size,
          size,
          size,
          false,
          false,
        ),
      ).toBe(true);
      expect(product(a, b)).toEqual(want);
    });
  });
});

describe('matmul dispatch', () => {
  const [m, n, k] = [9, 10, 11];
  const big = m * n * k;

  it('sends float32 products above the threshold to wasm', () => {
    expect(big).toBeGreaterThanOrEqual(WASM_MIN_WORK);
    const a = randomArray(m * k, 1);
    const b = randomArray(k * n, 2);
    const c = new Float32Array(m * n);
    const before = wasmGemmCallCount();
    matmul(a, 0, b, 0, c, 0, m, n, k, false, true);
    expect(wasmGemmCallCount()).toBe(before + 1);
    const ref = new Float32Array(m * n);
    matmulJs(a, 0, b, 0, ref, 0, m, n, k, false, true);
    for (let i = 0; i < m * n; i++) expect(Math.abs(c[i]! - ref[i]!)).toBeLessThan(1e-5);
  });

  it('keeps float64 and small float32 products on the JavaScript kernel', () => {
    const before = wasmGemmCallCount();
    const a64 = Float64Array.from(randomArray(m * k, 3));
    const b64 = Float64Array.from(randomArray(k * n, 4));
    const c64 = new Float64Array(m * n);
    const ref64 = new Float64Array(m * n);
    matmul(a64, 0, b64, 0, c64, 0, m, n, k, true, false);
    matmulJs(a64, 0, b64, 0, ref64, 0, m, n, k, true, false);
    expect(c64).toEqual(ref64);
    const c = new Float32Array(4);
    matmul(randomArray(2, 5), 0, randomArray(2, 6), 0, c, 0, 2, 2, 1, false, false);
    expect(wasmGemmCallCount()).toBe(before);
  });

  it('falls back to the JavaScript kernel, bit for bit, when switched off', () => {
    const a = randomArray(m * k, 7);
    const b = randomArray(k * n, 8);
    const c = new Float32Array(m * n);
    const ref = new Float32Array(m * n);
    const before = wasmGemmCallCount();
    setWasmEnabled(false);
    try {
      expect(isWasmEnabled()).toBe(false);
      matmul(a, 0, b, 0, c, 0, m, n, k, true, true);
      expect(wasmGemm(a, 0, b, 0, c, 0, m, n, k, true, true)).toBe(false);
    } finally {
      setWasmEnabled(true);
    }
    matmulJs(a, 0, b, 0, ref, 0, m, n, k, true, true);
    expect(wasmGemmCallCount()).toBe(before);
    expect(c).toEqual(ref);
  });

  it('is switched by the package export, and gemm gives the same product either way', () => {
    const x = tensor(Array.from(randomArray(6 * 40, 9)), { shape: [6, 40] });
    const w = tensor(Array.from(randomArray(30 * 40, 10)), { shape: [30, 40] });
    const before = wasmGemmCallCount();
    const on = gemm(x, w, { transB: true }).toArray() as number[][];
    expect(wasmGemmCallCount()).toBe(before + 1);
    let off: number[][];
    try {
      setWasmEnabledPublic(false);
      off = gemm(x, w, { transB: true }).toArray() as number[][];
    } finally {
      setWasmEnabledPublic(true);
    }
    expect(wasmGemmCallCount()).toBe(before + 1);
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 30; j++) expect(Math.abs(on[i]![j]! - off[i]![j]!)).toBeLessThan(1e-5);
    }
  });

  it('compiles in the background where synchronous compilation is refused, using JS meanwhile', async () => {
    vi.resetModules();
    // Browser main threads throw this for synchronous compiles of modules over 4 KB.
    const refuse = vi.spyOn(WebAssembly, 'Module').mockImplementation(function refuse(): never {
      throw new RangeError('WebAssembly.Compile is disallowed on the main thread');
    });
    try {
      const fresh = {
        ...(await import('../src/kernels/wasm/gemm.ts')),
        ...(await import('../src/kernels/wasm/module.ts')),
      };
      fresh.setWasmEnabled(true);
      const a = new Float32Array([1, 2, 3, 4]);
      const b = new Float32Array([5, 6, 7, 8]);
      const c = new Float32Array(4);
      expect(fresh.wasmGemm(a, 0, b, 0, c, 0, 2, 2, 2, false, false)).toBe(false);
      expect(fresh.wasmStatus()).toBe('pending');
      refuse.mockRestore();
      await vi.waitFor(() => expect(fresh.wasmStatus()).toBe('ready'));
      expect(fresh.wasmGemm(a, 0, b, 0, c, 0, 2, 2, 2, false, false)).toBe(true);
      expect(Array.from(c)).toEqual([19, 22, 43, 50]);
    } finally {
      refuse.mockRestore();
      vi.resetModules();
    }
  });

  it('starts switched off when TENSORLOOM_WASM=0', async () => {
    vi.stubEnv('TENSORLOOM_WASM', '0');
    vi.resetModules();
    try {
      const fresh = {
        ...(await import('../src/kernels/wasm/gemm.ts')),
        ...(await import('../src/kernels/wasm/module.ts')),
      };
      expect(fresh.isWasmEnabled()).toBe(false);
      const c = new Float32Array(1);
      expect(
        fresh.wasmGemm(new Float32Array([2]), 0, new Float32Array([3]), 0, c, 0, 1, 1, 1, false, false),
      ).toBe(false);
      expect(fresh.setWasmEnabled(true)).toBe(false);
      expect(fresh.isWasmEnabled()).toBe(true);
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });
});
