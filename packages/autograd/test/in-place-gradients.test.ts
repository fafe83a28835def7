/**
 * Gradients computed where their consumer wants them: `unbind` and `split` (dim 0) have each piece's
 * gradient computed straight into its rows of the joined gradient (`computeInto`, offered by the engine as gradients arrive),
 * and `cat` of pending parts stays pending until read, so that it too can be computed in place. These tests
 * hold the results against the unfused computation bit for bit (float64), on the fast path and on every
 * fallback, and check that the fast path really shares the rows.
 */
import { describe, expect, it } from 'vitest';
import { runBackward } from '../src/engine.ts';
import {
  add,
  cat,
  chunk,
  gradcheck,
  gradgradcheck,
  manualSeed,
  mul,
  onesLike,
  randn,
  sigmoid,
  split,
  stack,
  sum,
  type Tensor,
  tanh,
  unbind,
  withFusion,
  zeroPad,
} from '../src/index.ts';

/** ∂output/∂inputs (like `torch.autograd.grad`), seeded with 1. */
function gradOf(output: Tensor, inputs: Tensor[], createGraph = false): Tensor[] {
  return runBackward([output], [onesLike(output)], { inputs, createGraph }) as Tensor[];
}

/** A small recurrence over the slices of x [T, B, 2H]: gates from chunks, a state carried through tanh. */
function recurrence(x: Tensor, w: Tensor, reuse = false): Tensor {
  const steps = unbind(x);
  let h = mul(w, 0);
  let loss: Tensor | null = null;
  steps.forEach((xt, t) => {
    const [a, b] = chunk(xt, 2, 1) as [Tensor, Tensor];
    h = add(mul(sigmoid(a), tanh(add(b, mul(h, w)))), reuse && t === 2 ? steps[1]!.narrow(1, 0, 3) : 0);
    loss = loss ? add(loss, sum(h)) : sum(h);
  });
  return loss!;
}

function inputs(): [Tensor, Tensor] {
  manualSeed(11);
  const x = randn([6, 4, 6], { dtype: 'float64' }).requiresGrad_();
  const w = randn([4, 3], { dtype: 'float64' }).requiresGrad_();
  return [x, w];
}

/** ∂loss/∂x and ∂loss/∂w with fusion on and off. */
function both(loss: (x: Tensor, w: Tensor) => Tensor): Array<[number[], number[]]> {
  return [true, false].map((on) =>
    withFusion(on, () => {
      const [x, w] = inputs();
      loss(x, w).backward();
      return [Array.from(x.grad!.data), Array.from(w.grad!.data)] as [number[], number[]];
    }),
  );
}

describe('gradients computed in place', () => {
  it('stacks the slices of an unbind into one buffer the per-step gradients were computed in', () => {
    const [x, w] = inputs();
    const steps = unbind(x);
    let h = mul(w, 0);
    for (const xt of steps) {
      const [a, b] = chunk(xt, 2, 1) as [Tensor, Tensor];
      h = tanh(add(mul(sigmoid(a), b), mul(h, w)));
    }
    const [gx, ...gSteps] = gradOf(sum(h), [x, ...steps]);
    gSteps.forEach((g, t) => {
      expect(g!.data.buffer).toBe(gx!.data.buffer);
      expect(g!.data.byteOffset).toBe(gx!.data.byteOffset + t * g!.data.byteLength);
    });
  });

  it('joins the blocks of a split along dim 0 in one buffer their gradients were computed in', () => {
    const [x, w] = inputs();
    const sizes = [1, 3, 2];
    const blocks = split(x, sizes, 0);
    // Each block's gradient arrives pending (an elementwise product), to be computed in its rows.
    const loss = blocks.map((b) => sum(mul(tanh(b.narrow(2, 0, 3)), w))).reduce((a, b) => add(a, b));
    const [gx, ...gBlocks] = gradOf(loss, [x, ...blocks]);
    const rowBytes = gx!.data.byteLength / x.shape[0]!;
    let row = 0;
    gBlocks.forEach((g, i) => {
      expect(g!.data.buffer).toBe(gx!.data.buffer);
      expect(g!.data.byteOffset).toBe(gx!.data.byteOffset + row * rowBytes);
      row += sizes[i]!;
    });
  });

  it('matches central differences through split blocks assembled in place, first and second order (float64)', () => {
    withFusion(true, () => {
      manualSeed(17);
      const x = randn([5, 2, 3], { dtype: 'float64', requiresGrad: true });
      const w = randn([2, 3], { dtype: 'float64', requiresGrad: true });
      // Blocks of unequal size, each read elementwise (its gradient arrives pending), and one never read.
      const blocks = (x: Tensor, w: Tensor) => {
        const [first, , last] = split(x, [2, 1, 2], 0) as [Tensor, Tensor, Tensor];
        return cat([mul(tanh(first), w), sigmoid(mul(last, w))], 0);
      };
      expect(gradcheck(blocks, [x, w])).toBe(true);
      expect(gradgradcheck(blocks, [x, w])).toBe(true);
    });
  });

  it('gives the unfused gradients of split blocks bit for bit, and the blocks no gradient reached zeros', () => {
    const [fused, unfused] = both((x, w) => {
      const [first, , last] = split(x, [2, 1, 3], 0) as [Tensor, Tensor, Tensor];
      return add(recurrence(first, w), recurrence(last, w));
    });
    expect(fused).toEqual(unfused);
    expect(fused![0].slice(2 * 24, 3 * 24).every((v) => v === 0)).toBe(true);
  });

  it('gives the unfused gradients bit for bit, through lazy cats of chunk gradients', () => {
    const [fused, unfused] = both((x, w) => recurrence(x, w));
    expect(fused).toEqual(unfused);
  });

  it('falls back to a fresh stack when a slice gets several contributions, with the same values', () => {
    const [fused, unfused] = both((x, w) => recurrence(x, w, true));
    expect(fused).toEqual(unfused);
  });

  it('leaves rows of slices that get no gradient at zero', () => {
    withFusion(true, () => {
      const [x, w] = inputs();
      const steps = unbind(x);
      sum(mul(tanh(steps[3]!.narrow(1, 0, 3)), w)).backward();
      const g = x.grad!;
      expect(Array.from(g.narrow(0, 0, 3).data).every((v) => v === 0)).toBe(true);
      expect(Array.from(g.narrow(0, 4, 2).data).every((v) => v === 0)).toBe(true);
      expect(Array.from(g.narrow(0, 3, 1).data).some((v) => v !== 0)).toBe(true);
    });
  });

  it('keeps each pass its own buffer: two passes over a retained graph give twice the gradient', () => {
    withFusion(true, () => {
      const [x, w] = inputs();
      const loss = recurrence(x, w);
      loss.backward(undefined, { retainGraph: true });
      const once = Array.from(x.grad!.data);
      loss.backward();
      expect(Array.from(x.grad!.data)).toEqual(once.map((v) => v + v));
    });
  });

  it('does not trust rows asked for by a pass that stopped before the stack', () => {
    withFusion(true, () => {
      const [x] = inputs();
      const steps = unbind(x);
      let fail = true;
      steps[2]!.registerHook(() => {
        if (fail) throw new Error('stop');
        return undefined;
      });
      // Rows 1 and 2 are asked for, then the pass stops at the hook, before unbind's VJP.
      const first = add(sum(sigmoid(steps[1]!)), sum(sigmoid(steps[2]!)));
      expect(() => first.backward(undefined, { retainGraph: true })).toThrow('stop');
      fail = false;
      // A pass that reaches slice 3 alone: rows 1 and 2 must come out zero.
      sum(tanh(steps[3]!)).backward();
      const rows = (i: number) => Array.from(x.grad!.narrow(0, i, 1).data);
      expect(rows(1).every((v) => v === 0)).toBe(true);
      expect(rows(2).every((v) => v === 0)).toBe(true);
      expect(rows(3).some((v) => v !== 0)).toBe(true);
    });
  });

  it('hands hooks their own copy, and what a hook returns is what gets stacked', () => {
    const run = (on: boolean) =>
      withFusion(on, () => {
        const [x, w] = inputs();
        const steps = unbind(x);
        steps[2]!.registerHook((g) => mul(g, 3));
        let h = mul(w, 0);
        for (const xt of steps) h = tanh(add(xt.narrow(1, 0, 3), mul(h, w)));
        sum(h).backward();
        return Array.from(x.grad!.data);
      });
    expect(run(true)).toEqual(run(false));
  });

  it('matches central differences through the in-place path, first and second order (float64)', () => {
    withFusion(true, () => {
      manualSeed(13);
      const x = randn([3, 2, 4], { dtype: 'float64', requiresGrad: true });
      const w = randn([2, 2], { dtype: 'float64', requiresGrad: true });
      // Every step's state is an output, so each one-hot cotangent of gradcheck reaches several slices.
      const steps = (x: Tensor, w: Tensor) => {
        let h = mul(w, 0);
        const hs: Tensor[] = [];
        for (const xt of unbind(x)) {
          const [a, b] = chunk(xt, 2, 1) as [Tensor, Tensor];
          h = tanh(add(mul(sigmoid(a), b), mul(h, w)));
          hs.push(h);
        }
        return stack(hs);
      };
      expect(gradcheck(steps, [x, w])).toBe(true);
      expect(gradgradcheck(steps, [x, w])).toBe(true);
    });
  });

  it('records a differentiable stack when the graph of the backward pass is kept (second order)', () => {
    const secondOrder = (on: boolean) =>
      withFusion(on, () => {
        const [x, w] = inputs();
        const [gx] = gradOf(recurrence(x, w), [x], true);
        const [gw] = gradOf(sum(mul(gx!, gx!)), [w]);
        return Array.from(gw!.data);
      });
    expect(secondOrder(true)).toEqual(secondOrder(false));
  });
});

describe('cat of pending parts', () => {
  it('stays pending until read, then holds the parts', () => {
    withFusion(true, () => {
      manualSeed(3);
      const a = randn([2, 3]);
      const b = randn([2, 2]);
      const y = cat([tanh(a), sigmoid(b)], 1);
      expect(y.isRealized).toBe(false);
      const expected = withFusion(false, () => Array.from(cat([tanh(a), sigmoid(b)], 1).data));
      expect(Array.from(y.data)).toEqual(expected);
    });
  });

  it('joins pending parts along a leading dim, read by a fused op and differentiated, as the unfused cat', () => {
    const run = (on: boolean) =>
      withFusion(on, () => {
        manualSeed(5);
        const a = randn([2, 3, 4], { dtype: 'float64', requiresGrad: true });
        const b = randn([1, 3, 4], { dtype: 'float64', requiresGrad: true });
        const y = cat([tanh(a), mul(sigmoid(b), b)], 0);
        const z = mul(y, y);
        sum(z).backward();
        return [Array.from(z.data), Array.from(a.grad!.data), Array.from(b.grad!.data)];
      });
    expect(run(true)).toEqual(run(false));
  });

  it('refuses to read a part changed in place after the cat was recorded', () => {
    withFusion(true, () => {
      const a = randn([2, 3]);
      const part = tanh(a);
      const y = cat([part, tanh(a)], 1);
      part.data[0] = 5;
      part.bumpVersion();
      expect(() => y.data).toThrow(/argument 0 of the pending 'cat' \(shape \[2,3\]\) was modified in place/);
    });
  });

  it('refuses to read a zero padding whose input changed in place after it was recorded (it is computed when read)', () => {
    const x = randn([3]);
    const padded = zeroPad(x, 0, 1, 1);
    x.data[0] = 5;
    x.bumpVersion();
    expect(() => padded.data).toThrow(
      /argument 0 of the pending 'zeroPad' \(shape \[3\]\) was modified in place/,
    );
  });
});
