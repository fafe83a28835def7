/** The reverse-mode engine and the functional transforms, checked against derivatives worked by hand. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  add,
  cat,
  customOp,
  detach,
  enableGrad,
  exp,
  grad,
  gradcheck,
  grads,
  isGradEnabled,
  manualSeed,
  matmul,
  mul,
  narrow,
  noGrad,
  pow,
  randn,
  realize,
  reshape,
  sigmoid,
  sin,
  stack,
  sum,
  type Tensor,
  tensor,
  unbind,
  valueAndGrad,
  valueAndGrads,
  vjp,
  withFusion,
} from '../src/index.ts';

const f64 = (data: number | number[] | number[][], requiresGrad = false) =>
  tensor(data, { dtype: 'float64', requiresGrad });
const values = (t: Tensor | null) => Array.from(t!.data);

describe('backward', () => {
  it('accumulates into leaf .grad across calls', () => {
    const x = f64([1, -2, 3], true);
    sum(mul(x, x)).backward(); // 2x
    expect(values(x.grad)).toEqual([2, -4, 6]);
    sum(mul(x, 3)).backward(); // + 3
    expect(values(x.grad)).toEqual([5, -1, 9]);
    x.grad = null;
    sum(x).backward();
    expect(values(x.grad)).toEqual([1, 1, 1]);
  });

  it('accumulates gradients from every path to a tensor used several times', () => {
    const x = f64(3, true);
    const y = mul(x, x); // used twice below: d/dx (y + y·x) = 2x + 3x² = 6 + 27
    add(y, mul(y, x)).backward();
    expect(x.grad!.item()).toBe(33);
  });

  it('sums many contributions without touching any of them (in-place accumulation is engine-only)', () => {
    // Each use of x hands back a gradient tensor the test keeps; the engine sums them (after the second
    // one, into a buffer of its own) and none of the handed-back tensors may change.
    const x = f64([1, 2], true);
    const given = Array.from({ length: 6 }, (_, k) => f64([k + 1, 10 * (k + 1)]));
    const uses = given.map((g, k) =>
      customOp(`use${k}`, { forward: (v) => mul(v, 1), backward: () => [g] })(x),
    );
    const seen: Tensor[] = [];
    const mid = add(x, 0);
    mid.retainGrad();
    mid.registerHook((g) => {
      seen.push(g);
      return undefined;
    });
    sum(add(mul(mid, 2), mul(mid, 3))).backward(); // mid gets 2 + 3 = 5 from two uses
    sum(uses.reduce((a, b) => add(a, b))).backward();
    expect(given.map(values)).toEqual(given.map((_, k) => [k + 1, 10 * (k + 1)]));
    // 5 from mid (first backward), then 1+…+6 = 21 and 210 from the custom uses (second).
    expect(values(x.grad)).toEqual([5 + 21, 5 + 210]);
    expect(values(mid.grad)).toEqual([5, 5]);
    expect(values(seen[0]!)).toEqual([5, 5]); // the hook's tensor is not added into later
  });

  it('takes an explicit gradient for non-scalar outputs', () => {
    const x = f64([1, 2], true);
    mul(x, x).backward(f64([10, 100]));
    expect(values(x.grad)).toEqual([20, 400]);
    const z = f64([1, 2], true);
    mul(z, 5).backward(2); // a number is broadcast to the output's shape
    expect(values(z.grad)).toEqual([10, 10]);
  });

  it('refuses a second backward through a freed graph, naming retainGraph', () => {
    const x = f64([1, 2], true);
    const y = sum(exp(x));
    y.backward();
    expect(() => y.backward()).toThrow(
      /backward: the graph through 'sum' has already been freed .*pass \{ retainGraph: true \}/,
    );
  });

  it('runs twice with retainGraph, accumulating', () => {
    const x = f64([1, 2], true);
    const y = sum(mul(x, x));
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(values(x.grad)).toEqual([4, 8]);
    expect(() => y.backward()).toThrow(/retainGraph/);
  });

  it('with createGraph gives gradients that are differentiable', () => {
    const x = f64(2, true);
    mul(mul(x, x), x).backward(undefined, { createGraph: true });
    const g = x.grad!; // 3x² = 12, itself a function of x
    expect(g.item()).toBe(12);
    expect(g.requiresGrad).toBe(true);
    x.grad = null;
    g.backward(); // d(3x²)/dx = 6x = 12
    expect(x.grad!.item()).toBe(12);
  });

  it('without createGraph gives plain gradients', () => {
    const x = f64(2, true);
    mul(x, x).backward();
    expect(x.grad!.requiresGrad).toBe(false);
    expect(x.grad!.gradFn).toBeNull();
  });
});

describe('functional transforms', () => {
  it('grad(grad(f)) gives second derivatives, and a third', () => {
    // f = x·sin x: f' = sin x + x cos x, f'' = 2 cos x − x sin x, f''' = −3 sin x − x cos x.
    const f = (x: Tensor) => sum(mul(x, sin(x)));
    const d1 = grad(f);
    const d2 = grad((x) => sum(d1(x)));
    const d3 = grad((x) => sum(d2(x)));
    const xs = [-1.3, 0, 0.4, 2.5];
    const x = f64(xs);
    const close = (t: Tensor, expected: (v: number) => number) =>
      values(t).forEach((v, i) => {
        expect(v).toBeCloseTo(expected(xs[i]!), 12);
      });
    close(d1(x), (v) => Math.sin(v) + v * Math.cos(v));
    close(d2(x), (v) => 2 * Math.cos(v) - v * Math.sin(v));
    close(d3(x), (v) => -3 * Math.sin(v) - v * Math.cos(v));
  });

  it('grad differentiates w.r.t. the first argument and leaves .grad and requiresGrad alone', () => {
    const x = f64([1, 2]);
    const w = f64([3, 4]);
    const g = grad((x, w) => sum(mul(mul(x, x), w)))(x, w);
    expect(values(g)).toEqual([6, 16]); // 2x·w
    expect(x.requiresGrad).toBe(false);
    expect(x.grad).toBeNull();
    expect(g.requiresGrad).toBe(false);
    expect(g.gradFn).toBeNull();
  });

  it('keeps gradients connected to tracked tensors reached through a closure or another argument', () => {
    // ∂/∂b ∂/∂a aᵇ = aᵇ⁻¹(1 + b ln a); at a = 2, b = 3: 4·(1 + 3 ln 2).
    const a = f64([2]);
    const expected = 4 * (1 + 3 * Math.log(2));
    const viaClosure = grad((b) => sum(grad((x) => sum(pow(x, b)))(a)))(f64([3]));
    expect(viaClosure.item()).toBeCloseTo(expected, 12);
    const viaArgument = grad((b) => sum(grad((x, e) => sum(pow(x, e)))(a, b)))(f64([3]));
    expect(viaArgument.item()).toBeCloseTo(expected, 12);
    // The same through backward: the inner gradient records its dependence on w.
    const w = f64([3, 4], true);
    const g = grad((x) => sum(mul(mul(x, x), w)))(f64([1, 2]));
    expect(g.requiresGrad).toBe(true);
    sum(g).backward();
    expect(values(w.grad)).toEqual([2, 4]); // ∂/∂w Σ 2x·w = 2x
  });

  it('valueAndGrad, grads and valueAndGrads', () => {
    const a = f64([1, 2]);
    const b = f64([3, -1]);
    const f = (a: Tensor, b: Tensor) => sum(mul(mul(a, a), b)); // ∂a = 2ab, ∂b = a²
    const [v, ga] = valueAndGrad(f)(a, b);
    expect(v.item()).toBe(3 - 4);
    expect(values(ga)).toEqual([6, -4]);
    const [gA, gB] = grads(f)(a, b);
    expect(values(gA!)).toEqual([6, -4]);
    expect(values(gB!)).toEqual([1, 4]);
    const [v2, [hA, hB]] = valueAndGrads(f)(a, b);
    expect(v2.item()).toBe(-1);
    expect(values(hA!)).toEqual([6, -4]);
    expect(values(hB!)).toEqual([1, 4]);
  });

  it('gives zeros for an argument the function ignores', () => {
    const [ga, gb] = grads((a: Tensor, _b: Tensor) => sum(a))(f64([1, 2]), f64([5, 6, 7]));
    expect(values(ga!)).toEqual([1, 1]);
    expect(values(gb!)).toEqual([0, 0, 0]);
  });

  it('vjp returns the value and a pullback that can be called repeatedly', () => {
    const A = f64([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    const x = f64([1, -1]);
    const [y, pullback] = vjp((A, x) => matmul(A, x), A, x);
    expect(values(y)).toEqual([-1, -1, -1]);
    // uᵀ·∂(Ax)/∂x = Aᵀu and uᵀ·∂(Ax)/∂A = u xᵀ.
    const [gA, gx] = pullback(f64([1, 0, 2]));
    expect(values(gx!)).toEqual([11, 14]);
    expect(values(gA!)).toEqual([1, -1, 0, 0, 2, -2]);
    const [, gx2] = pullback(f64([0, 1, 0]));
    expect(values(gx2!)).toEqual([3, 4]);
    expect(() => pullback(f64([1, 2]))).toThrow(
      /vjp: cotangent \[2\] \(float64\) must match the output \[3\]/,
    );
  });

  it('grad requires a one-element output', () => {
    expect(() => grad((x) => mul(x, 2))(f64([1, 2]))).toThrow(
      /grad: the function must return a one-element tensor, got shape \[2\]/,
    );
  });
});

describe('recording control', () => {
  it('noGrad records nothing and restores the mode, even when fn throws', () => {
    const x = f64([1, 2], true);
    const y = noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      return mul(x, x);
    });
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    expect(isGradEnabled()).toBe(true);
    expect(() =>
      noGrad(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
  });

  it('enableGrad records inside noGrad', () => {
    const x = f64([1, 2], true);
    const y = noGrad(() => enableGrad(() => mul(x, x)));
    expect(y.requiresGrad).toBe(true);
    sum(y).backward();
    expect(values(x.grad)).toEqual([2, 4]);
  });

  it('detach shares storage and cuts the graph', () => {
    const x = f64([1, 2], true);
    const y = mul(x, 3);
    const d = detach(y);
    expect(d.requiresGrad).toBe(false);
    expect(d.gradFn).toBeNull();
    expect(d.data).toBe(y.data);
    expect(x.detach().data).toBe(x.data);
    // Only the attached factor carries gradient: d/dx (x · detach(3x)) = 3x.
    sum(mul(x, d)).backward();
    expect(values(x.grad)).toEqual([3, 6]);
  });

  it('retainGrad keeps a non-leaf gradient', () => {
    const x = f64([1, 2], true);
    const h = mul(x, x).retainGrad();
    const k = mul(x, 2);
    sum(mul(h, 3)).backward(undefined, { retainGraph: true });
    expect(values(h.grad)).toEqual([3, 3]);
    expect(k.grad).toBeNull();
    expect(values(x.grad)).toEqual([6, 12]);
  });
});

describe('hooks', () => {
  it('observe a gradient, replace it, and can be removed', () => {
    const x = f64([1, 2], true);
    const seen: number[][] = [];
    const h = mul(x, x);
    const observer = h.registerHook((g) => {
      seen.push(values(g));
      return undefined;
    });
    const doubler = h.registerHook((g) => mul(g, 2));
    sum(mul(h, f64([1, 10]))).backward(undefined, { retainGraph: true });
    expect(seen).toEqual([[1, 10]]);
    // 2x times the doubled gradient.
    expect(values(x.grad)).toEqual([4, 80]);
    doubler.remove();
    observer.remove();
    x.grad = null;
    sum(mul(h, f64([1, 10]))).backward();
    expect(seen).toHaveLength(1);
    expect(values(x.grad)).toEqual([2, 40]);
  });

  it('on a leaf change what is accumulated into .grad', () => {
    const x = f64([1, 2], true);
    x.registerHook((g) => mul(g, -1));
    sum(mul(x, 5)).backward();
    expect(values(x.grad)).toEqual([-5, -5]);
  });

  it('must return a gradient of the right shape', () => {
    const x = f64([1, 2], true);
    x.registerHook(() => f64([1]));
    expect(() => sum(x).backward()).toThrow(
      /backward: the gradient from 'hook' has shape \[1\] \(float64\) but its input has shape \[2\] \(float64\)/,
    );
  });
});

describe('customOp', () => {
  // softplus(x) = log(1 + eˣ), with its own VJP σ(x)·g written with tensor ops: second order works.
  const softplus = customOp('softplus', {
    forward: (x) =>
      tensor(
        Array.from(x.data, (v) => Math.log1p(Math.exp(v))),
        { shape: x.shape, dtype: x.dtype },
      ),
    backward: (g, [x]) => [mul(g, sigmoid(x!))],
  });

  it('uses its own VJP, for first and second derivatives', () => {
    const xs = [-2, 0, 1.5];
    const x = f64(xs);
    const s = (v: number) => 1 / (1 + Math.exp(-v));
    values(grad((x) => sum(softplus(x)))(x)).forEach((v, i) => {
      expect(v).toBeCloseTo(s(xs[i]!), 14);
    });
    // d²/dx² softplus = σ(x)(1 − σ(x)).
    values(grad((x) => sum(grad((y) => sum(softplus(y)))(x)))(x)).forEach((v, i) => {
      expect(v).toBeCloseTo(s(xs[i]!) * (1 - s(xs[i]!)), 14);
    });
  });

  it('names itself in errors about its inputs and its gradient shapes', () => {
    const bad = customOp('badShape', { forward: (x) => sum(x), backward: (g) => [g] });
    expect(() => bad([1, 2] as unknown as Tensor)).toThrow(/badShape: input 0 must be a Tensor/);
    expect(() => bad(f64([1, 2], true)).backward()).toThrow(
      /the gradient from 'badShape' has shape \[\] \(float64\) but its input has shape \[2\]/,
    );
  });
});

describe('parts of a joined sequence that the loss never reads', () => {
  // doubled(x) = 2x through a VJP that counts its runs: what backward computes for each part, visibly.
  let runs = 0;
  const doubled = customOp('doubled', {
    forward: (x) => mul(x, 2),
    backward: (g) => {
      runs++;
      return [mul(g, 2)];
    },
  });
  const steps = (n: number) => Array.from({ length: n }, (_, i) => f64([i + 1, -i], true));

  it('get no gradient, so what computed them does not run; the part read gets the same numbers', () => {
    for (const join of ['stack', 'cat'] as const) {
      const xs = steps(5);
      const parts = xs.map((x) => doubled(x));
      const joined = join === 'stack' ? stack(parts, 0) : cat(parts, 0);
      // The last step (a recurrent layer's output read by a head), a linear function of it.
      const last = narrow(joined, 0, join === 'stack' ? 4 : 8, join === 'stack' ? 1 : 2);
      runs = 0;
      sum(mul(last, f64(join === 'stack' ? [[3, 5]] : [3, 5]))).backward();
      expect(runs, join).toBe(1);
      expect(values(xs[4]!.grad), join).toEqual([6, 10]);
      // A leaf whose every path was skipped still gets its gradient: zeros, as PyTorch gives.
      for (const x of xs.slice(0, 4)) expect(values(x.grad), join).toEqual([0, 0]);
    }
  });

  it('still give observed tensors their zero gradient: retainGrad, hooks and what feeds a hooked tensor', () => {
    const xs = steps(3);
    const parts = xs.map((x) => doubled(x));
    parts[0]!.retainGrad();
    const seen: number[][] = [];
    parts[1]!.registerHook((g) => {
      seen.push(values(g));
      return undefined;
    });
    runs = 0;
    sum(narrow(stack(parts, 0), 0, 2, 1)).backward();
    expect(values(parts[0]!.grad)).toEqual([0, 0]);
    expect(seen).toEqual([[0, 0]]);
    // The hooked part's VJP runs on its zeros (a hook upstream of it would see them too); part 0's does not.
    expect(runs).toBe(2);
    expect(values(xs[1]!.grad)).toEqual([0, 0]);
    expect(values(xs[2]!.grad)).toEqual([2, 2]);
  });

  it('are not computed: a piece of a pending join within one part reads that part', () => {
    withFusion(true, () => {
      const parts = steps(3).map((x) => mul(x, 3));
      const stacked = stack(parts, 0);
      const joined = cat(parts, 0);
      expect(values(narrow(stacked, 0, 1, 1))).toEqual([6, -3]);
      expect(values(narrow(joined, 0, 4, 2))).toEqual([9, -6]);
      expect(stacked.isRealized || joined.isRealized).toBe(false);
      // A piece across two parts computes the join.
      expect(values(narrow(joined, 0, 3, 2))).toEqual([-3, 9]);
      expect(joined.isRealized).toBe(true);
    });
  });

  it('keep every gradient against central differences: random parts, joins, dims and read ranges', () => {
    fc.assert(
      fc.property(
        fc.record({
          lengths: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 4 }),
          rank: fc.integer({ min: 1, max: 3 }),
          dimSeed: fc.nat(),
          startSeed: fc.nat(),
          lengthSeed: fc.nat(),
          stacked: fc.boolean(),
          fused: fc.boolean(),
          seed: fc.nat(),
        }),
        ({ lengths, rank, dimSeed, startSeed, lengthSeed, stacked, fused, seed }) => {
          manualSeed(seed);
          const d = dimSeed % rank;
          // Parts of one shape for stack (the first length), of their own lengths along d for cat.
          const shapeOf = (n: number) => Array.from({ length: rank }, (_, j) => (j === d ? n : 2));
          const xs = lengths.map((n) =>
            randn(stacked ? shapeOf(lengths[0]!) : shapeOf(n), { dtype: 'float64', requiresGrad: true }),
          );
          const extent = stacked ? xs.length : lengths.reduce((a, b) => a + b, 0);
          const start = startSeed % extent;
          const length = 1 + (lengthSeed % (extent - start));
          const part = shapeOf(lengths[0]!);
          const readShape = stacked ? [...part.slice(0, d), length, ...part.slice(d)] : shapeOf(length);
          const cotangent = randn(readShape, { dtype: 'float64' });
          // With fusion the parts are pending, and so is their join; without, both are computed.
          const f = (...parts: Tensor[]) => {
            const ys = parts.map((x) => sin(x));
            const read = narrow(stacked ? stack(ys, d) : cat(ys, d), d, start, length);
            return sum(mul(mul(read, read), cotangent));
          };
          return withFusion(fused, () => gradcheck(f, xs));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('give zeros to inputs asked for by grad, and a part straddling the read range its slice', () => {
    const [a, b] = [f64([1, 2, 3], true), f64([4, 5], true)];
    const [ga, gb] = grads((a, b) => sum(mul(narrow(cat([doubled(a), doubled(b)], 0), 0, 3, 2), 7)))(a, b);
    expect(values(ga!)).toEqual([0, 0, 0]);
    expect(values(gb!)).toEqual([14, 14]);
    const [gc] = grads((a, b) => sum(narrow(cat([doubled(a), doubled(b)], 0), 0, 2, 2)))(a, b);
    expect(values(gc!)).toEqual([0, 0, 2]);
  });
});

describe('long graphs', () => {
  it('backprops a 100,000-step unrolled recurrence without overflowing the stack, then releases it', () => {
    // h_t = w·h_{t−1} + x_t: two nodes per step, a chain 200,000 nodes deep (a recursive walk would overflow
    // the stack long before). Linear to keep it fast; each op's VJP is checked by the op table.
    const T = 100_000;
    const w0 = 0.7;
    const xs = Array.from({ length: T }, (_, t) => Math.sin(0.01 * t));
    const w = f64(w0, true);
    let h = f64(0);
    for (let t = 0; t < T; t++) h = add(mul(h, w), xs[t]!);
    h.backward();
    // The same derivative by hand: dh_T/dw = Σ_t w^{T−t} h_{t−1}, accumulated backwards in time.
    const hs = new Float64Array(T + 1);
    for (let t = 0; t < T; t++) hs[t + 1] = w0 * hs[t]! + xs[t]!;
    let dh = 1;
    let dw = 0;
    for (let t = T; t >= 1; t--) {
      dw += dh * hs[t - 1]!;
      dh *= w0;
    }
    expect(h.item()).toBe(hs[T]);
    expect(w.grad!.item()).toBeCloseTo(dw, 10);
    // Released: the last node's VJP is gone and a second backward says how to keep it.
    expect(h.gradFn!.vjp).toBeNull();
    expect(h.gradFn!.inputs).toHaveLength(0);
    expect(() => h.backward()).toThrow(/retainGraph/);
  });
});

describe('hooks that edit their gradient in place', () => {
  it('change only their own tensor’s gradient, not a sibling’s that shared the buffer', () => {
    for (const hooked of [0, 1]) {
      const xs = [tensor([1, 2], { requiresGrad: true }), tensor([3, 4], { requiresGrad: true })];
      xs[hooked]!.registerHook((g) => {
        g.data[0] = 100;
        return undefined;
      });
      sum(add(xs[0]!, xs[1]!)).backward();
      expect(Array.from(xs[hooked]!.grad!.data)).toEqual([100, 1]);
      expect(Array.from(xs[1 - hooked]!.grad!.data)).toEqual([1, 1]);
    }
  });
});

/** A tensor and `share` of it, which reads its storage. */
function sharing(share: (base: Tensor) => Tensor): [Tensor, Tensor] {
  const base = tensor([1, 2, 3, 4], { shape: [2, 2] });
  const alias = share(base);
  expect(alias.data.buffer).toBe(base.data.buffer);
  return [base, alias];
}

describe('the graph a step keeps', () => {
  it('shares one VJP per op among its nodes, which read their inputs and output from the node', () => {
    const x = f64([1, 2, 3], true);
    const w = f64([4, 5, 6], true);
    const a = mul(x, w);
    const b = mul(w, x);
    const c = sigmoid(x);
    const d = sigmoid(w);
    expect(a.gradFn!.vjp).toBe(b.gradFn!.vjp);
    expect(c.gradFn!.vjp).toBe(d.gradFn!.vjp);
    expect(a.gradFn!.output).toBe(a);
    // The shared VJP reads each node's own operands: ∂(a + 2b)/∂x = 3w, ∂/∂w = 3x.
    sum(add(a, mul(b, 2))).backward();
    expect(values(x.grad)).toEqual([12, 15, 18]);
    expect(values(w.grad)).toEqual([3, 6, 9]);
    // A released node lets go of its output as well as its inputs.
    expect(a.gradFn!.output).toBeNull();
  });

  it('shares one list of versions among nodes of arguments never changed in place, and keeps a changed one', () => {
    const x = f64([1, 2], true);
    const y = f64([3, 4], true);
    const first = mul(x, y);
    const second = add(x, y);
    expect(first.gradFn!.versions).toBe(second.gradFn!.versions);
    y.bumpVersion();
    const third = mul(x, y);
    expect(third.gradFn!.versions).toEqual([0, 1]);
    // The node recorded before the change still refuses to run on the changed input.
    expect(() => sum(first).backward()).toThrow(/was modified in place/);
    sum(third).backward();
    expect(values(x.grad)).toEqual([3, 4]);
  });
});

describe('version counters', () => {
  it('backward refuses a graph whose saved input was changed in place, naming the op', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const y = sum(mul(x, x));
    x.data[0] = 10;
    x.bumpVersion();
    expect(() => y.backward()).toThrow(
      "backward: input 0 of 'mul' (shape [3]) was modified in place after 'mul' read it (version 0 → 1)",
    );
  });

  it('a pending computation refuses to read an argument changed after it was recorded', () => {
    const w = tensor([1, 2]);
    const y = mul(w, 2); // pending until read
    w.bumpVersion();
    expect(() => y.data).toThrow(
      "realize: argument 0 of the pending 'mul' (shape [2]) was modified in place",
    );
  });

  it('tensors that share storage share the count: a change declared on either is seen through the other', () => {
    // Each way of sharing storage, as [the tensor whose storage is shared, the one sharing it]: rows of an
    // unbind, a reshape, detach, a custom op returning its input, and a pending reshape realized after its
    // argument, which takes the argument's storage.
    const shares: Array<[string, () => [Tensor, Tensor]]> = [
      ['unbind', () => sharing((base) => unbind(base)[1]!)],
      ['reshape', () => sharing((base) => reshape(base, [4]))],
      ['detach', () => sharing((base) => detach(base))],
      ['customOp', () => sharing(customOp('same', { forward: (x) => x, backward: (g) => [g] }))],
      [
        'pending reshape',
        () => {
          const x = add(tensor([1, 2, 3, 4], { shape: [2, 2] }), 0);
          const alias = reshape(x, [1, 2, 2]);
          realize(x);
          realize(alias);
          expect(alias.data).toBe(x.data);
          return [x, alias];
        },
      ],
    ];
    for (const [how, make] of shares) {
      for (const changed of ['base', 'alias'] as const) {
        const [base, alias] = make();
        const w = tensor([1, 1], { requiresGrad: true });
        // The alias read by an op that saves it (∂w = alias), then the base (or the alias) changed in place.
        const y = sum(mul(reshape(alias, [-1, 2]), w));
        (changed === 'base' ? base : alias).bumpVersion();
        expect(() => y.backward(), `${how}, ${changed} changed`).toThrow(/was modified in place/);
      }
    }
  });

  it('a tensor given new storage stops sharing the count of the old one', () => {
    const base = tensor([1, 2, 3, 4], { shape: [2, 2] });
    const alias = detach(base);
    alias.setStorage(new Float32Array([5, 6, 7, 8]));
    const w = tensor([1, 1, 1, 1], { shape: [2, 2], requiresGrad: true });
    const y = sum(mul(alias, w));
    base.bumpVersion(); // the old storage changed: not what y read
    y.backward();
    expect(values(w.grad)).toEqual([5, 6, 7, 8]);
  });

  it('unchanged tensors pass, and a fresh forward after the change works', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    x.bumpVersion();
    sum(mul(x, x)).backward();
    expect(Array.from(x.grad!.data)).toEqual([2, 4]);
  });
});
