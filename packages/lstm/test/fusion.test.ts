/**
 * The cells through the engine's fusion: a step's elementwise ops run as one generated kernel, a weight's
 * per-step gradients as one deferred product. The numbers must not depend on either: fused equals unfused
 * bit for bit (float32 included), observing the gates changes nothing, and user cells pass first- and
 * second-order gradient checks through the time loop.
 */
import {
  add,
  chunk,
  fusedKernelRunCount,
  gemm,
  linear,
  manualSeed,
  mul,
  narrow,
  noGrad,
  randn,
  sigmoid,
  sub,
  sum,
  type Tensor,
  tanh,
  withFusion,
  zeros,
} from '@tensorloom/autograd';
import { Module, type Parameter } from '@tensorloom/nn';
import { describe, expect, it } from 'vitest';
import {
  CellStack,
  GateRecorder,
  GRU,
  LayerNormLSTMCell,
  LSTM,
  type RecurrentCell,
  recurrent,
  uniformParameter,
} from '../src/index.ts';
import { fastGradcheck } from './helpers.ts';

/** An LSTM cell as a user writes it (public primitives only). */
class UserLSTM extends Module implements RecurrentCell<[Tensor, Tensor]> {
  weight_ih: Parameter;
  weight_hh: Parameter;
  bias: Parameter;
  constructor(
    readonly inputSize: number,
    readonly outputSize: number,
    dtype: 'float32' | 'float64' = 'float64',
  ) {
    super();
    const H = outputSize;
    this.weight_ih = uniformParameter([4 * H, inputSize], 1 / Math.sqrt(H), dtype);
    this.weight_hh = uniformParameter([4 * H, H], 1 / Math.sqrt(H), dtype);
    this.bias = uniformParameter([4 * H], 1 / Math.sqrt(H), dtype);
  }
  initialState(batch: number): [Tensor, Tensor] {
    const dtype = this.weight_ih.dtype;
    return [zeros([batch, this.outputSize], { dtype }), zeros([batch, this.outputSize], { dtype })];
  }
  projectInput(x: Tensor): Tensor {
    return linear(x, this.weight_ih, this.bias);
  }
  step(xp: Tensor, [h, c]: [Tensor, Tensor]): [Tensor, Tensor] {
    const [i, f, g, o] = chunk(add(xp, gemm(h, this.weight_hh, { transB: true })), 4, 1) as Tensor[];
    const c2 = add(mul(sigmoid(f!), c), mul(sigmoid(i!), tanh(g!)));
    return [mul(sigmoid(o!), tanh(c2)), c2];
  }
  output([h]: [Tensor, Tensor]): Tensor {
    return h;
  }
}

/** An SRU (Lei et al. 2018) as a user writes it: no recurrent product, and its state's h is never read by the next step. */
class UserSRU extends Module implements RecurrentCell<[Tensor, Tensor]> {
  weight_ih: Parameter;
  bias: Parameter;
  constructor(
    readonly inputSize: number,
    readonly outputSize: number,
  ) {
    super();
    this.weight_ih = uniformParameter([4 * outputSize, inputSize], 0.5, 'float32');
    this.bias = uniformParameter([4 * outputSize], 0.5, 'float32');
  }
  initialState(batch: number): [Tensor, Tensor] {
    return [zeros([batch, this.outputSize]), zeros([batch, this.outputSize])];
  }
  projectInput(x: Tensor): Tensor {
    return linear(x, this.weight_ih, this.bias);
  }
  step(xp: Tensor, [, c]: [Tensor, Tensor]): [Tensor, Tensor] {
    const [xt, xf, xr, xhw] = chunk(xp, 4, 1) as [Tensor, Tensor, Tensor, Tensor];
    const f = sigmoid(xf);
    const r = sigmoid(xr);
    const c2 = add(mul(f, c), mul(sub(1, f), xt));
    return [add(mul(r, tanh(c2)), mul(sub(1, r), xhw)), c2];
  }
  output([h]: [Tensor, Tensor]): Tensor {
    return h;
  }
}

/** Outputs, final states and every parameter's gradient of one forward/backward, as plain arrays. */
function runLayer(
  model: Module & { forward(x: Tensor, ...rest: never[]): unknown },
  x: Tensor,
  observe = false,
) {
  for (const p of model.parameters()) p.grad = null;
  const recorder = new GateRecorder();
  // biome-ignore lint/suspicious/noExplicitAny: the layers' forward signatures differ in their state type
  const [out, state] = (model as any).forward(x, null, observe ? { observe: recorder.observe } : {});
  const states = [state].flat(3) as Tensor[];
  manualSeed(11); // the same cotangent for every run
  const weights = randn(out.shape, { dtype: out.dtype });
  sum(mul(out, weights)).backward();
  return [out, ...states, ...[...model.parameters()].map((p) => p.grad!)].map((t) => Array.from(t.data));
}

describe('fused recurrent steps', () => {
  it('give the unfused numbers bit for bit in float32: LSTM and GRU layers, a user cell, layer norm', () => {
    manualSeed(3);
    const x = randn([7, 3, 5]);
    const models = [
      new LSTM({ inputSize: 5, hiddenSize: 6, numLayers: 2, bidirectional: true }),
      new LSTM({ inputSize: 5, hiddenSize: 6, projSize: 3 }),
      new GRU({ inputSize: 5, hiddenSize: 6 }),
      new CellStack(({ inputSize }) => new UserLSTM(inputSize, 4, 'float32'), { inputSize: 5 }),
      new CellStack(({ inputSize }) => new LayerNormLSTMCell({ inputSize, hiddenSize: 4 }), { inputSize: 5 }),
    ];
    for (const model of models) {
      const fused = withFusion(true, () => runLayer(model, x));
      const unfused = withFusion(false, () => runLayer(model, x));
      expect(fused).toEqual(unfused);
    }
  });

  it('are the same computation whether or not an observer records the gates (float32)', () => {
    manualSeed(4);
    const lstm = new LSTM({ inputSize: 4, hiddenSize: 8, numLayers: 2 });
    const x = randn([6, 2, 4]);
    const plain = runLayer(lstm, x);
    const observed = runLayer(lstm, x, true);
    expect(observed).toEqual(plain);
  });

  it('pass first- and second-order gradient checks through the time loop for a user cell', () => {
    manualSeed(5);
    const cell = new UserLSTM(3, 2);
    const x = randn([4, 2, 3], { dtype: 'float64', requiresGrad: true });
    fastGradcheck(() => recurrent(cell, x)[0], [x, ...cell.parameters()], 11, true);
  });

  it.each([
    ['float64', 4, 1e-12],
    ['float32', 16, 1e-5], // big enough for the WebAssembly product over the stacked blocks
  ] as const)(
    'sum a weight’s per-step gradients as the unrolled loop does (deferred product, %s)',
    (dtype, hidden, tolerance) => {
      manualSeed(6);
      const cell = new UserLSTM(3, hidden, dtype);
      const x = randn([9, 2, 3], { dtype });
      sum(recurrent(cell, x)[0]).backward();
      const deferred = Array.from(cell.weight_hh.grad!.data);
      // The same gradient recorded step by step (createGraph keeps plain gemm nodes, nothing deferred).
      cell.weight_hh.grad = null;
      sum(recurrent(cell, x)[0]).backward(undefined, { createGraph: true });
      const stepwise = Array.from(noGrad(() => cell.weight_hh.grad!.data));
      deferred.forEach((v, i) => {
        expect(Math.abs(v - stepwise[i]!)).toBeLessThan(tolerance * Math.max(1, Math.abs(v)));
      });
    },
  );

  it('compute only what is read: an SRU read at its last step runs one kernel per step, for the state it carries', () => {
    manualSeed(8);
    const T = 12;
    const model = new CellStack(({ inputSize }) => new UserSRU(inputSize, 8), { inputSize: 5 });
    const x = randn([T, 3, 5]);
    const run = () => {
      for (const p of model.parameters()) p.grad = null;
      const kernels = fusedKernelRunCount();
      const [out] = model.forward(x);
      const last = narrow(out, 0, T - 1, 1);
      const values = Array.from(last.data);
      const forwardKernels = fusedKernelRunCount() - kernels;
      // The outputs of the other steps were never needed: the stacked output is not computed.
      const stackComputed = out.isRealized;
      sum(mul(last, last)).backward();
      const grads = [...model.parameters()].map((p) => Array.from(p.grad!.data));
      return { values, grads, forwardKernels, stackComputed };
    };
    const fused = withFusion(true, run);
    const unfused = withFusion(false, run);
    expect(fused.values).toEqual(unfused.values);
    expect(fused.grads).toEqual(unfused.grads);
    expect(fused.stackComputed).toBe(false);
    // One kernel per step carries c (its σ(f) stored for backward); the last step's h is read at the end.
    expect(fused.forwardKernels).toBeLessThanOrEqual(T + 1);
  });

  it('compute elementwise ops after the input projection (a layer norm of it) in the steps, not for the whole sequence', () => {
    // The projection as the cell returns it, kept to see whether anything computed it whole.
    class Watched extends LayerNormLSTMCell {
      projected: Tensor | null = null;
      override projectInput(x: Tensor): Tensor {
        this.projected = super.projectInput(x);
        return this.projected;
      }
    }
    const run = () => {
      manualSeed(9);
      const cell = new Watched({ inputSize: 3, hiddenSize: 8 });
      const model = new CellStack(() => cell, { inputSize: 3 });
      const [out] = model.forward(randn([6, 2, 3]));
      sum(mul(out, out)).backward();
      const grads = [...model.parameters()].map((p) => Array.from(p.grad!.data));
      return { values: Array.from(out.data), grads, projectedComputed: cell.projected!.isRealized };
    };
    const fused = withFusion(true, run);
    const unfused = withFusion(false, run);
    expect(fused.values).toEqual(unfused.values);
    expect(fused.grads).toEqual(unfused.grads);
    expect(fused.projectedComputed).toBe(false);
  });

  it('allow data-dependent control flow inside a step (reading a value realizes what it needs)', () => {
    manualSeed(7);
    const inner = new UserLSTM(3, 2);
    const branching: RecurrentCell<[Tensor, Tensor]> = {
      inputSize: 3,
      outputSize: 2,
      initialState: (b) => inner.initialState(b),
      projectInput: (x) => inner.projectInput(x),
      step: (xp, state) => {
        const [h, c] = inner.step(xp, state);
        // Branch on a value the step just computed.
        return sum(h).item() > 0 ? [h, c] : [sub(0, h), c];
      },
      output: ([h]) => h,
    };
    const x = randn([5, 2, 3], { dtype: 'float64', requiresGrad: true });
    fastGradcheck(() => recurrent(branching, x)[0], [x, ...inner.parameters()], 12);
  });
});
