/**
 * The pure cells: each recurrence as a function of its weights. Weights use PyTorch's names and layouts, so
 * a module holding fields `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` (a cell) or a view of
 * `weight_ih_l0`, ... (a layer) can be passed as is.
 *
 * Every cell is split in two, so that the combinators can hoist work out of the time loop:
 *   *Input(x)  the part that reads only the input, applied to all T·B rows at once (one matrix product);
 *   *Step(xp, state)  the recurrent part, one [B, G·H] matrix product per step for all gates together.
 *
 * The steps are their equations, written with autograd's primitives exactly as a user's cell would be;
 * their speed comes from the engine: the elementwise ops of a step run as one fused kernel forward and one
 * backward, and a weight's per-step gradients are summed as one product per backward pass.
 */
import {
  add,
  chunk,
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

/** An LSTM's state: h [B, P] (P = projSize or hiddenSize) and c [B, hiddenSize]. */
export type LSTMState = readonly [h: Tensor, c: Tensor];

/** The weights of one LSTM, GRU or RNN cell, in PyTorch's layout (G = 4, 3, 1 gates): W_ih [G·H, in], W_hh [G·H, H], b [G·H]. */
export interface CellWeights {
  /** Input-to-hidden weights of all gates, [gates·H, in]. */
  readonly weight_ih: Tensor;
  /** Hidden-to-hidden weights of all gates, [gates·H, H]. */
  readonly weight_hh: Tensor;
  /** Input-side biases [gates·H], if any. */
  readonly bias_ih?: Tensor | null;
  /** Hidden-side biases [gates·H], if any. */
  readonly bias_hh?: Tensor | null;
}

/** LSTM weights; with a projection (PyTorch `proj_size`), W_hr [P, H] and W_hh [4H, P]. */
export interface LSTMWeights extends CellWeights {
  /** The projection W_hr [P, H], if any. */
  readonly weight_hr?: Tensor | null;
}

/** Nonlinearity of a plain RNN. */
export type Nonlinearity = 'tanh' | 'relu';

/**
 * The LSTM's input part for many rows: x·W_ihᵀ + (b_ih + b_hh), [N, in] → [N, 4H]. Both biases are added
 * here, once for the whole sequence, since they do not depend on the step.
 */
export function lstmInput(x: Tensor, w: LSTMWeights): Tensor {
  const bias = w.bias_ih && w.bias_hh ? add(w.bias_ih, w.bias_hh) : (w.bias_ih ?? w.bias_hh);
  return linear(x, w.weight_ih, bias);
}

/**
 * One LSTM step from the projected input xp = x·W_ihᵀ + b_ih + b_hh (see `lstmInput`), PyTorch's gate order:
 *
 *   i, f, g, o = split(xp + h·W_hhᵀ, 4)      one [B, 4H] product for all four gates
 *   c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g)
 *   h' = σ(o) ⊙ tanh(c')                     (with a projection: h' = (σ(o) ⊙ tanh(c'))·W_hrᵀ)
 */
export function lstmStep(xp: Tensor, [h, c]: LSTMState, w: LSTMWeights, observe?: GateSink): LSTMState {
  const [ai, af, ag, ao] = chunk(add(xp, gemm(h, w.weight_hh, { transB: true })), 4, 1) as [
    Tensor,
    Tensor,
    Tensor,
    Tensor,
  ];
  const [i, f, g, o] = [sigmoid(ai), sigmoid(af), tanh(ag), sigmoid(ao)];
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
 *   x_r, x_z, x_n = split(xp, 3);  h_r, h_z, h_n = split(h·W_hhᵀ + b_hh, 3)
 *   r = σ(x_r + h_r);  z = σ(x_z + h_z)
 *   n = tanh(x_n + r ⊙ h_n)                  b_hn stays inside the reset product
 *   h' = (1 − z) ⊙ n + z ⊙ h  =  n + z ⊙ (h − n)
 */
export function gruStep(xp: Tensor, h: Tensor, w: CellWeights, observe?: GateSink): Tensor {
  const [xr, xz, xn] = chunk(xp, 3, 1) as [Tensor, Tensor, Tensor];
  const [hr, hz, hn] = chunk(linear(h, w.weight_hh, w.bias_hh), 3, 1) as [Tensor, Tensor, Tensor];
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
