/**
 * Loss functions with PyTorch's semantics and names. Every loss is composed from differentiable autograd
 * ops (no hand-written backward), kept numerically stable with log-softmax and log-sum-exp, and reduced by
 * `reduction`: 'mean' (default), 'sum', or 'none' (the per-element losses).
 */
import {
  abs,
  add,
  broadcastShapes,
  div,
  gather,
  ge,
  gt,
  indexSelect,
  log,
  logSoftmax,
  logsumexp,
  mul,
  neg,
  permute,
  reshape,
  stack,
  sub,
  sum,
  Tensor,
  where,
  zerosLike,
} from '@tensorloom/autograd';
import type { Ids } from './functional.ts';

const fmtShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

/** How per-element losses are combined. */
export type Reduction = 'mean' | 'sum' | 'none';

/** The `reduction` option every loss takes. */
export interface ReductionOptions {
  /** Default 'mean'. */
  reduction?: Reduction;
}

function checkReduction(op: string, reduction: string): void {
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none')
    throw new Error(`${op}: reduction must be 'mean', 'sum' or 'none', got '${reduction}'`);
}

/** Applies `reduction` to elementwise losses (the mean of an empty tensor is NaN, as PyTorch). */
function reduce(loss: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return loss;
  const total = sum(loss);
  return reduction === 'sum' ? total : div(total, loss.size);
}

function checkTensorArg(op: string, x: unknown, name: string): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw new Error(`${op}: ${name} must be a Tensor`);
}

function checkSameShape(op: string, input: Tensor, target: Tensor): void {
  checkTensorArg(op, input, 'input');
  checkTensorArg(op, target, 'target');
  if (fmtShape(input.shape) !== fmtShape(target.shape)) {
    throw new Error(
      `${op}: input ${fmtShape(input.shape)} and target ${fmtShape(target.shape)} must have the same shape`,
    );
  }
}

/** Throws unless `t` broadcasts to `shape` without growing it. */
function checkBroadcastsTo(op: string, name: string, t: Tensor, shape: readonly number[]): void {
  checkTensorArg(op, t, name);
  let ok = t.ndim <= shape.length;
  if (ok) {
    try {
      ok = fmtShape(broadcastShapes(op, t.shape, shape)) === fmtShape(shape);
    } catch {
      ok = false;
    }
  }
  if (!ok)
    throw new Error(`${op}: ${name} ${fmtShape(t.shape)} does not broadcast to input ${fmtShape(shape)}`);
}

/** Mean squared error: (input − target)². */
export function mseLoss(input: Tensor, target: Tensor, options: ReductionOptions = {}): Tensor {
  const { reduction = 'mean' } = options;
  checkReduction('mseLoss', reduction);
  checkSameShape('mseLoss', input, target);
  const d = sub(input, target);
  return reduce(mul(d, d), reduction);
}

/** Mean absolute error: |input − target| (gradient 0 where they are equal, as PyTorch). */
export function l1Loss(input: Tensor, target: Tensor, options: ReductionOptions = {}): Tensor {
  const { reduction = 'mean' } = options;
  checkReduction('l1Loss', reduction);
  checkSameShape('l1Loss', input, target);
  return reduce(abs(sub(input, target)), reduction);
}

/** Options of `huberLoss`. */
export interface HuberOptions extends ReductionOptions {
  /** Where the loss turns from quadratic to linear. Default 1. */
  delta?: number;
}

/**
 * Huber loss with d = input − target: ½d² where |d| < delta, else delta·(|d| − ½delta) (quadratic near zero,
 * linear in the tails; the two pieces meet with equal value and slope at |d| = delta).
 */
export function huberLoss(input: Tensor, target: Tensor, options: HuberOptions = {}): Tensor {
  const { reduction = 'mean', delta = 1 } = options;
  checkReduction('huberLoss', reduction);
  checkSameShape('huberLoss', input, target);
  if (!(delta > 0)) throw new Error(`huberLoss: delta must be > 0, got ${delta}`);
  const d = sub(input, target);
  const a = abs(d);
  const quadratic = mul(mul(d, d), 0.5);
  const linear = mul(sub(a, 0.5 * delta), delta);
  return reduce(where(ge(a, delta), linear, quadratic), reduction);
}

/** Options of `nllLoss`. */
export interface NllOptions extends ReductionOptions {
  /** Targets equal to this contribute nothing and are left out of the mean. Default −100. */
  ignoreIndex?: number;
  /** A rescaling weight per class, shape [C]. */
  weight?: Tensor | null;
}

/** Options of `crossEntropy`. */
export interface CrossEntropyOptions extends NllOptions {
  /**
   * ε ∈ [0, 1]: the target becomes (1 − ε)·onehot + ε/C, so the loss is
   * (1 − ε)·nll + (ε/C)·Σ_c (−w_c·log p_c), each part reduced like nll. Default 0.
   */
  labelSmoothing?: number;
}

/** Logits or log-probabilities [N, C, d...] (or [C]) viewed as a matrix [M, C] with M = N·∏d. */
interface ClassView {
  classes: number;
  /** The expected target shape [N, d...] ([] for unbatched input). */
  targetShape: number[];
  inputShape: readonly number[];
  rows: Tensor;
}

function classView(op: string, input: Tensor): ClassView {
  checkTensorArg(op, input, 'input');
  if (input.ndim === 0) throw new Error(`${op}: input must have a class dimension, got a scalar`);
  if (input.ndim === 1) {
    const rows = reshape(input, [1, input.shape[0]!]);
    return { classes: input.shape[0]!, targetShape: [], inputShape: input.shape, rows };
  }
  const classes = input.shape[1]!;
  const targetShape = input.shape.filter((_, d) => d !== 1);
  // [N, C, d...] → [N, d..., C] → [M, C]: one row of class scores per target.
  const last = input.ndim === 2 ? input : permute(input, [0, ...input.shape.map((_, d) => d).slice(2), 1]);
  return { classes, targetShape, inputShape: input.shape, rows: reshape(last, [-1, classes]) };
}

/** Reads class-index targets, checks their shape and range, and returns safe indices plus a validity mask. */
function classTargets(
  op: string,
  targets: Ids | number,
  view: ClassView,
  ignoreIndex: number,
): { index: Int32Array; valid: Uint8Array } {
  let shape: number[];
  let values: ArrayLike<number>;
  if (typeof targets === 'number') [shape, values] = [[], [targets]];
  else if (targets instanceof Tensor) [shape, values] = [[...targets.shape], targets.data];
  else if (Array.isArray(targets) || targets instanceof Int32Array)
    [shape, values] = [[targets.length], targets];
  else throw new Error(`${op}: targets must be a number[], an Int32Array or a Tensor of class indices`);
  if (fmtShape(shape) !== fmtShape(view.targetShape)) {
    throw new Error(
      `${op}: targets ${fmtShape(shape)} do not match input ${fmtShape(view.inputShape)} (expected targets ${fmtShape(view.targetShape)})`,
    );
  }
  const c = view.classes;
  const index = new Int32Array(values.length);
  const valid = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v === ignoreIndex) continue;
    if (!Number.isInteger(v) || v < 0 || v >= c) {
      throw new Error(
        `${op}: target ${v} at flat position ${i} is ${Number.isInteger(v) ? 'out of range' : 'not an integer'} for ${c} classes in input ${fmtShape(view.inputShape)} (expected an integer in [0, ${c - 1}] or ignoreIndex ${ignoreIndex})`,
      );
    }
    index[i] = v;
    valid[i] = 1;
  }
  return { index, valid };
}

function checkClassWeight(op: string, weight: Tensor | null | undefined, classes: number): void {
  if (!weight) return;
  checkTensorArg(op, weight, 'weight');
  if (weight.ndim !== 1 || weight.shape[0] !== classes)
    throw new Error(`${op}: weight ${fmtShape(weight.shape)} must have shape [${classes}] (one per class)`);
}

/**
 * The negative log-likelihood per target, −w[yᵢ]·logp[i, yᵢ] over the rows [M, C] of `view`, with the
 * per-target weights w[yᵢ] (0 for ignored targets; Σ of them is the denominator of 'mean') and the 0/1 mask of
 * non-ignored targets.
 */
function nllTerms(
  view: ClassView,
  index: Int32Array,
  valid: Uint8Array,
  weight: Tensor | null | undefined,
): { losses: Tensor; weights: Tensor; mask: Tensor } {
  const m = index.length;
  const { rows } = view;
  const mask = new Tensor(rows.dtype === 'float64' ? Float64Array.from(valid) : Float32Array.from(valid), [
    m,
  ]);
  const idx = new Tensor(index, [m, 1]);
  const picked = reshape(gather(rows, 1, idx), [m]);
  const weights = weight ? mul(indexSelect(weight, 0, index), mask) : mask;
  return { losses: neg(mul(picked, weights)), weights, mask };
}

/** Reduces per-target losses [M]: 'none' restores the target shape, 'mean' divides by Σ of the weights. */
function reduceTargets(losses: Tensor, weights: Tensor, view: ClassView, reduction: Reduction): Tensor {
  if (reduction === 'none') return reshape(losses, view.targetShape);
  const total = sum(losses);
  return reduction === 'sum' ? total : div(total, sum(weights));
}

/**
 * Negative log-likelihood of integer class targets given log-probabilities [N, C], [N, C, d...] or [C]:
 * ℓᵢ = −w[yᵢ]·logProbs[i, yᵢ]. 'mean' divides by Σᵢ w[yᵢ] over non-ignored targets (PyTorch); NaN if all
 * are ignored.
 */
export function nllLoss(logProbs: Tensor, targets: Ids | number, options: NllOptions = {}): Tensor {
  const op = 'nllLoss';
  const { reduction = 'mean', ignoreIndex = -100, weight } = options;
  checkReduction(op, reduction);
  const view = classView(op, logProbs);
  checkClassWeight(op, weight, view.classes);
  const { index, valid } = classTargets(op, targets, view, ignoreIndex);
  const { losses, weights } = nllTerms(view, index, valid, weight);
  return reduceTargets(losses, weights, view, reduction);
}

/**
 * Cross-entropy between logits [N, C], [N, C, d...] or [C] and targets, computed stably from logSoftmax.
 * Targets are integer class indices (shape [N, d...]), or class probabilities of the logits' own shape
 * (PyTorch picks the same way: equal shapes mean probabilities). With probabilities, ℓ = −Σ_c w_c·y_c·log p_c,
 * 'mean' divides by the number of rows, and ignoreIndex does not apply.
 */
export function crossEntropy(
  logits: Tensor,
  targets: Ids | number,
  options: CrossEntropyOptions = {},
): Tensor {
  const op = 'crossEntropy';
  const { reduction = 'mean', ignoreIndex = -100, weight, labelSmoothing = 0 } = options;
  checkReduction(op, reduction);
  checkTensorArg(op, logits, 'logits');
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
    throw new Error(`${op}: labelSmoothing must be in [0, 1], got ${labelSmoothing}`);
  if (logits.ndim === 0) throw new Error(`${op}: logits must have a class dimension, got a scalar`);
  const classDim = logits.ndim === 1 ? 0 : 1;
  const classes = logits.shape[classDim]!;
  checkClassWeight(op, weight, classes);
  const logp = logSoftmax(logits, classDim);

  if (targets instanceof Tensor && fmtShape(targets.shape) === fmtShape(logits.shape)) {
    // Probability targets, smoothed towards uniform: y ← (1 − ε)·y + ε/C.
    const y = labelSmoothing > 0 ? add(mul(targets, 1 - labelSmoothing), labelSmoothing / classes) : targets;
    // A per-class weight laid along the class dim: [C, 1, ..., 1] for [N, C, d...].
    const w = weight ? reshape(weight, [classes, ...logits.shape.slice(classDim + 1).map(() => 1)]) : null;
    const weighted = w ? mul(mul(logp, y), w) : mul(logp, y);
    return reduce(neg(sum(weighted, classDim)), reduction);
  }

  const view = classView(op, logp);
  const { index, valid } = classTargets(op, targets, view, ignoreIndex);
  const { losses, weights, mask } = nllTerms(view, index, valid, weight);
  if (labelSmoothing === 0) return reduceTargets(losses, weights, view, reduction);
  // With the smoothed target (1 − ε)·onehot + ε/C the loss per target is
  // (1 − ε)·(−w[y]·log p_y) + (ε/C)·Σ_c (−w_c·log p_c), zero where ignored; both parts share nll's
  // denominator Σ w[yᵢ] under 'mean' (PyTorch's formula).
  const uniform = mul(neg(sum(weight ? mul(view.rows, weight) : view.rows, 1)), mask);
  const combined = add(mul(losses, 1 - labelSmoothing), mul(uniform, labelSmoothing / classes));
  return reduceTargets(combined, weights, view, reduction);
}

/** Options of `bceWithLogits`. */
export interface BceWithLogitsOptions extends ReductionOptions {
  /** A rescaling weight broadcast against the input. */
  weight?: Tensor | null;
  /** A weight on the positive term, broadcast along the last (class) dim: >1 raises recall. */
  posWeight?: Tensor | null;
}

/**
 * softplus(z) = log(1 + eᶻ) as log-sum-exp of (0, z): stable for any z, and its gradient σ(z) is exact
 * everywhere (the max(z,0) + log1p(e^(−|z|)) form has the right value but a zero subgradient at z = 0).
 */
function softplus(z: Tensor): Tensor {
  return logsumexp(stack([zerosLike(z), z], -1), -1);
}

/**
 * Binary cross-entropy on logits x with targets y ∈ [0, 1], stable for any x:
 * ℓ = (1 − y)·x + (1 + (posWeight − 1)·y)·softplus(−x), which without posWeight is
 * max(x, 0) − x·y + log(1 + e^(−|x|)), then times `weight`.
 */
export function bceWithLogits(logits: Tensor, target: Tensor, options: BceWithLogitsOptions = {}): Tensor {
  const op = 'bceWithLogits';
  const { reduction = 'mean', weight, posWeight } = options;
  checkReduction(op, reduction);
  checkSameShape(op, logits, target);
  if (weight) checkBroadcastsTo(op, 'weight', weight, logits.shape);
  if (posWeight) checkBroadcastsTo(op, 'posWeight', posWeight, logits.shape);
  const logWeight = posWeight ? add(mul(sub(posWeight, 1), target), 1) : null;
  const sp = softplus(neg(logits));
  let loss = add(mul(sub(1, target), logits), logWeight ? mul(logWeight, sp) : sp);
  if (weight) loss = mul(loss, weight);
  return reduce(loss, reduction);
}

/** Options of `bce`. */
export interface BceOptions extends ReductionOptions {
  /** A rescaling weight broadcast against the input. */
  weight?: Tensor | null;
}

/** log p, with PyTorch's floor of −100 (so p = 0 gives a finite loss); the floor passes no gradient. */
function clampedLog(p: Tensor): Tensor {
  const floor = Math.exp(-100);
  const above = gt(p, floor);
  // The log reads 1 where the floor applies, so neither its value nor its gradient can be ±∞ or NaN there.
  return where(above, log(where(above, p, 1)), -100);
}

/**
 * Binary cross-entropy on probabilities p ∈ [0, 1]: ℓ = −w·(y·log p + (1 − y)·log(1 − p)), each log floored at
 * −100 as PyTorch. Prefer `bceWithLogits` (stable, exact near 0 and 1).
 */
export function bce(probs: Tensor, target: Tensor, options: BceOptions = {}): Tensor {
  const op = 'bce';
  const { reduction = 'mean', weight } = options;
  checkReduction(op, reduction);
  checkSameShape(op, probs, target);
  if (weight) checkBroadcastsTo(op, 'weight', weight, probs.shape);
  const p = probs.data;
  for (let i = 0; i < p.length; i++) {
    if (!(p[i]! >= 0 && p[i]! <= 1)) {
      throw new Error(
        `bce: input ${fmtShape(probs.shape)} must hold probabilities in [0, 1], got ${p[i]} at flat index ${i}`,
      );
    }
  }
  const ll = add(mul(target, clampedLog(probs)), mul(sub(1, target), clampedLog(sub(1, probs))));
  const loss = weight ? neg(mul(ll, weight)) : neg(ll);
  return reduce(loss, reduction);
}
