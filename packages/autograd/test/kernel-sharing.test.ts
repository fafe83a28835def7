/**
 * Pending values that stay pending: a reshape that only inserts or removes dims of size 1 is a view of a
 * pending tensor (so a sum's gradient, `sumTo`'s result, is not computed to be reshaped); in a backward
 * pass a sum over a leading dim (a bias's or a gain's gradient, summed over the batch) is computed by the
 * next kernel over its argument's loop, beside the gradient that kernel computes anyway; and an
 * intermediate a VJP reads that a few cheap ops compute from one stored array (a layer norm's x − mean) is
 * computed again by its reader instead of being stored. Results are held against the unfused computation
 * bit for bit (float64), and the kernels run and the tensors stored are checked.
 */
import { describe, expect, it } from 'vitest';
import { runBackward } from '../src/engine.ts';
import {
  add,
  chunk,
  div,
  fusedKernelRunCount,
  gemm,
  manualSeed,
  mul,
  onesLike,
  randn,
  realize,
  reshape,
  setWasmEnabled,
  sigmoid,
  sqrt,
  sub,
  sum,
  type Tensor,
  tanh,
  withFusion,
} from '../src/index.ts';
import { setWasmMinElements } from '../src/kernels/fused.ts';
import { isFused } from '../src/lazy.ts';

function gradOf(output: Tensor, inputs: Tensor[]): Tensor[] {
  return runBackward([output], [onesLike(output)], { inputs }) as Tensor[];
}

describe('reshape of a pending tensor', () => {
  it('stays pending when it only inserts or removes dims of size 1, with the same values and gradient', () => {
    manualSeed(3);
    const x = randn([3, 1, 4], { dtype: 'float64', requiresGrad: true });
    const w = randn([1, 3, 4, 1], { dtype: 'float64' });
    const run = (fused: boolean) =>
      withFusion(fused, () => {
        const y = reshape(tanh(x), [1, 3, 4, 1]);
        if (fused) expect(isFused(y)).toBe(true);
        const [g] = gradOf(sum(mul(y, w)), [x]);
        return [Array.from(y.data), Array.from(g!.data)];
      });
    expect(run(true)).toEqual(run(false));
  });

  it('computes its argument for any other reshape', () => {
    manualSeed(4);
    const x = randn([2, 6], { dtype: 'float64' });
    const y = withFusion(true, () => reshape(sigmoid(x), [3, 4]));
    expect(isFused(y)).toBe(false);
    expect(Array.from(y.data)).toEqual(Array.from(withFusion(false, () => sigmoid(x)).data));
  });
});

describe('sums over the batch in a backward pass', () => {
  /** A step h = tanh(x ⊙ gain + bias) over x = u·Vᵀ, read by a product with W: every leaf gets a gradient. */
  function layer(dtype: 'float64') {
    manualSeed(5);
    const u = randn([8, 5], { dtype, requiresGrad: true });
    const v = randn([16, 5], { dtype, requiresGrad: true });
    const gain = randn([16], { dtype, requiresGrad: true });
    const bias = randn([16], { dtype, requiresGrad: true });
    const w = randn([3, 16], { dtype });
    const seed = randn([8, 3], { dtype });
    const out = () => gemm(tanh(add(mul(gemm(u, v, { transB: true }), gain), bias)), w, { transB: true });
    return { leaves: [u, v, gain, bias], out, seed };
  }

  it('join the kernel of the gradient they sum, and equal the unfused sums bit for bit', () => {
    const run = (fused: boolean) =>
      withFusion(fused, () => {
        const { leaves, out, seed } = layer('float64');
        const y = out();
        const before = fusedKernelRunCount();
        const grads = runBackward([y], [seed], { inputs: leaves });
        const values = grads.map((g) => Array.from(g!.data));
        return { values, kernels: fusedKernelRunCount() - before };
      });
    const fused = run(true);
    expect(fused.values).toEqual(run(false).values);
    // One kernel over [8, 16]: x's gradient, read by the product for u and V, with gain's and bias's sums.
    expect(fused.kernels).toBe(1);
  });

  it('are computed on their own when no kernel of their loop runs, and outside a backward pass', () => {
    manualSeed(6);
    const x = randn([6, 4], { dtype: 'float64', requiresGrad: true });
    const bias = randn([4], { dtype: 'float64', requiresGrad: true });
    const run = (fused: boolean) =>
      withFusion(fused, () => {
        const y = sigmoid(add(x, bias));
        const colSums = sum(y, 0);
        const grads = gradOf(sum(mul(y, y)), [bias]);
        return [Array.from(colSums.data), Array.from(grads[0]!.data)];
      });
    expect(run(true)).toEqual(run(false));
  });
});

describe('what a realization stores', () => {
  /** A layer norm of x [6, 8] and a gain: the gain's VJP reads the normalised x, which reads x − mean. */
  function layerNorm(x: Tensor, gain: Tensor) {
    const centred = sub(x, div(sum(x, 1, true), 8));
    const normalised = div(centred, sqrt(add(div(sum(mul(centred, centred), 1, true), 8), 1e-5)));
    return { centred, normalised, out: mul(normalised, gain) };
  }

  it('leaves a layer norm’s x − mean and its normalised x to be computed again, with the same gradients', () => {
    manualSeed(7);
    const x = randn([6, 8], { dtype: 'float64', requiresGrad: true });
    const gain = randn([8], { dtype: 'float64', requiresGrad: true });
    const seed = randn([6, 8], { dtype: 'float64' });
    const run = (fused: boolean) =>
      withFusion(fused, () => {
        const { centred, normalised, out } = layerNorm(x, gain);
        realize(out);
        // Pending still: recomputed from x and the row sums, which were stored instead.
        if (fused) expect([isFused(centred), isFused(normalised)]).toEqual([true, true]);
        const grads = runBackward([out], [seed], { inputs: [x, gain] }) as Tensor[];
        return [out, ...grads].map((t) => Array.from(t.data));
      });
    expect(run(true)).toEqual(run(false));
  });

  it('stores what takes several stored arrays to compute again, not what a part of one gives', () => {
    manualSeed(8);
    const [a, b, c, d] = [randn([4, 6]), randn([4, 6]), randn([4, 12]), randn([4, 6])];
    const w = randn([6], { requiresGrad: true });
    const [left] = chunk(c, 2, 1) as [Tensor, Tensor];
    const fromThree = add(mul(a, b), d);
    const fromPart = add(left, 1);
    const outs = [mul(fromThree, w), mul(fromPart, w)];
    realize(...outs);
    // A chunk of c plus one is computed again where backward reads it: storing it would copy part of c.
    expect([isFused(fromThree), isFused(fromPart)]).toEqual([false, true]);
  });
});

describe('a sum over a row read in pieces', () => {
  /** An LSTM-like step: a layer norm over the 4H gates, read as four H-wide chunks by the cell's ops. */
  function normalizedGates(gates: Tensor, c: Tensor): Tensor {
    const centred = sub(gates, div(sum(gates, -1, true), gates.shape[1]!));
    const normalized = div(
      centred,
      sqrt(add(div(sum(mul(centred, centred), -1, true), gates.shape[1]!), 1e-5)),
    );
    const [i, f, g, o] = chunk(normalized, 4, 1) as [Tensor, Tensor, Tensor, Tensor];
    return mul(sigmoid(o), tanh(add(mul(sigmoid(f), c), mul(sigmoid(i), tanh(g)))));
  }

  for (const dtype of ['float32', 'float64'] as const) {
    for (const wasm of [true, false]) {
      it(`is computed in the kernel of the pieces' loop, values and gradients bit for bit as unfused (${dtype}, ${wasm ? 'WebAssembly' : 'JavaScript'})`, () => {
        manualSeed(13);
        const gates = randn([6, 32], { dtype, requiresGrad: true });
        const c = randn([6, 8], { dtype, requiresGrad: true });
        const seed = randn([6, 8], { dtype });
        const run = (fused: boolean) =>
          withFusion(fused, () => {
            const before = fusedKernelRunCount();
            const out = normalizedGates(gates, c);
            const h = Array.from(out.data);
            const kernels = fusedKernelRunCount() - before;
            const grads = runBackward([out], [seed], { inputs: [gates, c] }).map((g) => Array.from(g!.data));
            return { h, kernels, grads };
          });
        const previous = setWasmMinElements(1);
        const wasWasm = setWasmEnabled(wasm);
        try {
          const [fused, unfused] = [run(true), run(false)];
          expect(fused.h).toEqual(unfused.h);
          expect(fused.grads).toEqual(unfused.grads);
          expect(fused.kernels).toBe(1);
        } finally {
          setWasmEnabled(wasWasm);
          setWasmMinElements(previous);
        }
      });
    }
  }

  it('is computed in a loop of its own when a piece is not a whole number of vectors', () => {
    manualSeed(14);
    const gates = randn([3, 20]);
    const c = randn([3, 5]);
    const run = (fused: boolean) =>
      withFusion(fused, () => {
        const before = fusedKernelRunCount();
        const h = Array.from(normalizedGates(gates, c).data);
        return { h, kernels: fusedKernelRunCount() - before };
      });
    const fused = run(true);
    expect(fused.h).toEqual(run(false).h);
    expect(fused.kernels).toBeGreaterThan(1);
  });
});

describe('leaf gradients', () => {
  it('are computed together: an input’s gradient and a gain’s, summed over the batch, in one kernel', () => {
    const run = (fused: boolean) =>
      withFusion(fused, () => {
        manualSeed(11);
        const x = randn([8, 16], { dtype: 'float64', requiresGrad: true });
        const gain = randn([16], { dtype: 'float64', requiresGrad: true });
        const w = randn([8, 16], { dtype: 'float64' });
        const loss = sum(mul(tanh(mul(x, gain)), w));
        const before = fusedKernelRunCount();
        loss.backward();
        return {
          kernels: fusedKernelRunCount() - before,
          grads: [x, gain].map((t) => Array.from(t.grad!.data)),
        };
      });
    const fused = run(true);
    expect(fused.grads).toEqual(run(false).grads);
    expect(fused.kernels).toBe(1);
  });

  it('get storage of their own when one gradient goes to two leaves', () => {
    manualSeed(12);
    for (const fused of [true, false]) {
      withFusion(fused, () => {
        const [a, b] = [randn([3, 4], { requiresGrad: true }), randn([3, 4], { requiresGrad: true })];
        sum(tanh(add(a, b))).backward();
        const [ga, gb] = [a.grad!, b.grad!];
        expect(Array.from(ga.data)).toEqual(Array.from(gb.data));
        const before = gb.data[0];
        ga.data[0] = 99;
        expect(gb.data[0]).toBe(before);
      });
    }
  });
});
