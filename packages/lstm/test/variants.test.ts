import { add, mul, noGrad, reshape, sub, type Tensor, zeros } from '@tensorloom/autograd';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CellStack,
  CoupledLSTMCell,
  GateRecorder,
  LayerNormLSTMCell,
  LSTM,
  LSTMCell,
  type LSTMVariantCell,
  PeepholeLSTMCell,
  ProjectedLSTMCell,
  recurrent,
} from '../src/index.ts';
import { constant, expectClose, fastGradcheck, leaf, lengthsFrom } from './helpers.ts';

type VariantKind = 'peephole' | 'coupled' | 'layernorm' | 'projected';

function makeVariant(kind: VariantKind, inputSize: number, hiddenSize: number, bias = true): LSTMVariantCell {
  const options = { inputSize, hiddenSize, bias, dtype: 'float64' as const };
  if (kind === 'peephole') return new PeepholeLSTMCell(options);
  if (kind === 'coupled') return new CoupledLSTMCell(options);
  if (kind === 'layernorm') return new LayerNormLSTMCell(options);
  return new ProjectedLSTMCell({ ...options, projSize: Math.max(1, hiddenSize - 1) });
}

describe('LSTM variants', () => {
  it('pass directional gradchecks through time, with layers, directions and lengths, for random sizes', () => {
    fc.assert(
      fc.property(
        fc.record({
          kind: fc.constantFrom<VariantKind>('peephole', 'coupled', 'layernorm', 'projected'),
          T: fc.integer({ min: 1, max: 3 }),
          B: fc.integer({ min: 1, max: 3 }),
          n: fc.integer({ min: 1, max: 3 }),
          H: fc.integer({ min: 2, max: 3 }),
          numLayers: fc.integer({ min: 1, max: 2 }),
          bidirectional: fc.boolean(),
          bias: fc.boolean(),
          lengths: fc.option(
            fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), {
              minLength: 3,
              maxLength: 3,
            }),
          ),
          seed: fc.integer({ min: 0, max: 1e6 }),
        }),
        (c) => {
          const model = new CellStack(({ inputSize }) => makeVariant(c.kind, inputSize, c.H, c.bias), {
            inputSize: c.n,
            numLayers: c.numLayers,
            bidirectional: c.bidirectional,
          });
          const x = leaf([c.T, c.B, c.n]);
          const lengths = c.lengths ? lengthsFrom(c.lengths.slice(0, c.B), c.T) : null;
          fastGradcheck(
            () => {
              const [out, finals] = model.forward(x, null, { lengths });
              return [out, ...finals.flat()];
            },
            [x, ...model.parameters()],
            c.seed,
          );
        },
      ),
      { numRuns: 20 },
    );
  });

  it('pass a second-order check on one step each', () => {
    for (const kind of ['peephole', 'coupled', 'layernorm', 'projected'] as const) {
      const cell = makeVariant(kind, 2, 3);
      const x = leaf([2, 2]);
      const h = leaf([2, cell.outputSize]);
      const c = leaf([2, 3]);
      fastGradcheck(() => cell.forward(x, [h, c]), [x, h, c, ...cell.parameters()], 11, true);
    }
  });

  it('PeepholeLSTMCell reduces to LSTMCell when the peephole weights are zero', () => {
    const peep = new PeepholeLSTMCell({ inputSize: 2, hiddenSize: 3, dtype: 'float64' });
    expect(Array.from(peep.namedParameters(), ([n, p]) => `${n} ${p.shape}`)).toEqual([
      'weight_ih 12,2',
      'weight_hh 12,3',
      'bias_ih 12',
      'bias_hh 12',
      'weight_ci 3',
      'weight_cf 3',
      'weight_co 3',
    ]);
    const plain = new LSTMCell({ inputSize: 2, hiddenSize: 3, dtype: 'float64' });
    plain.loadStateDict(peep.stateDict(), { strict: false });
    const x = constant([4, 2, 2]);
    const [withPeep] = recurrent(peep, x);
    const [reference] = recurrent(plain, x);
    expect(Math.max(...sub(withPeep, reference).abs().data)).toBeGreaterThan(1e-6);
    noGrad(() => {
      for (const p of [peep.weight_ci, peep.weight_cf, peep.weight_co]) p.data.fill(0);
    });
    expectClose(recurrent(peep, x)[0], reference, 1e-15);
  });

  it('CoupledLSTMCell forgets exactly what it writes: f = 1 − i', () => {
    const cell = new CoupledLSTMCell({ inputSize: 2, hiddenSize: 3, dtype: 'float64' });
    expect(cell.weight_ih.shape).toEqual([9, 2]);
    const recorder = new GateRecorder();
    const c = constant([2, 3]);
    const [, c1] = cell.forward(constant([2, 2]), [constant([2, 3]), c], { observe: recorder.sink() });
    const [i, f, g] = ['i', 'f', 'g'].map((n) => reshape(recorder.get(n), [2, 3])) as [
      Tensor,
      Tensor,
      Tensor,
    ];
    expectClose(f, sub(1, i), 0);
    expectClose(c1, add(mul(f, c), mul(i, g)));
  });

  it('LayerNormLSTMCell is invariant to the scale of its weight matrices', () => {
    const cell = new LayerNormLSTMCell({ inputSize: 2, hiddenSize: 3, dtype: 'float64', eps: 0 });
    expect(Array.from(cell.namedParameters(), ([n]) => n)).toEqual([
      'weight_ih',
      'weight_hh',
      'bias',
      'ln_ih.weight',
      'ln_hh.weight',
      'ln_c.weight',
      'ln_c.bias',
    ]);
    // A non-zero initial state: with eps = 0, LN(h·W_hhᵀ) is undefined at h = 0.
    const x = constant([3, 2, 2]);
    const state = [constant([2, 3]), constant([2, 3])] as const;
    const [before, [h, c]] = recurrent(cell, x, { state });
    noGrad(() => {
      for (const w of [cell.weight_ih, cell.weight_hh]) for (let k = 0; k < w.size; k++) w.data[k]! *= 7;
    });
    const [after, [h2, c2]] = recurrent(cell, x, { state });
    expectClose(after, before, 1e-12);
    expectClose(h2, h, 1e-12);
    expectClose(c2, c, 1e-12);
  });

  it('ProjectedLSTMCell is the LSTM layer with projSize', () => {
    const cell = new ProjectedLSTMCell({ inputSize: 2, hiddenSize: 4, projSize: 2, dtype: 'float64' });
    expect(cell.outputSize).toBe(2);
    const lstm = new LSTM({ inputSize: 2, hiddenSize: 4, projSize: 2, dtype: 'float64' });
    const renamed: Record<string, Tensor> = {};
    for (const [name, p] of cell.namedParameters()) renamed[`${name}_l0`] = p;
    lstm.loadStateDict(renamed);
    const x = constant([5, 3, 2]);
    const [a, [ha, ca]] = recurrent(cell, x);
    const [b, [hb, cb]] = lstm.forward(x);
    expectClose(a, b, 0);
    expectClose(reshape(hb, [3, 2]), ha, 0);
    expectClose(reshape(cb, [3, 4]), ca, 0);
    expect(() => new ProjectedLSTMCell({ inputSize: 2, hiddenSize: 2, projSize: 2 })).toThrow(
      'ProjectedLSTMCell: projSize (2) must be smaller than hiddenSize (2)',
    );
  });

  it('check their inputs and states like the cells do', () => {
    const cell = new ProjectedLSTMCell({ inputSize: 3, hiddenSize: 4, projSize: 2 });
    expect(() => cell.forward(zeros([2, 4]))).toThrow(
      'ProjectedLSTMCell: expected input of shape [batch, 3], got [2,4]',
    );
    expect(() => cell.forward(zeros([2, 3]), [zeros([2, 4]), zeros([2, 4])])).toThrow(
      'ProjectedLSTMCell: expected h of shape [2,2], got [2,4]',
    );
    expect(cell.forward(zeros([2, 3]))[0].shape).toEqual([2, 2]);
    expect(cell.double().forward(zeros([2, 3], { dtype: 'float64' }))[1].dtype).toBe('float64');
  });
});
