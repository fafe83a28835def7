import { manualSeed } from '@tensorloom/autograd';
import { describe, expect, it } from 'vitest';
import { hiddenGradientNorms } from '../src/gradients.ts';
import { Regressor } from '../src/model.ts';
import { addingBatch, BASELINE_MSE } from '../src/task.ts';
import { trainAdding } from '../src/train.ts';

describe('the adding problem', () => {
  it('marks one value in each half and targets their sum', () => {
    manualSeed(0);
    const T = 10;
    const B = 64;
    const { x, y } = addingBatch(T, B);
    expect(x.shape).toEqual([T, B, 2]);
    expect(y.shape).toEqual([B, 1]);
    for (let b = 0; b < B; b++) {
      const marked: number[] = [];
      let sum = 0;
      for (let t = 0; t < T; t++) {
        if (x.data[(t * B + b) * 2 + 1] === 1) {
          marked.push(t);
          sum += x.data[(t * B + b) * 2]!;
        }
      }
      expect(marked).toHaveLength(2);
      expect(marked[0]!).toBeLessThan(T / 2);
      expect(marked[1]!).toBeGreaterThanOrEqual(T / 2);
      expect(y.data[b]).toBeCloseTo(sum, 6);
    }
    expect(BASELINE_MSE).toBeCloseTo(0.1667, 4);
  });

  it.each(['lstm', 'gru', 'rnn'] as const)('%s: a few steps lower the validation MSE (smoke)', (kind) => {
    const run = trainAdding({
      kind,
      T: 8,
      hidden: 8,
      batch: 16,
      steps: 20,
      lr: 1e-2,
      clip: 1,
      target: 1e-9,
      evalEvery: 10,
      evalSize: 64,
      seed: 2,
    });
    expect(run.steps).toBe(20);
    expect(run.curve.step).toEqual([0, 10, 20]);
    expect(run.mse).toBeLessThan(run.curve.mse[0]! * 0.7);
    // The snapshot of the untrained model really is untrained.
    expect(run.initial.head.weight.data).not.toEqual(run.model.head.weight.data);
  });

  it('measures a vanishing gradient in the tanh RNN, and an LSTM that keeps more of it', () => {
    manualSeed(5);
    const probe = addingBatch(40, 16);
    const rnn = hiddenGradientNorms(new Regressor('rnn', 16), probe);
    const lstm = hiddenGradientNorms(new Regressor('lstm', 16), probe);
    for (const norms of [rnn, lstm]) {
      expect(norms).toHaveLength(40);
      expect(norms.every((v) => Number.isFinite(v) && v > 0)).toBe(true);
    }
    // At initialisation the RNN's gradient shrinks by orders of magnitude going back 39 steps.
    expect(rnn[0]! / rnn[39]!).toBeLessThan(1e-3);
    expect(lstm[0]! / lstm[39]!).toBeGreaterThan(rnn[0]! / rnn[39]!);
  });
});
