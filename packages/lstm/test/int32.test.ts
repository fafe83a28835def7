/** Sequence lengths as int32 tensors: the same outputs and gradients as plain arrays and float tensors. */
import { manualSeed, randn, type Tensor, tensor, zeros } from '@tensorloom/autograd';
import type { Module } from '@tensorloom/nn';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GRU, LSTM, RNN } from '../src/index.ts';

const values = (t: Tensor) => Array.from(t.data);

describe('recurrent layers with int32 lengths', () => {
  it('give the outputs, final states and gradients that number[] and float lengths give', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('LSTM', 'GRU', 'RNN'),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        (kind, lengths, bidirectional) => {
          const T = 4;
          const B = lengths.length;
          const forms = [
            tensor(lengths, { dtype: 'int32' }),
            lengths,
            Int32Array.from(lengths),
            tensor(lengths, { dtype: 'float32' }),
          ];
          const results = forms.map((form) => {
            manualSeed(11);
            const options = {
              inputSize: 2,
              hiddenSize: 3,
              numLayers: 2,
              bidirectional,
              dtype: 'float64' as const,
            };
            const model: Module =
              kind === 'LSTM' ? new LSTM(options) : kind === 'GRU' ? new GRU(options) : new RNN(options);
            const x = randn([T, B, 2], { dtype: 'float64' });
            // biome-ignore lint/suspicious/noExplicitAny: the three layers' forward signatures differ in their state
            const [out, state] = (model as any).forward(x, null, { lengths: form });
            const finals = [state].flat(2) as Tensor[];
            const loss = [out, ...finals].reduce(
              (acc: Tensor, t: Tensor) => acc.add(t.mul(randn(t.shape, { dtype: 'float64' })).sum()),
              tensor(0, { dtype: 'float64' }),
            );
            loss.backward();
            return [out, ...finals, ...model.parameters().map((p) => p.grad!)].map(values);
          });
          for (const r of results.slice(1)) expect(r).toEqual(results[0]);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('name the entry, its value and the valid range', () => {
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4 });
    expect(() =>
      lstm.forward(zeros([5, 2, 3]), null, { lengths: tensor([5, 6], { dtype: 'int32' }) }),
    ).toThrow('LSTM: lengths[1] = 6 is out of range: expected an integer in [1, 5] for an input of 5 steps');
    expect(() => lstm.forward(zeros([5, 2, 3]), null, { lengths: tensor([2.5, 5]) })).toThrow(
      'LSTM: lengths[0] = 2.5 is not an integer: expected an integer in [1, 5] for an input of 5 steps',
    );
  });
});
