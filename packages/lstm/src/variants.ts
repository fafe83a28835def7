/**
 * LSTM variants, each a few lines on top of the `RecurrentCell` interface: they get layers, directions,
 * variable lengths and truncated BPTT from the combinators (`recurrent`, `stacked`, `CellStack`) for free.
 * All keep the [h, c] state and report their gates (i, f, g, o, c, h) to an observer.
 */
import {
  add,
  chunk,
  type DType,
  gemm,
  linear,
  mul,
  sigmoid,
  sub,
  type Tensor,
  tanh,
  zeros,
} from '@tensorloom/autograd';
import { LayerNorm, Module, type Parameter } from '@tensorloom/nn';
import type { GateSink, RecurrentCell } from './cell.ts';
import { type CellOptions, checkCellInput, checkShape, checkSize, type StepOptions } from './cells.ts';
import { type LSTMState, lstmInput, lstmStep, uniformParameter } from './functional.ts';

/**
 * What the LSTM variants share: sizes, the [h, c] state, the single-step `forward` with its checks, and
 * the U(−1/√H, 1/√H) initialiser. A variant adds its parameters, `projectInput` and `step`.
 */
export abstract class LSTMVariantCell extends Module implements RecurrentCell<LSTMState> {
  /** Features of the input. */
  readonly inputSize: number;
  /** Features of the hidden state. */
  readonly hiddenSize: number;
  /** Whether the cell learns biases. */
  readonly hasBias: boolean;
  /** Every variant has an input weight; its dtype is the cell's (it follows `.to()`). */
  abstract weight_ih: Parameter;
  /** And a recurrent weight, which every step multiplies by. */
  abstract weight_hh: Parameter;
  private readonly initDtype: DType;

  protected constructor(
    protected readonly op: string,
    options: CellOptions,
  ) {
    super();
    this.inputSize = checkSize(op, 'inputSize', options.inputSize);
    this.hiddenSize = checkSize(op, 'hiddenSize', options.hiddenSize);
    this.hasBias = options.bias ?? true;
    this.initDtype = options.dtype ?? 'float32';
  }

  /** A parameter drawn from U(−1/√H, 1/√H), PyTorch's recurrent default. */
  protected uniform(shape: number[]): Parameter {
    return uniformParameter(shape, 1 / Math.sqrt(this.hiddenSize), this.initDtype);
  }

  /** The parameters' dtype. */
  get dtype(): DType {
    return this.weight_ih.dtype;
  }

  /** Features of h (the hidden size unless the variant projects it). */
  get outputSize(): number {
    return this.hiddenSize;
  }
  abstract projectInput(x: Tensor): Tensor;
  abstract step(xp: Tensor, state: LSTMState, observe?: GateSink): LSTMState;

  initialState(batch: number): LSTMState {
    const dtype = this.dtype;
    return [zeros([batch, this.outputSize], { dtype }), zeros([batch, this.hiddenSize], { dtype })];
  }
  output(state: LSTMState): Tensor {
    return state[0];
  }

  /** One step: x [B, in] and [h, c] (zeros when omitted) to [h', c']. */
  forward(x: Tensor, state?: LSTMState | null, options: StepOptions = {}): LSTMState {
    const B = checkCellInput(this.op, x, this.inputSize, this.dtype);
    if (state) {
      checkShape(this.op, 'h', state[0], [B, this.outputSize], this.dtype);
      checkShape(this.op, 'c', state[1], [B, this.hiddenSize], this.dtype);
    }
    return this.step(this.projectInput(x), state ?? this.initialState(B), options.observe);
  }
}

/** The four gate pre-activations, xp + h·W_hhᵀ split in PyTorch's order. */
function fourGates(xp: Tensor, h: Tensor, weightHh: Tensor): [Tensor, Tensor, Tensor, Tensor] {
  const gates = add(xp, gemm(h, weightHh, { transB: true }));
  return chunk(gates, 4, 1) as [Tensor, Tensor, Tensor, Tensor];
}

/**
 * LSTM with peephole connections (Gers & Schmidhuber 2000): the gates also read the cell, through diagonal
 * weights p_i, p_f, p_o ([H] each; `weight_ci`, `weight_cf`, `weight_co`):
 *
 *   i = σ(x·W_iiᵀ + h·W_hiᵀ + b_i + p_i ⊙ c)
 *   f = σ(x·W_ifᵀ + h·W_hfᵀ + b_f + p_f ⊙ c)
 *   g = tanh(x·W_igᵀ + h·W_hgᵀ + b_g)
 *   c' = f ⊙ c + i ⊙ g
 *   o = σ(x·W_ioᵀ + h·W_hoᵀ + b_o + p_o ⊙ c')      the output gate peeks at the new cell
 *   h' = o ⊙ tanh(c')
 */
export class PeepholeLSTMCell extends LSTMVariantCell {
  weight_ih: Parameter;
  weight_hh: Parameter;
  /** Input-side biases, or null without biases. */
  bias_ih: Parameter | null;
  /** Hidden-side biases, or null without biases. */
  bias_hh: Parameter | null;
  /** Peephole weights from c to the input gate [H]. */
  weight_ci: Parameter;
  /** Peephole weights from c to the forget gate [H]. */
  weight_cf: Parameter;
  /** Peephole weights from c' to the output gate [H]. */
  weight_co: Parameter;

  constructor(options: CellOptions) {
    super('PeepholeLSTMCell', options);
    const [H, n] = [this.hiddenSize, this.inputSize];
    this.weight_ih = this.uniform([4 * H, n]);
    this.weight_hh = this.uniform([4 * H, H]);
    this.bias_ih = this.hasBias ? this.uniform([4 * H]) : null;
    this.bias_hh = this.hasBias ? this.uniform([4 * H]) : null;
    this.weight_ci = this.uniform([H]);
    this.weight_cf = this.uniform([H]);
    this.weight_co = this.uniform([H]);
  }
  projectInput(x: Tensor): Tensor {
    return lstmInput(x, this);
  }
  step(xp: Tensor, [h, c]: LSTMState, observe?: GateSink): LSTMState {
    const [ai, af, ag, ao] = fourGates(xp, h, this.weight_hh);
    const i = sigmoid(add(ai, mul(this.weight_ci, c)));
    const f = sigmoid(add(af, mul(this.weight_cf, c)));
    const g = tanh(ag);
    const cNext = add(mul(f, c), mul(i, g));
    const o = sigmoid(add(ao, mul(this.weight_co, cNext)));
    const hNext = mul(o, tanh(cNext));
    observe?.({ i, f, g, o, c: cNext, h: hNext });
    return [hNext, cNext];
  }
}

/**
 * LSTM with a coupled input-forget gate (CIFG, Greff et al. 2017): the cell forgets exactly what it
 * writes, so there are three gates (weights [3H, ·], order i, g, o) instead of four:
 *
 *   i = σ(x·W_iiᵀ + b_ii + h·W_hiᵀ + b_hi),  g = tanh(…),  o = σ(…)
 *   f = 1 − i
 *   c' = f ⊙ c + i ⊙ g
 *   h' = o ⊙ tanh(c')
 */
export class CoupledLSTMCell extends LSTMVariantCell {
  weight_ih: Parameter;
  weight_hh: Parameter;
  /** Input-side biases [3H], or null without biases. */
  bias_ih: Parameter | null;
  /** Hidden-side biases [3H], or null without biases. */
  bias_hh: Parameter | null;

  constructor(options: CellOptions) {
    super('CoupledLSTMCell', options);
    const [H, n] = [this.hiddenSize, this.inputSize];
    this.weight_ih = this.uniform([3 * H, n]);
    this.weight_hh = this.uniform([3 * H, H]);
    this.bias_ih = this.hasBias ? this.uniform([3 * H]) : null;
    this.bias_hh = this.hasBias ? this.uniform([3 * H]) : null;
  }
  projectInput(x: Tensor): Tensor {
    return lstmInput(x, this);
  }
  step(xp: Tensor, [h, c]: LSTMState, observe?: GateSink): LSTMState {
    const gates = add(xp, gemm(h, this.weight_hh, { transB: true }));
    const [ai, ag, ao] = chunk(gates, 3, 1) as [Tensor, Tensor, Tensor];
    const i = sigmoid(ai);
    const f = sub(1, i);
    const g = tanh(ag);
    const o = sigmoid(ao);
    const cNext = add(mul(f, c), mul(i, g));
    const hNext = mul(o, tanh(cNext));
    observe?.({ i, f, g, o, c: cNext, h: hNext });
    return [hNext, cNext];
  }
}

/**
 * Layer-normalised LSTM (Ba, Kiros & Hinton 2016): each product is normalised over its 4H features before
 * the gates, and the cell before its tanh (LN_ih and LN_hh learn gains only; b is the gates' bias):
 *
 *   gates = LN_ih(x·W_ihᵀ) + LN_hh(h·W_hhᵀ) + b
 *   i, f, g, o = split(gates, 4);  i, f, o = σ(·),  g = tanh(·)
 *   c' = f ⊙ c + i ⊙ g
 *   h' = o ⊙ tanh(LN_c(c'))
 *
 * Normalising makes the step invariant to the scale of W_ih and W_hh, which steadies training.
 */
export class LayerNormLSTMCell extends LSTMVariantCell {
  weight_ih: Parameter;
  weight_hh: Parameter;
  /** Gate biases [4H] (one set: the normalised products carry no bias), or null. */
  bias: Parameter | null;
  /** LayerNorm of the input product x·W_ihᵀ. */
  ln_ih: LayerNorm;
  /** LayerNorm of the recurrent product h·W_hhᵀ. */
  ln_hh: LayerNorm;
  /** LayerNorm of the cell state before its tanh. */
  ln_c: LayerNorm;

  constructor(options: CellOptions & { eps?: number }) {
    super('LayerNormLSTMCell', options);
    const [H, n, dtype, eps] = [
      this.hiddenSize,
      this.inputSize,
      options.dtype ?? 'float32',
      options.eps ?? 1e-5,
    ];
    this.weight_ih = this.uniform([4 * H, n]);
    this.weight_hh = this.uniform([4 * H, H]);
    this.bias = this.hasBias ? this.uniform([4 * H]) : null;
    this.ln_ih = new LayerNorm(4 * H, { bias: false, eps, dtype });
    this.ln_hh = new LayerNorm(4 * H, { bias: false, eps, dtype });
    this.ln_c = new LayerNorm(H, { eps, dtype });
  }
  projectInput(x: Tensor): Tensor {
    const xp = this.ln_ih.forward(linear(x, this.weight_ih));
    return this.bias ? add(xp, this.bias) : xp;
  }
  step(xp: Tensor, [h, c]: LSTMState, observe?: GateSink): LSTMState {
    const gates = add(xp, this.ln_hh.forward(gemm(h, this.weight_hh, { transB: true })));
    const [ai, af, ag, ao] = chunk(gates, 4, 1) as [Tensor, Tensor, Tensor, Tensor];
    const i = sigmoid(ai);
    const f = sigmoid(af);
    const g = tanh(ag);
    const o = sigmoid(ao);
    const cNext = add(mul(f, c), mul(i, g));
    const hNext = mul(o, tanh(this.ln_c.forward(cNext)));
    observe?.({ i, f, g, o, c: cNext, h: hNext });
    return [hNext, cNext];
  }
}

/**
 * LSTM with a recurrent projection (Sak et al. 2014; PyTorch's `proj_size`): the hidden state is projected
 * to P < H features, which shrinks W_hh to [4H, P]:
 *
 *   gates = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh,  i, f, g, o as in `LSTMCell`
 *   c' = f ⊙ c + i ⊙ g
 *   h' = (o ⊙ tanh(c'))·W_hrᵀ                 W_hr: [P, H]; h is [B, P], c is [B, H]
 */
export class ProjectedLSTMCell extends LSTMVariantCell {
  weight_ih: Parameter;
  weight_hh: Parameter;
  /** Input-side biases [4H], or null without biases. */
  bias_ih: Parameter | null;
  /** Hidden-side biases [4H], or null without biases. */
  bias_hh: Parameter | null;
  /** The projection W_hr [P, H]: h = (o ⊙ tanh c')·W_hrᵀ. */
  weight_hr: Parameter;
  /** Features of the projected h (P). */
  readonly projSize: number;

  constructor(options: CellOptions & { projSize: number }) {
    super('ProjectedLSTMCell', options);
    const [H, n] = [this.hiddenSize, this.inputSize];
    const P = checkSize('ProjectedLSTMCell', 'projSize', options.projSize);
    if (P >= H) throw new Error(`ProjectedLSTMCell: projSize (${P}) must be smaller than hiddenSize (${H})`);
    this.weight_ih = this.uniform([4 * H, n]);
    this.weight_hh = this.uniform([4 * H, P]);
    this.bias_ih = this.hasBias ? this.uniform([4 * H]) : null;
    this.bias_hh = this.hasBias ? this.uniform([4 * H]) : null;
    this.weight_hr = this.uniform([P, H]);
    this.projSize = P;
  }
  override get outputSize(): number {
    return this.projSize;
  }
  projectInput(x: Tensor): Tensor {
    return lstmInput(x, this);
  }
  step(xp: Tensor, state: LSTMState, observe?: GateSink): LSTMState {
    return lstmStep(xp, state, this, observe);
  }
}
