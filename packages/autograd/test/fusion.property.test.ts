/**
 * Elementwise fusion (lazy.ts) against the unfused ops: random expression DAGs over 1–4 broadcastable
 * inputs, with shared subexpressions, several outputs, every fusible op, views, and splitting/joining along
 * the last axis. Fused and unfused results must agree bit for bit in float64 and in float32 (each fused
 * node is rounded to float32 like an unfused op's output), in values and in gradients.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  abs,
  add,
  cat,
  chunk,
  clamp,
  cos,
  type DType,
  div,
  erf,
  exp,
  fusedKernelCount,
  gemm,
  gt,
  log,
  maximum,
  mean,
  minimum,
  mul,
  narrow,
  neg,
  pow,
  realize,
  relu,
  setWasmEnabled,
  sigmoid,
  sin,
  sqrt,
  sub,
  sum,
  type Tensor,
  tanh,
  tensor,
  transpose,
  unsqueeze,
  where,
  withFusion,
} from '../src/index.ts';
import { setWasmMinElements, WASM_MIN_ELEMENTS } from '../src/kernels/fused.ts';
import { wasmFusedKernelCount } from '../src/kernels/index.ts';
import { broadcastableShapesArb, valuesArb } from '../src/testing/index.ts';

type Unary = (x: Tensor) => Tensor;
type Binary = (a: Tensor, b: Tensor) => Tensor;

const unaries: Record<string, Unary> = {
  neg,
  exp,
  tanh,
  sigmoid,
  relu,
  abs,
  sin,
  cos,
  erf,
  sqrt: (x) => sqrt(abs(x)),
  log: (x) => log(add(abs(x), 1)),
  clamp: (x) => clamp(x, -0.5, 0.75),
  scale: (x) => mul(x, 1.5),
  shift: (x) => sub(0.25, x),
  // A view and back: permuted reads fuse like any other.
  transpose: (x) => (x.ndim < 2 ? x : transpose(transpose(x, 0, -1), 0, -1)),
  // Splitting along the last axis and joining again, a different op on each piece.
  splitJoin: (x) => {
    const n = x.shape[x.ndim - 1] ?? 1;
    if (x.ndim === 0 || n < 2) return tanh(x);
    const [a, b] = chunk(x, 2, -1) as [Tensor, Tensor];
    return cat([sigmoid(a), mul(b, b)], -1);
  },
  narrowSum: (x) => {
    const n = x.shape[x.ndim - 1] ?? 1;
    if (x.ndim === 0 || n < 2) return x;
    return add(x, sum(narrow(x, -1, 1, n - 1), -1, true));
  },
  // Sums over the last axis read by the ops around them (fused into their kernel): centring, a layer
  // norm (a sum of what depends on another sum), a softmax, a sum without keepdim read back through a view,
  // and a sum over a transposed view.
  centre: (x) => (x.ndim === 0 ? x : sub(x, mean(x, -1, true))),
  normalize: (x) => {
    if (x.ndim === 0) return x;
    const c = sub(x, mean(x, -1, true));
    return div(c, sqrt(add(mean(mul(c, c), -1, true), 1e-5)));
  },
  softmax: (x) => {
    if (x.ndim === 0) return x;
    const e = exp(clamp(x, -20, 20));
    return div(e, sum(e, -1, true));
  },
  sumBack: (x) => (x.ndim === 0 ? x : mul(x, unsqueeze(sum(tanh(x), -1), -1))),
  sumTransposed: (x) => (x.ndim < 2 ? x : add(x, transpose(sum(transpose(x, 0, -1), -1, true), 0, -1))),
  // Sums over another axis (added up by accumulating stores in the kernel of their argument), read back
  // broadcast: over the first axis (a bias's gradient), and over a middle one without keepdim.
  sumRows: (x) => (x.ndim < 2 ? x : mul(x, sum(mul(tanh(x), x), 0, true))),
  sumMiddle: (x) => (x.ndim < 3 ? x : sub(x, unsqueeze(sum(sigmoid(x), 1), 1))),
};

const binaries: Record<string, Binary> = {
  add,
  sub,
  mul,
  div: (a, b) => div(a, add(abs(b), 0.5)),
  pow: (a, b) => pow(add(abs(a), 0.5), b),
  maximum,
  minimum,
  where: (a, b) => where(gt(a, b), a, sub(b, a)),
};

interface Plan {
  dtype: DType;
  inputs: { shape: number[]; values: number[] }[];
  steps: { op: string; a: number; b: number }[];
  outputs: number[];
  cotangentSeed: number;
}

const opNames = [...Object.keys(unaries), ...Object.keys(binaries)];

const planArb: fc.Arbitrary<Plan> = fc
  .tuple(fc.integer({ min: 1, max: 4 }), fc.constantFrom<DType>('float64', 'float32'))
  .chain(([k, dtype]) =>
    broadcastableShapesArb(k, { maxRank: 3, maxDim: 4 }).chain((shapes) =>
      fc.record({
        dtype: fc.constant(dtype),
        inputs: fc.tuple(
          ...shapes.map((shape) =>
            valuesArb(shape.reduce((n, d) => n * d, 1)).map((values) => ({ shape, values })),
          ),
        ),
        steps: fc.array(fc.record({ op: fc.constantFrom(...opNames), a: fc.nat(), b: fc.nat() }), {
          minLength: 1,
          maxLength: 10,
        }),
        outputs: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
        cotangentSeed: fc.integer({ min: 1, max: 1000 }),
      }),
    ),
  );

/** Builds the plan's DAG on fresh leaves; returns the leaves and the chosen outputs. */
function build(plan: Plan): { leaves: Tensor[]; outs: Tensor[] } {
  const leaves = plan.inputs.map(({ shape, values }) =>
    tensor(values, { shape, dtype: plan.dtype, requiresGrad: true }),
  );
  const nodes: Tensor[] = [...leaves];
  for (const { op, a, b } of plan.steps) {
    const x = nodes[a % nodes.length]!;
    const y = nodes[b % nodes.length]!;
    nodes.push(op in unaries ? unaries[op]!(x) : binaries[op]!(x, y));
  }
  // The last node is always an output; earlier ones may be too (shared with later nodes).
  const picked = new Set([nodes.length - 1, ...plan.outputs.map((i) => i % nodes.length)]);
  return { leaves, outs: [...picked].map((i) => nodes[i]!) };
}

/** Deterministic cotangents in (−1, 1) for an output. */
function cotangent(t: Tensor, seed: number): Tensor {
  const values = Array.from({ length: t.size }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233));
  return tensor(values, { shape: t.shape, dtype: t.dtype });
}

function run(plan: Plan, fused: boolean): { values: Float64Array[]; gradients: Float64Array[] } {
  return withFusion(fused, () => {
    const { leaves, outs } = build(plan);
    // Several outputs realized together: one kernel per shape, shared subexpressions computed once.
    realize(...outs);
    const loss = outs.reduce(
      (acc, out, k) => add(acc, sum(mul(out, cotangent(out, plan.cotangentSeed + k)))),
      tensor(0, { dtype: plan.dtype }),
    );
    if (loss.requiresGrad) loss.backward();
    return {
      values: outs.map((o) => Float64Array.from(o.data)),
      gradients: leaves.map((x) => Float64Array.from(x.grad?.data ?? [])),
    };
  });
}

/** Bitwise equality, NaN equal to NaN (both paths take the same operations in the same order). */
function expectIdentical(a: Float64Array[], b: Float64Array[], what: string): void {
  expect(a.length).toBe(b.length);
  a.forEach((x, k) => {
    const y = b[k]!;
    expect(x.length, what).toBe(y.length);
    for (let i = 0; i < x.length; i++) {
      if (!Object.is(x[i], y[i])) {
        throw new Error(`${what} ${k}, element ${i}: fused ${x[i]} vs unfused ${y[i]}`);
      }
    }
  });
}

describe('elementwise fusion', () => {
  it('gives the unfused values and gradients bit for bit, float64 and float32, on random DAGs', () => {
    fc.assert(
      fc.property(planArb, (plan) => {
        // WebAssembly kernels where the DAG allows (however small the loop), else JavaScript.
        const previous = setWasmMinElements(1);
        const fused = run(plan, true);
        setWasmMinElements(previous);
        const unfused = run(plan, false);
        setWasmEnabled(false);
        const fusedJs = run(plan, true);
        setWasmEnabled(true);
        for (const other of [unfused, fusedJs]) {
          expectIdentical(fused.values, other.values, 'output');
          expectIdentical(fused.gradients, other.gradients, 'gradient of input');
        }
      }),
      { numRuns: 300 },
    );
    // The WebAssembly backend was exercised, not skipped.
    expect(wasmFusedKernelCount()).toBeGreaterThan(20);
  });

  it('computes sums inside the kernels that read them or compute their argument, bit for bit, on every path', () => {
    const reductions = [
      'centre',
      'normalize',
      'softmax',
      'sumBack',
      'narrowSum',
      'sumRows',
      'sigmoid',
      'tanh',
    ];
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 70 }),
        fc.constantFrom<DType>('float64', 'float32'),
        fc.array(fc.constantFrom(...reductions), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 1000 }),
        (rows, n, dtype, ops, seed) => {
          const values = Array.from({ length: rows * n }, (_, i) => 2 * Math.sin(seed + i * 1.7));
          const plan: Plan = {
            dtype,
            inputs: [{ shape: [rows, n], values }],
            steps: ops.map((op, j) => ({ op, a: j, b: 0 })), // a chain: each op reads the one before
            outputs: [0],
            cotangentSeed: seed,
          };
          const fused = run(plan, true);
          setWasmEnabled(false);
          const fusedJs = run(plan, true);
          setWasmEnabled(true);
          const unfused = run(plan, false);
          for (const other of [unfused, fusedJs]) {
            expectIdentical(fused.values, other.values, 'output');
            expectIdentical(fused.gradients, other.gradients, 'gradient of input');
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('reuses one generated kernel for a DAG of the same structure and shapes', () => {
    const step = (x: Tensor, h: Tensor) => {
      const y = add(mul(sigmoid(x), h), tanh(sub(x, h)));
      realize(y);
      return y;
    };
    const x = tensor([0.1, -0.2, 0.3, 0.4], { shape: [2, 2] });
    let h = tensor([0, 0, 0, 0], { shape: [2, 2] });
    h = step(x, h);
    const after = fusedKernelCount();
    for (let t = 0; t < 20; t++) h = step(x, h);
    expect(fusedKernelCount()).toBe(after);
  });

  it('realizes a pending tensor when a non-elementwise op or a read needs it, and keeps pending ones lazy', () => {
    const a = tensor([1, 2, 3, 4], { shape: [2, 2] });
    const b = tanh(mul(a, 0.5));
    expect(b.isRealized).toBe(false);
    const c = gemm(b, a); // reads b
    expect(b.isRealized).toBe(true);
    expect(Array.from(c.data)).toEqual(withFusion(false, () => Array.from(gemm(tanh(mul(a, 0.5)), a).data)));
  });

  it('cuts long chains (a 10,000-step elementwise recurrence) instead of growing one kernel', () => {
    const w = tensor([0.5, -0.25], { requiresGrad: true });
    let h = tensor([1, 1]);
    for (let t = 0; t < 10_000; t++) h = add(mul(h, w), 0.01);
    h.backward(tensor([1, 1]));
    expect(Number.isFinite(h.data[0]!)).toBe(true);
    expect(Number.isFinite(w.grad!.data[0]!)).toBe(true);
  });
});

describe('float32 σ and tanh (one definition for fused and unfused float32 kernels)', () => {
  /** Distance in float32 ulps between two float32 values of one sign (via their bit patterns). */
  const bits = new Float32Array(2);
  const ints = new Int32Array(bits.buffer);
  const ulps = (a: number, b: number): number => {
    bits[0] = a;
    bits[1] = b;
    return Math.abs(ints[0]! - ints[1]!);
  };
  const reference = {
    sigmoid: (v: number) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v))),
    tanh: Math.tanh,
  };
  const bound = { sigmoid: 2, tanh: 2 };
  const ops = [
    ['sigmoid', sigmoid],
    ['tanh', tanh],
  ] as const;
  const SMALLEST_NORMAL = 2 ** -126;

  /**
   * Each op over `values` (at least WASM_MIN_ELEMENTS of them, so that the fused kernel runs in WebAssembly) by every path:
   * fused in WebAssembly, fused in generated JavaScript, unfused. Checks the paths agree bit for bit and are
   * within the bound of the correctly rounded value; results below the smallest normal may be 0. (A lone op
   * over a computed tensor runs its unfused kernel, so the fused paths compute op(x·1), x·1 = x exactly.)
   */
  const check = (values: number[]) => {
    const x = tensor(values);
    for (const [name, op] of ops) {
      const fused = () => op(mul(x, 1)).data;
      const paths = [
        withFusion(true, fused),
        withFusion(true, () => {
          const previous = setWasmEnabled(false);
          try {
            return fused();
          } finally {
            setWasmEnabled(previous);
          }
        }),
        withFusion(false, () => op(x).data),
      ];
      for (let i = 0; i < values.length; i++) {
        const [wasm, js, unfused] = paths.map((p) => p[i]!) as [number, number, number];
        if (!Object.is(wasm, js) || !Object.is(js, unfused))
          throw new Error(`${name}(${values[i]}): wasm ${wasm}, js ${js}, unfused ${unfused}`);
        const want = Math.fround(reference[name](x.data[i]!));
        const tiny = Math.abs(want) < SMALLEST_NORMAL && Math.abs(wasm) < SMALLEST_NORMAL;
        if (!tiny && ulps(wasm, want) > bound[name])
          throw new Error(`${name}(${x.data[i]}) = ${wasm}, want ${want} (${ulps(wasm, want)} ulp)`);
      }
    }
  };

  it('agree on every path and are within 2 ulp of the correctly rounded values, at every scale', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: Math.fround(-120), max: Math.fround(120), noNaN: true }), {
          minLength: WASM_MIN_ELEMENTS,
          maxLength: WASM_MIN_ELEMENTS + 40,
        }),
        check,
      ),
      { numRuns: 40 },
    );
  });

  it('hold the bound on a dense sweep of [−20, 20] and of magnitudes from 1e−30 to 1e30', () => {
    const values: number[] = [];
    for (let i = -200_000; i <= 200_000; i++) values.push(i / 10_000);
    for (let e = -30; e <= 30; e += 0.0005) values.push(10 ** e, -(10 ** e));
    check(values);
  });

  it('give their limits at the special points and propagate NaN', () => {
    const x = tensor([0, -0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 1e-30, -200]);
    expect(Array.from(sigmoid(x).data)).toEqual([0.5, 0.5, 1, 0, Number.NaN, 0.5, 0]);
    expect(Array.from(tanh(x).data)).toEqual([0, -0, 1, -1, Number.NaN, Math.fround(1e-30), -1]);
    // The same through the WebAssembly kernel (at least WASM_MIN_ELEMENTS), each value in every lane position.
    const big = tensor(Array.from({ length: 7 * WASM_MIN_ELEMENTS }, (_, i) => x.data[i % 7]!));
    const s = sigmoid(mul(big, 1)).data;
    const t = tanh(mul(big, 1)).data;
    for (let i = 0; i < big.size; i++) {
      expect(s[i]).toBe(sigmoid(x).data[i % 7]);
      expect(Object.is(t[i], tanh(x).data[i % 7])).toBe(true);
    }
  });
});
