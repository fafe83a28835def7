/**
 * Elementwise unary ops. Each is a kernel plus its VJP, written with differentiable ops so that
 * gradients of gradients work; the derivative is in the comment beside it. On int32 input, `neg`, `abs`,
 * `sign`, `relu` and `clamp` (with integral bounds) give int32 (wrapping like Int32Array); the others compute
 * in float32, as PyTorch promotes integers for floating functions.
 */
import { toInt32 } from '../dtype.ts';
import { record, type Vjp } from '../engine.ts';
import * as k from '../kernels/elementwise.ts';
import { type Eager, markSaved } from '../lazy.ts';
import type { Tensor } from '../tensor.ts';
import { add, div, ge, gt, le, mul, sub } from './binary.ts';
import { checkTensor, elementwise, empty, floatOperand, onePer } from './helpers.ts';

type Derivative = (g: Tensor, x: Tensor, y: Tensor) => Tensor;

/**
 * Applies `kernel` (fused with neighbouring elementwise ops while fusion is on), recording `vjp(g, x, y)` as
 * the gradient with respect to x (y is the output); `reads` says which of x and y the VJP reads. The
 * derivative is made into the op's VJP once, on its first call (`onePer`): it must read nothing but its
 * arguments.
 */
function unary(
  op: string,
  input: Tensor,
  kernel: k.UnaryKernel,
  vjp: Derivative,
  reads: 'x' | 'y' | null,
): Tensor {
  checkTensor(op, input);
  const x = INTEGER_CLOSED.has(op) ? input : floatOperand(input);
  const args = [x];
  const y = elementwise(op, args, x.shape, onePer(EAGER, kernel, kernel, eagerOf));
  const out = record(op, args, y, onePer(VJPS, op, vjp, vjpOf));
  if (reads && out.requiresGrad) markSaved(reads === 'x' ? x : y);
  return out;
}

/** Each op's VJP, and each kernel's unfused op (see `onePer`). */
const VJPS = new Map<string, Vjp>();
const EAGER = new Map<k.UnaryKernel, Eager>();

/** The VJP of a derivative: x and y read from the node. */
function vjpOf(derivative: Derivative): Vjp {
  return (g, node) => [derivative(g, node.inputs[0]!, node.output!)];
}

function eagerOf(kernel: k.UnaryKernel): Eager {
  return ([x], shape) => {
    const out = empty(shape, x!.dtype);
    kernel(x!.data, out.data);
    return out;
  };
}

/** Ops that map integers to integers, so int32 input stays int32. */
const INTEGER_CLOSED = new Set(['neg', 'abs', 'relu']);

/** −x.  d/dx = −1 */
export function neg(x: Tensor): Tensor {
  return unary('neg', x, k.neg, (g) => neg(g), null);
}

/** eˣ.  d/dx = eˣ = y */
export function exp(x: Tensor): Tensor {
  return unary('exp', x, k.exp, (g, _x, y) => mul(g, y), 'y');
}

/** Natural log (log 0 = −∞, NaN below 0, as in PyTorch).  d/dx = 1/x */
export function log(x: Tensor): Tensor {
  checkTensor('log', x);
  return unary('log', x, k.log, (g, x) => div(g, x), 'x');
}

/** log(1 + x), accurate for small x (−∞ at −1, NaN below).  d/dx = 1/(1 + x) */
export function log1p(x: Tensor): Tensor {
  checkTensor('log1p', x);
  return unary('log1p', x, k.log1p, (g, x) => div(g, add(x, 1)), 'x');
}

/** √x (NaN below 0, as in PyTorch).  d/dx = 1/(2√x) */
export function sqrt(x: Tensor): Tensor {
  checkTensor('sqrt', x);
  return unary('sqrt', x, k.sqrt, (g, _x, y) => div(g, mul(y, 2)), 'y');
}

/** |x|.  d/dx = sign(x), taken as 0 at x = 0 (as PyTorch). */
export function abs(x: Tensor): Tensor {
  return unary('abs', x, k.abs, (g, x) => mul(g, sign(x)), 'x');
}

/** sign(x) ∈ {−1, 0, 1}; piecewise constant, so not differentiable (no gradient flows). */
export function sign(x: Tensor): Tensor {
  checkTensor('sign', x);
  return elementwise('sign', [x], x.shape, onePer(EAGER, k.sign, k.sign, eagerOf));
}

/** tanh x.  d/dx = 1 − tanh²x = 1 − y² */
export function tanh(x: Tensor): Tensor {
  return unary('tanh', x, k.tanh, (g, _x, y) => mul(g, sub(1, mul(y, y))), 'y');
}

/** σ(x) = 1/(1 + e⁻ˣ).  d/dx = σ(x)(1 − σ(x)) = y(1 − y) */
export function sigmoid(x: Tensor): Tensor {
  return unary('sigmoid', x, k.sigmoid, (g, _x, y) => mul(g, mul(y, sub(1, y))), 'y');
}

/** max(x, 0).  d/dx = 1 for x > 0, else 0 (0 at the kink, as PyTorch). */
export function relu(x: Tensor): Tensor {
  return unary('relu', x, k.relu, (g, x) => mul(g, gt(x, 0)), 'x');
}

/** sin x.  d/dx = cos x */
export function sin(x: Tensor): Tensor {
  return unary('sin', x, k.sin, (g, x) => mul(g, cos(x)), 'x');
}

/** cos x.  d/dx = −sin x */
export function cos(x: Tensor): Tensor {
  return unary('cos', x, k.cos, (g, x) => neg(mul(g, sin(x))), 'x');
}

/** The error function.  d/dx = 2/√π · e^(−x²) */
export function erf(x: Tensor): Tensor {
  return unary('erf', x, k.erf, (g, x) => mul(g, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI))), 'x');
}

/** Clamps into [min, max] (either bound optional).  d/dx = 1 where min ≤ x ≤ max, else 0 (as PyTorch). */
export function clamp(input: Tensor, min?: number, max?: number): Tensor {
  checkTensor('clamp', input);
  // A non-integral bound makes int32 input float32, as a non-integral number does in arithmetic.
  const integral = (v: number | undefined) => v === undefined || Number.isInteger(v);
  const x = integral(min) && integral(max) ? input : floatOperand(input);
  if (x.dtype === 'int32') {
    if (min !== undefined) toInt32('clamp', min, 'min');
    if (max !== undefined) toInt32('clamp', max, 'max');
  }
  const lo = min ?? Number.NEGATIVE_INFINITY;
  const hi = max ?? Number.POSITIVE_INFINITY;
  if (Number.isNaN(lo) || Number.isNaN(hi) || lo > hi)
    throw new Error(`clamp: invalid bounds min=${min}, max=${max}`);
  const y = elementwise('clamp', [x], x.shape, eagerClamp, [lo, hi]);
  const out = record('clamp', [x], y, (g) => [mul(g, mul(ge(x, lo), le(x, hi)))]);
  if (out.requiresGrad) markSaved(x);
  return out;
}

/** `clamp` over a computed argument, between its params [lo, hi]. */
const eagerClamp: Eager = ([x], shape, [lo, hi]) => {
  const out = empty(shape, x!.dtype);
  k.clamp(x!.data, lo!, hi!, out.data);
  return out;
};
