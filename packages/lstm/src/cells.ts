/**
 * The cells as modules: `LSTMCell`, `GRUCell` and `RNNCell` with PyTorch's parameter names, shapes and
 * default initialisation, so `loadStateDict` of a `torch.nn.LSTMCell`/`GRUCell`/`RNNCell` state dict gives
 * PyTorch's numbers. Each is also a `RecurrentCell`, so it runs under `recurrent`, `stacked` and `CellStack`.
 */
import { type DType, type Tensor, zeros } from '@tensorloom/autograd';
import { Module, type Parameter } from '@tensorloom/nn';
import { fmt, type GateSink, type RecurrentCell, type RecurrentState } from './cell.ts';
import {
  gruInput,
  gruStep,
  type LSTMState,
  lstmInput,
  lstmStep,
  type Nonlinearity,
  rnnInput,
  rnnStep,
  uniformParameter,
} from './functional.ts';

/** Options shared by the cells. */
export interface CellOptions {
  /** Features of the input x. */
  inputSize: number;
  /** Features of the hidden state h (and of c). */
  hiddenSize: number;
  /** Whether to learn b_ih and b_hh. Default true. */
  bias?: boolean;
  /** Parameter dtype. Default 'float32'. */
  dtype?: DType;
}

/** Options of a single-step `forward`. */
export interface StepOptions {
  /** Receives the step's gate activations. */
  observe?: GateSink;
}

/** Throws unless `n` is a positive integer (`what` names it in the message). */
export function checkSize(op: string, what: string, n: unknown): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new Error(`${op}: ${what} must be a positive integer, got ${String(n)}`);
  }
  return n;
}

/** Throws unless `t` is a tensor of shape `expected` and dtype `dtype`; `what` names it. */
export function checkShape(
  op: string,
  what: string,
  t: unknown,
  expected: readonly number[],
  dtype: DType,
): void {
  const shape = (t as Tensor | null)?.shape;
  if (!shape || shape.length !== expected.length || shape.some((n, i) => n !== expected[i])) {
    throw new Error(
      `${op}: expected ${what} of shape ${fmt(expected)}, got ${shape ? fmt(shape) : String(t)}`,
    );
  }
  if ((t as Tensor).dtype !== dtype) {
    throw new Error(
      `${op}: ${what} is ${(t as Tensor).dtype} but the parameters are ${dtype}; convert with .to()`,
    );
  }
}

/** Checks a cell's 2-d input [B, inputSize] and returns B. */
export function checkCellInput(op: string, x: Tensor, inputSize: number, dtype: DType): number {
  const shape = (x as Tensor | null)?.shape;
  if (shape?.length !== 2 || shape[1] !== inputSize) {
    throw new Error(
      `${op}: expected input of shape [batch, ${inputSize}], got ${shape ? fmt(shape) : String(x)}`,
    );
  }
  checkShape(op, 'input', x, shape, dtype);
  return shape[0]!;
}

/**
 * What every cell module shares (PyTorch's `RNNCellBase`): the four parameters with `gates` stacked blocks
 * of H rows, weight_ih [gates·H, in], weight_hh [gates·H, H], bias_ih and bias_hh [gates·H] (drawn from
 * U(−1/√H, 1/√H), PyTorch's default) and the sizes.
 */
abstract class CellBase<S extends RecurrentState> extends Module implements RecurrentCell<S> {
  /** Input-to-hidden weights of all gates, [gates·H, in]. */
  weight_ih: Parameter;
  /** Hidden-to-hidden weights of all gates, [gates·H, H]. */
  weight_hh: Parameter;
  /** Input-side biases [gates·H], or null without biases. */
  bias_ih: Parameter | null;
  /** Hidden-side biases [gates·H], or null without biases. */
  bias_hh: Parameter | null;
  /** Features of the input. */
  readonly inputSize: number;
  /** Features of the hidden state. */
  readonly hiddenSize: number;

  constructor(
    protected readonly op: string,
    options: CellOptions,
    gates: number,
  ) {
    super();
    const inputSize = checkSize(op, 'inputSize', options.inputSize);
    const hiddenSize = checkSize(op, 'hiddenSize', options.hiddenSize);
    const dtype = options.dtype ?? 'float32';
    const init = (shape: number[]) => uniformParameter(shape, 1 / Math.sqrt(hiddenSize), dtype);
    const bias = options.bias ?? true;
    this.weight_ih = init([gates * hiddenSize, inputSize]);
    this.weight_hh = init([gates * hiddenSize, hiddenSize]);
    this.bias_ih = bias ? init([gates * hiddenSize]) : null;
    this.bias_hh = bias ? init([gates * hiddenSize]) : null;
    this.inputSize = inputSize;
    this.hiddenSize = hiddenSize;
  }

  /** Features of a step's output: the hidden size. */
  get outputSize(): number {
    return this.hiddenSize;
  }
  abstract initialState(batch: number): S;
  abstract projectInput(x: Tensor): Tensor;
  abstract step(xp: Tensor, state: S, observe?: GateSink): S;
  abstract output(state: S): Tensor;
}

/**
 * A long short-term memory cell (Hochreiter & Schmidhuber 1997, with a forget gate), PyTorch's `LSTMCell`:
 *
 *   i = σ(x·W_iiᵀ + b_ii + h·W_hiᵀ + b_hi)
 *   f = σ(x·W_ifᵀ + b_if + h·W_hfᵀ + b_hf)
 *   g = tanh(x·W_igᵀ + b_ig + h·W_hgᵀ + b_hg)
 *   o = σ(x·W_ioᵀ + b_io + h·W_hoᵀ + b_ho)
 *   c' = f ⊙ c + i ⊙ g
 *   h' = o ⊙ tanh(c')
 *
 * The four gates' weights are stacked in that order: weight_ih [4H, in], weight_hh [4H, H], biases [4H],
 * so all gates come from one matrix product per operand (see `lstmStep`). Driven by the combinators
 * (`recurrent`, `CellStack`), W_hh stays in WebAssembly memory for the whole loop; a hand-written loop over
 * `forward` gets the same inside autograd's `withResidentWeights(...)`.
 */
export class LSTMCell extends CellBase<LSTMState> {
  constructor(options: CellOptions) {
    super('LSTMCell', options, 4);
  }

  /** One step: x [B, in] and [h, c] (zeros when omitted), each [B, H], to [h', c']. */
  forward(x: Tensor, state?: LSTMState | null, options: StepOptions = {}): LSTMState {
    const B = checkCellInput(this.op, x, this.inputSize, this.weight_ih.dtype);
    if (state) {
      if (!Array.isArray(state) || state.length !== 2)
        throw new Error(`${this.op}: expected the state as [h, c]`);
      checkShape(this.op, 'h', state[0], [B, this.hiddenSize], x.dtype);
      checkShape(this.op, 'c', state[1], [B, this.hiddenSize], x.dtype);
    }
    return this.step(this.projectInput(x), state ?? this.initialState(B), options.observe);
  }

  /** The zero state [h, c], each [batch, H]. */
  initialState(batch: number): LSTMState {
    const dtype = this.weight_ih.dtype;
    return [zeros([batch, this.hiddenSize], { dtype }), zeros([batch, this.hiddenSize], { dtype })];
  }
  /** x·W_ihᵀ + b_ih for all steps at once: [N, in] → [N, 4H]. */
  projectInput(x: Tensor): Tensor {
    return lstmInput(x, this);
  }
  /** One step from the projected input: [h, c] → [h', c']. */
  step(xp: Tensor, state: LSTMState, observe?: GateSink): LSTMState {
    return lstmStep(xp, state, this, observe);
  }
  /** The output of a step is h. */
  output(state: LSTMState): Tensor {
    return state[0];
  }
}

/** The cells whose state is one tensor h (GRU, RNN): the zero state and a checked single-step `forward`. */
abstract class HiddenStateCell extends CellBase<Tensor> {
  /** One step: x [B, in] and h [B, H] (zeros when omitted) to h'. */
  forward(x: Tensor, h?: Tensor | null, options: StepOptions = {}): Tensor {
    const B = checkCellInput(this.op, x, this.inputSize, this.weight_ih.dtype);
    if (h) checkShape(this.op, 'h', h, [B, this.hiddenSize], x.dtype);
    return this.step(this.projectInput(x), h ?? this.initialState(B), options.observe);
  }

  /** The zero state [batch, H]. */
  initialState(batch: number): Tensor {
    return zeros([batch, this.hiddenSize], { dtype: this.weight_ih.dtype });
  }
  /** The output of a step is h itself. */
  output(h: Tensor): Tensor {
    return h;
  }
}

/**
 * A gated recurrent unit (Cho et al. 2014), PyTorch's `GRUCell`, gates in the order r, z, n:
 *
 *   r = σ(x·W_irᵀ + b_ir + h·W_hrᵀ + b_hr)
 *   z = σ(x·W_izᵀ + b_iz + h·W_hzᵀ + b_hz)
 *   n = tanh(x·W_inᵀ + b_in + r ⊙ (h·W_hnᵀ + b_hn))
 *   h' = (1 − z) ⊙ n + z ⊙ h
 *
 * weight_ih [3H, in], weight_hh [3H, H], biases [3H].
 */
export class GRUCell extends HiddenStateCell {
  constructor(options: CellOptions) {
    super('GRUCell', options, 3);
  }
  /** x·W_ihᵀ + b_ih for all steps at once: [N, in] → [N, 3H]. */
  projectInput(x: Tensor): Tensor {
    return gruInput(x, this);
  }
  /** One step from the projected input: h → h'. */
  step(xp: Tensor, h: Tensor, observe?: GateSink): Tensor {
    return gruStep(xp, h, this, observe);
  }
}

/** Options of `RNNCell`. */
export interface RNNCellOptions extends CellOptions {
  /** The activation. Default 'tanh'. */
  nonlinearity?: Nonlinearity;
}

/** Throws unless `v` is 'tanh' or 'relu'. */
export function checkNonlinearity(op: string, v: unknown): Nonlinearity {
  if (v !== 'tanh' && v !== 'relu')
    throw new Error(`${op}: nonlinearity must be 'tanh' or 'relu', got ${JSON.stringify(v)}`);
  return v;
}

/**
 * An Elman RNN cell, PyTorch's `RNNCell`:  h' = act(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh), act = tanh or relu.
 * weight_ih [H, in], weight_hh [H, H], biases [H].
 */
export class RNNCell extends HiddenStateCell {
  /** The activation, 'tanh' or 'relu'. */
  readonly nonlinearity: Nonlinearity;

  constructor(options: RNNCellOptions) {
    super('RNNCell', options, 1);
    this.nonlinearity = checkNonlinearity('RNNCell', options.nonlinearity ?? 'tanh');
  }
  /** x·W_ihᵀ + b_ih for all steps at once: [N, in] → [N, H]. */
  projectInput(x: Tensor): Tensor {
    return rnnInput(x, this);
  }
  /** One step from the projected input: h → h'. */
  step(xp: Tensor, h: Tensor, observe?: GateSink): Tensor {
    return rnnStep(xp, h, this, this.nonlinearity, observe);
  }
}
