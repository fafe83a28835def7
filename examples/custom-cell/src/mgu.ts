/**
 * A new recurrent cell in one short class: the minimal gated unit (Zhou et al. 2016), a GRU with a single
 * gate. Implementing `RecurrentCell` (initialState, projectInput, step, output) is all it takes to get
 * layers, directions, variable lengths and truncated BPTT from `CellStack`, `stacked` and `recurrent`.
 *
 *   f  = σ(x·W_fᵀ + h·U_fᵀ + b_f)              the one gate: how much to rewrite
 *   h̃  = tanh(x·W_hᵀ + (f ⊙ h)·U_hᵀ + b_h)     the candidate, reading the gated old state
 *   h' = (1 − f) ⊙ h + f ⊙ h̃  =  h + f ⊙ (h̃ − h)
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
import { type GateSink, type RecurrentCell, uniformParameter } from '@tensorloom/lstm';
import { Module, type Parameter } from '@tensorloom/nn';

/** A minimal gated unit; parameters U(−1/√H, 1/√H) like PyTorch's recurrent cells. */
export class MGUCell extends Module implements RecurrentCell<Tensor> {
  weight_ih: Parameter; // [W_f; W_h]: [2H, in]
  bias: Parameter; // [b_f; b_h]: [2H]
  weight_hf: Parameter; // U_f: [H, H]
  weight_hh: Parameter; // U_h: [H, H]

  constructor(
    readonly inputSize: number,
    readonly hiddenSize: number,
    dtype: DType = 'float32',
  ) {
    super();
    const init = (shape: number[]) => uniformParameter(shape, 1 / Math.sqrt(hiddenSize), dtype);
    this.weight_ih = init([2 * hiddenSize, inputSize]);
    this.bias = init([2 * hiddenSize]);
    this.weight_hf = init([hiddenSize, hiddenSize]);
    this.weight_hh = init([hiddenSize, hiddenSize]);
  }

  get outputSize(): number {
    return this.hiddenSize;
  }
  initialState(batch: number): Tensor {
    return zeros([batch, this.hiddenSize], { dtype: this.weight_ih.dtype });
  }
  /** The input half of both pre-activations, for all time steps in one product: [N, in] → [N, 2H]. */
  projectInput(x: Tensor): Tensor {
    return linear(x, this.weight_ih, this.bias);
  }
  step(xp: Tensor, h: Tensor, observe?: GateSink): Tensor {
    const [xf, xh] = chunk(xp, 2, 1) as [Tensor, Tensor];
    const f = sigmoid(add(xf, gemm(h, this.weight_hf, { transB: true })));
    const candidate = tanh(add(xh, gemm(mul(f, h), this.weight_hh, { transB: true })));
    const next = add(h, mul(f, sub(candidate, h)));
    observe?.({ f, h: next });
    return next;
  }
  output(h: Tensor): Tensor {
    return h;
  }
}
