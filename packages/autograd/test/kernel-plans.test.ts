/**
 * Kernel plans: a realization of a DAG whose fingerprint was seen before replays the plan its first build
 * made (the same kernel over the arrays in the same places, the same tensors stored) instead of building
 * the kernel again. The suite runs with `setPlanChecking(true)` (vitest.setup.ts), so every replay anywhere
 * is compared against a new build first; these tests hold the replays' values against the unfused
 * computation bit for bit and check that DAGs differing in what the build reads get plans of their own.
 */
import { describe, expect, it } from 'vitest';
import {
  add,
  cat,
  fusedKernelCount,
  gradcheck,
  manualSeed,
  mul,
  narrow,
  noGrad,
  randn,
  realize,
  sigmoid,
  sub,
  sum,
  type Tensor,
  tanh,
  unbind,
  withFusion,
} from '../src/index.ts';
import { planReplayCount, setPlanChecking } from '../src/lazy.ts';

/** A cell-like step: new state from an input and the state, with shared subexpressions. */
function step(x: Tensor, h: Tensor, w: Tensor): { s: Tensor; y: Tensor } {
  const s = sigmoid(add(x, w));
  const y = add(mul(s, h), mul(sub(1, s), tanh(x)));
  realize(y);
  return { s, y };
}

/** The values of `run()` fused and unfused, bit for bit. */
function expectSameAsUnfused(run: () => Tensor[]): void {
  const fused = withFusion(true, run).map((t) => Array.from(t.data));
  const unfused = withFusion(false, run).map((t) => Array.from(t.data));
  expect(fused).toEqual(unfused);
}

describe('kernel plans', () => {
  it('replay a step over new arrays at every time step, with the values of the unfused steps', () => {
    manualSeed(1);
    const xs = Array.from({ length: 12 }, () => randn([3, 5], { dtype: 'float64' }));
    const w = randn([5], { dtype: 'float64' });
    const h0 = randn([3, 5], { dtype: 'float64' });
    const loop = () => {
      let h = h0;
      const states: Tensor[] = [];
      for (const x of xs) {
        h = step(x, h, w).y;
        states.push(h);
      }
      return states;
    };
    withFusion(true, loop); // first sight of the step: built, and its plan made
    const replays = planReplayCount();
    const kernels = fusedKernelCount();
    expectSameAsUnfused(loop);
    expect(planReplayCount() - replays).toBe(xs.length);
    expect(fusedKernelCount()).toBe(kernels);
  });

  it('give replayed steps gradients that match central differences (float64)', () => {
    manualSeed(6);
    const xs = randn([4, 2, 3], { dtype: 'float64', requiresGrad: true });
    const h0 = randn([2, 3], { dtype: 'float64', requiresGrad: true });
    const w = randn([3], { dtype: 'float64', requiresGrad: true });
    const loop = (xs: Tensor, h0: Tensor, w: Tensor) => {
      let h = h0;
      for (const x of unbind(xs)) h = step(x, h, w).y;
      return h;
    };
    const replays = planReplayCount();
    expect(withFusion(true, () => gradcheck(loop, [xs, h0, w]))).toBe(true);
    expect(planReplayCount()).toBeGreaterThan(replays);
  });

  it('tell apart DAGs that read one array twice and two arrays of the same shape', () => {
    manualSeed(2);
    const x = randn([4, 3], { dtype: 'float64' });
    const y = randn([4, 3], { dtype: 'float64' });
    const f = (a: Tensor, b: Tensor) => {
      const z = add(mul(a, b), tanh(b));
      realize(z);
      return z;
    };
    expectSameAsUnfused(() => [f(x, y), f(x, x), f(y, x), f(x, x), f(x, y)]);
  });

  it('store what a VJP reads only where a VJP reads it', () => {
    manualSeed(3);
    const x = randn([2, 6], { dtype: 'float64', requiresGrad: true });
    const h = randn([2, 6], { dtype: 'float64' });
    const w = randn([6], { dtype: 'float64', requiresGrad: true });
    const cotangent = randn([2, 6], { dtype: 'float64' });
    for (let round = 0; round < 2; round++) {
      // With gradients σ(x + w) is saved for backward, so the kernel stores it; without, it stays pending.
      expect(step(x, h, w).s.isRealized).toBe(true);
      noGrad(() => expect(step(x, h, w).s.isRealized).toBe(false));
    }
    expectSameAsUnfused(() => {
      x.grad = null;
      w.grad = null;
      const { s, y } = step(x, h, w);
      sum(mul(y, cotangent)).backward();
      return [s, y, x.grad!, w.grad!];
    });
  });

  it('replay a DAG that reads a tensor computed on demand, whose computation walks part of the DAG', () => {
    manualSeed(5);
    // c is a cat of pending parts, computed when the kernel of y reads rows of it from both parts; its parts
    // read s, which y reads before and after c, so the walk computing c meets s in the middle of y's
    // fingerprint.
    const f = (a: Tensor) => {
      const s = add(a, 1);
      const c = cat([mul(s, 2), tanh(s)], 0);
      const y = add(mul(s, narrow(c, 0, 1, 2)), s);
      realize(y);
      return y;
    };
    const inputs = Array.from({ length: 4 }, () => randn([2, 3], { dtype: 'float64' }));
    withFusion(true, () => f(inputs[0]!));
    const replays = planReplayCount();
    expectSameAsUnfused(() => inputs.map(f));
    // Both kernels of every call: the parts of c, and y.
    expect(planReplayCount() - replays).toBe(2 * inputs.length);
  });

  it('still refuse an argument changed in place after the op was recorded', () => {
    manualSeed(4);
    const x = randn([3, 3]);
    const h = randn([3, 3]);
    const w = randn([3]);
    step(x, h, w);
    step(x, h, w);
    const replays = planReplayCount();
    const s = sigmoid(add(x, w));
    const y = add(mul(s, h), mul(sub(1, s), tanh(x)));
    h.data[0] = 7;
    h.bumpVersion();
    expect(() => realize(y)).toThrow(
      /argument 1 of the pending 'mul' \(shape \[3,3\]\) was modified in place/,
    );
    expect(planReplayCount()).toBe(replays);
  });

  it('are checked against a new build in the test suite', () => {
    // vitest.setup.ts turns checking on; this test would mean nothing if it were off.
    const previous = setPlanChecking(true);
    expect(previous).toBe(true);
  });
});
