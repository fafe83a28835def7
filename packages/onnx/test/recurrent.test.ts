/**
 * Every LSTM/GRU/RNN option exported and run in ONNX Runtime 1.30, against TensorLoom's forward, on the
 * example's shapes and on other batch and sequence sizes (the axes are dynamic).
 */
import { manualSeed } from '@tensorloom/autograd';
import { afterAll, describe, expect, it } from 'vitest';
import { exportOnnx } from '../src/index.ts';
import {
  CASES,
  caseName,
  feeds,
  forwardArgs,
  inputNames,
  makeInputs,
  makeLayer,
  maxError,
  OUTPUT_NAMES,
  runOrt,
  signature,
  tensorloomOutputs,
} from './helpers.ts';

const measured: [string, number][] = [];
afterAll(() => {
  // The figures behind the issue note: max |TensorLoom − ONNX Runtime| per exported option.
  console.log(measured.map(([name, e]) => `${name}: ${e.toExponential(2)}`).join('\n'));
});

describe('recurrent layers in ONNX Runtime', () => {
  it.each(CASES.map((c) => [caseName(c), c] as const))('%s matches TensorLoom to 1e-5', async (name, c) => {
    manualSeed(1);
    const layer = makeLayer(c);
    const example = makeInputs(c, 7, 3, 2);
    const outputNames = OUTPUT_NAMES.slice(0, c.kind === 'LSTM' ? 3 : 2);
    const bytes = exportOnnx(layer, forwardArgs(c, example), {
      inputNames: inputNames(example),
      outputNames,
    });
    let worst = 0;
    // The example's shapes, then a longer batch of shorter sequences through the same file.
    for (const inputs of [example, makeInputs(c, 4, 5, 3)]) {
      const expected = tensorloomOutputs(layer, c, inputs);
      const actual = await runOrt(bytes, feeds(inputs));
      expected.forEach((t, k) => {
        const e = maxError(t, actual[outputNames[k]!]!);
        expect(e, `${name}: ${outputNames[k]}`).toBeLessThanOrEqual(1e-5);
        worst = Math.max(worst, e);
      });
    }
    measured.push([name, worst]);
  });

  it('declares batch and sequence as dynamic, features and layer counts as fixed', async () => {
    const c = CASES.find((c) => c.kind === 'LSTM' && c.numLayers === 2 && c.batchFirst && c.lengths)!;
    const example = makeInputs(c, 7, 3, 2);
    const bytes = exportOnnx(makeLayer(c), forwardArgs(c, example), {
      inputNames: inputNames(example),
      outputNames: OUTPUT_NAMES,
    });
    const { inputs, outputs } = await signature(bytes);
    expect(inputs).toEqual([
      { name: 'x', type: 'float32', shape: ['batch', 'sequence', 5] },
      { name: 'h0', type: 'float32', shape: [4, 'batch', 6] },
      { name: 'c0', type: 'float32', shape: [4, 'batch', 6] },
      { name: 'lengths', type: 'int32', shape: ['batch'] },
    ]);
    expect(outputs).toEqual([
      { name: 'output', type: 'float32', shape: ['batch', 'sequence', 12] },
      { name: 'h_n', type: 'float32', shape: [4, 'batch', 6] },
      { name: 'c_n', type: 'float32', shape: [4, 'batch', 6] },
    ]);
  });
});
