import {
  add,
  gradcheck,
  grads,
  manualSeed,
  mul,
  narrow,
  reshape,
  sigmoid,
  sum,
  type Tensor,
  tanh,
  zeros,
} from '@tensorloom/autograd';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  GateRecorder,
  GRUCell,
  LSTMCell,
  type LSTMState,
  lstmInput,
  lstmStep,
  RNNCell,
  recurrent,
} from '../src/index.ts';
import { constant, expectClose, fastGradcheck, leaf } from './helpers.ts';

const sizes = fc.record({
  B: fc.integer({ min: 1, max: 3 }),
  n: fc.integer({ min: 1, max: 3 }),
  H: fc.integer({ min: 1, max: 3 }),
  steps: fc.integer({ min: 1, max: 3 }),
  bias: fc.boolean(),
  seed: fc.integer({ min: 0, max: 1e6 }),
});

/** Runs a cell over `steps` steps of xs [steps, B, n]. */
function unroll<S>(xs: Tensor, state: S, step: (x: Tensor, s: S) => S): S {
  const [T, B, n] = xs.shape as [number, number, number];
  for (let t = 0; t < T; t++) state = step(reshape(narrow(xs, 0, t, 1), [B, n]), state);
  return state;
}

describe('LSTMCell', () => {
  it("has PyTorch's parameter names, shapes and default init U(−1/√H, 1/√H)", () => {
    const cell = new LSTMCell({ inputSize: 3, hiddenSize: 4 });
    const params = Array.from(cell.namedParameters(), ([n, p]) => [n, p.shape, p.dtype]);
    expect(params).toEqual([
      ['weight_ih', [16, 3], 'float32'],
      ['weight_hh', [16, 4], 'float32'],
      ['bias_ih', [16], 'float32'],
      ['bias_hh', [16], 'float32'],
    ]);
    for (const p of cell.parameters()) {
      expect(p.requiresGrad).toBe(true);
      for (const v of p.data) expect(Math.abs(v)).toBeLessThanOrEqual(0.5);
    }
    // Spread over the interval, not a constant.
    const w = cell.weight_ih.data;
    expect(Math.max(...w) - Math.min(...w)).toBeGreaterThan(0.5);
    const noBias = new LSTMCell({ inputSize: 3, hiddenSize: 4, bias: false });
    expect(Array.from(noBias.namedParameters(), ([n]) => n)).toEqual(['weight_ih', 'weight_hh']);
  });

  it('initialises reproducibly from the seeded generator', () => {
    manualSeed(5);
    const a = new LSTMCell({ inputSize: 2, hiddenSize: 3 });
    manualSeed(5);
    const b = new LSTMCell({ inputSize: 2, hiddenSize: 3 });
    expect(Array.from(a.weight_hh.data)).toEqual(Array.from(b.weight_hh.data));
  });

  it('starts from zeros by default and returns [h, c] of shape [B, H]', () => {
    const cell = new LSTMCell({ inputSize: 2, hiddenSize: 3, dtype: 'float64' });
    const x = constant([4, 2]);
    const [h, c] = cell.forward(x);
    expect(h.shape).toEqual([4, 3]);
    expect(c.shape).toEqual([4, 3]);
    const [h2, c2] = cell.forward(x, [
      zeros([4, 3], { dtype: 'float64' }),
      zeros([4, 3], { dtype: 'float64' }),
    ]);
    expectClose(h, h2, 0);
    expectClose(c, c2, 0);
  });

  it('computes its equations: gates, c′ = f⊙c + i⊙g, h′ = o⊙tanh(c′)', () => {
    const cell = new LSTMCell({ inputSize: 2, hiddenSize: 3, dtype: 'float64' });
    const x = constant([2, 2]);
    const h = constant([2, 3]);
    const c = constant([2, 3]);
    const [h1, c1] = cell.forward(x, [h, c]);
    // Recompute the gates independently of gemm, then take each gate's block of H columns.
    const pre = add(
      add(matmulT(x, cell.weight_ih), cell.bias_ih!),
      add(matmulT(h, cell.weight_hh), cell.bias_hh!),
    );
    const gate = (k: number) => narrow(pre, 1, 3 * k, 3);
    const i = sigmoid(gate(0));
    const f = sigmoid(gate(1));
    const g = tanh(gate(2));
    const o = sigmoid(gate(3));
    const c2 = add(mul(f, c), mul(i, g));
    expectClose(c1, c2);
    expectClose(h1, mul(o, tanh(c2)));
  });

  it('reports its gates to an observer, consistent with the state update', () => {
    const cell = new LSTMCell({ inputSize: 2, hiddenSize: 3, dtype: 'float64' });
    const recorder = new GateRecorder();
    const c = constant([2, 3]);
    const [h1, c1] = cell.forward(constant([2, 2]), [constant([2, 3]), c], { observe: recorder.sink() });
    expect(recorder.names()).toEqual(['i', 'f', 'g', 'o', 'c', 'h']);
    const [i, f, g, o] = ['i', 'f', 'g', 'o'].map((n) => reshape(recorder.get(n), [2, 3])) as [
      Tensor,
      Tensor,
      Tensor,
      Tensor,
    ];
    for (const v of [...i.data, ...f.data, ...o.data]) expect(v > 0 && v < 1).toBe(true);
    for (const v of g.data) expect(Math.abs(v)).toBeLessThan(1);
    expectClose(c1, add(mul(f, c), mul(i, g)));
    expectClose(h1, mul(o, tanh(c1)));
    expectClose(reshape(recorder.get('h'), [2, 3]), h1, 0);
  });

  it('gives the same steps through the hoisted time loop as one call at a time', () => {
    const cell = new LSTMCell({ inputSize: 2, hiddenSize: 3, dtype: 'float64' });
    const xs = constant([5, 2, 2]);
    const [out, [hT, cT]] = recurrent(cell, xs);
    const [h, c] = unroll<LSTMState>(xs, cell.initialState(2), (x, s) => cell.forward(x, s));
    expectClose(hT, h);
    expectClose(cT, c);
    expectClose(reshape(narrow(out, 0, 4, 1), [2, 3]), h);
  });

  it('passes directional gradchecks through time for random sizes (float64)', () => {
    fc.assert(
      fc.property(sizes, ({ B, n, H, steps, bias, seed }) => {
        const cell = new LSTMCell({ inputSize: n, hiddenSize: H, bias, dtype: 'float64' });
        const xs = leaf([steps, B, n]);
        const h0 = leaf([B, H]);
        const c0 = leaf([B, H]);
        fastGradcheck(
          () => unroll<LSTMState>(xs, [h0, c0], (x, s) => cell.forward(x, s)),
          [xs, h0, c0, ...cell.parameters()],
          seed,
        );
      }),
      { numRuns: 15 },
    );
  });

  it('passes a full (element by element) gradcheck on a small case', () => {
    const cell = new LSTMCell({ inputSize: 2, hiddenSize: 2, dtype: 'float64' });
    const x = leaf([2, 2]);
    const h = leaf([2, 2]);
    const c = leaf([2, 2]);
    expect(gradcheck(() => cell.forward(x, [h, c]), [x, h, c, ...cell.parameters()])).toBe(true);
  });

  it('passes second-order checks (gradgradcheck) through two steps', () => {
    fc.assert(
      fc.property(sizes, ({ B, n, H, bias, seed }) => {
        const cell = new LSTMCell({ inputSize: n, hiddenSize: H, bias, dtype: 'float64' });
        const xs = leaf([2, B, n]);
        const h0 = leaf([B, H]);
        const c0 = leaf([B, H]);
        fastGradcheck(
          () => unroll<LSTMState>(xs, [h0, c0], (x, s) => cell.forward(x, s)),
          [xs, h0, c0, ...cell.parameters()],
          seed,
          true,
        );
      }),
      { numRuns: 5 },
    );
  });

  it('has a Hessian-vector product equal to finite differences of its gradient', () => {
    // L(θ) = Σ u ⊙ h_T + Σ w ⊙ c_T over 3 steps of the pure cell, θ = (W_ih, W_hh, b_ih, b_hh).
    const [B, n, H] = [2, 3, 2];
    const xs = constant([3, B, n]);
    const u = constant([B, H]);
    const w = constant([B, H]);
    const loss = (...theta: Tensor[]): Tensor => {
      const [weight_ih, weight_hh, bias_ih, bias_hh] = theta as [Tensor, Tensor, Tensor, Tensor];
      const weights = { weight_ih, weight_hh, bias_ih, bias_hh };
      const init: LSTMState = [zeros([B, H], { dtype: 'float64' }), zeros([B, H], { dtype: 'float64' })];
      const [h, c] = unroll<LSTMState>(xs, init, (x, s) => lstmStep(lstmInput(x, weights), s, weights));
      return add(sum(mul(u, h)), sum(mul(w, c)));
    };
    const theta = [constant([4 * H, n]), constant([4 * H, H]), constant([4 * H]), constant([4 * H])];
    const v = theta.map((t) => constant(t.shape));
    // Hv = ∇θ (∇θL · v): differentiate the directional derivative, recorded with createGraph.
    const hv = grads((...th: Tensor[]) =>
      grads(loss)(...th).reduce((acc, g, k) => add(acc, sum(mul(g, v[k]!))), zeros([], { dtype: 'float64' })),
    )(...theta);
    // (∇L(θ + εv) − ∇L(θ − εv)) / 2ε
    const eps = 1e-5;
    const shifted = (sign: number) => grads(loss)(...theta.map((t, k) => add(t, mul(v[k]!, sign * eps))));
    const plus = shifted(1);
    const minus = shifted(-1);
    hv.forEach((h, k) => {
      const fd = mul(add(plus[k]!, mul(minus[k]!, -1)), 1 / (2 * eps));
      expect(h.shape).toEqual(theta[k]!.shape);
      expectClose(h, fd, 1e-6);
    });
    // Not trivially zero.
    expect(hv.some((h) => h.data.some((x) => Math.abs(x) > 1e-3))).toBe(true);
  });

  it('rejects bad inputs and states with the expected and given shapes', () => {
    const cell = new LSTMCell({ inputSize: 3, hiddenSize: 2 });
    const f32 = (shape: number[]) => zeros(shape);
    expect(() => cell.forward(f32([4, 2]))).toThrow(
      'LSTMCell: expected input of shape [batch, 3], got [4,2]',
    );
    expect(() => cell.forward(f32([1, 4, 3]))).toThrow('expected input of shape [batch, 3], got [1,4,3]');
    expect(() => cell.forward(f32([4, 3]), [f32([4, 3]), f32([4, 2])])).toThrow(
      'LSTMCell: expected h of shape [4,2], got [4,3]',
    );
    expect(() => cell.forward(f32([4, 3]), [f32([4, 2]), f32([2, 2])])).toThrow(
      'expected c of shape [4,2], got [2,2]',
    );
    expect(() => cell.forward(zeros([4, 3], { dtype: 'float64' }))).toThrow(
      /input is float64 but the parameters are float32/,
    );
    expect(() => new LSTMCell({ inputSize: 0, hiddenSize: 2 })).toThrow(
      'LSTMCell: inputSize must be a positive integer, got 0',
    );
    expect(() => new LSTMCell({ inputSize: 2, hiddenSize: 1.5 })).toThrow(
      /hiddenSize must be a positive integer/,
    );
  });
});

/** a·bᵀ by explicit sums, independent of gemm. */
function matmulT(a: Tensor, b: Tensor): Tensor {
  const [m, k] = a.shape as [number, number];
  const n = b.shape[0]!;
  const out = zeros([m, n], { dtype: a.dtype });
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a.data[i * k + p]! * b.data[j * k + p]!;
      out.data[i * n + j] = s;
    }
  return out;
}

describe('GRUCell', () => {
  it("has PyTorch's parameter names and shapes", () => {
    const cell = new GRUCell({ inputSize: 3, hiddenSize: 4 });
    expect(Array.from(cell.namedParameters(), ([n, p]) => [n, p.shape])).toEqual([
      ['weight_ih', [12, 3]],
      ['weight_hh', [12, 4]],
      ['bias_ih', [12]],
      ['bias_hh', [12]],
    ]);
  });

  it('interpolates between the candidate and the old state: h′ = n + z ⊙ (h − n)', () => {
    const cell = new GRUCell({ inputSize: 2, hiddenSize: 3, dtype: 'float64' });
    const recorder = new GateRecorder();
    const h = constant([2, 3]);
    const h1 = cell.forward(constant([2, 2]), h, { observe: recorder.sink() });
    expect(recorder.names()).toEqual(['r', 'z', 'n', 'h']);
    const z = reshape(recorder.get('z'), [2, 3]);
    const n = reshape(recorder.get('n'), [2, 3]);
    expectClose(h1, add(mul(add(mul(z, -1), 1), n), mul(z, h)));
  });

  it('passes directional gradchecks through time for random sizes', () => {
    fc.assert(
      fc.property(sizes, ({ B, n, H, steps, bias, seed }) => {
        const cell = new GRUCell({ inputSize: n, hiddenSize: H, bias, dtype: 'float64' });
        const xs = leaf([steps, B, n]);
        const h0 = leaf([B, H]);
        fastGradcheck(
          () => unroll<Tensor>(xs, h0, (x, s) => cell.forward(x, s)),
          [xs, h0, ...cell.parameters()],
          seed,
          steps === 1,
        );
      }),
      { numRuns: 12 },
    );
  });

  it('rejects a wrong state shape', () => {
    const cell = new GRUCell({ inputSize: 2, hiddenSize: 3 });
    expect(() => cell.forward(zeros([2, 2]), zeros([3, 3]))).toThrow(
      'GRUCell: expected h of shape [2,3], got [3,3]',
    );
  });
});

describe('RNNCell', () => {
  it('applies tanh or relu to x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh', () => {
    for (const nonlinearity of ['tanh', 'relu'] as const) {
      const cell = new RNNCell({ inputSize: 2, hiddenSize: 3, nonlinearity, dtype: 'float64' });
      const x = constant([4, 2]);
      const h = constant([4, 3]);
      const pre = add(
        add(matmulT(x, cell.weight_ih), cell.bias_ih!),
        add(matmulT(h, cell.weight_hh), cell.bias_hh!),
      );
      const want = nonlinearity === 'tanh' ? tanh(pre) : pre.relu();
      expectClose(cell.forward(x, h), want);
    }
    expect(() => new RNNCell({ inputSize: 2, hiddenSize: 3, nonlinearity: 'gelu' as never })).toThrow(
      `RNNCell: nonlinearity must be 'tanh' or 'relu', got "gelu"`,
    );
  });

  it('passes directional gradchecks for both nonlinearities', () => {
    fc.assert(
      fc.property(sizes, fc.boolean(), ({ B, n, H, steps, bias, seed }, relu) => {
        const cell = new RNNCell({
          inputSize: n,
          hiddenSize: H,
          bias,
          nonlinearity: relu ? 'relu' : 'tanh',
          dtype: 'float64',
        });
        const xs = leaf([steps, B, n]);
        const h0 = leaf([B, H]);
        fastGradcheck(
          () => unroll<Tensor>(xs, h0, (x, s) => cell.forward(x, s)),
          [xs, h0, ...cell.parameters()],
          seed,
        );
      }),
      { numRuns: 12 },
    );
  });
});
