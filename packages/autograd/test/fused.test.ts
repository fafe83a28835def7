import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  add,
  cat,
  clamp,
  exp,
  gemm,
  linear,
  manualSeed,
  mul,
  randn,
  realize,
  relu,
  reshape,
  setWasmEnabled,
  sigmoid,
  sum,
  type Tensor,
  tanh,
  tensor,
  unbind,
} from '../src/index.ts';
import { runKernel, setWasmMinElements, WASM_MIN_ELEMENTS } from '../src/kernels/fused.ts';
import { type KernelIr, planInnerPasses } from '../src/kernels/ir.ts';
import { compileFused, runFused, wasmFusedKernelCount } from '../src/kernels/wasm/fused.ts';
import { outputAddress } from '../src/kernels/wasm/module.ts';
import { computeInto, withFusion } from '../src/lazy.ts';

/** ∂/∂x Σ g ⊙ op(x), once by plain backward (fused kernels) and once with createGraph (composed rules). */
function runBackwardForTest(op: (x: Tensor) => Tensor, xs: number[], gs: number[]) {
  const once = (createGraph: boolean): number[] => {
    const x = tensor(xs, { dtype: 'float64', requiresGrad: true });
    const g = tensor(gs, { dtype: 'float64' });
    sum(mul(op(x), g)).backward(undefined, { createGraph });
    return Array.from(x.grad!.data);
  };
  return { fused: once(false), composed: once(true) };
}

// A plain backward uses the fused first-order kernels; a recorded one (createGraph) runs the composed rules.
// Both must give the same gradient, to the last bit in float64 up to rounding of the different op order.
describe('fused first-order VJP kernels agree with the composed rules', () => {
  for (const [name, op] of [
    ['sigmoid', sigmoid],
    ['tanh', tanh],
    ['relu', relu],
    ['exp', exp],
  ] as const) {
    it(name, () => {
      fc.assert(
        fc.property(
          fc.array(fc.double({ min: -6, max: 6, noNaN: true }), { minLength: 1, maxLength: 40 }),
          fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: 40, maxLength: 40 }),
          (xs, gs) => {
            const { fused, composed } = runBackwardForTest(op, xs, gs.slice(0, xs.length));
            expect(fused.length).toBe(composed.length);
            fused.forEach((v, i) => {
              expect(v).toBeCloseTo(composed[i]!, 12);
            });
          },
        ),
        { numRuns: 60 },
      );
    });
  }
});

describe('linear with a bias', () => {
  it('is one node, equal bit for bit to the product followed by a broadcast add (float32 and float64)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('float32' as const, 'float64' as const),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 2 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (dtype, lead, inF, outF, seed) => {
          manualSeed(seed);
          const x = randn([...lead, inF], { dtype, requiresGrad: true });
          const w = randn([outF, inF], { dtype, requiresGrad: true });
          const b = randn([outF], { dtype, requiresGrad: true });
          const y = linear(x, w, b);
          const rows = reshape(x, [-1, inF]);
          const reference = reshape(add(gemm(rows, w, { transB: true }), b), y.shape);
          expect(Array.from(y.data)).toEqual(Array.from(reference.data));
          // Reshape (when x is not already rows) over the single fused node: no separate add, no second [n, out].
          const node = y.gradFn!.op === 'reshape' ? y.gradFn!.inputs[0]!.gradFn! : y.gradFn!;
          expect(node.op).toBe('linear');
          expect(node.inputs.slice(1)).toEqual([w, b]);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('WebAssembly kernels copy in what they read or keep', () => {
  /** y[i, half·8 + j] = x[i, j] + 1 for each given half: stores into a [4, 16] array over a [4, 8] loop. */
  function halves(bases: number[]): KernelIr {
    return {
      loop: [4, 8],
      f32: true,
      values: [
        { kind: 'load', array: 0, base: 0, coefs: [8, 1], level: 1 },
        { kind: 'load', array: 2, base: 0, coefs: [0, 0], level: -1 },
        { kind: 'op', op: 'add', args: [0, 1], params: [], level: 1 },
      ],
      stores: bases.map((base) => ({ array: 1, base, coefs: [16, 1], value: 2, accumulate: false })),
      arrayCount: 3,
      fresh: [false, false, false],
    };
  }
  const x = Float32Array.from({ length: 32 }, (_, i) => i);

  it('skips the copy of a destination its stores cover whole', () => {
    const kernel = compileFused(halves([0, 8]))!;
    expect(kernel.copyIn).toEqual([true, false, true]);
    const y = new Float32Array(64).fill(-7);
    runFused(kernel, [x, y, Float32Array.of(1)]);
    expect(Array.from(y)).toEqual(Array.from({ length: 64 }, (_, k) => ((k >> 4) << 3) + (k % 8) + 1));
  });

  it('keeps the part of a destination no store writes', () => {
    const kernel = compileFused(halves([8]))!;
    expect(kernel.copyIn).toEqual([true, true, true]);
    const y = new Float32Array(64).fill(-7);
    runFused(kernel, [x, y, Float32Array.of(1)]);
    expect(Array.from(y)).toEqual(
      Array.from({ length: 64 }, (_, k) => (k % 16 < 8 ? -7 : ((k >> 4) << 3) + (k % 8) + 1)),
    );
  });
});

describe('clamps in WebAssembly', () => {
  // σ and tanh clamp their argument too; they are checked at their special points in fusion.property.test.ts.
  it('give what the unfused clamp gives for NaN, ±0, ±∞ and values at and past the bounds, in both dtypes', () => {
    const special = [
      Number.NaN,
      0,
      -0,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      -2,
      -1,
      -0.5,
      0.5,
      1,
      3,
    ];
    const bounds: Array<[number | undefined, number | undefined]> = [
      [-1, 1],
      [0, 1],
      [-1, 0],
      [0, 0],
      [-0, 0],
      [0.5, undefined],
      [undefined, -0.5],
      [-0.5, 0.5],
    ];
    for (const dtype of ['float32', 'float64'] as const) {
      // Every special value in every lane position, at a length the fused kernel runs in WebAssembly.
      const n = 11 * WASM_MIN_ELEMENTS;
      const x = tensor(
        Array.from({ length: n }, (_, i) => special[i % special.length]!),
        { dtype },
      );
      for (const [lo, hi] of bounds) {
        const compiled = wasmFusedKernelCount();
        const fused = clamp(mul(x, 1), lo, hi).data;
        expect(wasmFusedKernelCount()).toBe(compiled + 1); // its own kernel: no other test clamps at these bounds
        const unfused = withFusion(false, () => clamp(x, lo, hi)).data;
        for (let i = 0; i < n; i++) {
          if (!Object.is(fused[i], unfused[i])) {
            const show = (v: number | undefined) => (Object.is(v, -0) ? '-0' : String(v));
            throw new Error(
              `clamp(${show(x.data[i])}, ${show(lo)}, ${show(hi)}) ${dtype}: fused ${show(fused[i])}, unfused ${show(unfused[i])}`,
            );
          }
        }
      }
    }
  });
});

describe('passes over a row share what they compute', () => {
  /** y = (s − mean s) / mean((s − mean s)²) per row of s = σ(x), x [rows, n]: three passes over each row. */
  function normalizedSigmoid(rows: number, n: number): KernelIr {
    return {
      loop: [rows, n],
      f32: true,
      values: [
        { kind: 'load', array: 0, base: 0, coefs: [n, 1], level: 1 },
        { kind: 'op', op: 'sigmoid', args: [0], params: [], level: 1 },
        { kind: 'op', op: 'sum', args: [1], params: [], level: 0 },
        { kind: 'load', array: 2, base: 0, coefs: [0, 0], level: -1 },
        { kind: 'op', op: 'div', args: [2, 3], params: [], level: 0 },
        { kind: 'op', op: 'sub', args: [1, 4], params: [], level: 1 },
        { kind: 'op', op: 'mul', args: [5, 5], params: [], level: 1 },
        { kind: 'op', op: 'sum', args: [6], params: [], level: 0 },
        { kind: 'op', op: 'div', args: [7, 3], params: [], level: 0 },
        { kind: 'op', op: 'div', args: [5, 8], params: [], level: 1 },
      ],
      stores: [{ array: 1, base: 0, coefs: [n, 1], value: 9, accumulate: false }],
      arrayCount: 3,
      fresh: [false, true, false],
    };
  }

  it('computes σ once per element and passes it and s − mean on in the row cache', () => {
    const plan = planInnerPasses(normalizedSigmoid(3, 10));
    expect(plan.length).toBe(12);
    expect(Object.fromEntries(plan.sums)).toEqual({
      2: [{ compute: [0, 1], keep: [1], reuse: [] }],
      7: [{ compute: [5, 6], keep: [5], reuse: [1] }],
    });
    expect(plan.stores).toEqual({ compute: [9], keep: [], reuse: [5] });
    expect([...plan.slots]).toEqual([
      [1, 0],
      [5, 1],
    ]);
  });

  it('computes again what a row cache too large would hold', () => {
    const plan = planInnerPasses(normalizedSigmoid(1, 1 << 16));
    expect(plan.slots.size).toBe(0);
    expect(plan.sums.get(7)).toEqual([{ compute: [0, 1, 5, 6], keep: [], reuse: [] }]);
  });

  it('gives the same values in WebAssembly (a partial last vector included) and JavaScript', () => {
    const ir = normalizedSigmoid(3, 10);
    const x = Float32Array.from({ length: 30 }, (_, i) => Math.sin(i) * 3);
    const n = Float32Array.of(10);
    const wasm = new Float32Array(30);
    expect(runFused(compileFused(ir)!, [x, wasm, n])).toBe(true);
    const js = new Float32Array(30);
    const wasWasm = setWasmEnabled(false);
    try {
      runKernel(ir, [x, js, n]);
    } finally {
      setWasmEnabled(wasWasm);
    }
    expect(Array.from(js)).toEqual(Array.from(wasm));
    const expected = Array.from({ length: 3 }, (_, r) => {
      const s = Array.from(x.subarray(10 * r, 10 * r + 10), (v) => 1 / (1 + Math.exp(-v)));
      const mean = s.reduce((a, b) => a + b) / 10;
      const variance = s.reduce((a, b) => a + (b - mean) ** 2, 0) / 10;
      return s.map((v) => (v - mean) / variance);
    }).flat();
    for (let k = 0; k < 30; k++) expect(wasm[k]).toBeCloseTo(expected[k]!, 3);
  });
});

describe('a product read by the next fused kernel where the product left it', () => {
  it('reads the kept result, gives the values of a copy, and forgets it when the memory is reused', () => {
    manualSeed(9);
    const [a, b, c] = [randn([16, 24]), randn([24, 32]), randn([16, 24])];
    const first = gemm(a, b);
    expect(outputAddress(first.data)).toBeGreaterThanOrEqual(0);
    const copy = tensor(Array.from(first.data), { shape: first.shape });
    const gates = (x: Tensor) => Array.from(sigmoid(add(mul(x, 0.5), tanh(x))).data);
    const fromKept = gates(first);
    expect(outputAddress(first.data)).toBeGreaterThanOrEqual(0);
    expect(fromKept).toEqual(gates(copy));
    // Another product lays out its buffers over the first one's: the first is copied in again.
    const second = gemm(c, b);
    expect(outputAddress(first.data)).toBe(-1);
    expect(outputAddress(second.data)).toBeGreaterThanOrEqual(0);
    expect(gates(first)).toEqual(fromKept);
  });

  it('reads the rows of the kept result where they are, with the values of a copy', () => {
    manualSeed(12);
    const product = gemm(randn([8, 24]), randn([24, 512]));
    const rows = unbind(product); // views of the product's storage
    const start = outputAddress(product.data);
    expect(start).toBeGreaterThanOrEqual(0);
    expect(outputAddress(rows[3]!.data)).toBe(start + 3 * 512 * 4);
    expect(outputAddress(new Float32Array(rows[3]!.data))).toBe(-1); // a copy is not a view
    const gates = (x: Tensor) => Array.from(sigmoid(add(mul(x, 0.5), tanh(x))).data);
    expect(gates(rows[3]!)).toEqual(gates(tensor(Array.from(rows[3]!.data), { shape: [512] })));
    // Read in place: a write to the array that is not declared (no bumpVersion) is not seen by the kernel.
    const before = Array.from(rows[5]!.data);
    rows[5]!.data.fill(7);
    expect(Array.from(add(mul(rows[5]!, 1), 0).data)).toEqual(before);
    expect(outputAddress(product.data)).toBe(start);
  });

  it('forgets the kept result when a view of it is written, by a kernel or in place', () => {
    manualSeed(13);
    const product = gemm(randn([8, 24]), randn([24, 512]));
    const x = randn([512]);
    const t = tanh(mul(x, 2));
    expect(computeInto(t, product.data.subarray(512, 1024))).toBe(true);
    realize(t);
    expect(outputAddress(product.data)).toBe(-1);
    const row1 = Array.from(tanh(mul(tensor(Array.from(x.data)), 2)).data);
    expect(Array.from(add(product, 0).data.subarray(512, 1024))).toEqual(row1);

    const again = gemm(randn([8, 24]), randn([24, 512]));
    const rows = unbind(again);
    expect(outputAddress(again.data)).toBeGreaterThanOrEqual(0);
    rows[2]!.data.fill(5);
    rows[2]!.bumpVersion();
    expect(outputAddress(again.data)).toBe(-1);
    expect(Array.from(add(again, 0).data.subarray(1024, 1536))).toEqual(new Array(512).fill(5));
  });

  it('forgets the kept result when parts computed on their own are copied into it', () => {
    manualSeed(14);
    const product = gemm(randn([8, 24]), randn([24, 512]));
    const [x1, x2] = [randn([4, 512, 2]), randn([4, 512, 2])];
    const parts = cat([sum(x1, 2), sum(x2, 2)], 0); // sums, each computed in a loop of its own, then copied
    expect(computeInto(parts, product.data)).toBe(true);
    realize(parts);
    expect(outputAddress(product.data)).toBe(-1);
    const expected = [...Array.from(sum(x1, 2).data), ...Array.from(sum(x2, 2).data)];
    expect(Array.from(add(mul(product, 1), 0).data)).toEqual(expected);
  });

  it('forgets the kept copy of a result a fused kernel writes into, in WebAssembly or JavaScript', () => {
    for (const minElements of [WASM_MIN_ELEMENTS, Number.POSITIVE_INFINITY]) {
      manualSeed(11);
      const product = gemm(randn([16, 24]), randn([24, 32]));
      const x = randn([16, 32]);
      const t = tanh(mul(x, 2));
      expect(computeInto(t, product.data)).toBe(true);
      const previous = setWasmMinElements(minElements);
      realize(t);
      setWasmMinElements(previous);
      expect(outputAddress(product.data)).toBe(-1);
      const expected = Array.from(tanh(mul(tensor(Array.from(x.data), { shape: [16, 32] }), 2)).data);
      expect(Array.from(add(product, 0).data)).toEqual(expected);
    }
  });

  it('does not read the kept copy of a result changed in place', () => {
    manualSeed(10);
    const product = gemm(randn([16, 24]), randn([24, 32]));
    product.data.fill(2);
    product.bumpVersion();
    expect(outputAddress(product.data)).toBe(-1);
    expect(Array.from(add(product, 1).data)).toEqual(new Array(512).fill(3));
  });
});
