/**
 * The LSTM regressor of the `lstm` section in jax-js (wasm backend): the 50-step loop unrolled inside the
 * loss, `jit(valueAndGrad(loss))` for the loss and every parameter's gradient, and Adam as a second jitted
 * function (jax-js has no optimizer of its own; `@jax-js/optax` is a separate package). Weights use
 * PyTorch's layout, so they are TensorLoom's snapshot copied as they are.
 *
 * jax-js frees memory by reference counting: every jax-js function, and every function we hand to `jit` or
 * `valueAndGrad`, consumes its array arguments, so an array used again later is passed as `a.ref` (count
 * + 1) and one that is no longer needed is `dispose()`d. The comments mark where a count goes.
 */
import type { JaxArray } from '../systems.ts';
import { held, jax } from '../systems.ts';
import type { Snapshot } from './lstm.ts';

/** The regressor's parameters: PyTorch-layout LSTM weights and the linear head. */
export type JaxParams = {
  weight_ih: JaxArray; // [4H, I]
  weight_hh: JaxArray; // [4H, H]
  bias_ih: JaxArray; // [4H]
  bias_hh: JaxArray; // [4H]
  head_weight: JaxArray; // [1, H]
  head_bias: JaxArray; // [1]
};

/** Snapshot name of each parameter (TensorLoom's `Regressor`: an `LSTM` named rnn, a `Linear` named head). */
const NAMES: Readonly<Record<keyof JaxParams, string>> = {
  weight_ih: 'rnn.weight_ih_l0',
  weight_hh: 'rnn.weight_hh_l0',
  bias_ih: 'rnn.bias_ih_l0',
  bias_hh: 'rnn.bias_hh_l0',
  head_weight: 'head.weight',
  head_bias: 'head.bias',
};
const KEYS = Object.keys(NAMES) as (keyof JaxParams)[];

/** Problem sizes, as the section defines them. */
export interface Sizes {
  T: number;
  B: number;
  I: number;
  H: number;
}

// Adam's constants, torch.optim.Adam's defaults, with the section's learning rate.
const LR = 1e-3;
const BETA1 = 0.9;
const BETA2 = 0.999;
const EPS = 1e-8;

/**
 * The regressor's output [B, 1] for x [T, B, I]: xp = x·W_ihᵀ + b_ih + b_hh for all steps in one product,
 * then per step gates = xp_t + h·W_hhᵀ split into i, f, g, o (PyTorch's order);
 * c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g), h' = σ(o) ⊙ tanh(c'); finally h_T·W_headᵀ + b_head.
 * Consumes `p` and `x`.
 */
function forward(p: JaxParams, x: JaxArray, { T, B, I, H }: Sizes): JaxArray {
  const { numpy: np, nn } = jax();
  const xp = np
    .matmul(x.reshape([T * B, I]), p.weight_ih.transpose())
    .add(p.bias_ih)
    .add(p.bias_hh)
    .reshape([T, B, 4 * H]);
  const whhT = p.weight_hh.transpose();
  let h = np.zeros([B, H]);
  let c = np.zeros([B, H]);
  for (let t = 0; t < T; t++) {
    // xp and W_hhᵀ are read at every step: each use takes a reference, released after the loop.
    const gates = xp.ref.slice(t).add(np.matmul(h, whhT.ref));
    const gate = (k: number) => gates.ref.slice([], [k * H, (k + 1) * H]);
    const i = nn.sigmoid(gate(0));
    const f = nn.sigmoid(gate(1));
    const g = np.tanh(gate(2));
    const o = nn.sigmoid(gate(3));
    gates.dispose();
    c = f.mul(c).add(i.mul(g));
    h = o.mul(np.tanh(c.ref));
  }
  xp.dispose();
  whhT.dispose();
  c.dispose();
  return np.matmul(h, p.head_weight.transpose()).add(p.head_bias);
}

/** Mean squared error of the regressor on (x, y); consumes every argument. */
function loss(p: JaxParams, x: JaxArray, y: JaxArray, sizes: Sizes): JaxArray {
  return jax()
    .numpy.square(forward(p, x, sizes).sub(y))
    .mean();
}

/**
 * One Adam step, as torch.optim.Adam computes it: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
 * p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε). `stepSize` = lr / (1−β₁ᵗ) and `bc2Sqrt` = √(1−β₂ᵗ) are
 * arguments (not constants), so one compiled program serves every t. Consumes every argument.
 */
function adam(
  p: JaxParams,
  g: JaxParams,
  m: JaxParams,
  v: JaxParams,
  stepSize: JaxArray,
  bc2Sqrt: JaxArray,
): { p: JaxParams; m: JaxParams; v: JaxParams } {
  const np = jax().numpy;
  const out = { p: {} as JaxParams, m: {} as JaxParams, v: {} as JaxParams };
  for (const k of KEYS) {
    const gk = g[k];
    // gk is read three times: two references and the last use.
    const mk = m[k].mul(BETA1).add(gk.ref.mul(1 - BETA1));
    const vk = v[k].mul(BETA2).add(gk.ref.mul(gk).mul(1 - BETA2));
    const denom = np.sqrt(vk.ref).div(bc2Sqrt.ref).add(EPS);
    out.p[k] = p[k].sub(stepSize.ref.mul(mk.ref).div(denom));
    out.m[k] = mk;
    out.v[k] = vk;
  }
  stepSize.dispose();
  bc2Sqrt.dispose();
  return out;
}

/** The jitted functions, compiled on first use per shape and shared by every model. */
interface Compiled {
  lossAndGrad: (p: JaxParams, x: JaxArray, y: JaxArray) => [JaxArray, JaxParams];
  loss: (p: JaxParams, x: JaxArray, y: JaxArray) => JaxArray;
  forward: (p: JaxParams, x: JaxArray) => JaxArray;
  adam: typeof adam;
}

let compiled: Compiled | undefined;
let compiledFor = '';

function compile(sizes: Sizes): Compiled {
  const key = JSON.stringify(sizes);
  if (compiled && compiledFor === key) return compiled;
  const { jit, valueAndGrad } = jax();
  const lossOf = (p: JaxParams, x: JaxArray, y: JaxArray) => loss(p, x, y, sizes);
  compiled = {
    lossAndGrad: jit(valueAndGrad(lossOf)) as Compiled['lossAndGrad'],
    loss: jit(lossOf),
    forward: jit((p: JaxParams, x: JaxArray) => forward(p, x, sizes)),
    adam: jit(adam) as typeof adam,
  };
  compiledFor = key;
  return compiled;
}

/** A jax-js regressor under training, driven like the section's other trainees. */
export interface JaxTrainee {
  /** One training step (loss and gradients, Adam); resolves to the loss before the step. */
  step(): Promise<number>;
  /** The loss at the current weights. */
  evaluate(): number;
  /** The output [B, 1] at the current weights. */
  predict(): Float32Array;
  dispose(): void;
}

/**
 * A jax-js regressor from a snapshot of TensorLoom's weights, on x (time-major [T, B, I]) and y [B, 1].
 * `frozen` names parameters Adam must leave as they are: their gradient is replaced by zeros, so m and v stay
 * 0 and the update m / (√v + ε) is exactly 0 (how the cross-check freezes b_hh, see `foldBias`).
 */
export function jaxRegressor(
  weights: Snapshot,
  xTimeMajor: Float32Array,
  y: Float32Array,
  sizes: Sizes,
  frozen: readonly (keyof JaxParams)[] = [],
): JaxTrainee {
  const { numpy: np, tree, blockUntilReady } = jax();
  const { T, B, I } = sizes;
  const fns = compile(sizes);
  const fromSnapshot = (k: keyof JaxParams) => {
    const w = weights.get(NAMES[k]);
    if (!w) throw new Error(`jaxRegressor: the snapshot has no ${NAMES[k]}`);
    return np.array(w);
  };
  const shapes: Record<keyof JaxParams, number[]> = {
    weight_ih: [4 * sizes.H, I],
    weight_hh: [4 * sizes.H, sizes.H],
    bias_ih: [4 * sizes.H],
    bias_hh: [4 * sizes.H],
    head_weight: [1, sizes.H],
    head_bias: [1],
  };
  const build = (make: (k: keyof JaxParams) => JaxArray) =>
    Object.fromEntries(KEYS.map((k) => [k, make(k).reshape(shapes[k])])) as JaxParams;
  let params = held(build(fromSnapshot));
  let m = held(build((k) => np.zeros(shapes[k])));
  let v = held(build((k) => np.zeros(shapes[k])));
  const x = held(np.array(xTimeMajor).reshape([T, B, I]));
  const yArray = held(np.array(y).reshape([B, 1]));
  let t = 0;
  return {
    async step() {
      const [value, grads] = fns.lossAndGrad(tree.ref(params), x.ref, yArray.ref);
      for (const k of frozen) {
        grads[k].dispose();
        grads[k] = np.zeros(shapes[k]);
      }
      t++;
      const stepSize = np.array(LR / (1 - BETA1 ** t));
      const bc2Sqrt = np.array(Math.sqrt(1 - BETA2 ** t));
      // Moves params, m and v into the update; what it returns becomes the new state.
      const next = fns.adam(params, grads, m, v, stepSize, bc2Sqrt);
      params = held(next.p);
      m = held(next.m);
      v = held(next.v);
      const before = value.item();
      // jax-js runs lazily: wait for the new weights, so the step's whole cost falls inside this call.
      await blockUntilReady(params);
      return before;
    },
    evaluate: () => fns.loss(tree.ref(params), x.ref, yArray.ref).item(),
    predict: () => Float32Array.from(fns.forward(tree.ref(params), x.ref).dataSync()),
    dispose() {
      tree.dispose([params, m, v]);
      x.dispose();
      yArray.dispose();
    },
  };
}
