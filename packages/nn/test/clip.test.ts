import { readFileSync } from 'node:fs';
import { add, type Tensor, tensor, zeros } from '@tensorloom/autograd';
import { describe, expect, it } from 'vitest';
import { clipGradNorm, clipGradValue } from '../src/clip.ts';

interface Packed {
  shape: number[];
  data: number[];
}
interface ClipCase {
  kind: 'norm' | 'value';
  maxNorm?: number;
  normType?: number | 'inf';
  clipValue?: number;
  grads: (Packed | null)[];
  totalNorm?: number;
  clipped: (number[] | null)[];
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/optim.json', import.meta.url), 'utf8')) as {
  torch: string;
  clip: ClipCase[];
};

function paramsWithGrads(c: ClipCase): Tensor[] {
  return c.grads.map((g, i) => {
    const shape = g ? g.shape : [i + 1];
    const p = zeros(shape, { dtype: 'float64', requiresGrad: true });
    p.grad = g ? tensor(g.data, { shape: g.shape, dtype: 'float64' }) : null;
    return p;
  });
}

function expectClose(
  actual: ArrayLike<number>,
  expected: readonly number[],
  tol: number,
  what: string,
): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i]! - expected[i]!), `${what}[${i}]`).toBeLessThanOrEqual(
      tol * Math.max(1, Math.abs(expected[i]!)),
    );
  }
}

const caseName = (c: ClipCase) =>
  c.kind === 'norm'
    ? `clipGradNorm(maxNorm ${c.maxNorm}, normType ${c.normType})`
    : `clipGradValue(${c.clipValue})`;

describe('gradient clipping against PyTorch fixtures', () => {
  it('covers the 2-, 1- and inf-norms, a no-op case and value clipping', () => {
    expect(fixture.torch).toMatch(/^1\.13/);
    const norms = fixture.clip.filter((c) => c.kind === 'norm');
    expect(new Set(norms.map((c) => c.normType))).toEqual(new Set([2, 1, 'inf', 3]));
    expect(norms.some((c) => c.totalNorm! < c.maxNorm!)).toBe(true);
    expect(norms.some((c) => c.totalNorm! > c.maxNorm!)).toBe(true);
    expect(fixture.clip.some((c) => c.kind === 'value')).toBe(true);
  });

  it.each(fixture.clip.map((c) => [caseName(c), c] as const))('%s', (_name, c) => {
    const params = paramsWithGrads(c);
    if (c.kind === 'norm') {
      const normType = c.normType === 'inf' ? Number.POSITIVE_INFINITY : c.normType!;
      const total = clipGradNorm(params, c.maxNorm!, normType);
      expect(Math.abs(total - c.totalNorm!)).toBeLessThanOrEqual(1e-12 * c.totalNorm!);
    } else {
      clipGradValue(params, c.clipValue!);
    }
    params.forEach((p, i) => {
      const want = c.clipped[i]!;
      if (want === null) expect(p.grad).toBeNull();
      else expectClose(p.grad!.data, want, 1e-12, `grad ${i}`);
    });
  });
});

describe('clipGradNorm', () => {
  it('returns 0 and changes nothing when no parameter has a gradient', () => {
    const p = zeros([3], { requiresGrad: true });
    expect(clipGradNorm([p], 1)).toBe(0);
    expect(p.grad).toBeNull();
  });

  it('clips to maxNorm (up to the 1e-6 guard) and accepts a single tensor', () => {
    const p = zeros([2], { dtype: 'float64', requiresGrad: true });
    p.grad = tensor([3, 4], { dtype: 'float64' });
    expect(clipGradNorm(p, 1)).toBe(5);
    const [a, b] = p.grad.data;
    expect(Math.hypot(a!, b!)).toBeCloseTo(1, 6);
    expect(a! / b!).toBeCloseTo(0.75, 14);
  });

  it('writes new gradient tensors, so storage shared by several gradients is scaled once', () => {
    const a = zeros([2], { dtype: 'float64', requiresGrad: true });
    const b = zeros([2], { dtype: 'float64', requiresGrad: true });
    // The VJP of a + b passes one gradient to both inputs: their .grad may share storage.
    add(a, b).sum().backward();
    const c1 = 1 / (2 + 1e-6);
    expect(clipGradNorm([a, b], 1)).toBe(2);
    expectClose(a.grad!.data, [c1, c1], 1e-15, 'a.grad after backward');
    expectClose(b.grad!.data, [c1, c1], 1e-15, 'b.grad after backward');
    // The same tensor set as two gradients, and the caller's tensor left intact.
    const shared = tensor([3, 4], { dtype: 'float64' });
    a.grad = shared;
    b.grad = shared;
    const total = clipGradNorm([a, b], 1);
    expect(total).toBeCloseTo(Math.sqrt(50), 14);
    const c = 1 / (Math.sqrt(50) + 1e-6);
    expectClose(a.grad!.data, [3 * c, 4 * c], 1e-15, 'a.grad');
    expectClose(b.grad!.data, [3 * c, 4 * c], 1e-15, 'b.grad');
    expect(Array.from(shared.data)).toEqual([3, 4]);
  });

  it('keeps float32 gradients float32', () => {
    const p = zeros([3], { requiresGrad: true });
    p.grad = tensor([10, 0, 0]);
    expect(clipGradNorm([p], 2)).toBe(10);
    expect(p.grad.dtype).toBe('float32');
    expect(p.grad.data[0]).toBeCloseTo(2, 5);
  });

  it('throws on a non-finite norm when asked; otherwise scales by it like PyTorch', () => {
    const mk = () => {
      const p = zeros([3], { dtype: 'float64', requiresGrad: true });
      p.grad = tensor([Number.POSITIVE_INFINITY, 1, -2], { dtype: 'float64' });
      return p;
    };
    expect(() => clipGradNorm([mk()], 1, 2, { errorIfNonfinite: true })).toThrow(
      /clipGradNorm: the total norm of order 2 of the gradients of 1 parameter\(s\) is Infinity/,
    );
    // coef = 1/(inf + 1e-6) = 0: finite entries become 0, the infinite one inf·0 = NaN.
    const p = mk();
    expect(clipGradNorm([p], 1)).toBe(Number.POSITIVE_INFINITY);
    expect(Array.from(p.grad!.data)).toEqual([Number.NaN, 0, -0]);
    const q = zeros([2], { dtype: 'float64', requiresGrad: true });
    q.grad = tensor([Number.NaN, 1], { dtype: 'float64' });
    expect(() => clipGradNorm([q], 1, Number.POSITIVE_INFINITY, { errorIfNonfinite: true })).toThrow(
      /is NaN/,
    );
    expect(Number.isNaN(clipGradNorm([q], 1, Number.POSITIVE_INFINITY))).toBe(true);
    expect(Array.from(q.grad!.data).every(Number.isNaN)).toBe(true);
  });

  it('validates maxNorm and normType', () => {
    const p = zeros([1], { requiresGrad: true });
    expect(() => clipGradNorm([p], -1)).toThrow(/clipGradNorm: maxNorm must be a number >= 0, got -1/);
    expect(() => clipGradNorm([p], 1, 0)).toThrow(
      /clipGradNorm: normType must be a number > 0 or Infinity, got 0/,
    );
  });
});

describe('clipGradValue', () => {
  it('clamps into [-c, c], keeps NaN, skips missing gradients', () => {
    const p = zeros([4], { dtype: 'float64', requiresGrad: true });
    const q = zeros([1], { requiresGrad: true });
    p.grad = tensor([-3, 0.2, Number.NaN, 7], { dtype: 'float64' });
    clipGradValue([p, q], 1);
    expect(Array.from(p.grad!.data)).toEqual([-1, 0.2, Number.NaN, 1]);
    expect(q.grad).toBeNull();
    expect(() => clipGradValue([p], -0.5)).toThrow(
      /clipGradValue: clipValue must be a number >= 0, got -0.5/,
    );
  });
});
