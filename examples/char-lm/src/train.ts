/**
 * The training loop: windows of running text (the LSTM state carried from each window to the next) →
 * cross-entropy → backward → gradient clipping → Adam → LR schedule
 * (linear warm-up, then cosine decay to a tenth), validation bits per character at intervals, and atomic
 * checkpoints (model, optimizer, scheduler, RNG, history) from which a run resumes exactly.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { manualSeed, noGrad, type Tensor } from '@tensorloom/autograd';
import {
  Adam,
  clipGradNorm,
  crossEntropy,
  deserializeState,
  LambdaLR,
  type StateValue,
} from '@tensorloom/nn';
import { loadCheckpoint, saveCheckpoint } from '@tensorloom/nn/node';
import { Progress, type ProgressMode } from 'example-kit';
import { type Batch, Corpus, fixedBatch, randomBatch, streamBatch } from './data.ts';
import { CharLM, type LSTMState } from './model.ts';

/** Everything that defines a run. */
export interface TrainConfig {
  /** The corpus. */
  text: string;
  /** Train until this step (a resumed run continues to it). */
  steps: number;
  batch: number;
  seq: number;
  embed: number;
  hidden: number;
  layers: number;
  dropout: number;
  /** Peak learning rate (after warm-up). */
  lr: number;
  /** Steps of linear warm-up. */
  warmup: number;
  /** Max gradient norm. */
  clip: number;
  seed: number;
  /**
   * How training windows are drawn. 'streams' (the default): each step's windows continue the previous
   * step's (`batch` contiguous streams through the training text, see `streamBatch`), and the LSTM starts
   * from the state the previous step ended in, detached (truncated backpropagation through time).
   * 'random': windows at random positions, each from a zero state.
   */
  windows?: 'streams' | 'random';
  /** Validate every this many steps (and at the end). */
  evalEvery: number;
  /** Validation windows. */
  evalWindows: number;
  /** Characters per validation window; the first `evalContext` only give context and are not scored. */
  evalSeq: number;
  evalContext: number;
  /** Where to write checkpoints; null: never. */
  checkpoint: string | null;
  /** Save a checkpoint every this many steps (and at the end). */
  saveEvery: number;
  /** Continue from `checkpoint` if it exists. */
  resume: boolean;
}

/** The curves of a run, carried through checkpoints so a resumed run plots its whole history. */
export interface History {
  /** Training loss (nats) at each step. */
  loss: number[];
  /** Steps at which validation ran. */
  evalSteps: number[];
  /** Validation bits per character at those steps. */
  valBpc: number[];
}

/** What a run hands back. */
export interface TrainResult {
  model: CharLM;
  corpus: Corpus;
  history: History;
  /** The step this session started from (0, or the checkpoint's step). */
  startStep: number;
  /** Wall-clock seconds of this session's training. */
  seconds: number;
  /** Training characters per second in this session. */
  charsPerSecond: number;
  /** Whether the run was stopped early (by `stop`) and checkpointed. */
  interrupted: boolean;
}

/** Options that do not change the result. */
export interface TrainHooks {
  progress?: ProgressMode;
  /** Checked after every step (given the step reached); when it returns true the run checkpoints and stops. */
  stop?: (step: number) => boolean;
  /** Receives notes (resuming, checkpoint written). */
  log?: (line: string) => void;
}

/** The config keys a checkpoint must agree on to resume exactly. */
const FIXED = [
  'batch',
  'seq',
  'embed',
  'hidden',
  'layers',
  'dropout',
  'lr',
  'warmup',
  'clip',
  'seed',
  'windows',
] as const;

/** lr factor at `step`: linear warm-up to 1 over `warmup` steps, then cosine from 1 down to 0.1 at `total`. */
export function lrFactor(step: number, warmup: number, total: number): number {
  if (step < warmup) return (step + 1) / warmup;
  const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return 0.1 + 0.45 * (1 + Math.cos(Math.PI * progress));
}

/**
 * Mean cross-entropy of `batch` in bits per character, without recording a graph, over the steps after the
 * first `burnIn` of each window (those only give the model context, as running text would).
 */
export function bitsPerChar(model: CharLM, batch: Batch, burnIn = 0): number {
  const wasTraining = model.training;
  model.eval();
  const B = batch.batch;
  const nats = noGrad(() => {
    const [logits] = model.forward(batch.inputs, batch.seq, B);
    // Time-major rows: steps t >= burnIn are the rows from burnIn·B on.
    const scored = logits.narrow(0, burnIn * B, (batch.seq - burnIn) * B);
    return crossEntropy(scored, batch.targets.subarray(burnIn * B)).item();
  });
  model.train(wasTraining);
  return nats / Math.LN2;
}

/** Trains (or resumes) a model as `config` says. */
export async function train(options: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const config = { ...options, windows: options.windows ?? 'streams' };
  const stateful = config.windows === 'streams';
  const log = hooks.log ?? (() => {});
  const corpus = new Corpus(config.text);
  manualSeed(config.seed);
  const model = new CharLM({
    vocabSize: corpus.vocabSize,
    embed: config.embed,
    hidden: config.hidden,
    layers: config.layers,
    dropout: config.dropout,
  });
  const params = model.parameters();
  const optimizer = new Adam(params, { lr: config.lr });
  const scheduler = new LambdaLR(optimizer, (e) => lrFactor(e, config.warmup, config.steps));
  const val = fixedBatch(corpus.valid, config.evalWindows, config.evalSeq);
  let history: History = { loss: [], evalSteps: [], valBpc: [] };
  let step = 0;
  // With streams: the final state of the last step, detached, where the next step starts.
  let state: LSTMState | null = null;

  if (config.resume && config.checkpoint && existsSync(config.checkpoint)) {
    // Check the run's settings before loading, so a mismatch is reported as such and not as a shape error.
    const saved = deserializeState(readFileSync(config.checkpoint)) as { extra?: Record<string, StateValue> };
    const extra = saved.extra as unknown as {
      config: Record<string, StateValue>;
      history: History;
      vocab: string;
    };
    if (!extra?.config)
      throw new Error(`cannot resume from ${config.checkpoint}: it is not a char-lm checkpoint`);
    // A checkpoint whose config has no `windows` was trained on random windows.
    const savedConfig: Record<string, StateValue> = { windows: 'random', ...extra.config };
    const diff = FIXED.filter((k) => savedConfig[k] !== config[k]).map(
      (k) => `--${k} ${String(savedConfig[k])} (given ${String(config[k])})`,
    );
    if (extra.vocab !== corpus.chars.join('')) diff.push('the corpus vocabulary');
    if (diff.length > 0) {
      throw new Error(
        `cannot resume from ${config.checkpoint}: it was trained with ${diff.join(', ')}; pass the same flags or a new --checkpoint`,
      );
    }
    const restored = await loadCheckpoint(config.checkpoint, { model, optimizer, scheduler });
    history = extra.history;
    step = restored.step;
    const carried = (restored.extra as { state?: [Tensor, Tensor] | null }).state;
    state = carried ? [carried[0], carried[1]] : null;
    log(`resumed from ${config.checkpoint} at step ${step}`);
  } else if (config.resume) {
    log(`no checkpoint at ${config.checkpoint}; starting from step 0`);
  }

  const startStep = step;
  const save = async () => {
    if (!config.checkpoint) return;
    mkdirSync(dirname(config.checkpoint), { recursive: true });
    const fixed = Object.fromEntries(FIXED.map((k) => [k, config[k]]));
    await saveCheckpoint(config.checkpoint, {
      model,
      optimizer,
      scheduler,
      step,
      extra: {
        config: fixed,
        history: history as unknown as StateValue,
        vocab: corpus.chars.join(''),
        state: state ? [state[0], state[1]] : null,
      },
    });
  };

  const progress = new Progress({ total: config.steps, start: step, mode: hooks.progress });
  const chars = config.batch * config.seq;
  let smooth = history.loss.at(-1) ?? Math.log(corpus.vocabSize);
  const stats = () => ({
    'train bpc': (smooth / Math.LN2).toFixed(3),
    'val bpc': (history.valBpc.at(-1) ?? Number.NaN).toFixed(3),
    'chars/s': `${((chars * (step - startStep)) / Math.max(progress.elapsed(), 1e-9) / 1000).toFixed(1)}k`,
  });
  if (step === 0 && history.evalSteps.length === 0) {
    history.evalSteps.push(0);
    history.valBpc.push(bitsPerChar(model, val, config.evalContext));
  }
  progress.update(step, stats(), true);

  let interrupted = false;
  model.train();
  while (step < config.steps) {
    const batch = stateful
      ? streamBatch(corpus.train, config.batch, config.seq, step)
      : randomBatch(corpus.train, config.batch, config.seq);
    const [logits, final] = model.forward(batch.inputs, batch.seq, batch.batch, state);
    if (stateful) state = [final[0].detach(), final[1].detach()];
    const loss = crossEntropy(logits, batch.targets);
    optimizer.zeroGrad();
    loss.backward();
    clipGradNorm(params, config.clip);
    optimizer.step();
    scheduler.step();
    step += 1;
    const value = loss.item();
    history.loss.push(value);
    smooth = step - startStep === 1 && startStep === 0 ? value : 0.9 * smooth + 0.1 * value;
    const evaluate = step % config.evalEvery === 0 || step === config.steps;
    if (evaluate) {
      history.evalSteps.push(step);
      history.valBpc.push(bitsPerChar(model, val, config.evalContext));
    }
    progress.update(step, stats(), evaluate);
    if (step % config.saveEvery === 0 || step === config.steps) await save();
    // Let a pending signal (Ctrl-C) run its handler between steps.
    await new Promise((resolve) => setImmediate(resolve));
    if (hooks.stop?.(step) && step < config.steps) {
      await save();
      interrupted = true;
      break;
    }
  }
  progress.stop();
  const seconds = progress.elapsed();
  return {
    model,
    corpus,
    history,
    startStep,
    seconds,
    charsPerSecond: (chars * (step - startStep)) / Math.max(seconds, 1e-9),
    interrupted,
  };
}
