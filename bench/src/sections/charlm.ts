/**
 * Section "charlm": the character-level language model step of issue 6 (vocabulary 65, embedding 32, one LSTM
 * layer of 256, 64 steps, batch 32, a linear head on every step's output, cross-entropy, Adam), reported as
 * characters per second. TensorLoom uses an `Embedding`; tfjs gets a one-hot input times a bias-free dense
 * layer, which is the same function (tfjs-wasm has no kernel for an embedding's gradient in Node).
 */
import { manualSeed, noGrad, randint, reshape, type Tensor } from '@tensorloom/autograd';
import { LSTM } from '@tensorloom/lstm';
import { Adam, crossEntropy, Embedding, Linear, Module } from '@tensorloom/nn';
import type { BenchCase, Section } from '../harness.ts';
import { tf } from '../systems.ts';
import {
  firstLoss,
  foldBias,
  NO_INIT,
  restore,
  type Snapshot,
  setTfWeights,
  snapshot,
  type TfTensor,
  tfEvaluate,
  tfLstmWeights,
  trainable,
  trainingSystems,
  transposed,
} from './lstm.ts';

const V = 65;
const E = 32;
const H = 256;
const T = 64;
const B = 32;

/** TensorLoom's char-LM: ids [T·B] (time-major) → embedding [T, B, E] → LSTM [T, B, H] → logits [T·B, V]. */
class CharLM extends Module {
  embedding = new Embedding(V, E);
  lstm = new LSTM({ inputSize: E, hiddenSize: H });
  head = new Linear(H, V);

  forward(ids: Int32Array): Tensor {
    const [out] = this.lstm.forward(reshape(this.embedding.forward(ids), [T, B, E]));
    return reshape(this.head.forward(out), [T * B, V]);
  }
}

/** The shared problem: weights, and B character sequences of T + 1 (inputs, and targets shifted by one). */
interface Problem {
  weights: Snapshot;
  /** Input ids, time-major [T, B] flattened: position t·B + b. */
  ids: Int32Array;
  /** Target ids (the next character), laid out like `ids`. */
  targets: Int32Array;
  /** One-hot inputs [B, T, V] for tfjs (batch-first). */
  xOneHot: Float32Array;
  /** One-hot targets [B, T, V]. */
  yOneHot: Float32Array;
}

function makeProblem(): Problem {
  manualSeed(6);
  const weights = snapshot(new CharLM());
  // Uniformly random text: the step's cost does not depend on the characters.
  const text = randint(0, V, [B, T + 1]).data;
  const ids = new Int32Array(T * B);
  const targets = new Int32Array(T * B);
  const xOneHot = new Float32Array(B * T * V);
  const yOneHot = new Float32Array(B * T * V);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const c = text[b * (T + 1) + t]!;
      const next = text[b * (T + 1) + t + 1]!;
      ids[t * B + b] = c;
      targets[t * B + b] = next;
      xOneHot[(b * T + t) * V + c] = 1;
      yOneHot[(b * T + t) * V + next] = 1;
    }
  }
  return { weights, ids, targets, xOneHot, yOneHot };
}

/**
 * A TensorLoom char-LM from the shared weights, with its Adam and one training step. With `singleBias`, the
 * LSTM biases are folded as tfjs's (see `foldBias`), for the cross-check only.
 */
function ours(p: Problem, singleBias = false) {
  const model = restore(new CharLM(), singleBias ? foldBias(p.weights, 'lstm.') : p.weights);
  const optimizer = new Adam(trainable(model, singleBias ? ['lstm.bias_hh_l0'] : []), { lr: 1e-3 });
  const step = (): number => {
    optimizer.zeroGrad();
    const loss = crossEntropy(model.forward(p.ids), p.targets);
    loss.backward();
    optimizer.step();
    return loss.item();
  };
  const evaluate = () => noGrad(() => crossEntropy(model.forward(p.ids), p.targets).item());
  return { step, evaluate };
}

/**
 * tfjs's char-LM from the shared weights: one-hot [B, T, V] → dense V→E without bias (its kernel is the
 * embedding table, so one-hot × kernel picks rows) → lstm (sigmoid gates, returnSequences) → dense H→V, with
 * `tf.losses.softmaxCrossEntropy` on the logits (mean over the B·T characters, as `crossEntropy`) and Adam.
 */
function theirs(p: Problem) {
  const t = tf();
  const model = t.sequential();
  model.add(t.layers.dense({ units: E, useBias: false, inputShape: [T, V], kernelInitializer: 'zeros' }));
  model.add(t.layers.lstm({ units: H, returnSequences: true, recurrentActivation: 'sigmoid', ...NO_INIT }));
  model.add(t.layers.dense({ units: V, ...NO_INIT }));
  setTfWeights(model, 0, [p.weights.get('embedding.weight')!]);
  setTfWeights(model, 1, tfLstmWeights(p.weights, 'lstm.', E, H));
  setTfWeights(model, 2, [transposed(p.weights.get('head.weight')!, V, H), p.weights.get('head.bias')!]);
  const optimizer = t.train.adam(1e-3, 0.9, 0.999, 1e-8);
  model.compile({
    optimizer,
    loss: (yTrue: TfTensor, yPred: TfTensor) => t.losses.softmaxCrossEntropy(yTrue, yPred),
  });
  const x = t.tensor(p.xOneHot, [B, T, V]);
  const y = t.tensor(p.yOneHot, [B, T, V]);
  return {
    step: async () => firstLoss(await model.trainOnBatch(x, y)),
    evaluate: () => tfEvaluate(model, x, y),
    dispose: () => {
      model.dispose();
      optimizer.dispose();
      t.dispose([x, y]);
    },
  };
}

function trainCase(p: Problem, quick: boolean): BenchCase {
  // tfjs-cpu needs ~6 s per step (and as much again for the output check): too slow for a smoke run.
  const { systems, unsupported } = trainingSystems(
    'charlm',
    (forCheck) => ours(p, forCheck),
    () => theirs(p),
    quick,
    'several seconds per step',
  );
  // The losses agree to ~6e-7 when the maths is the same; one step lowers the loss by ~0.005, so 1e-5
  // (relative to the loss, ~4.2) notices an update that is off by a small share of its size.
  return {
    name: 'train step (forward, backward, Adam)',
    work: B * T,
    tolerance: 1e-5,
    systems,
    unsupported,
  };
}

/** The char-LM training step of issue 6, in characters per second, beside tfjs-layers. */
export const charlmSection: Section = {
  id: 'charlm',
  title: 'char-LM training step (float32)',
  description:
    `Vocabulary ${V}, embedding ${E}, one LSTM layer of ${H}, ${T} steps, batch ${B}, a linear head on every ` +
    "step's output, mean cross-entropy over all B·T characters, Adam (lr 1e-3); characters/s = B·T ÷ step " +
    'time. TensorLoom: `Embedding` + `LSTM` + `Linear`, `crossEntropy`, zeroGrad, backward, `Adam.step`. ' +
    'tfjs: one-hot input [B, T, 65] × a bias-free `tf.layers.dense` 65→32 (the same function as an ' +
    'embedding: its kernel is the table) + `tf.layers.lstm` (returnSequences, sigmoid gates) + ' +
    '`tf.layers.dense` 256→65, loss `tf.losses.softmaxCrossEntropy` on the logits, `await model.trainOnBatch`.',
  metric: { kind: 'rate', label: 'characters/s', scale: 1 },
  // Steps take from ~0.1 s (goal) to ~6 s (tfjs-cpu): one warm-up call for the slow ones, and a single sample
  // per round where one already spends the budget, so the section stays near a minute.
  timing: { warmupMs: 500, warmupCalls: 1, samples: 7, minSamples: 1, maxMs: 1500 },
  notes: [
    'What is compared: TensorLoom looks characters up in an `Embedding`; tfjs multiplies one-hot vectors by ' +
      'the same table in a dense layer, because tfjs-wasm cannot train `tf.layers.embedding` in Node (its ' +
      "gradient needs UnsortedSegmentSum, which the wasm backend does not register). tfjs's variant does more " +
      'arithmetic (a [2048, 65]·[65, 32] product and its gradient), a small share of the step.',
    'All systems start from the same weights and characters; the output check compares the loss before and ' +
      "after one Adam step (which must decrease), with TensorLoom's two LSTM biases folded into one as tfjs's " +
      'for that check only (see the LSTM section).',
    'Issue 6 figures on this machine: tfjs-wasm ~1,050 characters/s, tfjs-cpu ~360/s, brain.js ~500/s; ' +
      'the goal is at least 10× tfjs-wasm.',
  ],
  cases: ({ quick }) => [trainCase(makeProblem(), quick)],
};
