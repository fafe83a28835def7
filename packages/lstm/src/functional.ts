/**
 * The pure cells: each recurrence as a function of its weights. Weights use PyTorch's names and layouts, so
 * a module holding fields `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` (a cell) or a view of
 * `weight_ih_l0`, ... (a layer) can be passed as is.
 *
 * Every cell is split in two, so that the combinators can hoist work out of the time loop:
 *   *Input(x)  the part that reads only the input, applied to all T·B rows at once (one matrix product);
 *   *Step(xp, state)  the recurrent part, one [B, G·H] matrix product per step for all gates together.
 *
 * The equations are composed from autograd primitives (`lstmPointwiseComposed`, `gruPointwiseComposed` in
 * fused.ts); the LSTM and GRU steps run them as fused ops whose hand-written VJPs are tested equal to
 * those compositions, and the combinators' steps share one recurrent-weight gradient per sequence
 * (`RecurrentProduct`). The RNN step stays composed.
 */
import { add, type DType, gemm, linear, rand, relu, type Tensor, tanh, zeros } from '@tensorloom/autograd';
import { Parameter } from '@tensorloom/nn';
import type { GateSink, RecurrentCell } from './cell.ts';
import {
  gruPointwise,
  gruPointwiseComposed,
  type LSTMPointwise,
  lstmPointwise,
  lstmPointwiseComposed,
  RecurrentProduct,
} from './fused.ts';

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
 * here, once for the whole sequence, since they do not depend on the step; their sum is formed first ([4H])
 * so the [N, 4H] product gets one bias addition, not two.
 */
export function lstmInput(x: Tensor, w: LSTMWeights): Tensor {
  const bias = w.bias_ih && w.bias_hh ? add(w.bias_ih, w.bias_hh) : (w.bias_ih ?? w.bias_hh);
  return linear(x, w.weight_ih, bias);
}

/**
 * One LSTM step from the projected input xp = x·W_ihᵀ + b_ih + b_hh (see `lstmInput`):
 *
 *   gates = xp + h·W_hhᵀ                   one [B, 4H] product for all four gates
 *   i, f, g, o = split(gates, 4)           PyTorch's gate order
 *   i = σ(i),  f = σ(f),  g = tanh(g),  o = σ(o)
 *   c' = f ⊙ c + i ⊙ g
 *   h' = o ⊙ tanh(c')                      (with a projection: h' = (o ⊙ tanh(c'))·W_hrᵀ)
 *
 * Everything after the product is `lstmPointwiseComposed` (fused.ts), which spells out these equations;
 * the step runs it as one fused op (`lstmPointwise`, tested equal), or composed when `observe` wants the
 * gates as tensors of the graph. In `lstmCell`'s steps, h·W_hhᵀ is the step's share of a sequence-wide
 * product whose weight gradient is formed once per backward pass (`RecurrentProduct`).
 */
export function lstmStep(xp: Tensor, state: LSTMState, w: LSTMWeights, observe?: GateSink): LSTMState {
  return lstmStepWithBias(xp, null, state, w, observe, null);
}

/**
 * `lstmStep` with the biases b = b_ih + b_hh added inside the step (or null when xp includes them), and
 * optionally the step's share of a sequence's recurrent product.
 */
function lstmStepWithBias(
  xp: Tensor,
  bias: Tensor | null,
  state: LSTMState,
  w: LSTMWeights,
  observe: GateSink | undefined,
  shared: SharedStep | null,
): LSTMState {
  const [h, c] = state;
  const hh = shared ? shared.product.apply(h, shared.step) : gemm(h, w.weight_hh, { transB: true });
  let hFull: Tensor;
  let cNext: Tensor;
  let gates: LSTMPointwise | null = null;
  if (observe) {
    gates = lstmPointwiseComposed(xp, hh, c, bias);
    hFull = gates.h;
    cNext = gates.c;
  } else {
    [hFull, cNext] = lstmPointwise(xp, hh, c, bias, {
      // ∂xp = ∂hh, so the fused VJP can write it straight into the shared product's rows (RecurrentProduct).
      gateGradient: shared ? () => shared.product.gradientRows(shared.step) : undefined,
      // hh is read by nothing else: its storage can take the activations.
      recomputeHH: () => gemm(h, w.weight_hh, { transB: true }),
    });
  }
  const hNext = w.weight_hr ? gemm(hFull, w.weight_hr, { transB: true }) : hFull;
  if (observe && gates) observe({ i: gates.i, f: gates.f, g: gates.g, o: gates.o, c: cNext, h: hNext });
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
 *
 * After the product hh = h·W_hhᵀ + b_hh this is `gruPointwiseComposed` (fused.ts), run as one fused op
 * (`gruPointwise`, tested equal) unless `observe` wants the gates as tensors of the graph.
 */
export function gruStep(xp: Tensor, h: Tensor, w: CellWeights, observe?: GateSink): Tensor {
  return gruStepShared(xp, h, w, observe, null);
}

/** `gruStep`, optionally as its share of a sequence's recurrent product (see `gruCell`). */
function gruStepShared(
  xp: Tensor,
  h: Tensor,
  w: CellWeights,
  observe: GateSink | undefined,
  shared: SharedStep | null,
): Tensor {
  const hh = shared ? shared.product.apply(h, shared.step) : linear(h, w.weight_hh, w.bias_hh);
  if (!observe)
    return gruPointwise(
      xp,
      hh,
      h,
      shared
        ? {
            hhGradient: () => shared.product.gradientRows(shared.step),
            xpGradient: () => shared.product.inputGradientRows(shared.step),
          }
        : {},
    );
  // The composed definition (fused.ts), so the observer gets r, z, n as tensors of the graph.
  const { r, z, n, h: hNext } = gruPointwiseComposed(xp, hh, h);
  observe({ r, z, n, h: hNext });
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

/** A step's share of its sequence's recurrent product: the product and the step's index in it. */
interface SharedStep {
  product: RecurrentProduct;
  step: number;
}

/**
 * Ties the steps of one sequence to a `RecurrentProduct` over h·W_hhᵀ (+ b_hh). The combinators project the
 * whole sequence once (`projectInput`, [L·B, k]) and hand each step its rows as a view; a step's index is
 * where its view sits in that projection. So the product is scoped to one projection, that is to one
 * forward pass of one sequence, and a step whose input is not such a view (a cell driven by hand) or
 * whose index was already used simply multiplies directly.
 */
class SequenceSteps {
  private projection: Tensor | null = null;
  private product: RecurrentProduct | null = null;
  /** The biases the projection's steps add (LSTM: b_ih + b_hh, formed once per sequence), or null. */
  private bias: Tensor | null = null;

  constructor(
    private readonly weight: Tensor,
    private readonly productBias: Tensor | null,
  ) {}

  /** Remembers a new projection (a new sequence) and the biases its steps add; returns the projection. */
  project(p: Tensor, bias: Tensor | null = null): Tensor {
    this.projection = p;
    this.product = null;
    this.bias = bias;
    return p;
  }

  /** The step index of `xp` in the current projection, or −1 when it is not a view of one of its steps. */
  private indexOf(xp: Tensor): number {
    const p = this.projection;
    if (!p || xp.data.buffer !== p.data.buffer || xp.ndim !== 2 || p.ndim !== 2) return -1;
    const [B, k] = xp.shape as [number, number];
    const rowBytes = B * k * xp.data.BYTES_PER_ELEMENT;
    const offset = xp.data.byteOffset - p.data.byteOffset;
    if (k !== p.shape[1] || offset < 0 || offset % rowBytes !== 0 || p.shape[0]! % B !== 0) return -1;
    return offset / rowBytes;
  }

  /**
   * For the step reading `xp`: the shared product (null: multiply directly) and, when `xp` belongs to the
   * current projection, the biases formed with it (else `freshBias()`).
   */
  stepOf(xp: Tensor, freshBias: () => Tensor | null): { shared: SharedStep | null; bias: Tensor | null } {
    const step = this.indexOf(xp);
    if (step < 0) return { shared: null, bias: freshBias() };
    const B = xp.shape[0]!;
    this.product ??= RecurrentProduct.create(
      this.weight,
      this.productBias,
      this.projection!.shape[0]! / B,
      B,
    );
    const shared = this.product?.claim(step) ? { product: this.product, step } : null;
    return { shared, bias: this.bias };
  }
}

/**
 * A pure LSTM cell over the given weights, for the combinators (`recurrent`, `stacked`). Its `projectInput`
 * is x·W_ihᵀ alone; its `step` adds b_ih + b_hh inside the fused pointwise op (one pass fewer over the whole
 * projection, and ∂b summed per step while ∂a is in cache), so feed `step` with its own `projectInput`, not
 * with `lstmInput`.
 */
export function lstmCell(w: LSTMWeights): RecurrentCell<LSTMState> {
  const hidden = w.weight_ih.shape[0]! / 4;
  const outputSize = w.weight_hr ? w.weight_hr.shape[0]! : hidden;
  const dtype = w.weight_ih.dtype;
  const steps = new SequenceSteps(w.weight_hh, null);
  const biasOf = (): Tensor | null =>
    w.bias_ih && w.bias_hh ? add(w.bias_ih, w.bias_hh) : (w.bias_ih ?? w.bias_hh ?? null);
  return {
    inputSize: w.weight_ih.shape[1]!,
    outputSize,
    initialState: (batch) => [zeros([batch, outputSize], { dtype }), zeros([batch, hidden], { dtype })],
    projectInput: (x) => steps.project(linear(x, w.weight_ih), biasOf()),
    step: (xp, state, observe) => {
      const { shared, bias } = steps.stepOf(xp, biasOf);
      return lstmStepWithBias(xp, bias, state, w, observe, shared);
    },
    output: (state) => state[0],
    stepWeights: w.weight_hr ? [w.weight_hh, w.weight_hr] : [w.weight_hh],
  };
}

/** A pure GRU cell over the given weights. */
export function gruCell(w: CellWeights): RecurrentCell<Tensor> {
  const hidden = w.weight_ih.shape[0]! / 3;
  const dtype = w.weight_ih.dtype;
  const steps = new SequenceSteps(w.weight_hh, w.bias_hh ?? null);
  return {
    inputSize: w.weight_ih.shape[1]!,
    outputSize: hidden,
    initialState: (batch) => zeros([batch, hidden], { dtype }),
    projectInput: (x) => steps.project(gruInput(x, w)),
    step: (xp, h, observe) => gruStepShared(xp, h, w, observe, steps.stepOf(xp, () => null).shared),
    output: (h) => h,
    stepWeights: [w.weight_hh],
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
    stepWeights: [w.weight_hh],
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
