/** A property over random sizes and options: the exported recurrent layer computes TensorLoom's forward. */
import { manualSeed } from '@tensorloom/autograd';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { exportOnnx } from '../src/index.ts';
import {
  feeds,
  forwardArgs,
  inputNames,
  makeInputs,
  makeLayer,
  maxError,
  OUTPUT_NAMES,
  type RecurrentCase,
  runOrt,
  tensorloomOutputs,
} from './helpers.ts';

const caseArb: fc.Arbitrary<RecurrentCase & { T: number; B: number; seed: number }> = fc
  .record({
    kind: fc.constantFrom('LSTM', 'GRU', 'RNN-tanh', 'RNN-relu'),
    numLayers: fc.integer({ min: 1, max: 3 }),
    bidirectional: fc.boolean(),
    batchFirst: fc.boolean(),
    bias: fc.boolean(),
    initialState: fc.boolean(),
    lengths: fc.boolean(),
    inputSize: fc.integer({ min: 1, max: 9 }),
    hiddenSize: fc.integer({ min: 2, max: 12 }),
    // A projection (LSTM only) of 1 to hiddenSize − 1 features, when this is non-zero.
    projSize: fc.nat(11),
    T: fc.integer({ min: 1, max: 9 }),
    B: fc.integer({ min: 1, max: 5 }),
    seed: fc.nat(1000),
  })
  .map((c) => ({
    ...c,
    projSize: c.kind === 'LSTM' && c.projSize > 0 ? 1 + (c.projSize % (c.hiddenSize - 1)) : 0,
  }));

describe('exportOnnx property', () => {
  it('ONNX Runtime matches TensorLoom to 1e-5 over random shapes and options', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        manualSeed(c.seed);
        const layer = makeLayer(c);
        const inputs = makeInputs(c, c.T, c.B, c.seed + 1);
        const outputNames = OUTPUT_NAMES.slice(0, c.kind === 'LSTM' ? 3 : 2);
        const bytes = exportOnnx(layer, forwardArgs(c, inputs), {
          inputNames: inputNames(inputs),
          outputNames,
        });
        const actual = await runOrt(bytes, feeds(inputs), true);
        tensorloomOutputs(layer, c, inputs).forEach((t, k) => {
          expect(maxError(t, actual[outputNames[k]!]!)).toBeLessThanOrEqual(1e-5);
        });
      }),
      { numRuns: 25 },
    );
  });
});
