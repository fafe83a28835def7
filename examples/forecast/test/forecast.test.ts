import { manualSeed } from '@tensorloom/autograd';
import { describe, expect, it } from 'vitest';
import { makeSeries, windowsAt } from '../src/series.ts';
import { runForecast, score } from '../src/train.ts';

describe('forecast', () => {
  it('cuts level-free windows: inputs and targets minus the last observed value', () => {
    manualSeed(0);
    const series = makeSeries({ length: 100, noise: 0 });
    expect(series[24]! - series[0]!).toBeCloseTo(
      0.4 * (Math.sin((2 * Math.PI * 24) / 60 + 1) - Math.sin(1)) + 0.048,
      5,
    );
    const w = windowsAt(series, [10, 50], 4, 3);
    expect(w.x.shape).toEqual([4, 2, 1]);
    expect(w.y.shape).toEqual([2, 3]);
    expect(w.x.data[3 * 2 + 1]).toBe(0); // the last context value of window 1, minus itself
    expect(w.y.data[3 + 2]).toBeCloseTo(series[52]! - series[49]!, 6);
    expect(() => windowsAt(series, [2], 4, 3)).toThrow(/needs \[-2, 5\)/);
  });

  it('scores overall and per forecast step', () => {
    const s = score([1, 2, 0, 0], [0, 0, 0, 0], 2);
    expect(s.mse).toBeCloseTo(5 / 4, 12);
    expect(s.mae).toBeCloseTo(3 / 4, 12);
    expect(s.maeByStep).toEqual([0.5, 1]);
  });

  it('a short run lowers validation MSE and beats the naive forecast (smoke)', () => {
    const run = runForecast({
      length: 400,
      noise: 0.1,
      trainFraction: 0.8,
      context: 24,
      horizon: 6,
      hidden: 12,
      layers: 1,
      batch: 16,
      steps: 40,
      lr: 2e-2,
      evalEvery: 20,
      seed: 1,
    });
    expect(run.curve.mse.at(-1)!).toBeLessThan(run.curve.mse[0]! * 0.7);
    expect(run.predictions).toHaveLength(run.test.starts.length * 6);
    expect(run.scores.lstm.mse).toBeLessThan(run.scores.naive.mse);
  });
});
