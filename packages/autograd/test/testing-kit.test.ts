/** The public testing kit: its arbitraries generate what they promise, and its checks catch wrong VJPs. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  broadcastShapes,
  cos,
  customOp,
  getRngState,
  manualSeed,
  mul,
  neg,
  randn,
  sin,
  sum,
  type Tensor,
  tensor,
} from '../src/index.ts';
import {
  broadcastableShapesArb,
  checkGradients,
  dimArb,
  gradientProperty,
  indicesArb,
  shapeArb,
  tensorArb,
  tensorsForShapesArb,
  valuesArb,
} from '../src/testing/index.ts';

const sample = <T>(arb: fc.Arbitrary<T>, numRuns = 300): T[] => fc.sample(arb, { numRuns, seed: 7 });

/** sin with the wrong sign on its derivative. */
const badSin = customOp('badSin', {
  forward: (x) => sin(x),
  backward: (g, [x]) => [mul(g, neg(cos(x!)))],
});

describe('shape arbitraries', () => {
  it('shapeArb respects rank and dimension bounds', () => {
    const shapes = sample(shapeArb({ minRank: 1, maxRank: 2, minDim: 2, maxDim: 3 }));
    for (const s of shapes) {
      expect(s.length).toBeGreaterThanOrEqual(1);
      expect(s.length).toBeLessThanOrEqual(2);
      for (const d of s) expect([2, 3]).toContain(d);
    }
    expect(new Set(shapes.map((s) => s.length))).toEqual(new Set([1, 2]));
    expect(() => shapeArb({ minRank: 3, maxRank: 1 })).toThrow('shapeArb: invalid rank range [3, 1]');
  });

  it('broadcastableShapesArb gives shapes that broadcast, with size-1 and missing leading dims', () => {
    const tuples = sample(broadcastableShapesArb(3, { minRank: 2, maxRank: 3, minDim: 2 }));
    let sawOne = false;
    let sawShorter = false;
    for (const shapes of tuples) {
      expect(shapes).toHaveLength(3);
      const out = broadcastShapes('test', ...shapes);
      for (const s of shapes) {
        if (s.includes(1)) sawOne = true;
        if (s.length < out.length) sawShorter = true;
      }
    }
    expect(sawOne).toBe(true);
    expect(sawShorter).toBe(true);
  });

  it('dimArb gives valid dims, negatives included', () => {
    const dims = sample(dimArb(3));
    expect(new Set(dims)).toEqual(new Set([-3, -2, -1, 0, 1, 2]));
    expect(new Set(sample(dimArb(0)))).toEqual(new Set([-1, 0]));
  });

  it('indicesArb stays in range', () => {
    for (const ids of sample(indicesArb(3, { minLength: 1, maxLength: 5 }))) {
      expect(ids.length).toBeGreaterThanOrEqual(1);
      expect(ids.length).toBeLessThanOrEqual(5);
      for (const i of ids) expect([0, 1, 2]).toContain(i);
    }
  });
});

describe('value and tensor arbitraries', () => {
  it('valuesArb keeps within bounds and away from avoided points', () => {
    for (const vs of sample(valuesArb(6, { min: -1, max: 1, avoid: [0, 0.5], margin: 0.1 }))) {
      expect(vs).toHaveLength(6);
      for (const v of vs) {
        expect(v).toBeGreaterThanOrEqual(-1);
        expect(v).toBeLessThanOrEqual(1);
        // 0.1 up to rounding: 0.5 − 0.1 is 0.4 less an ulp.
        expect(Math.abs(v)).toBeGreaterThanOrEqual(0.1 - 1e-15);
        expect(Math.abs(v - 0.5)).toBeGreaterThanOrEqual(0.1 - 1e-15);
      }
    }
  });

  it('valuesArb with distinct gives distinct values at least a gap apart', () => {
    for (const vs of sample(valuesArb(20, { distinct: true, gap: 0.125 }))) {
      const sorted = [...vs].sort((a, b) => a - b);
      for (let i = 1; i < sorted.length; i++)
        expect(sorted[i]! - sorted[i - 1]!).toBeGreaterThanOrEqual(0.125);
    }
    expect(() => valuesArb(100, { min: 0, max: 1, distinct: true, gap: 0.5 })).toThrow(
      'valuesArb: only 3 distinct values with gap 0.5 fit in [0, 1], 100 needed',
    );
  });

  it('tensorArb makes tensors of the shape, dtype and requiresGrad asked for', () => {
    for (const t of sample(tensorArb([2, 3], { min: 0.5, max: 1, requiresGrad: true }), 50)) {
      expect(t.shape).toEqual([2, 3]);
      expect(t.dtype).toBe('float64');
      expect(t.requiresGrad).toBe(true);
      for (const v of t.data) expect(v >= 0.5 && v <= 1).toBe(true);
    }
    const [t32] = sample(tensorArb([], { dtype: 'float32' }), 1);
    expect(t32!.dtype).toBe('float32');
    expect(t32!.requiresGrad).toBe(false);
  });

  it('tensorsForShapesArb with distinct keeps values distinct across the tensors', () => {
    for (const [a, b] of sample(tensorsForShapesArb([[3], [2, 3]], { distinct: true }), 100)) {
      expect(a!.shape).toEqual([3]);
      expect(b!.shape).toEqual([2, 3]);
      expect(new Set([...a!.data, ...b!.data]).size).toBe(9);
    }
  });
});

describe('checkGradients and gradientProperty', () => {
  const inputs = broadcastableShapesArb(2).chain((shapes) =>
    tensorsForShapesArb(shapes, { requiresGrad: true }),
  );

  it('hold for a correct function, first and second order (the module example)', () => {
    fc.assert(
      gradientProperty(inputs, (a, b) => mul(sin(a), b), { secondOrder: true }),
      { numRuns: 30 },
    );
  });

  it('fail for a wrong VJP', () => {
    const one = shapeArb({ minRank: 1 }).chain((s) => tensorArb(s, { requiresGrad: true }).map((t) => [t]));
    let failure: Error | undefined;
    try {
      fc.assert(
        gradientProperty(one, (x) => badSin(x)),
        { numRuns: 20 },
      );
    } catch (e) {
      failure = e as Error;
    }
    // fast-check reports the shrunk counterexample; gradcheck's error is the cause.
    expect(failure?.message).toMatch(/Property failed[\s\S]*Counterexample: \[\[Tensor\(/);
    expect((failure?.cause as Error | undefined)?.message).toMatch(
      /^gradcheck \(fast mode\): uᵀJv mismatch over inputs 0 \[\d*(,\d+)*\]: analytic \S+ vs numerical \S+/,
    );
  });

  it('fail when only the second derivative is wrong, with secondOrder', () => {
    // The VJP 2·detach(x)·g is right, but its own derivative w.r.t. x is lost.
    const square = customOp('square', {
      forward: (x) => mul(x, x),
      backward: (g, [x]) => [mul(g, mul(x!.detach(), 2))],
    });
    const x = tensor([0.5, -1.5, 2], { dtype: 'float64', requiresGrad: true });
    expect(checkGradients(square, [x], { seed: 1 })).toBe(true);
    expect(() => checkGradients(square, [x], { seed: 1, secondOrder: true })).toThrow(/fast mode/);
  });

  it('replay exactly under a seed and leave the global generator as it was', () => {
    const x = tensor([0.3, -0.2], { dtype: 'float64', requiresGrad: true });
    const message = (seed: number): string => {
      try {
        checkGradients(badSin, [x], { seed });
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    };
    manualSeed(5);
    const before = getRngState();
    const first = message(11);
    expect(first).toMatch(/analytic/);
    expect(message(11)).toBe(first);
    expect(message(12)).not.toBe(first);
    expect(getRngState()).toEqual(before);
  });

  it('accept tolerances', () => {
    // A VJP off by 1e-4 relative passes with a loose rtol and fails with the default.
    const offBy = customOp('offBy', {
      forward: (x) => mul(x, 2),
      backward: (g) => [mul(g, 2 * (1 + 1e-4))],
    });
    manualSeed(0);
    const x: Tensor = randn([4], { dtype: 'float64', requiresGrad: true });
    expect(checkGradients((t) => sum(offBy(t)), [x], { seed: 3, rtol: 1e-2 })).toBe(true);
    expect(() => checkGradients((t) => sum(offBy(t)), [x], { seed: 3, rtol: 1e-6, atol: 1e-9 })).toThrow(
      /mismatch/,
    );
  });
});
