/**
 * Section "lstm": one LSTM training step (batch 32, 50 steps, input 64, hidden 128, one layer, a linear head
 * on the last step's output, MSE, Adam) and the forward pass alone, TensorLoom's composed `LSTM` beside
 * `tf.layers.lstm` + `tf.layers.dense` trained with `model.trainOnBatch`. Both systems start from the same
 * weights, so the loss before and after one step is checked across them. jax-js runs the same LSTM step
 * (`lstm-jax.ts`: jitted value-and-gradient of the unrolled loop, jitted Adam). The same step with a GRU is
 * timed too; tfjs's GRU is a different function (see `tfGruWeights`), so there each system only checks its own.
 */
import { manualSeed, narrow, noGrad, reshape, type Tensor, tensor } from '@tensorloom/autograd';
import { GRU, LSTM } from '@tensorloom/lstm';
import { Adam, Linear, Module, mseLoss, type Parameter } from '@tensorloom/nn';
import type { BenchCase, Prepare, Runner, Section } from '../harness.ts';
import { normal } from '../inputs.ts';
import { type Tf, tf } from '../systems.ts';
import { jaxRegressor } from './lstm-jax.ts';

/** A tfjs model as built by `tf.sequential`. */
export type TfModel = ReturnType<Tf['sequential']>;
/** A tfjs tensor. */
export type TfTensor = ReturnType<Tf['tensor']>;

const B = 32;
const T = 50;
const I = 64;
const H = 128;
const TRAIN = 'train step (forward, backward, Adam)';
const FORWARD = 'forward only';
const GRU_TRAIN = 'GRU train step (forward, backward, Adam)';

/** Float32 copies of a module's parameters, by name, so every system starts from the same numbers. */
export type Snapshot = ReadonlyMap<string, Float32Array>;

/** Copies the parameters of `module` (float32) into a snapshot. */
export function snapshot(module: Module): Snapshot {
  return new Map(Array.from(module.namedParameters(), ([name, p]) => [name, Float32Array.from(p.data)]));
}

/** Writes a snapshot into a module's parameters (same names and sizes) and returns the module. */
export function restore<M extends Module>(module: M, weights: Snapshot): M {
  for (const [name, p] of module.namedParameters()) {
    const w = weights.get(name);
    if (!w || w.length !== p.data.length)
      throw new Error(`restore: parameter ${name} has ${p.data.length} values, snapshot has ${w?.length}`);
    p.data.set(w);
  }
  return module;
}

/** The transpose of a row-major [rows, cols] matrix. */
export function transposed(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** Swaps the first two axes of a row-major [a, b, n] array: batch-first ↔ time-major. */
export function swapLeadingAxes(data: Float32Array, a: number, b: number, n: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < a; i++)
    for (let j = 0; j < b; j++) out.set(data.subarray((i * b + j) * n, (i * b + j + 1) * n), (j * a + i) * n);
  return out;
}

/**
 * A snapshot of PyTorch-layout LSTM weights (`${prefix}weight_ih_l0` [4H, in], `weight_hh_l0` [4H, H], both
 * biases [4H]) as tfjs `lstm` layer weights: kernel = W_ihᵀ [in, 4H], recurrent kernel = W_hhᵀ [H, 4H] and
 * one bias b_ih + b_hh. Keras and PyTorch share the gate order (i, f, g/c, o), so no reordering is needed.
 */
export function tfLstmWeights(
  w: Snapshot,
  prefix: string,
  inputSize: number,
  hidden: number,
): Float32Array[] {
  const get = (name: string) => w.get(prefix + name)!;
  const bias = Float32Array.from(get('bias_ih_l0'), (b, i) => b + get('bias_hh_l0')[i]!);
  return [
    transposed(get('weight_ih_l0'), 4 * hidden, inputSize),
    transposed(get('weight_hh_l0'), 4 * hidden, hidden),
    bias,
  ];
}

/**
 * A snapshot of PyTorch-layout GRU weights as tfjs `gru` layer weights, gates reordered from PyTorch's
 * (r, z, n) to Keras's (z, r, h). tfjs's GRU is Keras's `reset_after=False` variant: it resets h before the
 * recurrent product, ĥ = tanh(x·W_h + (r ⊙ h)·U_h + b), and has one bias (here b_ih, plus b_hh for z and r;
 * b_hn has no counterpart), where PyTorch computes n = tanh(x·W_inᵀ + b_in + r ⊙ (h·W_hnᵀ + b_hn)). Same
 * sizes and flops, different function: the bench times both but compares neither's numbers to the other's.
 */
export function tfGruWeights(w: Snapshot, prefix: string, inputSize: number, hidden: number): Float32Array[] {
  const get = (name: string) => w.get(prefix + name)!;
  // Rows of a PyTorch [3H, ·] matrix (or entries of a [3H] bias) in Keras's gate order.
  const reorder = (x: Float32Array, width: number) => {
    const size = hidden * width;
    const out = new Float32Array(x.length);
    for (const [at, g] of [1, 0, 2].entries()) out.set(x.subarray(g * size, (g + 1) * size), at * size);
    return out;
  };
  const bih = get('bias_ih_l0');
  const bhh = get('bias_hh_l0');
  const bias = Float32Array.from(bih, (b, i) => (i < 2 * hidden ? b + bhh[i]! : b));
  return [
    transposed(reorder(get('weight_ih_l0'), inputSize), 3 * hidden, inputSize),
    transposed(reorder(get('weight_hh_l0'), hidden), 3 * hidden, hidden),
    reorder(bias, 1),
  ];
}

/**
 * Initialisers for tfjs layers whose weights are overwritten at once: the default orthogonal recurrent
 * initialiser runs a QR decomposition (seconds on tfjs-cpu, with a console warning) for nothing.
 */
export const NO_INIT = {
  kernelInitializer: 'zeros',
  recurrentInitializer: 'zeros',
  biasInitializer: 'zeros',
} as const;

/**
 * The weights with b_ih ← b_ih + b_hh and b_hh ← 0. PyTorch's LSTM learns two biases that only ever appear
 * as their sum, tfjs one; under Adam this is not the same model (in the first step each bias moves by ±lr,
 * so their sum moves by twice tfjs's step). Folding the biases and freezing b_hh gives tfjs's model exactly.
 */
export function foldBias(w: Snapshot, prefix: string): Snapshot {
  const out = new Map(w);
  const bih = w.get(`${prefix}bias_ih_l0`)!;
  const bhh = w.get(`${prefix}bias_hh_l0`)!;
  out.set(
    `${prefix}bias_ih_l0`,
    Float32Array.from(bih, (b, i) => b + bhh[i]!),
  );
  out.set(`${prefix}bias_hh_l0`, new Float32Array(bhh.length));
  return out;
}

/** A module's parameters except the named ones (which an optimizer over the result leaves frozen). */
export function trainable(module: Module, frozen: readonly string[]): Parameter[] {
  return Array.from(module.namedParameters())
    .filter(([name]) => !frozen.includes(name))
    .map(([, p]) => p);
}

/** Sets a tfjs layer's weights from arrays (the layer copies them into its variables). */
export function setTfWeights(model: TfModel, layer: number, arrays: readonly Float32Array[]): void {
  const t = tf();
  const target = model.layers[layer]!;
  const shapes = target.getWeights().map((w) => w.shape);
  t.tidy(() => target.setWeights(arrays.map((a, k) => t.tensor(a, shapes[k]!))));
}

/** Reads a tfjs loss result (a number, or the first of several) as a number. */
export function firstLoss(value: number | number[]): number {
  return Array.isArray(value) ? value[0]! : value;
}

/** Evaluates a compiled tfjs model's loss on (x, y) without training. */
export function tfEvaluate(model: TfModel, x: TfTensor, y: TfTensor): number {
  const t = tf();
  return t.tidy(() => {
    const r = model.evaluate(x, y, { batchSize: x.shape[0] });
    return (Array.isArray(r) ? r[0]! : r).dataSync()[0]!;
  });
}

/** Checks that one optimizer step from the shared weights lowered a finite loss; returns [before, after]. */
export function checkDescent(op: string, before: number, after: number): number[] {
  if (!Number.isFinite(before) || !Number.isFinite(after) || !(after < before))
    throw new Error(`${op}: one Adam step should lower a finite loss, got ${before} → ${after}`);
  return [before, after];
}

/** Which recurrent layer a regressor uses. */
type Kind = 'lstm' | 'gru';

/**
 * TensorLoom's model: an LSTM (or GRU) over x [T, B, I], then a linear head on the last step's output
 * [B, H] → [B, 1]. Parameter names start with `rnn.`.
 */
class Regressor extends Module {
  rnn: LSTM | GRU;
  head = new Linear(H, 1);

  constructor(kind: Kind = 'lstm') {
    super();
    const options = { inputSize: I, hiddenSize: H };
    this.rnn = kind === 'lstm' ? new LSTM(options) : new GRU(options);
  }

  forward(x: Tensor): Tensor {
    const [out] = this.rnn.forward(x);
    // out[T − 1]: the last step's output of every sequence.
    return this.head.forward(reshape(narrow(out, 0, T - 1, 1), [B, H]));
  }
}

/** The shared problem: weights, input (batch-first and time-major copies) and targets. */
interface Problem {
  weights: Snapshot;
  gruWeights: Snapshot;
  xBatchFirst: Float32Array;
  xTimeMajor: Float32Array;
  y: Float32Array;
}

function makeProblem(): Problem {
  manualSeed(4);
  const weights = snapshot(new Regressor());
  const xBatchFirst = normal([B, T, I]);
  const y = normal([B, 1]);
  const gruWeights = snapshot(new Regressor('gru'));
  return { weights, gruWeights, xBatchFirst, xTimeMajor: swapLeadingAxes(xBatchFirst, B, T, I), y };
}

/**
 * A TensorLoom regressor from the shared weights, with its Adam and one training step. With `singleBias`,
 * the LSTM is tfjs's parameterisation (see `foldBias`) for the cross-check; the timed model is PyTorch's.
 */
function ours(p: Problem, singleBias = false, kind: Kind = 'lstm') {
  const weights = kind === 'gru' ? p.gruWeights : singleBias ? foldBias(p.weights, 'rnn.') : p.weights;
  const model = restore(new Regressor(kind), weights);
  const x = tensor(p.xTimeMajor, { shape: [T, B, I] });
  const y = tensor(p.y, { shape: [B, 1] });
  const frozen = singleBias && kind === 'lstm' ? ['rnn.bias_hh_l0'] : [];
  const optimizer = new Adam(trainable(model, frozen), { lr: 1e-3 });
  const step = (): number => {
    optimizer.zeroGrad();
    const loss = mseLoss(model.forward(x), y);
    loss.backward();
    optimizer.step();
    return loss.item();
  };
  const evaluate = () => noGrad(() => mseLoss(model.forward(x), y).item());
  return { model, x, step, evaluate };
}

/** tfjs's regressor from the shared weights: lstm or gru (sigmoid gates, as PyTorch) + dense, Adam, MSE. */
function theirs(p: Problem, kind: Kind = 'lstm') {
  const t = tf();
  const model = t.sequential();
  // recurrentActivation defaults to hardSigmoid in tfjs; PyTorch's gates use the logistic sigmoid.
  const layer = { units: H, inputShape: [T, I], recurrentActivation: 'sigmoid' as const, ...NO_INIT };
  model.add(kind === 'lstm' ? t.layers.lstm(layer) : t.layers.gru(layer));
  model.add(t.layers.dense({ units: 1, ...NO_INIT }));
  const w = kind === 'lstm' ? p.weights : p.gruWeights;
  setTfWeights(model, 0, (kind === 'lstm' ? tfLstmWeights : tfGruWeights)(w, 'rnn.', I, H));
  setTfWeights(model, 1, [transposed(w.get('head.weight')!, 1, H), w.get('head.bias')!]);
  // epsilon 1e-8 as torch.optim.Adam (tfjs would default to 1e-7).
  const optimizer = t.train.adam(1e-3, 0.9, 0.999, 1e-8);
  model.compile({ optimizer, loss: 'meanSquaredError' });
  const x = t.tensor(p.xBatchFirst, [B, T, I]);
  const y = t.tensor(p.y, [B, 1]);
  return {
    model,
    x,
    step: async () => firstLoss(await model.trainOnBatch(x, y)),
    evaluate: () => tfEvaluate(model, x, y),
    dispose: () => {
      model.dispose();
      optimizer.dispose();
      t.dispose([x, y]);
    },
  };
}

/** A model under training, as the training-step cases drive it: one step returns the loss before it. */
interface Trainee {
  step(): number | Promise<number>;
  evaluate(): number;
  dispose?(): void;
}

/**
 * The systems of a training-step case: each times `step` on its own model, and its output check trains a
 * fresh model from the shared weights for one step and reports the loss before and after (which must fall).
 * tfjs-cpu is left out under --quick (`slow` says why).
 */
export function trainingSystems(
  label: string,
  /** `forCheck`: the model for the output check (tfjs's single-bias model, see `foldBias`). */
  ours: (forCheck: boolean) => Trainee,
  theirs: () => Trainee,
  quick: boolean,
  slow: string,
): { systems: BenchCase['systems']; unsupported: NonNullable<BenchCase['unsupported']> } {
  const tl = (): Runner => {
    const { step } = ours(false);
    return {
      run: () => void step(),
      output: async () => {
        const fresh = ours(true);
        return checkDescent(`${label} (TensorLoom)`, await fresh.step(), fresh.evaluate());
      },
    };
  };
  const tfjs = peerTraining(`${label} (tfjs)`, theirs, theirs);
  const systems: BenchCase['systems'] = { tensorloom: tl, 'tfjs-wasm': tfjs };
  const unsupported: BenchCase['unsupported'] = {};
  if (quick) unsupported['tfjs-cpu'] = `skipped under --quick: ${slow}`;
  else systems['tfjs-cpu'] = tfjs;
  return { systems, unsupported };
}

/**
 * A peer's training-step runner: times `step` on `make()`'s model; its output check trains `forCheck()`'s
 * fresh model for one step and reports the loss before and after (which must fall).
 */
export function peerTraining(label: string, make: () => Trainee, forCheck: () => Trainee): Prepare {
  return () => {
    const m = make();
    return {
      run: async () => void (await m.step()),
      output: async () => {
        const fresh = forCheck();
        try {
          return checkDescent(label, await fresh.step(), fresh.evaluate());
        } finally {
          fresh.dispose?.();
        }
      },
      dispose: () => m.dispose?.(),
    };
  };
}

/** jax-js's regressor from the shared weights; `singleBias` as in `ours`. */
function jaxModel(p: Problem, singleBias = false) {
  const weights = singleBias ? foldBias(p.weights, 'rnn.') : p.weights;
  return jaxRegressor(weights, p.xTimeMajor, p.y, { T, B, I, H }, singleBias ? ['bias_hh'] : []);
}

function trainCase(p: Problem, quick: boolean): BenchCase {
  // tfjs-cpu needs over a second per step, five times over in a --quick measurement: too slow for a smoke run.
  const { systems, unsupported } = trainingSystems(
    'lstm train',
    (forCheck) => ours(p, forCheck),
    () => theirs(p),
    quick,
    'over a second per step',
  );
  systems['jax-wasm'] = peerTraining(
    'lstm train (jax-js)',
    () => jaxModel(p),
    () => jaxModel(p, true),
  );
  // The losses agree to ~3e-7 when the maths is the same; one step lowers the loss by ~0.07, so 1e-5 notices
  // an update that is off by far less than its own size.
  return { name: TRAIN, tolerance: 1e-5, systems, unsupported };
}

function gruTrainCase(p: Problem, quick: boolean): BenchCase {
  const { systems, unsupported } = trainingSystems(
    'gru train',
    () => ours(p, false, 'gru'),
    () => theirs(p, 'gru'),
    quick,
    'over a second per step',
  );
  unsupported['jax-wasm'] = 'the bench writes only the LSTM step in jax-js';
  // Different functions (tfGruWeights): each system checks only that its own step lowers its loss.
  return { name: GRU_TRAIN, compareOutputs: false, systems, unsupported };
}

function forwardCase(p: Problem): BenchCase {
  return {
    name: FORWARD,
    // Same weights and inputs: float32 rounding over 50 steps stays near 1e-7.
    tolerance: 1e-4,
    systems: {
      tensorloom: () => {
        const { model, x } = ours(p);
        const forward = () => noGrad(() => model.forward(x));
        return { run: () => void forward(), output: () => forward().data };
      },
      ...Object.fromEntries(
        (['tfjs-cpu', 'tfjs-wasm'] as const).map((system) => [
          system,
          (): Runner => {
            const t = tf();
            const m = theirs(p);
            const predict = () => Float32Array.from((m.model.predict(m.x) as TfTensor).dataSync());
            return { run: () => void t.tidy(predict), output: () => t.tidy(predict), dispose: m.dispose };
          },
        ]),
      ),
      'jax-wasm': () => {
        const m = jaxModel(p);
        return { run: () => void m.predict(), output: () => m.predict(), dispose: m.dispose };
      },
    },
  };
}

/** The LSTM training step of issue 4 and its forward pass, beside tfjs-layers. */
export const lstmSection: Section = {
  id: 'lstm',
  title: 'LSTM training step (float32)',
  description:
    `One LSTM layer, batch ${B}, ${T} steps, input ${I}, hidden ${H}, a linear head on the last step's output, ` +
    'MSE loss, Adam (lr 1e-3). TensorLoom: `LSTM` + `Linear`, x [T, B, in], zeroGrad, forward, `mseLoss`, ' +
    'backward, `Adam.step`; forward only under `noGrad`. tfjs: `tf.sequential` of `tf.layers.lstm` ' +
    "(recurrentActivation 'sigmoid') + `tf.layers.dense`, compiled with `tf.train.adam` and " +
    "'meanSquaredError', timing `await model.trainOnBatch(x, y)`, and `model.predict(x)` + `dataSync()`; " +
    'x [B, T, in]. jax-js (wasm): the 50-step loop unrolled in the loss, `jit(valueAndGrad(loss))`, Adam as ' +
    'a jitted update, awaiting `blockUntilReady` on the new weights; forward only jitted. The GRU row is the ' +
    'same step with `GRU` / `tf.layers.gru`.',
  metric: { kind: 'time', unit: 'ms' },
  // A training loop runs thousands of steps, so steady-state steps are what is timed: the fast systems warm up
  // for 1.5 s (a garbage-collected engine's heap takes ~10 steps to regrow after the harness's full GC), then
  // up to 9 samples in 1.5 s; tfjs-cpu, at ~1.6 s per step, gets one warm-up call and 2 samples.
  timing: { warmupMs: 1500, warmupCalls: 1, samples: 9, minSamples: 2, maxMs: 1500 },
  reference: {
    label: 'PyTorch 1.13 (measured separately)',
    values: { [TRAIN]: 26.9, [FORWARD]: 6.0, [GRU_TRAIN]: 14.4 },
  },
  notes: [
    "All systems start from the same weights (TensorLoom's seeded PyTorch-style init, copied into the tfjs " +
      'layers: kernel = W_ihᵀ, recurrent kernel = W_hhᵀ, bias = b_ih + b_hh; into jax-js as they are) and ' +
      'inputs. The output check compares the forward outputs, and the loss before and after one Adam step ' +
      "(which must decrease); for that check only, TensorLoom's two LSTM biases are folded into b_ih with b_hh " +
      "frozen at 0, which is tfjs's single-bias model (with two biases Adam moves their sum twice as far per " +
      'step); jax-js gets the same folded weights, its b_hh frozen by a zero gradient.',
    'jax-js runs on one thread here (its wasm worker pool needs a global `Worker`, which Node 20 lacks); its ' +
      'first call traces and compiles the unrolled step (~1.7 s), inside the warm-up.',
    'PyTorch 1.13 `nn.LSTM` / `nn.GRU` + `nn.Linear`, OpenBLAS, 1 thread, measured on this machine outside ' +
      'this run by two runs of `bench/scripts/pytorch_reference.py` (2026-12-04): LSTM train step medians 25.0 ' +
      'and 28.8 ms (best 22.0; shown as their mean, 26.9), forward 5.8 and 6.2 ms (shown as 6.0), GRU train ' +
      "step 13.1 and 15.8 ms (shown as 14.4). PyTorch's own step times swing between runs here too (the same " +
      "script's LSTM step has measured 19–52 ms).",
    "tfjs's GRU resets h before the recurrent product (Keras `reset_after=False`; PyTorch resets after it), " +
      'so the GRU row starts both systems from the same weights (gates reordered) but does not compare their ' +
      'losses: each only checks that its own step lowers its loss.',
  ],
  cases: ({ quick }) => {
    const p = makeProblem();
    return [trainCase(p, quick), forwardCase(p), gruTrainCase(p, quick)];
  },
};
