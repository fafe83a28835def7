/** gradcheck and gradgradcheck as features: they pass correct gradients and name what is wrong. */
import { describe, expect, it } from 'vitest';
import {
  customOp,
  detach,
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

const f64 = (data: number[], requiresGrad = true) => tensor(data, { dtype: 'float64', requiresGrad });

/** Runs `check`, expecting gradcheck's mismatch error; returns what the message names, parsed. */
function mismatch(check: () => unknown): {
  input: number;
  shape: string;
  element: number;
  output: number;
  analytic: number;
  numerical: number;
} {
  let message = '';
  try {
    check();
  } catch (e) {
    message = (e as Error).message;
  }
  const m =
    /^gradcheck: Jacobian mismatch for input (\d+) \(shape (\[[\d,]*\])\) at element (\d+), output element (\d+): analytic (\S+) vs numerical (\S+) /.exec(
      message,
    );
  if (!m) throw new Error(`expected a gradcheck mismatch error, got: ${message || 'no error'}`);
  return {
    input: Number(m[1]),
    shape: m[2]!,
    element: Number(m[3]),
    output: Number(m[4]),
    analytic: Number(m[5]),
    numerical: Number(m[6]),
  };
}

/** x³ whose backward is off by a factor: 2x²·g instead of 3x²·g. */
const wrongCube = customOp('wrongCube', {
  forward: (x) => mul(mul(x, x), x),
  backward: (g, [x]) => [mul(g, mul(mul(x!, x!), 2))],
});

/** x³ with the right backward, written with tensor ops so it is differentiable again. */
const cube = customOp('cube', {
  forward: (x) => mul(mul(x, x), x),
  backward: (g, [x]) => [mul(g, mul(mul(x!, x!), 3))],
});

/** x² whose backward is right, but whose backward's own derivative is wrong: it hides x from the graph. */
const squareFlatSecondOrder = customOp('squareFlatSecondOrder', {
  forward: (x) => mul(x, x),
  backward: (g, [x]) => [mul(g, mul(detach(x!), 2))],
});

describe('gradcheck', () => {
  it('passes correct gradients, full Jacobian and fast mode', () => {
    manualSeed(1);
    const a = randn([3, 4], { dtype: 'float64', requiresGrad: true });
    const b = randn([4, 2], { dtype: 'float64', requiresGrad: true });
    expect(gradcheck((a, b) => tanh(matmul(a, b)), [a, b])).toBe(true);
    expect(gradcheck((a, b) => tanh(matmul(a, b)), [a, b], { fastMode: true })).toBe(true);
    expect(gradcheck((a) => logSoftmax(a, 1), [a])).toBe(true);
    expect(gradcheck((x) => cube(x), [f64([0.5, -1.5, 2])])).toBe(true);
  });

  it('catches x ↦ x·detach(x) and names the input, the element and both values', () => {
    // d/dx of x·x is 2x, but detach hides one factor, so the engine reports x: 1.5 vs 3 at element 0.
    const x = f64([1.5, -2]);
    const e = mismatch(() => gradcheck((x) => mul(x, detach(x)), [x]));
    expect(e).toMatchObject({ input: 0, shape: '[2]', element: 0, output: 0, analytic: 1.5 });
    expect(e.numerical).toBeCloseTo(3, 6);
  });

  it('names the second input when that is the wrong one', () => {
    const a = f64([1, 2]);
    const b = f64([0.5, 0.25]);
    // ∂(a·b³)/∂b₀ = 3·a₀·b₀² = 0.75, but the wrong backward gives 2·a₀·b₀² = 0.5.
    const e = mismatch(() => gradcheck((a, b) => mul(a, wrongCube(b)), [a, b]));
    expect(e).toMatchObject({ input: 1, shape: '[2]', element: 0, output: 0, analytic: 0.5 });
    expect(e.numerical).toBeCloseTo(0.75, 6);
  });

  it('catches a customOp with a wrong backward, in fast mode too', () => {
    const x = f64([0.5, -1.5, 2]);
    const e = mismatch(() => gradcheck(wrongCube, [x]));
    expect(e).toMatchObject({ input: 0, shape: '[3]', element: 0, output: 0, analytic: 0.5 });
    expect(e.numerical).toBeCloseTo(0.75, 6);
    manualSeed(3);
    expect(() => gradcheck(wrongCube, [x], { fastMode: true })).toThrow(
      /gradcheck \(fast mode\): uᵀJv mismatch over inputs 0 \[3\]: analytic -?\d.* vs numerical -?\d/,
    );
  });

  it('checks only inputs with requiresGrad, and outputs given as a list', () => {
    const a = f64([1, 2]);
    const c = f64([3, 4], false);
    expect(gradcheck((a, c) => [mul(a, c), tanh(a)], [a, c])).toBe(true);
    // The wrong op sits on the constant input only, so nothing checked is wrong.
    expect(gradcheck((a, c) => mul(a, wrongCube(c)), [a, c])).toBe(true);
  });

  it('rejects float32 inputs, no checked inputs, and outputs that do not depend on them', () => {
    const x32 = tensor([1, 2], { requiresGrad: true });
    expect(() => gradcheck((x) => mul(x, 2), [x32])).toThrow(
      /gradcheck: input 0 \[2\] is float32; finite differences need float64/,
    );
    expect(() => gradcheck((x) => mul(x, 2), [f64([1], false)])).toThrow(
      /gradcheck: no input has requiresGrad set/,
    );
    expect(() => gradcheck((x) => detach(x), [f64([1])])).toThrow(/gradcheck: the output does not depend/);
  });

  it('leaves the inputs as they were', () => {
    const x = f64([0.5, -1.5, 2]);
    gradcheck(tanh, [x]);
    gradcheck(tanh, [x], { fastMode: true });
    expect(Array.from(x.data)).toEqual([0.5, -1.5, 2]);
    expect(x.grad).toBeNull();
  });
});

describe('gradgradcheck', () => {
  it('passes correct second derivatives, including a customOp with a differentiable backward', () => {
    manualSeed(2);
    const a = randn([2, 3], { dtype: 'float64', requiresGrad: true });
    const b = randn([3, 2], { dtype: 'float64', requiresGrad: true });
    expect(gradgradcheck((a, b) => tanh(matmul(a, b)), [a, b])).toBe(true);
    expect(gradgradcheck((a) => logSoftmax(a, 1), [a])).toBe(true);
    expect(gradgradcheck((x) => sum(cube(x)), [f64([0.5, -1.5, 2])])).toBe(true);
  });

  it('catches a backward that is right to first order but not differentiable correctly', () => {
    const x = f64([0.5, -1.5]);
    expect(gradcheck(squareFlatSecondOrder, [x])).toBe(true);
    expect(() => gradgradcheck(squareFlatSecondOrder, [x])).toThrow(
      /gradcheck: Jacobian mismatch for input 0/,
    );
  });
});
