/**
 * The pure cells: each recurrence as a function of its weights, composed from autograd primitives (no
 * hand-written backward). Weights use PyTorch's names and layouts, so a module holding fields `weight_ih`,
 * `weight_hh`, `bias_ih`, `bias_hh` (a cell) or a view of `weight_ih_l0`, ... (a layer) can be passed as is.
 *
 * Every cell is split in two, so that the combinators can hoist work out of the time loop:
 *   *Input(x)  the part that reads only the input, applied to all T·B rows at once (one matrix product);
 *   *Step(xp, state)  the recurrent part, one [B, G·H] matrix product per step for all gates together.
 */
import {
  add,
  type DType,
  gemm,
  linear,
  mul,
  rand,
  relu,
  sigmoid,
  sub,
  type Tensor,
  tanh,
  zeros,
} from '@tensorloom/autograd';
import { Parameter } from '@tensorloom/nn';
import type { GateSink, RecurrentCell } from './cell.ts';
import { splitParts } from './split.ts';

/** An LSTM's state: h [B, P] (P = projSize or hiddenSize) and c [B, hiddenSize]. */
export type LSTMState = readonly [h: Tensor, c: Tensor];

/** The weights of one LSTM, GRU or RNN cell, in PyTorch's layout (G = 4, 3, 1 gates): W_ih [G·H, in], W_hh [G·H, H], b [G·H]. */
export interface CellWeights {
  readonly weight_ih: Tensor;
  readonly weight_hh: Tensor;
  readonly bias_ih?: Tensor | null;
  readonly bias_hh?: Tensor | null;
}

/** LSTM weights; with a projection (PyTorch `proj_size`), W_hr [P, H] and W_hh [4H, P]. */
export interface LSTMWeights extends CellWeights {
  readonly weight_hr?: Tensor | null;
}

/** Nonlinearity of a plain RNN. */
export type Nonlinearity = 'tanh' | 'relu';

/**
 * The LSTM's input part for many rows: x·W_ihᵀ + b_ih + b_hh, [N, in] → [N, 4H]. Both biases are added here,
 * once for the whole sequence, since they do not depend on the step.
 */
export function lstmInput(x: Tensor, w: LSTMWeights): Tensor {
  const xp = linear(x, w.weight_ih, w.bias_ih);
  return w.bias_hh ? add(xp, w.bias_hh) : xp;
}

/**
 * One LSTM step from the projected input xp = x·W_ihᵀ + b_ih + b_hh (see `lstmInput`):
 *
 *   gates = xp + h·W_hhᵀ                   one [B, 4H] product for all four gates
 *   i, f, g, o = split(gates, 4)           PyTorch's gate order
 *   i = σ(i),  f = σ(f),  g = tanh(g),  o = σ(o)
 *   c' = f ⊙ c + i ⊙ g
 *   h' = o ⊙ tanh(c')                      (with a projection: h' = (o ⊙ tanh(c'))·W_hrᵀ)
 */
export function lstmStep(xp: Tensor, state: LSTMState, w: LSTMWeights, observe?: GateSink): LSTMState {
  const [h, c] = state;
  const H = c.shape[1]!;
  const gates = add(xp, gemm(h, w.weight_hh, { transB: true }));
  const [ai, af, ag, ao] = splitParts(gates, [H, H, H, H], 1) as [Tensor, Tensor, Tensor, Tensor];
  const i = sigmoid(ai);
  const f = sigmoid(af);
  const g = tanh(ag);
  const o = sigmoid(ao);
  const cNext = add(mul(f, c), mul(i, g));
  const hFull = mul(o, tanh(cNext));
  const hNext = w.weight_hr ? gemm(hFull, w.weight_hr, { transB: true }) : hFull;
  observe?.({ i, f, g, o, c: cNext, h: hNext });
  return [hNext, cNext];
}

/** The GRU's input part for many rows: x·W_ihᵀ + b_ih, [N, in] → [N, 3H]. */
export function gruInput(x: Tensor, w: CellWeights): Tensor {
  return linear(x, w.weight_ih, w.bias_ih);
}

/**
 * One GRU step from xp = x·W_ihᵀ + b_ih (see `gruInput`), PyTorch's equations and gate order r, z, n:
 *
 *   r = σ(x_r + h·W_hrᵀ + b_hr)
 *   z = σ(x_z + h·W_hzᵀ + b_hz)
 *   n = tanh(x_n + r ⊙ (h·W_hnᵀ + b_hn))     b_hn stays inside the reset product
 *   h' = (1 − z) ⊙ n + z ⊙ h  =  n + z ⊙ (h − n)
 */
export function gruStep(xp: Tensor, h: Tensor, w: CellWeights, observe?: GateSink): Tensor {
  const H = h.shape[1]!;
  const hh = linear(h, w.weight_hh, w.bias_hh);
  const [xr, xz, xn] = splitParts(xp, [H, H, H], 1) as [Tensor, Tensor, Tensor];
  const [hr, hz, hn] = splitParts(hh, [H, H, H], 1) as [Tensor, Tensor, Tensor];
  const r = sigmoid(add(xr, hr));
  const z = sigmoid(add(xz, hz));
  const n = tanh(add(xn, mul(r, hn)));
  const hNext = add(n, mul(z, sub(h, n)));
  observe?.({ r, z, n, h: hNext });
  return hNext;
}

/** The RNN's input part for many rows: x·W_ihᵀ + b_ih + b_hh, [N, in] → [N, H]. */
export function rnnInput(x: Tensor, w: CellWeights): Tensor {
  return lstmInput(x, w);
}

/** One Elman RNN step from xp = x·W_ihᵀ + b_ih + b_hh:  h' = act(xp + h·W_hhᵀ), act = tanh or relu. */
export function rnnStep(
  xp: Tensor,
  h: Tensor,
  w: CellWeights,
  nonlinearity: Nonlinearity,
  observe?: GateSink,
): Tensor {
  const pre = add(xp, gemm(h, w.weight_hh, { transB: true }));
  const hNext = nonlinearity === 'relu' ? relu(pre) : tanh(pre);
  observe?.({ h: hNext });
  return hNext;
}

/** A pure LSTM cell over the given weights, for the combinators (`recurrent`, `stacked`). */
export function lstmCell(w: LSTMWeights): RecurrentCell<LSTMState> {
  const hidden = w.weight_ih.shape[0]! / 4;
  const outputSize = w.weight_hr ? w.weight_hr.shape[0]! : hidden;
  const dtype = w.weight_ih.dtype;
  return {
    inputSize: w.weight_ih.shape[1]!,
    outputSize,
    initialState: (batch) => [zeros([batch, outputSize], { dtype }), zeros([batch, hidden], { dtype })],
    projectInput: (x) => lstmInput(x, w),
    step: (xp, state, observe) => lstmStep(xp, state, w, observe),
    output: (state) => state[0],
  };
}

/** A pure GRU cell over the given weights. */
export function gruCell(w: CellWeights): RecurrentCell<Tensor> {
  const hidden = w.weight_ih.shape[0]! / 3;
  const dtype = w.weight_ih.dtype;
  return {
    inputSize: w.weight_ih.shape[1]!,
    outputSize: hidden,
    initialState: (batch) => zeros([batch, hidden], { dtype }),
    projectInput: (x) => gruInput(x, w),
    step: (xp, h, observe) => gruStep(xp, h, w, observe),
    output: (h) => h,
  };
}

/** A pure Elman RNN cell over the given weights. */
export function rnnCell(w: CellWeights, nonlinearity: Nonlinearity = 'tanh'): RecurrentCell<Tensor> {
  const hidden = w.weight_ih.shape[0]!;
  const dtype = w.weight_ih.dtype;
  return {
    inputSize: w.weight_ih.shape[1]!,
    outputSize: hidden,
    initialState: (batch) => zeros([batch, hidden], { dtype }),
    projectInput: (x) => rnnInput(x, w),
    step: (xp, h, observe) => rnnStep(xp, h, w, nonlinearity, observe),
    output: (h) => h,
  };
}

/**
 * A parameter drawn from U(−bound, bound) with the seeded generator: PyTorch's recurrent default with
 * bound = 1/√hiddenSize.
 */
export function uniformParameter(shape: readonly number[], bound: number, dtype: DType): Parameter {
  const t = rand(shape, { dtype });
  for (let i = 0; i < t.size; i++) t.data[i] = -bound + 2 * bound * t.data[i]!;
  return new Parameter(t);
}
