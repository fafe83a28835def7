/**
 * What a backward pass lets go of: once it has run, the forward graph and the terms of the gradients it
 * formed are garbage, however long the caller keeps the `.grad` tensors. Checked with weak references
 * across macrotasks (a weak reference's target stays alive until the task that made or read it ends) and
 * V8's collector, exposed for this file.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  add,
  chunk,
  gemm,
  manualSeed,
  mul,
  randn,
  sigmoid,
  sub,
  sum,
  type Tensor,
  tanh,
  unbind,
} from '../src/index.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const alive = (refs: ReadonlyArray<WeakRef<Tensor>>) => refs.filter((r) => r.deref() !== undefined).length;

/**
 * How many of `refs` are still alive once garbage has been collected between macrotasks (no weak reference's
 * target is kept for the current task) until none is, or for up to 2 s: V8's background work can hold objects
 * for a while (an optimizing compile of a closure holds its scope), and a busy machine slows it; a leak stays.
 */
async function aliveAfterCollecting(refs: ReadonlyArray<WeakRef<Tensor>>): Promise<number> {
  for (let i = 0; i < 100; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    gc();
    if (i >= 2 && alive(refs) === 0) return 0;
  }
  return alive(refs);
}

/**
 * Passes of an SRU-like loop (a chunked input, σ, the state carried by products), enough of them for the
 * engine's loops to be optimized as in a training run; returns weak references to every pass's last state.
 */
function trainCellLike(passes: number): Array<WeakRef<Tensor>> {
  manualSeed(4);
  const x = randn([8, 4, 24]);
  const bias = randn([24], { requiresGrad: true });
  const refs: Array<WeakRef<Tensor>> = [];
  for (let pass = 0; pass < passes; pass++) {
    const steps = unbind(add(x, bias));
    let c = randn([4, 6]);
    for (let t = 0; t < 8; t++) {
      const [xt, xf] = chunk(steps[t]!, 4, 1) as [Tensor, Tensor];
      const f = sigmoid(xf);
      c = add(mul(f, c), mul(sub(1, f), xt));
    }
    refs.push(new WeakRef(c));
    sum(c).backward();
    bias.grad = null;
  }
  return refs;
}

describe('memory after backward', () => {
  it("a weight's gradient summed over steps does not keep the steps' operands", async () => {
    manualSeed(3);
    const w = randn([6, 6], { requiresGrad: true });
    const refs: Array<WeakRef<Tensor>> = [];
    let h = randn([4, 6]);
    for (let t = 0; t < 5; t++) {
      // Each step's h is an operand of W's gradient term hᵀ·g, which the engine sums as one product.
      h = tanh(gemm(h, w, { transB: true }));
      refs.push(new WeakRef(h));
    }
    sum(h).backward();
    const grad = w.grad!;
    expect(grad.data.length).toBe(36);
    h = randn([1]); // this (suspended) async test must not hold the last step itself
    expect(await aliveAfterCollecting(refs)).toBe(0);
    expect(w.grad).toBe(grad); // held all along
  });

  it('the forward graph of every pass is let go, the last one included', async () => {
    // Trained in a function of its own, so that no local of this (suspended) async test holds a tensor.
    const refs = trainCellLike(40);
    expect(await aliveAfterCollecting(refs)).toBe(0);
  });
});
