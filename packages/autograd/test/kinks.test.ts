/**
 * Hand-checked gradients at the points where finite differences cannot help: the kinks of relu, abs,
 * max/min, maximum/minimum and clamp. The conventions are PyTorch's.
 */
import { describe, expect, it } from 'vitest';
import {
  abs,
  clamp,
  grad,
  grads,
  max,
  maximum,
  min,
  minimum,
  mul,
  pow,
  relu,
  sum,
  type Tensor,
  tensor,
} from '../src/index.ts';

const f64 = (data: number[] | number[][], requiresGrad = true): Tensor =>
  tensor(data, { dtype: 'float64', requiresGrad });

/** ∂(Σ cᵢ·f(x)ᵢ)/∂x with a cotangent c of distinct weights, so a mixed-up element shows. */
function gradOf(f: (x: Tensor) => Tensor, x: Tensor): number[] {
  const y = f(x);
  sum(
    mul(
      y,
      tensor(
        Array.from({ length: y.size }, (_, i) => i + 1),
        { shape: y.shape, dtype: 'float64' },
      ),
    ),
  ).backward();
  return Array.from(x.grad!.data);
}

describe('gradients at kinks', () => {
  it("relu'(0) = 0", () => {
    expect(gradOf(relu, f64([-1, 0, 2]))).toEqual([0, 0, 3]);
  });

  it("abs'(0) = 0 and sign(x) elsewhere", () => {
    expect(gradOf(abs, f64([-1, 0, 2]))).toEqual([-1, 0, 3]);
  });

  it('max over all elements splits the gradient evenly among ties', () => {
    const x = f64([1, 3, 3, 2]);
    max(x).backward();
    expect(Array.from(x.grad!.data)).toEqual([0, 0.5, 0.5, 0]);
    const y = f64([2, 2, 2]);
    sum(max(y)).backward();
    expect(Array.from(y.grad!.data)).toEqual([1 / 3, 1 / 3, 1 / 3]);
  });

  it('max and min along a dim split the gradient evenly among ties in each slice', () => {
    const x = f64([
      [1, 3, 3],
      [2, 2, 0],
    ]);
    // Row 0: ties 3, 3 share cotangent 1; row 1: ties 2, 2 share cotangent 2.
    expect(gradOf((t) => max(t, 1), x)).toEqual([0, 0.5, 0.5, 1, 1, 0]);
    const z = f64([
      [1, 3, 1],
      [2, 5, 2],
    ]);
    // Column minima: 1 (row 0) for columns 0 and 2, 3 for column 1; no ties along dim 0 here.
    expect(gradOf((t) => min(t, 0, true), z)).toEqual([1, 2, 3, 0, 0, 0]);
    const w = f64([
      [4, 1, 1, 4],
      [0, 0, 0, 7],
    ]);
    expect(gradOf((t) => min(t, -1), w)).toEqual([0, 0.5, 0.5, 0, 2 / 3, 2 / 3, 2 / 3, 0]);
  });

  it('maximum and minimum split the gradient ½ / ½ at ties', () => {
    const a = f64([1, 2, 3]);
    const b = f64([1, 5, 0]);
    const [ga, gb] = grads((a, b) => sum(maximum(a, b)))(a, b);
    expect(Array.from(ga!.data)).toEqual([0.5, 0, 1]);
    expect(Array.from(gb!.data)).toEqual([0.5, 1, 0]);
    const [ha, hb] = grads((a, b) => sum(minimum(a, b)))(a, b);
    expect(Array.from(ha!.data)).toEqual([0.5, 1, 0]);
    expect(Array.from(hb!.data)).toEqual([0.5, 0, 1]);
  });

  it('maximum with a broadcast scalar sums the split gradient back', () => {
    const a = f64([0, 0, 1]);
    const s = f64([0]);
    const [ga, gs] = grads((a, s) => sum(maximum(a, s)))(a, s);
    expect(Array.from(ga!.data)).toEqual([0.5, 0.5, 1]);
    expect(Array.from(gs!.data)).toEqual([1]);
  });

  it('clamp passes the gradient at the bounds (PyTorch) and blocks it outside', () => {
    const x = f64([-2, -1, 0, 1, 2]);
    expect(gradOf((t) => clamp(t, -1, 1), x)).toEqual([0, 2, 3, 4, 0]);
    expect(gradOf((t) => clamp(t, 0), f64([-1, 0, 1]))).toEqual([0, 2, 3]);
    expect(gradOf((t) => clamp(t, undefined, 0), f64([-1, 0, 1]))).toEqual([1, 2, 0]);
  });

  it('pow at a zero exponent: ∂/∂a is 0 (not NaN at a = 0) and its derivative in b is a⁻¹', () => {
    const [ga] = grads((a, b) => sum(pow(a, b)))(f64([0, 2]), f64([0, 0]));
    expect(Array.from(ga!.data)).toEqual([0, 0]);
    // ∂/∂b (b·aᵇ⁻¹) at b = 0 is aᵇ⁻¹ = 1/a: the masking at b = 0 must not cut it.
    const a = f64([0.2, 2]);
    const b = f64([0, 0]);
    sum(pow(a, b)).backward(undefined, { createGraph: true });
    const da = a.grad!;
    expect(Array.from(da.data)).toEqual([0, 0]);
    a.grad = null;
    b.grad = null;
    sum(da).backward();
    expect(Array.from(b.grad!.data)).toEqual([5, 0.5]);
    // d²/dx² x¹ = 0 and d²/dx² x² = 2 at x = 0 and at a subnormal x (whose inverse overflows): the masked
    // 0·x⁻¹ must not leak a NaN (0·∞) into them.
    const second = (n: number) => grad((x) => sum(grad((y) => sum(pow(y, n)))(x)))(f64([0, 1, -5e-324]));
    expect(Array.from(second(1).data)).toEqual([0, 0, 0]);
    expect(Array.from(second(2).data)).toEqual([2, 2, 2]);
  });
});
