/**
 * Reductions. `sum`, `max` and `min` are primitives; `mean`, `variance`, `logsumexp`, `softmax` and
 * `logSoftmax` are composed from primitives and get their gradients for free.
 */
import { allocate } from '../dtype.ts';
import { record } from '../engine.ts';
import { type AxisReduction, argAxis, reduceAxis, rowSums } from '../kernels/reduce.ts';
import { type Eager, isFusionEnabled, joinNextKernel, NO_PARAMS, pendingNode } from '../lazy.ts';
import { fmt, normalizeDim, normalizeDims, sizeOf } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { div, eq, mul, sub, where } from './binary.ts';
import { checkTensor } from './helpers.ts';
import { broadcastTo, reshape, squeezeDims } from './movement.ts';
import { exp, log } from './unary.ts';

/** Reduced shape with the reduced dims kept as size 1. */
function keptShape(shape: readonly number[], dims: readonly number[]): number[] {
  return shape.map((n, d) => (dims.includes(d) ? 1 : n));
}

/** Runs an axis reduction over each of `dims` in turn; the result has the kept (size-1) shape. */
function reduceDims(kind: AxisReduction, x: Tensor, dims: readonly number[]): Tensor {
  let data = x.data;
  const shape = [...x.shape];
  for (const d of dims) {
    const n = shape[d]!;
    if (n === 0 && kind !== 'sum')
      throw new Error(`${kind}: cannot reduce an empty dimension ${d} of shape ${fmt(x.shape)}`);
    const outer = sizeOf(shape.slice(0, d));
    const inner = sizeOf(shape.slice(d + 1));
    const out = allocate(x.dtype, outer * inner);
    // A float sum over the last dim adds in the order of the fused kernels' row sums (see `rowSums`).
    if (kind === 'sum' && d === x.ndim - 1 && x.dtype !== 'int32') rowSums(data, outer, n, out);
    else reduceAxis(kind, data, outer, n, inner, out);
    data = out;
    shape[d] = 1;
  }
  return new Tensor(dims.length === 0 ? data.slice() : data, shape);
}

function finish(kept: Tensor, dims: readonly number[], keepdim: boolean): Tensor {
  return keepdim ? kept : squeezeDims(kept, dims);
}

/**
 * Σ over `dim` (all dims when omitted).  ∂/∂x = 1, so the gradient is g broadcast back to x's shape.
 * A float sum over one dim is pending while fusion is on (see lazy.ts): over the last dim it is computed in
 * the kernel of the elementwise ops that read it (layer norm, softmax, a variance); over another dim (a
 * bias's gradient, summed over the batch) in the kernel of the ops that compute its argument. A float sum
 * over the last dim adds into 4 (float32) or 2 (float64) partial sums, element k into partial sum k mod 4
 * (or 2), then adds those pairwise (`rowSums`): every path adds in that order, a vector at a time. An int32
 * sum is int32 and wraps past 2^31 − 1 like Int32Array (PyTorch sums integers in int64).
 */
export function sum(x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor {
  checkTensor('sum', x);
  const dims = normalizeDims('sum', dim, x.ndim);
  const shape = keepdim ? keptShape(x.shape, dims) : squeezedShape(x.shape, dims);
  const fused = isFusionEnabled() && x.dtype !== 'int32' && dims.length === 1;
  const last = dims[0] === x.ndim - 1;
  const y = fused
    ? new Tensor(
        null,
        shape,
        pendingNode(last ? 'sum' : 'sumOver', [x], last ? NO_PARAMS : dims, eagerSum),
        x.dtype,
      )
    : new Tensor(reduceDims('sum', x, dims).data, shape);
  if (fused && !last) joinNextKernel(y);
  return record('sum', [x], y, (g) => [broadcastTo(reshape(g, keptShape(x.shape, dims)), x.shape)]);
}

/** A pending sum over computed x: over the dims in its params, or the last dim when none ('sum'). */
const eagerSum: Eager = ([x], shape, dims) =>
  new Tensor(reduceDims('sum', x!, dims.length > 0 ? dims : [x!.ndim - 1]).data, shape);

function squeezedShape(shape: readonly number[], dims: readonly number[]): number[] {
  return shape.filter((_, d) => !dims.includes(d));
}

/**
 * max (or min) over `dim` (values only; see `argmax`). The gradient is shared evenly among tied
 * extremes, like PyTorch's `amax` and full `max()`: ∂/∂xᵢ = [xᵢ = y] / #{j : xⱼ = y}.
 */
function extreme(
  kind: 'max' | 'min',
  x: Tensor,
  dim: number | readonly number[] | undefined,
  keepdim: boolean,
): Tensor {
  checkTensor(kind, x);
  const dims = normalizeDims(kind, dim, x.ndim);
  if (x.size === 0) throw new Error(`${kind}: cannot reduce an empty tensor of shape ${fmt(x.shape)}`);
  const kept = reduceDims(kind, x, dims);
  const y = keepdim ? kept : new Tensor(kept.data, squeezedShape(x.shape, dims));
  return record(kind, [x], y, (g) => {
    const hits = eq(x, kept);
    const share = div(hits, sum(hits, dims, true));
    return [mul(share, broadcastTo(reshape(g, kept.shape), x.shape))];
  });
}

/** Largest value over `dim` (all when omitted). Ties share the gradient evenly. */
export function max(x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor {
  return extreme('max', x, dim, keepdim);
}

/** Smallest value over `dim` (all when omitted). Ties share the gradient evenly. */
export function min(x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor {
  return extreme('min', x, dim, keepdim);
}

function argExtreme(
  op: string,
  isMax: boolean,
  x: Tensor,
  dim: number | undefined,
  keepdim: boolean,
): Tensor {
  checkTensor(op, x);
  if (x.size === 0) throw new Error(`${op}: cannot reduce an empty tensor of shape ${fmt(x.shape)}`);
  if (dim === undefined) {
    const flat = new Tensor(x.data, [x.size]);
    const r = argExtreme(op, isMax, flat, 0, false);
    return keepdim
      ? reshape(
          r,
          x.shape.map(() => 1),
        )
      : r;
  }
  const d = normalizeDim(op, dim, x.ndim);
  const shape = x.ndim === 0 ? [1] : x.shape;
  const outer = sizeOf(shape.slice(0, d));
  const inner = sizeOf(shape.slice(d + 1));
  const out = allocate('int32', outer * inner);
  argAxis(isMax, x.data, outer, shape[d]!, inner, out);
  const kept = keptShape(x.shape, [d]);
  return new Tensor(out, keepdim ? kept : squeezedShape(x.shape, [d]));
}

/**
 * Index of the (first) largest value over `dim`, or over the flattened tensor, as an int32 tensor (PyTorch
 * returns int64); not differentiable. NaN counts as the largest, as in PyTorch.
 */
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  return argExtreme('argmax', true, x, dim, keepdim);
}

/** Index of the (first) smallest value over `dim`, or over the flattened tensor, as an int32 tensor. */
export function argmin(x: Tensor, dim?: number, keepdim = false): Tensor {
  return argExtreme('argmin', false, x, dim, keepdim);
}

function countOf(x: Tensor, dim: number | readonly number[] | undefined): number {
  return normalizeDims('mean', dim, x.ndim).reduce((n, d) => n * x.shape[d]!, 1);
}

/** Arithmetic mean over `dim`: sum / count (composite). */
export function mean(x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor {
  checkTensor('mean', x);
  return div(sum(x, dim, keepdim), countOf(x, dim));
}

/** Options of `variance`. */
export interface VarOptions {
  /** Subtracted from the count in the denominator: 1 (default) is the unbiased estimator, 0 the population variance. */
  correction?: number;
  /** Keep reduced dimensions with size 1. Default false. */
  keepdim?: boolean;
}

/** Variance over `dim`: Σ(x − mean)² / (n − correction) (composite). */
export function variance(x: Tensor, dim?: number | readonly number[], options: VarOptions = {}): Tensor {
  checkTensor('var', x);
  const { correction = 1, keepdim = false } = options;
  const centred = sub(x, mean(x, dim, true));
  return div(sum(mul(centred, centred), dim, keepdim), Math.max(0, countOf(x, dim) - correction));
}

/**
 * log Σ eˣ over `dim`, stable: with m = max x (held constant), log Σ eˣ = m + log Σ e^(x−m). The gradient
 * is softmax(x), and it comes out of the composition (m's contribution cancels exactly).
 */
export function logsumexp(x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor {
  checkTensor('logsumexp', x);
  const dims = normalizeDims('logsumexp', dim, x.ndim);
  const m = max(x.detach(), dims, true);
  // An all −∞ (or ±∞) slice would give ∞ − ∞ = NaN; shifting by 0 there keeps the right answer.
  const shift = where(eq(m.abs(), Number.POSITIVE_INFINITY), 0, m);
  const kept = log(sum(exp(sub(x, shift)), dims, true)).add(shift);
  return finish(kept, dims, keepdim);
}

/** softmax along `dim`: e^(x − m) / Σ e^(x − m) with m = max x held constant for stability (composite). */
export function softmax(x: Tensor, dim: number): Tensor {
  checkTensor('softmax', x);
  const d = normalizeDim('softmax', dim, x.ndim);
  const e = exp(sub(x, max(x.detach(), d, true)));
  return div(e, sum(e, d, true));
}

/** log softmax along `dim`: x − logsumexp(x) (composite, stable). */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  checkTensor('logSoftmax', x);
  const d = normalizeDim('logSoftmax', dim, x.ndim);
  return sub(x, logsumexp(x, d, true));
}
