/**
 * Training the forecaster on windows from the first part of the series, and scoring it on the held-out end
 * against two baselines: the naive last value (predict no change) and the seasonal naive (repeat the value
 * one 24-step season back).
 */
import { manualSeed, noGrad } from '@tensorloom/autograd';
import { Adam, CosineAnnealingLR, clipGradNorm, mseLoss } from '@tensorloom/nn';
import { Forecaster } from './model.ts';
import { makeSeries, randomWindows, type WindowBatch, windowsAt } from './series.ts';

/** A forecasting run. */
export interface ForecastConfig {
  length: number;
  noise: number;
  /** Fraction of the series used for training; the rest is the test period. */
  trainFraction: number;
  context: number;
  horizon: number;
  hidden: number;
  layers: number;
  batch: number;
  steps: number;
  lr: number;
  evalEvery: number;
  seed: number;
}

/** Errors of one forecaster over every test window: overall and per forecast step. */
export interface Scores {
  mse: number;
  mae: number;
  /** MAE at each forecast step 1 … horizon. */
  maeByStep: number[];
}

/** Everything a run produced. */
export interface ForecastResult {
  series: Float32Array;
  model: Forecaster;
  test: WindowBatch;
  /** Model forecasts for the test windows, [windows, horizon] relative to each window's last value. */
  predictions: Float32Array;
  scores: { lstm: Scores; naive: Scores; seasonal: Scores };
  curve: { step: number[]; mse: number[] };
  /** Where the test period starts. */
  split: number;
  seconds: number;
}

/** MSE, MAE and per-step MAE of `pred` against `truth`, both [B, horizon] flattened. */
export function score(pred: ArrayLike<number>, truth: ArrayLike<number>, horizon: number): Scores {
  const B = truth.length / horizon;
  const maeByStep = new Array<number>(horizon).fill(0);
  let se = 0;
  let ae = 0;
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < horizon; k++) {
      const d = pred[b * horizon + k]! - truth[b * horizon + k]!;
      se += d * d;
      ae += Math.abs(d);
      maeByStep[k]! += Math.abs(d) / B;
    }
  }
  return { mse: se / truth.length, mae: ae / truth.length, maeByStep };
}

/** Trains on the first part of a fresh series and scores every window of the test period. */
export function runForecast(
  config: ForecastConfig,
  onEval?: (step: number, mse: number) => void,
): ForecastResult {
  const began = performance.now();
  manualSeed(config.seed);
  const { context: C, horizon: H } = config;
  const series = makeSeries({ length: config.length, noise: config.noise });
  const split = Math.floor(config.length * config.trainFraction);
  // Test windows: every forecast start in the test period (contexts may reach back into training data).
  const starts: number[] = [];
  for (let s = split; s + H <= config.length; s += 1) starts.push(s);
  const test = windowsAt(series, starts, C, H);
  // Validation during training: 256 windows from the end of the training period, never trained on.
  const validFrom = split - Math.floor(0.15 * split);
  const valid = randomWindows(series, 256, C, H, validFrom, split);

  const model = new Forecaster(config.hidden, H, config.layers);
  const optimizer = new Adam(model.parameters(), { lr: config.lr });
  const scheduler = new CosineAnnealingLR(optimizer, { tMax: config.steps, etaMin: config.lr / 20 });
  const evaluate = (w: WindowBatch) => noGrad(() => mseLoss(model.forward(w.x), w.y).item());
  const curve = { step: [0], mse: [evaluate(valid)] };
  onEval?.(0, curve.mse[0]!);
  for (let step = 1; step <= config.steps; step++) {
    const { x, y } = randomWindows(series, config.batch, C, H, 0, validFrom);
    const loss = mseLoss(model.forward(x), y);
    optimizer.zeroGrad();
    loss.backward();
    clipGradNorm(model.parameters(), 1);
    optimizer.step();
    scheduler.step();
    if (step % config.evalEvery === 0 || step === config.steps) {
      curve.step.push(step);
      curve.mse.push(evaluate(valid));
      onEval?.(step, curve.mse.at(-1)!);
    }
  }

  const predictions = Float32Array.from(noGrad(() => model.forward(test.x)).data);
  const truth = test.y.data;
  const zeros = new Float32Array(truth.length);
  // Seasonal naive: y(s + k) ≈ y(s + k − 24), relative to the last value like everything else.
  const seasonal = new Float32Array(truth.length);
  test.starts.forEach((s, b) => {
    for (let k = 0; k < H; k++) {
      const back = s + k - 24 * Math.ceil((k + 1) / 24);
      seasonal[b * H + k] = series[back]! - test.level[b]!;
    }
  });
  return {
    series,
    model,
    test,
    predictions,
    scores: {
      lstm: score(predictions, truth, H),
      naive: score(zeros, truth, H),
      seasonal: score(seasonal, truth, H),
    },
    curve,
    split,
    seconds: (performance.now() - began) / 1000,
  };
}
