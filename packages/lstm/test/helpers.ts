/** Small helpers shared by the lstm tests. */
import { randn, type Tensor } from '@tensorloom/autograd';
import { checkGradients } from '@tensorloom/autograd/testing';
import { expect } from 'vitest';

/** A float64 standard-normal leaf that requires grad. */
export function leaf(shape: readonly number[], scale = 1): Tensor {
  const t = randn(shape, { dtype: 'float64' });
  if (scale !== 1) for (let i = 0; i < t.size; i++) t.data[i]! *= scale;
  return t.requiresGrad_();
}

/** A float64 standard-normal constant. */
export function constant(shape: readonly number[]): Tensor {
  return randn(shape, { dtype: 'float64' });
}

/**
 * The autograd testing kit's directional gradcheck (uᵀJv against central differences, u and v drawn from
 * `seed`) over every input with requiresGrad; `fn` reads the inputs from its closure (they are nudged in
 * place), so module parameters can be checked as they are. With `secondOrder`, gradgradcheck as well.
 */
export function fastGradcheck(
  fn: () => Tensor | readonly Tensor[],
  inputs: readonly Tensor[],
  seed: number,
  secondOrder = false,
): void {
  expect(checkGradients(() => fn(), inputs, { seed, secondOrder })).toBe(true);
}

/** Max |a − b| over two tensors of one shape (throws on a shape mismatch). */
export function maxDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  let worst = 0;
  for (let i = 0; i < a.size; i++) worst = Math.max(worst, Math.abs(a.data[i]! - b.data[i]!));
  return worst;
}

/** Max |a| over a tensor's elements: the scale a float32 tolerance is relative to. */
export function maxAbs(a: Tensor): number {
  let worst = 0;
  for (let i = 0; i < a.size; i++) worst = Math.max(worst, Math.abs(a.data[i]!));
  return worst;
}

/** Expects two tensors to agree to `tol` elementwise. */
export function expectClose(a: Tensor, b: Tensor, tol = 1e-12): void {
  expect(maxDiff(a, b)).toBeLessThanOrEqual(tol);
}

/** Random lengths in [1, T] for B sequences, unsorted, from a fast-check-provided list of fractions. */
export function lengthsFrom(fractions: readonly number[], T: number): number[] {
  return fractions.map((f) => 1 + Math.min(T - 1, Math.floor(f * T)));
}
