/**
 * Section "cells": how fast a recurrent cell trains when a user writes it from primitives, against
 * the built-in layers. One training step of the `lstm` section's regressor (batch 32, 50 steps, input 64,
 * hidden 128, a linear head on the last step's output, MSE, Adam lr 1e-3) for each cell, the user cells and
 * the shipped variants run through `CellStack` (one layer), the reference rows through the `LSTM` and `GRU`
 * layers. TensorLoom only: the table compares rows with each other (÷ the LSTM layer, ÷ the GRU layer) and
 * prints the speed goals for such cells beside those ratios; they are targets, not asserts.
 */
import { manualSeed, narrow, noGrad, reshape, type Tensor, tensor } from '@tensorloom/autograd';
import {
  CellStack,
  GRU,
  LayerNormLSTMCell,
  LSTM,
  PeepholeLSTMCell,
  type RecurrentCell,
  type RecurrentState,
} from '@tensorloom/lstm';
import { Adam, Linear, Module, mseLoss } from '@tensorloom/nn';
import { IndRNNCell, MGU, SRUCell, UserGRUCell, UserLSTMCell } from '../cells/user-cells.ts';
import { type BenchCase, type Runner, relativeError, type Section } from '../harness.ts';
import { normal } from '../inputs.ts';
import { checkDescent } from './lstm.ts';

const B = 32;
const T = 50;
const I = 64;
const H = 128;

const LSTM_LAYER = 'built-in `LSTM` layer';
const GRU_LAYER = 'built-in `GRU` layer';

/** A sequence module as the regressor drives it: x [T, B, I] → [output [T, B, H], final states]. */
type Sequence = Module & { forward(x: Tensor): [Tensor, unknown] };

/** The regressor: a recurrent module over x [T, B, I], then a linear head on the last step's output. */
class Regressor extends Module {
  head = new Linear(H, 1);
  constructor(readonly rnn: Sequence) {
    super();
  }
  forward(x: Tensor): Tensor {
    const [out] = this.rnn.forward(x);
    return this.head.forward(reshape(narrow(out, 0, T - 1, 1), [B, H]));
  }
}

/** One cell through `CellStack`, one layer; `make` builds it for the layer's input size. */
function stack<S extends RecurrentState>(make: (inputSize: number) => RecurrentCell<S> & Module): Sequence {
  return new CellStack(({ inputSize }) => make(inputSize), { inputSize: I });
}

/**
 * Copies a built-in layer model's weights into a user-cell model of the same maths: the layer's
 * `rnn.weight_ih_l0` is the cell's `rnn.cell_l0.weight_ih`, and so on; the heads match by name.
 */
function copyLayerWeights(from: Regressor, to: Regressor): Regressor {
  const source = new Map(from.namedParameters());
  for (const [name, p] of to.namedParameters()) {
    const layerName = name.replace(/^rnn\.cell_l0\.(.*)$/, 'rnn.$1_l0');
    const w = source.get(layerName);
    if (!w || w.data.length !== p.data.length)
      throw new Error(`copyLayerWeights: ${name} has no counterpart ${layerName} of ${p.data.length} values`);
    p.data.set(w.data);
  }
  return to;
}

/** The shared inputs: x time-major [T, B, I] and targets [B, 1], drawn once for every row. */
interface Problem {
  x: Float32Array;
  y: Float32Array;
}

/** A row: how to build its model (deterministically: every call gives the same weights) and its goal. */
interface Row {
  name: string;
  model(): Regressor;
  /** A built-in layer computing the same function from the same weights, checked against this row. */
  sameAs?: () => Regressor;
  vs?: readonly string[];
  goal?: { vs: string; max: number };
}

/** A model seeded for its row, so that the timed model and the check's fresh model start alike. */
const seeded =
  (seed: number, rnn: () => Sequence): (() => Regressor) =>
  () => {
    manualSeed(seed);
    return new Regressor(rnn());
  };

const lstmLayer = seeded(11, () => new LSTM({ inputSize: I, hiddenSize: H }));
const gruLayer = seeded(12, () => new GRU({ inputSize: I, hiddenSize: H }));

const ROWS: readonly Row[] = [
  { name: LSTM_LAYER, model: lstmLayer },
  {
    name: 'LSTM cell from primitives (`UserLSTMCell`)',
    model: () => copyLayerWeights(lstmLayer(), new Regressor(stack((n) => new UserLSTMCell(n, H)))),
    sameAs: lstmLayer,
    goal: { vs: LSTM_LAYER, max: 1.15 },
  },
  {
    name: 'shipped `PeepholeLSTMCell`',
    model: seeded(13, () => stack((n) => new PeepholeLSTMCell({ inputSize: n, hiddenSize: H }))),
    goal: { vs: LSTM_LAYER, max: 1.3 },
  },
  {
    name: 'shipped `LayerNormLSTMCell`',
    model: seeded(14, () => stack((n) => new LayerNormLSTMCell({ inputSize: n, hiddenSize: H }))),
    goal: { vs: LSTM_LAYER, max: 1.8 },
  },
  { name: GRU_LAYER, model: gruLayer, vs: [LSTM_LAYER, GRU_LAYER] },
  {
    name: 'GRU cell from primitives (`UserGRUCell`)',
    model: () => copyLayerWeights(gruLayer(), new Regressor(stack((n) => new UserGRUCell(n, H)))),
    sameAs: gruLayer,
    vs: [LSTM_LAYER, GRU_LAYER],
    goal: { vs: GRU_LAYER, max: 1.15 },
  },
  { name: "README's MGU cell", model: seeded(15, () => stack((n) => new MGU(n, H))) },
  { name: 'IndRNN cell from primitives', model: seeded(16, () => stack((n) => new IndRNNCell(n, H))) },
  {
    name: 'SRU cell from primitives',
    model: seeded(17, () => stack((n) => new SRUCell(n, H))),
    goal: { vs: LSTM_LAYER, max: 0.35 },
  },
];

/** A model with its Adam (lr 1e-3) and one training step on the shared problem. */
function trainer(model: Regressor, p: Problem) {
  const x = tensor(p.x, { shape: [T, B, I] });
  const y = tensor(p.y, { shape: [B, 1] });
  const optimizer = new Adam(model.parameters(), { lr: 1e-3 });
  return {
    /** zeroGrad, forward, loss, backward, Adam step; returns the loss before the step. */
    step(): number {
      optimizer.zeroGrad();
      const loss = mseLoss(model.forward(x), y);
      loss.backward();
      optimizer.step();
      return loss.item();
    },
    evaluate: () => noGrad(() => mseLoss(model.forward(x), y).item()),
  };
}

/** The loss before and after one step from the row's initial weights (which must fall). */
function descent(label: string, model: Regressor, p: Problem): number[] {
  const t = trainer(model, p);
  return checkDescent(label, t.step(), t.evaluate());
}

/** The model's predictions [B, 1] on the shared input, without recording. */
function predict(model: Regressor, p: Problem): ArrayLike<number> {
  return noGrad(() => model.forward(tensor(p.x, { shape: [T, B, I] })).data);
}

/**
 * How close a user cell's predictions, and its losses before and after one step, must be to its built-in
 * layer's from the same weights: float32 rounding differs between the two by ~1e-7 relative.
 */
const SAME_AS_TOLERANCE = 1e-5;

/**
 * The largest relative error of a user cell against its built-in layer from the same weights, over the
 * predictions and the losses before and after one step; throws past `SAME_AS_TOLERANCE`.
 */
function sameAsLayer(row: Row & { sameAs: () => Regressor }, losses: number[], p: Problem): number {
  const layerLosses = descent(`${row.name} (its built-in layer)`, row.sameAs(), p);
  const errors = [
    relativeError(predict(row.model(), p), predict(row.sameAs(), p)),
    relativeError(losses, layerLosses),
  ];
  const worst = errors.some((e) => typeof e === 'string' || !(e <= SAME_AS_TOLERANCE));
  if (worst)
    throw new Error(
      `${row.name}: differs from its built-in layer from the same weights (relative errors of predictions and losses ${errors.join(', ')}, tolerance ${SAME_AS_TOLERANCE}; losses ${losses.join(' → ')}, the layer's ${layerLosses.join(' → ')})`,
    );
  return Math.max(...(errors as number[]));
}

function rowCase(row: Row, p: Problem): BenchCase {
  const tensorloom = (): Runner => {
    const t = trainer(row.model(), p);
    return {
      run: () => void t.step(),
      output: () => {
        const losses = descent(row.name, row.model(), p);
        // A user cell with the layer's weights computes the layer's function: same outputs, same Adam step.
        const { sameAs } = row;
        return sameAs ? [...losses, sameAsLayer({ ...row, sameAs }, losses, p)] : losses;
      },
    };
  };
  return {
    name: row.name,
    systems: { tensorloom },
    ...(row.vs ? { vs: row.vs } : {}),
    ...(row.goal ? { goal: row.goal } : {}),
  };
}

/** The custom-cell table: user cells and shipped variants against the built-in layers. */
export const cellsSection: Section = {
  id: 'cells',
  title: 'Recurrent cells: user cells and variants against the built-in layers (float32)',
  description:
    `One training step of each cell in the \`lstm\` section's regressor: batch ${B}, ${T} steps, input ${I}, ` +
    `hidden ${H}, a linear head on the last step's output, MSE, Adam (lr 1e-3); zeroGrad, forward, ` +
    '`mseLoss`, backward, `Adam.step`, on the same seeded inputs for every row. Cells run through ' +
    '`CellStack` (one layer), the reference rows are the `LSTM` and `GRU` layers. The user cells ' +
    '(`bench/src/cells/user-cells.ts`) use public primitives only. Each sample is one step.',
  metric: { kind: 'time', unit: 'ms' },
  // Steps take 3–150 ms; steady-state steps are timed, as in the lstm section: warm up for 1 s, then up to 9
  // samples in 1.5 s (at least 2). Every sample is one step (sampleMs 1: no step is shorter), because the rows
  // are compared by their medians: a row batched two steps to a sample would report a median of pair means,
  // which takes in more of the collector's pauses than the median of single steps its baseline reports.
  timing: { warmupMs: 1000, warmupCalls: 1, sampleMs: 1, samples: 9, minSamples: 2, maxMs: 1500 },
  baselines: [
    { case: LSTM_LAYER, label: 'LSTM layer' },
    { case: GRU_LAYER, label: 'GRU layer' },
  ],
  check: {
    label: 'loss before → after one step',
    format: ([before, after, sameAs]) =>
      `${before!.toFixed(4)} → ${after!.toFixed(4)}` +
      (sameAs === undefined
        ? ''
        : ` (= its layer's ${sameAs === 0 ? 'bit for bit' : `to ${sameAs.toExponential(0)}`})`),
  },
  notes: [
    "Goals (targets, not asserts): the user's LSTM cell ≤ 1.15× the LSTM layer, the user's GRU cell " +
      '≤ 1.15× the GRU layer, Peephole ≤ 1.3×, layer-norm LSTM ≤ 1.8×, SRU ≤ 0.35× the LSTM layer.',
    "Each row's check: one Adam step from its initial weights lowers the loss. The user LSTM and GRU cells " +
      "start from their built-in layer's weights and must give its predictions and its losses (before and " +
      `after the step) to ${SAME_AS_TOLERANCE} relative; the check column shows the largest relative error.`,
  ],
  cases: () => {
    const p: Problem = { x: normal([T, B, I]), y: normal([B, 1]) };
    return ROWS.map((row) => rowCase(row, p));
  },
};
