import {
  add,
  cat,
  indexSelect,
  linear,
  manualSeed,
  mul,
  narrow,
  noGrad,
  randn,
  sigmoid,
  sub,
  sum,
  type Tensor,
  tanh,
  zeros,
} from '@tensorloom/autograd';
import { Module, type Parameter } from '@tensorloom/nn';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bidirectional,
  CellStack,
  LSTM,
  LSTMCell,
  type RecurrentCell,
  recurrent,
  stacked,
  uniformParameter,
} from '../src/index.ts';
import { constant, expectClose, fastGradcheck, leaf, lengthsFrom } from './helpers.ts';

/**
 * A user's own cell, the minimal gated unit (Zhou et al. 2016), written against the interface alone (no
 * input hoisting):  f = σ(W_f·[x, h] + b_f),  ĥ = tanh(W_h·[x, f ⊙ h] + b_h),  h′ = (1 − f) ⊙ h + f ⊙ ĥ.
 */
class MinimalGatedCell extends Module implements RecurrentCell<Tensor> {
  weight_f: Parameter;
  bias_f: Parameter;
  weight_h: Parameter;
  bias_h: Parameter;
  constructor(
    readonly inputSize: number,
    readonly outputSize: number,
  ) {
    super();
    const k = 1 / Math.sqrt(outputSize);
    this.weight_f = uniformParameter([outputSize, inputSize + outputSize], k, 'float64');
    this.bias_f = uniformParameter([outputSize], k, 'float64');
    this.weight_h = uniformParameter([outputSize, inputSize + outputSize], k, 'float64');
    this.bias_h = uniformParameter([outputSize], k, 'float64');
  }
  initialState(batch: number): Tensor {
    return zeros([batch, this.outputSize], { dtype: 'float64' });
  }
  step(x: Tensor, h: Tensor): Tensor {
    const f = sigmoid(linear(cat([x, h], 1), this.weight_f, this.bias_f));
    const candidate = tanh(linear(cat([x, mul(f, h)], 1), this.weight_h, this.bias_h));
    return add(mul(sub(1, f), h), mul(f, candidate));
  }
  output(h: Tensor): Tensor {
    return h;
  }
}

/** x reversed along time (dim 0). */
function flip(x: Tensor): Tensor {
  const T = x.shape[0]!;
  return indexSelect(
    x,
    0,
    Array.from({ length: T }, (_, t) => T - 1 - t),
  );
}

describe('recurrent, bidirectional and stacked', () => {
  it('runs the reverse direction as the forward direction over the reversed sequence', () => {
    const cell = new LSTMCell({ inputSize: 2, hiddenSize: 3, dtype: 'float64' });
    const x = constant([5, 2, 2]);
    const [rev, [hr, cr]] = recurrent(cell, x, { reverse: true });
    const [fwd, [hf, cf]] = recurrent(cell, flip(x));
    expectClose(rev, flip(fwd), 0);
    expectClose(hr, hf, 0);
    expectClose(cr, cf, 0);
  });

  it('concatenates both directions in bidirectional, and threads layers in stacked', () => {
    const f = new LSTMCell({ inputSize: 2, hiddenSize: 3, dtype: 'float64' });
    const b = new LSTMCell({ inputSize: 2, hiddenSize: 3, dtype: 'float64' });
    const x = constant([4, 2, 2]);
    const [out, [sf, sb]] = bidirectional(f, b, x);
    const [of] = recurrent(f, x);
    const [ob] = recurrent(b, x, { reverse: true });
    expectClose(out, cat([of, ob], 2), 0);
    expectClose(sf[0], recurrent(f, x)[1][0], 0);
    expectClose(sb[1], recurrent(b, x, { reverse: true })[1][1], 0);

    const top = new LSTMCell({ inputSize: 6, hiddenSize: 2, dtype: 'float64' });
    const [out2, finals] = stacked([[f, b], [top]], x);
    expect(finals).toHaveLength(3);
    expectClose(out2, recurrent(top, out)[0], 0);
    expect(() => stacked([[f], [f]], x)).toThrow('stacked: layer 1 reads 3 features but its cells expect 2');
    expect(() => recurrent(f, constant([4, 2, 3]))).toThrow(
      'recurrent: expected input of shape [T, B, 2] (time, batch, inputSize), got [4,2,3]',
    );
  });

  it('gives a user-defined cell layers, directions and lengths (CellStack), with correct gradients', () => {
    fc.assert(
      fc.property(
        fc.record({
          T: fc.integer({ min: 1, max: 4 }),
          B: fc.integer({ min: 1, max: 3 }),
          numLayers: fc.integer({ min: 1, max: 2 }),
          bidirectional: fc.boolean(),
          batchFirst: fc.boolean(),
          lengths: fc.option(
            fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), {
              minLength: 3,
              maxLength: 3,
            }),
          ),
          seed: fc.integer({ min: 0, max: 1e6 }),
        }),
        (c) => {
          const model = new CellStack(({ inputSize }) => new MinimalGatedCell(inputSize, 2), {
            inputSize: 2,
            numLayers: c.numLayers,
            bidirectional: c.bidirectional,
            batchFirst: c.batchFirst,
          });
          const x = leaf(c.batchFirst ? [c.B, c.T, 2] : [c.T, c.B, 2]);
          const lengths = c.lengths ? lengthsFrom(c.lengths.slice(0, c.B), c.T) : null;
          const run = () => {
            const [out, finals] = model.forward(x, null, { lengths });
            return [out, ...finals];
          };
          const [out] = model.forward(x, null, { lengths });
          const D = c.bidirectional ? 2 : 1;
          expect(out.shape).toEqual(c.batchFirst ? [c.B, c.T, 2 * D] : [c.T, c.B, 2 * D]);
          fastGradcheck(run, [x, ...model.parameters()], c.seed);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('names CellStack parameters by layer and direction', () => {
    const model = new CellStack(({ inputSize }) => new MinimalGatedCell(inputSize, 3), {
      inputSize: 2,
      numLayers: 2,
      bidirectional: true,
    });
    const names = Array.from(model.namedParameters(), ([n, p]) => `${n} ${p.shape}`);
    expect(names.filter((n) => n.includes('weight_f'))).toEqual([
      'cell_l0.weight_f 3,5',
      'cell_l0_reverse.weight_f 3,5',
      'cell_l1.weight_f 3,9',
      'cell_l1_reverse.weight_f 3,9',
    ]);
    expect(() => model.forward(constant([3, 2, 2]), [zeros([2, 3])])).toThrow(
      'CellStack: expected 4 initial states (numLayers * numDirections), got 1',
    );
  });

  it('matches the LSTM layer when stacking LSTMCells with the same weights', () => {
    const lstm = new LSTM({
      inputSize: 2,
      hiddenSize: 3,
      numLayers: 2,
      bidirectional: true,
      dtype: 'float64',
    });
    const model = new CellStack(
      ({ inputSize }) => new LSTMCell({ inputSize, hiddenSize: 3, dtype: 'float64' }),
      { inputSize: 2, numLayers: 2, bidirectional: true },
    );
    const renamed: Record<string, Tensor> = {};
    for (const [name, p] of lstm.namedParameters()) {
      const [, kind, layer, reverse] = /^(\w+?_\w\w)_l(\d)(_reverse)?$/.exec(name)!;
      renamed[`cell_l${layer}${reverse ?? ''}.${kind}`] = p;
    }
    model.loadStateDict(renamed);
    const x = constant([5, 3, 2]);
    const lengths = [5, 2, 3];
    const [a, [h]] = lstm.forward(x, null, { lengths });
    const [b, finals] = model.forward(x, null, { lengths });
    expectClose(a, b, 0);
    finals.forEach(([hk], k) => {
      expectClose(narrow(h, 0, k, 1), hk.reshape([1, 3, 3]), 0);
    });
  });
});

describe('stateful use and truncated BPTT', () => {
  it('carries detached state across chunks: same forward, gradients truncated at chunk borders', () => {
    const lstm = new LSTM({ inputSize: 2, hiddenSize: 3, dtype: 'float64' });
    const x = constant([9, 2, 2]);
    const [full] = lstm.forward(x);

    let state: [Tensor, Tensor] | null = null;
    const outs: Tensor[] = [];
    const chunkGrads: Tensor[] = [];
    for (let k = 0; k < 3; k++) {
      const chunk = narrow(x, 0, 3 * k, 3);
      const [out, [h, c]] = lstm.forward(chunk, state);
      lstm.zeroGrad();
      sum(out).backward();
      chunkGrads.push(lstm.weight_hh_l0!.grad!);
      outs.push(out);
      // Truncate: the next chunk starts from the values, not the graph, of this state.
      state = [h.detach(), c.detach()];
    }
    // Stateful chunks compute exactly the full sequence.
    expectClose(cat(outs, 0), full, 1e-15);

    // The last chunk's gradient is the gradient from its detached starting state…
    const [, [h6, c6]] = lstm.forward(narrow(x, 0, 0, 6));
    lstm.zeroGrad();
    sum(lstm.forward(narrow(x, 0, 6, 3), [h6.detach(), c6.detach()])[0]).backward();
    expectClose(chunkGrads[2]!, lstm.weight_hh_l0!.grad!, 1e-15);
    // …and differs from full backpropagation through time of the same loss.
    lstm.zeroGrad();
    sum(narrow(lstm.forward(x)[0], 0, 6, 3)).backward();
    let gap = 0;
    lstm.weight_hh_l0!.grad!.data.forEach((v, i) => {
      gap = Math.max(gap, Math.abs(v - chunkGrads[2]!.data[i]!));
    });
    expect(gap).toBeGreaterThan(1e-6);
  });

  it('without detach, the next backward reaches the freed graph of the previous chunk', () => {
    const lstm = new LSTM({ inputSize: 2, hiddenSize: 3, dtype: 'float64' });
    const [out, state] = lstm.forward(constant([3, 1, 2]));
    sum(out).backward();
    const [out2] = lstm.forward(constant([3, 1, 2]), state);
    expect(() => sum(out2).backward()).toThrow(/already been freed/);
  });

  it('trains an LSTM over 10,000 steps without overflowing the stack', () => {
    manualSeed(3);
    const lstm = new LSTM({ inputSize: 1, hiddenSize: 2, dtype: 'float64' });
    const x = randn([10_000, 1, 1], { dtype: 'float64' });
    const loss = () => {
      const [, [h, c]] = lstm.forward(x);
      return add(sum(mul(h, h)), sum(mul(c, c)));
    };
    const before = loss();
    before.backward();
    const params = lstm.parameters();
    for (const p of params) expect(p.grad!.data.every(Number.isFinite)).toBe(true);
    expect(lstm.weight_hh_l0!.grad!.data.some((v) => v !== 0)).toBe(true);
    // One plain gradient step lowers the loss.
    noGrad(() => {
      for (const p of params) for (let i = 0; i < p.size; i++) p.data[i]! -= 0.05 * p.grad!.data[i]!;
    });
    const after = noGrad(loss);
    expect(after.item()).toBeLessThan(before.item());
  });
});
