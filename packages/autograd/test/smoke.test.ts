import { describe, expect, it } from 'vitest';
import {
  detach,
  exp,
  grad,
  gradcheck,
  gradgradcheck,
  logSoftmax,
  manualSeed,
  matmul,
  mul,
  randn,
  sum,
  tanh,
  tensor,
} from '../src/index.ts';

describe('smoke', () => {
  it('works', () => {
    const x = tensor(
      [
        [1, 2],
        [3, 4],
      ],
      { requiresGrad: true },
    );
    const y = sum(mul(x, x));
    y.backward();
    expect(Array.from(x.grad!.data)).toEqual([2, 4, 6, 8]);
    manualSeed(1);
    const a = randn([3, 4], { dtype: 'float64', requiresGrad: true });
    const b = randn([4, 2], { dtype: 'float64', requiresGrad: true });
    expect(gradcheck((a, b) => tanh(matmul(a, b)), [a, b])).toBe(true);
    expect(gradgradcheck((a, b) => tanh(matmul(a, b)), [a, b])).toBe(true);
    expect(gradcheck((a) => logSoftmax(a, 1), [a])).toBe(true);
    expect(gradgradcheck((a) => logSoftmax(a, 1), [a])).toBe(true);
    expect(() => gradcheck((a) => mul(a, detach(a)), [a])).toThrow(/mismatch/);
    const g2 = grad((x) => sum(grad((y) => sum(exp(mul(y, y))))(x)));
    const z = tensor([0.5], { dtype: 'float64' });
    // f = e^{y²}, f' = 2y e^{y²}, f'' = (2 + 4y²) e^{y²}
    expect(g2(z).item()).toBeCloseTo((2 + 4 * 0.25) * Math.exp(0.25), 10);
  });
});
