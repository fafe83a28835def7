/**
 * Training one model on the adding problem: Adam, gradient clipping, MSE on fresh batches each step, and a
 * fixed validation set checked every `evalEvery` steps; the run stops once validation MSE is below `target`.
 */
import { manualSeed, noGrad } from '@tensorloom/autograd';
import { Adam, clipGradNorm, mseLoss } from '@tensorloom/nn';
import { Progress, type ProgressMode } from 'example-kit';
import { KIND_NAMES, type Kind, Regressor } from './model.ts';
import { type AddingBatch, addingBatch } from './task.ts';

/** One training run. */
export interface RunConfig {
  kind: Kind;
  T: number;
  hidden: number;
  batch: number;
  /** Step budget. */
  steps: number;
  lr: number;
  clip: number;
  /** Stop once validation MSE is below this. */
  target: number;
  evalEvery: number;
  /** Validation sequences. */
  evalSize: number;
  seed: number;
}

/** What a run reached. */
export interface RunResult {
  config: RunConfig;
  model: Regressor;
  /** The untrained model's state (for the gradient plot at initialisation). */
  initial: Regressor;
  /** Steps taken (the budget, or fewer if the target was reached). */
  steps: number;
  /** Validation MSE at the end. */
  mse: number;
  /** Whether validation MSE went below the target. */
  solved: boolean;
  /** Validation MSE at each evaluation step. */
  curve: { step: number[]; mse: number[] };
  seconds: number;
}

/** Validation MSE of `model` on `data`, without recording a graph. */
export function evaluate(model: Regressor, data: AddingBatch): number {
  return noGrad(() => mseLoss(model.forward(data.x), data.y).item());
}

/** Trains `config.kind` on sequences of length `config.T`. */
export function trainAdding(config: RunConfig, progress: ProgressMode = 'quiet'): RunResult {
  manualSeed(config.seed);
  const valid = addingBatch(config.T, config.evalSize);
  const model = new Regressor(config.kind, config.hidden);
  const initial = new Regressor(config.kind, config.hidden);
  initial.loadStateDict(model.stateDict());
  const optimizer = new Adam(model.parameters(), { lr: config.lr });
  const curve = { step: [0], mse: [evaluate(model, valid)] };
  const bar = new Progress({ total: config.steps, mode: progress });
  const label = `${KIND_NAMES[config.kind]} T=${config.T}`;
  bar.update(0, { model: label, 'val MSE': curve.mse[0]!.toFixed(4) }, true);
  let step = 0;
  let solved = false;
  while (step < config.steps && !solved) {
    const { x, y } = addingBatch(config.T, config.batch);
    const loss = mseLoss(model.forward(x), y);
    optimizer.zeroGrad();
    loss.backward();
    clipGradNorm(model.parameters(), config.clip);
    optimizer.step();
    step += 1;
    if (step % config.evalEvery === 0 || step === config.steps) {
      const mse = evaluate(model, valid);
      curve.step.push(step);
      curve.mse.push(mse);
      solved = mse < config.target;
      bar.update(step, { model: label, 'val MSE': mse.toFixed(4) }, true);
    } else bar.update(step, { model: label, 'val MSE': curve.mse.at(-1)!.toFixed(4) });
  }
  bar.stop();
  return {
    config,
    model,
    initial,
    steps: step,
    mse: curve.mse.at(-1)!,
    solved,
    curve,
    seconds: bar.elapsed(),
  };
}
