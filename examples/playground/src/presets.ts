/**
 * The cell editor's presets: each a JavaScript module against the packages' public API, in the shape of
 * the README's custom-cell section (a `Module` implementing `RecurrentCell`: initialState, projectInput,
 * step, output), constructed as `new Cell(inputSize, hiddenSize)`.
 */

/** A preset: its menu label and its code. */
export interface Preset {
  label: string;
  code: string;
}

const lstm = `// LSTM from primitives (PyTorch's gate order i, f, g, o):
//   [i f g o] = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh
//   c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g),   h' = σ(o) ⊙ tanh(c')
import { add, chunk, linear, mul, sigmoid, tanh, zeros } from '@tensorloom/autograd';
import { uniformParameter } from '@tensorloom/lstm';
import { Module } from '@tensorloom/nn';

export default class LSTM extends Module {
  constructor(inputSize, hiddenSize) {
    super();
    this.inputSize = inputSize;
    this.outputSize = hiddenSize;
    const init = (shape) => uniformParameter(shape, 1 / Math.sqrt(hiddenSize), 'float32');
    this.weight_ih = init([4 * hiddenSize, inputSize]);
    this.weight_hh = init([4 * hiddenSize, hiddenSize]);
    this.bias_ih = init([4 * hiddenSize]);
    this.bias_hh = init([4 * hiddenSize]);
  }
  initialState(batch) {
    const zero = zeros([batch, this.outputSize], { dtype: this.weight_ih.dtype });
    return [zero, zero];
  }
  projectInput(x) {
    return linear(x, this.weight_ih, this.bias_ih); // every time step in one product
  }
  step(xp, [h, c]) {
    const [i, f, g, o] = chunk(add(xp, linear(h, this.weight_hh, this.bias_hh)), 4, 1);
    const cNext = add(mul(sigmoid(f), c), mul(sigmoid(i), tanh(g)));
    return [mul(sigmoid(o), tanh(cNext)), cNext];
  }
  output([h]) {
    return h;
  }
}
`;

const gru = `// GRU as PyTorch defines it (gate order r, z, n; the reset gate scales h·W_hnᵀ + b_hn):
//   r = σ(x_r + h_r),  z = σ(x_z + h_z),  n = tanh(x_n + r ⊙ h_n)
//   h' = (1 − z) ⊙ n + z ⊙ h  =  n + z ⊙ (h − n)
import { add, chunk, linear, mul, sigmoid, sub, tanh, zeros } from '@tensorloom/autograd';
import { uniformParameter } from '@tensorloom/lstm';
import { Module } from '@tensorloom/nn';

export default class GRU extends Module {
  constructor(inputSize, hiddenSize) {
    super();
    this.inputSize = inputSize;
    this.outputSize = hiddenSize;
    const init = (shape) => uniformParameter(shape, 1 / Math.sqrt(hiddenSize), 'float32');
    this.weight_ih = init([3 * hiddenSize, inputSize]);
    this.weight_hh = init([3 * hiddenSize, hiddenSize]);
    this.bias_ih = init([3 * hiddenSize]);
    this.bias_hh = init([3 * hiddenSize]);
  }
  initialState(batch) {
    return zeros([batch, this.outputSize], { dtype: this.weight_ih.dtype });
  }
  projectInput(x) {
    return linear(x, this.weight_ih, this.bias_ih);
  }
  step(xp, h) {
    const [xr, xz, xn] = chunk(xp, 3, 1);
    const [hr, hz, hn] = chunk(linear(h, this.weight_hh, this.bias_hh), 3, 1);
    const r = sigmoid(add(xr, hr));
    const z = sigmoid(add(xz, hz));
    const n = tanh(add(xn, mul(r, hn)));
    return add(n, mul(z, sub(h, n)));
  }
  output(h) {
    return h;
  }
}
`;

const mgu = `// Minimal gated unit (Zhou et al. 2016): a GRU with one gate.
//   f = σ(x·W_fᵀ + h·U_fᵀ + b_f)
//   h̃ = tanh(x·W_hᵀ + (f ⊙ h)·U_hᵀ + b_h)
//   h' = h + f ⊙ (h̃ − h)
import { add, chunk, gemm, linear, mul, sigmoid, sub, tanh, zeros } from '@tensorloom/autograd';
import { uniformParameter } from '@tensorloom/lstm';
import { Module } from '@tensorloom/nn';

export default class MGU extends Module {
  constructor(inputSize, hiddenSize) {
    super();
    this.inputSize = inputSize;
    this.outputSize = hiddenSize;
    const init = (shape) => uniformParameter(shape, 1 / Math.sqrt(hiddenSize), 'float32');
    this.weight_ih = init([2 * hiddenSize, inputSize]); // [W_f; W_h]
    this.bias = init([2 * hiddenSize]); // [b_f; b_h]
    this.weight_hf = init([hiddenSize, hiddenSize]); // U_f
    this.weight_hh = init([hiddenSize, hiddenSize]); // U_h
  }
  initialState(batch) {
    return zeros([batch, this.outputSize], { dtype: this.weight_ih.dtype });
  }
  projectInput(x) {
    return linear(x, this.weight_ih, this.bias);
  }
  step(xp, h) {
    const [xf, xh] = chunk(xp, 2, 1);
    const f = sigmoid(add(xf, gemm(h, this.weight_hf, { transB: true })));
    const candidate = tanh(add(xh, gemm(mul(f, h), this.weight_hh, { transB: true })));
    return add(h, mul(f, sub(candidate, h)));
  }
  output(h) {
    return h;
  }
}
`;

const peephole = `// Peephole LSTM (Gers & Schmidhuber 2000): the gates also see the cell state.
//   i = σ(a_i + w_ci ⊙ c),  f = σ(a_f + w_cf ⊙ c),  c' = f ⊙ c + i ⊙ tanh(a_g)
//   o = σ(a_o + w_co ⊙ c'), h' = o ⊙ tanh(c')
import { add, chunk, linear, mul, sigmoid, tanh, zeros } from '@tensorloom/autograd';
import { uniformParameter } from '@tensorloom/lstm';
import { Module } from '@tensorloom/nn';

export default class PeepholeLSTM extends Module {
  constructor(inputSize, hiddenSize) {
    super();
    this.inputSize = inputSize;
    this.outputSize = hiddenSize;
    const init = (shape) => uniformParameter(shape, 1 / Math.sqrt(hiddenSize), 'float32');
    this.weight_ih = init([4 * hiddenSize, inputSize]);
    this.weight_hh = init([4 * hiddenSize, hiddenSize]);
    this.bias = init([4 * hiddenSize]);
    this.weight_ci = init([hiddenSize]);
    this.weight_cf = init([hiddenSize]);
    this.weight_co = init([hiddenSize]);
  }
  initialState(batch) {
    const zero = zeros([batch, this.outputSize], { dtype: this.weight_ih.dtype });
    return [zero, zero];
  }
  projectInput(x) {
    return linear(x, this.weight_ih, this.bias);
  }
  step(xp, [h, c]) {
    const [ai, af, ag, ao] = chunk(add(xp, linear(h, this.weight_hh)), 4, 1);
    const i = sigmoid(add(ai, mul(this.weight_ci, c)));
    const f = sigmoid(add(af, mul(this.weight_cf, c)));
    const cNext = add(mul(f, c), mul(i, tanh(ag)));
    const o = sigmoid(add(ao, mul(this.weight_co, cNext)));
    return [mul(o, tanh(cNext)), cNext];
  }
  output([h]) {
    return h;
  }
}
`;

const blank = `// A template to start from: an Elman RNN, h' = tanh(x·W_ihᵀ + b + h·W_hhᵀ).
// initialState(batch) gives the zero state; projectInput(x) (optional) maps every time step's input
// at once, [N, inputSize] → [N, k]; step(xp, state) returns the next state; output(state) what a step emits.
import { add, linear, tanh, zeros } from '@tensorloom/autograd';
import { uniformParameter } from '@tensorloom/lstm';
import { Module } from '@tensorloom/nn';

export default class MyCell extends Module {
  constructor(inputSize, hiddenSize) {
    super();
    this.inputSize = inputSize;
    this.outputSize = hiddenSize;
    const init = (shape) => uniformParameter(shape, 1 / Math.sqrt(hiddenSize), 'float32');
    this.weight_ih = init([hiddenSize, inputSize]);
    this.bias = init([hiddenSize]);
    this.weight_hh = init([hiddenSize, hiddenSize]);
  }
  initialState(batch) {
    return zeros([batch, this.outputSize], { dtype: this.weight_ih.dtype });
  }
  projectInput(x) {
    return linear(x, this.weight_ih, this.bias);
  }
  step(xp, h) {
    return tanh(add(xp, linear(h, this.weight_hh)));
  }
  output(h) {
    return h;
  }
}
`;

/** The presets, by key. */
export const PRESETS: Readonly<Record<string, Preset>> = {
  lstm: { label: 'LSTM', code: lstm },
  gru: { label: 'GRU', code: gru },
  mgu: { label: 'Minimal gated unit', code: mgu },
  peephole: { label: 'Peephole LSTM', code: peephole },
  blank: { label: 'Blank template (tanh RNN)', code: blank },
};
