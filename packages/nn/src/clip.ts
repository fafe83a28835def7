/**
 * Gradient clipping, as PyTorch's `clip_grad_norm_` and `clip_grad_value_`: recurrent nets need it to
 * survive exploding gradients.
 *
 * The clipped gradient is written as a fresh tensor to `param.grad` rather than into the old gradient's
 * storage: the engine may hand the same storage to several leaves (the VJP of `a + b` passes one gradient
 * to both) or to the seed tensor passed to `backward`, and scaling shared storage in place would clip it
 * twice or change the caller's tensor. Anything that reads `param.grad` afterwards (optimizers included)
 * sees the clipped values.
 */
import { Tensor } from '@tensorloom/autograd';

/** Options of `clipGradNorm`. */
export interface ClipGradNormOptions {
  /** Throw if the total norm is NaN or infinite instead of scaling by it (PyTorch's `error_if_nonfinite`). */
  errorIfNonfinite?: boolean;
}

function tensorsOf(params: Iterable<Tensor> | Tensor): Tensor[] {
  return params instanceof Tensor ? [params] : Array.from(params);
}

/** Fresh storage of `grad`'s dtype and size. */
function like(grad: Tensor): Float32Array | Float64Array {
  return grad.dtype === 'float64' ? new Float64Array(grad.size) : new Float32Array(grad.size);
}

/** c·g as a new tensor. */
function scaled(grad: Tensor, c: number): Tensor {
  const src = grad.data;
  const out = like(grad);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! * c;
  return new Tensor(out, grad.shape);
}

/** g clamped to [−c, c] as a new tensor; Math.min/max propagate NaN, so NaN stays NaN (as torch.clamp). */
function clamped(grad: Tensor, c: number): Tensor {
  const src = grad.data;
  const out = like(grad);
  for (let i = 0; i < src.length; i++) out[i] = Math.max(-c, Math.min(src[i]!, c));
  return new Tensor(out, grad.shape);
}

/** ‖g‖_p of one gradient's elements (max |g| for p = ∞), accumulated in double precision. */
function gradNorm(data: ArrayLike<number>, p: number): number {
  let acc = 0;
  if (p === Number.POSITIVE_INFINITY) {
    for (let i = 0; i < data.length; i++) {
      const a = Math.abs(data[i]!);
      // NaN wins, as in torch's max.
      if (Number.isNaN(a)) return a;
      if (a > acc) acc = a;
    }
    return acc;
  }
  if (p === 2) {
    for (let i = 0; i < data.length; i++) acc += data[i]! * data[i]!;
    return Math.sqrt(acc);
  }
  if (p === 1) {
    for (let i = 0; i < data.length; i++) acc += Math.abs(data[i]!);
    return acc;
  }
  for (let i = 0; i < data.length; i++) acc += Math.abs(data[i]!) ** p;
  return acc ** (1 / p);
}

/**
 * Scales the gradients of `params` so that their joint p-norm (as if all gradients were one vector) is at
 * most `maxNorm`, and returns that total norm before clipping (0 when no parameter has a gradient).
 * As in PyTorch, every gradient is multiplied by c = maxNorm / (total + 1e-6) whenever c < 1; the
 * total is ‖(‖g₁‖_p, …, ‖gₖ‖_p)‖_p, with p = Infinity for the max norm. Parameters without a gradient
 * are skipped.
 */
export function clipGradNorm(
  params: Iterable<Tensor> | Tensor,
  maxNorm: number,
  normType = 2,
  options: ClipGradNormOptions = {},
): number {
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0)) {
    throw new Error(`clipGradNorm: maxNorm must be a number >= 0, got ${maxNorm}`);
  }
  if (typeof normType !== 'number' || !(normType > 0)) {
    throw new Error(`clipGradNorm: normType must be a number > 0 or Infinity, got ${normType}`);
  }
  const withGrad = tensorsOf(params).filter((p) => p.grad !== null);
  if (withGrad.length === 0) return 0;
  const norms = withGrad.map((p) => gradNorm(p.grad!.data, normType));
  const total = gradNorm(norms, normType);
  if (options.errorIfNonfinite && !Number.isFinite(total)) {
    throw new Error(
      `clipGradNorm: the total norm of order ${normType} of the gradients of ${withGrad.length} parameter(s) ` +
        `is ${total}, so they cannot be clipped; pass { errorIfNonfinite: false } to scale by it anyway`,
    );
  }
  const coef = maxNorm / (total + 1e-6);
  // PyTorch multiplies by min(coef, 1); a factor of exactly 1 changes nothing, so skip it. NaN propagates.
  if (coef < 1 || Number.isNaN(coef)) {
    for (const p of withGrad) p.grad = scaled(p.grad!, coef);
  }
  return total;
}

/** Clamps every gradient element of `params` to [−clipValue, clipValue] (NaN stays NaN). */
export function clipGradValue(params: Iterable<Tensor> | Tensor, clipValue: number): void {
  if (typeof clipValue !== 'number' || !(clipValue >= 0)) {
    throw new Error(`clipGradValue: clipValue must be a number >= 0, got ${clipValue}`);
  }
  for (const p of tensorsOf(params)) {
    if (p.grad !== null) p.grad = clamped(p.grad, clipValue);
  }
}
