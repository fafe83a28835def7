/**
 * Gradient checking as a feature: compare the engine's analytic derivatives with central finite
 * differences, (f(x + εe) − f(x − εe)) / 2ε, whose error is O(ε²). Run in float64.
 */
import { noGrad, runBackward } from './engine.ts';
import { cat, detach, flatten, mul, randn } from './ops/index.ts';
import { normal } from './random.ts';
import { fmt } from './shape.ts';
import { Tensor } from './tensor.ts';

/** A function gradcheck differentiates: tensors in, one tensor or a list of tensors out. */
export type CheckedFn = (...inputs: Tensor[]) => Tensor | readonly Tensor[];

/** Step and tolerances of `gradcheck` and `gradgradcheck`. */
export interface GradcheckOptions {
  /** Finite-difference step. Default 1e-6. */
  eps?: number;
  /** Absolute tolerance. Default 1e-5. */
  atol?: number;
  /** Relative tolerance (against the numerical value). Default 1e-3. */
  rtol?: number;
  /**
   * Check one random projection uᵀ·J·v (a random cotangent u and direction v) instead of the full
   * Jacobian: 2 evaluations and 1 backward instead of 2n evaluations and m backwards. Default false.
   */
  fastMode?: boolean;
}

/** All outputs of fn as one flat vector. */
function flatOutput(fn: CheckedFn, inputs: readonly Tensor[]): Tensor {
  const out = fn(...inputs);
  const list = out instanceof Tensor ? [out] : [...out];
  if (list.length === 0) throw new Error('gradcheck: the function returned no outputs');
  return list.length === 1 ? flatten(list[0]!) : cat(list.map((t) => flatten(t)));
}

function checkInputs(op: string, inputs: readonly Tensor[]): Tensor[] {
  const checked = inputs.filter((t) => t.requiresGrad);
  inputs.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new Error(`${op}: input ${i} must be a Tensor`);
    if (t.requiresGrad && t.dtype !== 'float64') {
      throw new Error(
        `${op}: input ${i} ${fmt(t.shape)} is ${t.dtype}; finite differences need float64 (use .to('float64'))`,
      );
    }
  });
  if (checked.length === 0)
    throw new Error(`${op}: no input has requiresGrad set, so there is nothing to check`);
  return checked;
}

/**
 * The outputs' values. Evaluated with recording as the caller has it: the function may itself compute
 * gradients (as in gradgradcheck), which needs recording on.
 */
function evaluate(fn: CheckedFn, inputs: readonly Tensor[]): Float64Array {
  return Float64Array.from(flatOutput(fn, inputs).data);
}

/** Evaluates fn with one element of one input nudged by `delta` (in place, then restored). */
function nudged(
  fn: CheckedFn,
  inputs: readonly Tensor[],
  target: Tensor,
  index: number,
  delta: number,
): Float64Array {
  const old = target.data[index]!;
  target.data[index] = old + delta;
  try {
    return evaluate(fn, inputs);
  } finally {
    target.data[index] = old;
  }
}

function close(analytic: number, numerical: number, atol: number, rtol: number): boolean {
  return (
    Math.abs(analytic - numerical) <= atol + rtol * Math.abs(numerical) ||
    (Number.isNaN(analytic) && Number.isNaN(numerical))
  );
}

/**
 * Checks the gradients of `fn` with respect to every input that has `requiresGrad`, like
 * `torch.autograd.gradcheck`. Returns true, or throws an error naming the input, the element and both values.
 */
export function gradcheck(fn: CheckedFn, inputs: readonly Tensor[], options: GradcheckOptions = {}): true {
  const { eps = 1e-6, atol = 1e-5, rtol = 1e-3, fastMode = false } = options;
  const checked = checkInputs('gradcheck', inputs);
  const output = flatOutput(fn, inputs);
  if (!output.requiresGrad)
    throw new Error('gradcheck: the output does not depend on any input with requiresGrad');
  if (fastMode) return fastCheck(fn, inputs, checked, output, eps, atol, rtol);
  // Analytic Jacobian, one row per output element (a backward with a one-hot cotangent).
  const rows: Float64Array[][] = [];
  for (let o = 0; o < output.size; o++) {
    const seed = new Tensor(new Float64Array(output.size), output.shape);
    seed.data[o] = 1;
    const grads = runBackward([output], [seed], { inputs: checked, retainGraph: true });
    rows.push(grads.map((g, k) => (g ? Float64Array.from(g.data) : new Float64Array(checked[k]!.size))));
  }
  // Numerical Jacobian, one column per input element.
  checked.forEach((x, k) => {
    const which = inputs.indexOf(x);
    for (let i = 0; i < x.size; i++) {
      const plus = nudged(fn, inputs, x, i, eps);
      const minus = nudged(fn, inputs, x, i, -eps);
      for (let o = 0; o < output.size; o++) {
        const numerical = (plus[o]! - minus[o]!) / (2 * eps);
        const analytic = rows[o]![k]![i]!;
        if (!close(analytic, numerical, atol, rtol)) {
          throw new Error(
            `gradcheck: Jacobian mismatch for input ${which} (shape ${fmt(x.shape)}) at element ${i}, output element ${o}: ` +
              `analytic ${analytic} vs numerical ${numerical} (atol ${atol}, rtol ${rtol})`,
          );
        }
      }
    }
  });
  return true;
}

function fastCheck(
  fn: CheckedFn,
  inputs: readonly Tensor[],
  checked: Tensor[],
  output: Tensor,
  eps: number,
  atol: number,
  rtol: number,
): true {
  const u = randn(output.shape, { dtype: 'float64' });
  const directions = checked.map((x) => Float64Array.from({ length: x.size }, () => normal()));
  const grads = runBackward([output], [u], { inputs: checked, retainGraph: true });
  let analytic = 0;
  grads.forEach((g, k) => {
    if (g) for (let i = 0; i < g.size; i++) analytic += g.data[i]! * directions[k]![i]!;
  });
  const shifted = (sign: number): Float64Array => {
    const saved = checked.map((x) => Float64Array.from(x.data));
    checked.forEach((x, k) => {
      for (let i = 0; i < x.size; i++) x.data[i]! += sign * eps * directions[k]![i]!;
    });
    try {
      return evaluate(fn, inputs);
    } finally {
      checked.forEach((x, k) => {
        x.data.set(saved[k]!);
      });
    }
  };
  const plus = shifted(1);
  const minus = shifted(-1);
  let numerical = 0;
  for (let o = 0; o < output.size; o++) numerical += u.data[o]! * ((plus[o]! - minus[o]!) / (2 * eps));
  if (!close(analytic, numerical, atol, rtol)) {
    throw new Error(
      `gradcheck (fast mode): uᵀJv mismatch over inputs ${checked.map((x) => `${inputs.indexOf(x)} ${fmt(x.shape)}`).join(', ')}: ` +
        `analytic ${analytic} vs numerical ${numerical} (atol ${atol}, rtol ${rtol})`,
    );
  }
  return true;
}

/**
 * Checks second derivatives: gradcheck of the map (inputs, u) ↦ uᵀ·∂fn/∂inputs, where the gradients are
 * computed with `createGraph` (like `torch.autograd.gradgradcheck`). `gradOutputs` defaults to random u.
 */
export function gradgradcheck(
  fn: CheckedFn,
  inputs: readonly Tensor[],
  options: GradcheckOptions & { gradOutputs?: Tensor } = {},
): true {
  checkInputs('gradgradcheck', inputs);
  const shape = noGrad(() => flatOutput(fn, inputs)).shape;
  const u = options.gradOutputs ? flatten(detach(options.gradOutputs)) : randn(shape, { dtype: 'float64' });
  u.requiresGrad = true;
  const firstOrder = (...args: Tensor[]): Tensor[] => {
    const xs = args.slice(0, inputs.length);
    const cot = args[inputs.length]!;
    const out = flatOutput(fn, xs);
    const wrt = xs.filter((x) => x.requiresGrad);
    const gs = runBackward([out], [cot], { inputs: wrt, createGraph: true });
    // Unused inputs have zero gradient; `mul(x, 0)` keeps that zero connected for the outer check.
    return gs.map((g, k) => g ?? mul(wrt[k]!, 0));
  };
  return gradcheck(firstOrder, [...inputs, u], options);
}
