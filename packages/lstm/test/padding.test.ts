/**
 * Padding of a variable-length batch influences nothing: with NaN or ±∞ where t ≥ ℓ_b, outputs, final
 * states and every parameter's gradient equal those of the same batch padded with zeros (as PyTorch's
 * packed sequences, which never read the padding).
 */
import { manualSeed, mul, randn, sum, type Tensor, tensor } from '@tensorloom/autograd';
import type { Module } from '@tensorloom/nn';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GRU, LSTM, RNN } from '../src/index.ts';

const caseArb = fc.record({
  kind: fc.constantFrom('LSTM', 'GRU', 'RNN'),
  T: fc.integer({ min: 2, max: 5 }),
  B: fc.integer({ min: 2, max: 4 }),
  layers: fc.integer({ min: 1, max: 2 }),
  bidirectional: fc.boolean(),
  fractions: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 4, maxLength: 4 }),
  poison: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
  seed: fc.integer({ min: 0, max: 1000 }),
});

function everything(model: Module, x: Tensor, lengths: number[]): number[][] {
  for (const p of model.parameters()) p.grad = null;
  // biome-ignore lint/suspicious/noExplicitAny: the three layers' forward signatures differ in their state
  const [out, state] = (model as any).forward(x, null, { lengths });
  const finals = [state].flat(2) as Tensor[];
  manualSeed(99);
  const loss = [out, ...finals].reduce(
    (acc: Tensor, t: Tensor) => acc.add(sum(mul(t, randn(t.shape, { dtype: 'float64' })))),
    tensor(0, { dtype: 'float64' }),
  );
  loss.backward();
  return [out, ...finals, ...[...model.parameters()].map((p) => p.grad!)].map((t) => Array.from(t.data));
}

describe('variable lengths', () => {
  it('ignore whatever the padding holds, NaN and ±∞ included, in values and in every gradient', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        manualSeed(c.seed);
        const options = {
          inputSize: 3,
          hiddenSize: 2,
          numLayers: c.layers,
          bidirectional: c.bidirectional,
          dtype: 'float64' as const,
        };
        const model =
          c.kind === 'LSTM' ? new LSTM(options) : c.kind === 'GRU' ? new GRU(options) : new RNN(options);
        const lengths = Array.from(
          { length: c.B },
          (_, b) => 1 + Math.floor(c.fractions[b % 4]! * c.T * 0.999),
        );
        lengths[0] = Math.max(1, c.T - 1); // at least one sequence is padded
        const clean = randn([c.T, c.B, 3], { dtype: 'float64' });
        const poisoned = clean.clone();
        for (let t = 0; t < c.T; t++) {
          for (let b = 0; b < c.B; b++) {
            const padding = t >= lengths[b]!;
            for (let f = 0; f < 3; f++) {
              const i = (t * c.B + b) * 3 + f;
              if (padding) {
                clean.data[i] = 0;
                poisoned.data[i] = c.poison;
              }
            }
          }
        }
        const want = everything(model, clean, lengths);
        const got = everything(model, poisoned, lengths);
        expect(got).toEqual(want);
        for (const values of got) expect(values.every(Number.isFinite)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});
