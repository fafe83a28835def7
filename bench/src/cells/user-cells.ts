/**
 * Recurrent cells as a TensorLoom user writes them: a `Module` with its weights as `Parameter`s, implementing
 * `RecurrentCell` with public primitives of `@tensorloom/autograd` only (no kernel, no hand-written
 * derivative, no `stepWeights` hint). The `cells` bench section times them through `CellStack` against the
 * built-in layers. Notation: x the step's input, h (and c) the state, σ the logistic sigmoid, ⊙ the
 * elementwise product, ·Wᵀ a product with a PyTorch-layout weight [out, in].
 */
import {
  add,
  chunk,
  gemm,
  linear,
  mul,
  relu,
  sigmoid,
  sub,
  type Tensor,
  tanh,
  zeros,
} from '@tensorloom/autograd';
import { type RecurrentCell, uniformParameter } from '@tensorloom/lstm';
import { Module, type Parameter } from '@tensorloom/nn';

/** A parameter drawn from U(−1/√H, 1/√H), PyTorch's recurrent default. */
const init = (shape: number[], hidden: number): Parameter =>
  uniformParameter(shape, 1 / Math.sqrt(hidden), 'float32');

/**
 * The LSTM (PyTorch's `nn.LSTMCell`, gate order i, f, g, o):
 * [i; f; g; o] = x·W_ihᵀ + b_ih + b_hh + h·W_hhᵀ;
 * c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g);  h' = σ(o) ⊙ tanh(c').
 * The input product and both biases are taken for all steps at once in `projectInput`.
 */
export class UserLSTMCell extends Module implements RecurrentCell<[Tensor, Tensor]> {
  weight_ih: Parameter; // [4H, in]
  weight_hh: Parameter; // [4H, H]
  bias_ih: Parameter; // [4H]
  bias_hh: Parameter; // [4H]
  constructor(
    readonly inputSize: number,
    readonly outputSize: number,
  ) {
    super();
    const H = outputSize;
    this.weight_ih = init([4 * H, inputSize], H);
    this.weight_hh = init([4 * H, H], H);
    this.bias_ih = init([4 * H], H);
    this.bias_hh = init([4 * H], H);
  }
  initialState(batch: number): [Tensor, Tensor] {
    return [zeros([batch, this.outputSize]), zeros([batch, this.outputSize])];
  }
  projectInput(x: Tensor) {
    return linear(x, this.weight_ih, add(this.bias_ih, this.bias_hh));
  }
  step(xp: Tensor, [h, c]: [Tensor, Tensor]): [Tensor, Tensor] {
    const [i, f, g, o] = chunk(add(xp, gemm(h, this.weight_hh, { transB: true })), 4, 1) as [
      Tensor,
      Tensor,
      Tensor,
      Tensor,
    ];
    const c2 = add(mul(sigmoid(f), c), mul(sigmoid(i), tanh(g)));
    return [mul(sigmoid(o), tanh(c2)), c2];
  }
  output([h]: [Tensor, Tensor]) {
    return h;
  }
}

/**
 * The GRU (PyTorch's `nn.GRUCell`, gate order r, z, n; the reset gate applies after the recurrent product):
 * [x_r; x_z; x_n] = x·W_ihᵀ + b_ih;  [h_r; h_z; h_n] = h·W_hhᵀ + b_hh;
 * r = σ(x_r + h_r);  z = σ(x_z + h_z);  n = tanh(x_n + r ⊙ h_n);  h' = (1 − z) ⊙ n + z ⊙ h = n + z ⊙ (h − n).
 */
export class UserGRUCell extends Module implements RecurrentCell<Tensor> {
  weight_ih: Parameter; // [3H, in]
  weight_hh: Parameter; // [3H, H]
  bias_ih: Parameter; // [3H]
  bias_hh: Parameter; // [3H]
  constructor(
    readonly inputSize: number,
    readonly outputSize: number,
  ) {
    super();
    const H = outputSize;
    this.weight_ih = init([3 * H, inputSize], H);
    this.weight_hh = init([3 * H, H], H);
    this.bias_ih = init([3 * H], H);
    this.bias_hh = init([3 * H], H);
  }
  initialState(batch: number) {
    return zeros([batch, this.outputSize]);
  }
  projectInput(x: Tensor) {
    return linear(x, this.weight_ih, this.bias_ih);
  }
  step(xp: Tensor, h: Tensor) {
    const [xr, xz, xn] = chunk(xp, 3, 1) as [Tensor, Tensor, Tensor];
    const hp = add(gemm(h, this.weight_hh, { transB: true }), this.bias_hh);
    const [hr, hz, hn] = chunk(hp, 3, 1) as [Tensor, Tensor, Tensor];
    const r = sigmoid(add(xr, hr));
    const z = sigmoid(add(xz, hz));
    const n = tanh(add(xn, mul(r, hn)));
    return add(n, mul(z, sub(h, n)));
  }
  output(h: Tensor) {
    return h;
  }
}

/**
 * The minimal gated unit (Zhou et al. 2016), as README.md's "Your own cell" writes it:
 * f = σ(x·W_fᵀ + h·U_fᵀ + b_f);  h̃ = tanh(x·W_hᵀ + (f ⊙ h)·U_hᵀ + b_h);  h' = h + f ⊙ (h̃ − h).
 */
export class MGU extends Module implements RecurrentCell<Tensor> {
  weight_ih: Parameter; // [W_f; W_h]
  bias: Parameter; // [b_f; b_h]
  weight_hf: Parameter; // U_f
  weight_hh: Parameter; // U_h
  constructor(
    readonly inputSize: number,
    readonly outputSize: number,
  ) {
    super();
    const init = (shape: number[]) => uniformParameter(shape, 1 / Math.sqrt(outputSize), 'float32');
    this.weight_ih = init([2 * outputSize, inputSize]);
    this.bias = init([2 * outputSize]);
    this.weight_hf = init([outputSize, outputSize]);
    this.weight_hh = init([outputSize, outputSize]);
  }
  initialState(batch: number) {
    return zeros([batch, this.outputSize], { dtype: this.weight_ih.dtype });
  }
  projectInput(x: Tensor) {
    return linear(x, this.weight_ih, this.bias); // all time steps in one product
  }
  step(xp: Tensor, h: Tensor) {
    const [xf, xh] = chunk(xp, 2, 1) as [Tensor, Tensor];
    const f = sigmoid(add(xf, gemm(h, this.weight_hf, { transB: true })));
    const candidate = tanh(add(xh, gemm(mul(f, h), this.weight_hh, { transB: true })));
    return add(h, mul(f, sub(candidate, h)));
  }
  output(h: Tensor) {
    return h;
  }
}

/**
 * The independently recurrent network (IndRNN, Li et al. 2018): each unit sees only its own past,
 * h' = relu(x·Wᵀ + b + u ⊙ h), with u a vector [H] (no recurrent matrix).
 */
export class IndRNNCell extends Module implements RecurrentCell<Tensor> {
  weight_ih: Parameter; // [H, in]
  bias: Parameter; // [H]
  weight_hh: Parameter; // u, [H]
  constructor(
    readonly inputSize: number,
    readonly outputSize: number,
  ) {
    super();
    const H = outputSize;
    this.weight_ih = init([H, inputSize], H);
    this.bias = init([H], H);
    this.weight_hh = init([H], H);
  }
  initialState(batch: number) {
    return zeros([batch, this.outputSize]);
  }
  projectInput(x: Tensor) {
    return linear(x, this.weight_ih, this.bias);
  }
  step(xp: Tensor, h: Tensor) {
    return relu(add(xp, mul(this.weight_hh, h)));
  }
  output(h: Tensor) {
    return h;
  }
}

/**
 * The simple recurrent unit (SRU, Lei et al. 2017, its first form): the gates read the input only, so a step
 * has no matrix product, only elementwise work on the state c:
 * [x̃; f; r; x_hw] = x·Wᵀ + b;  c' = σ(f) ⊙ c + (1 − σ(f)) ⊙ x̃;  h' = σ(r) ⊙ tanh(c') + (1 − σ(r)) ⊙ x_hw.
 * The highway term needs x at width H; as in the paper's code when the input and hidden sizes differ, x_hw is
 * a fourth projection of x (with equal sizes it would be x itself). For simplicity one bias covers all four
 * projections (the paper's x̃ has none). The state carries h beside c only to emit it. σ is taken per step,
 * as the equations read (hoisting it into `projectInput` would also be valid: it acts row by row).
 */
export class SRUCell extends Module implements RecurrentCell<[Tensor, Tensor]> {
  weight_ih: Parameter; // [W_x̃; W_f; W_r; W_hw], [4H, in]
  bias: Parameter; // [4H]
  constructor(
    readonly inputSize: number,
    readonly outputSize: number,
  ) {
    super();
    const H = outputSize;
    this.weight_ih = init([4 * H, inputSize], H);
    this.bias = init([4 * H], H);
  }
  initialState(batch: number): [Tensor, Tensor] {
    return [zeros([batch, this.outputSize]), zeros([batch, this.outputSize])];
  }
  projectInput(x: Tensor) {
    return linear(x, this.weight_ih, this.bias);
  }
  step(xp: Tensor, [, c]: [Tensor, Tensor]): [Tensor, Tensor] {
    const [xt, xf, xr, xhw] = chunk(xp, 4, 1) as [Tensor, Tensor, Tensor, Tensor];
    const f = sigmoid(xf);
    const r = sigmoid(xr);
    const c2 = add(mul(f, c), mul(sub(1, f), xt));
    return [add(mul(r, tanh(c2)), mul(sub(1, r), xhw)), c2];
  }
  output([h]: [Tensor, Tensor]) {
    return h;
  }
}
