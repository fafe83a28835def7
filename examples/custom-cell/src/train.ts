/** Training a `Tagger` on the two-sided echo task with Adam and gradient clipping. */
import { manualSeed, noGrad } from '@tensorloom/autograd';
import { Adam, clipGradNorm, mseLoss } from '@tensorloom/nn';
import { Tagger, type TaggerOptions } from './model.ts';
import { echoBatch } from './task.ts';

/** A training run. */
export interface TrainConfig extends TaggerOptions {
  T: number;
  k: number;
  batch: number;
  steps: number;
  lr: number;
  evalEvery: number;
  seed: number;
}

/** The trained model and its validation curve. */
export interface TrainResult {
  model: Tagger;
  curve: { step: number[]; mse: number[] };
  seconds: number;
}

/** Trains a tagger; validation MSE on a fixed batch every `evalEvery` steps. */
export function trainTagger(config: TrainConfig, onEval?: (step: number, mse: number) => void): TrainResult {
  const began = performance.now();
  manualSeed(config.seed);
  const valid = echoBatch(config.T, 256, config.k);
  const model = new Tagger(config);
  const optimizer = new Adam(model.parameters(), { lr: config.lr });
  const evaluate = () => noGrad(() => mseLoss(model.forward(valid.x), valid.y).item());
  const curve = { step: [0], mse: [evaluate()] };
  onEval?.(0, curve.mse[0]!);
  for (let step = 1; step <= config.steps; step++) {
    const { x, y } = echoBatch(config.T, config.batch, config.k);
    const loss = mseLoss(model.forward(x), y);
    optimizer.zeroGrad();
    loss.backward();
    clipGradNorm(model.parameters(), 1);
    optimizer.step();
    if (step % config.evalEvery === 0 || step === config.steps) {
      curve.step.push(step);
      curve.mse.push(evaluate());
      onEval?.(step, curve.mse.at(-1)!);
    }
  }
  return { model, curve, seconds: (performance.now() - began) / 1000 };
}
