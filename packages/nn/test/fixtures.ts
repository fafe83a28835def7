import { readFileSync } from 'node:fs';
import { type Tensor, tensor } from '@tensorloom/autograd';
import { expect } from 'vitest';

/** A tensor as the PyTorch fixture generators write it. */
export interface Packed {
  shape: number[];
  data: number[];
}

/** Reads a committed PyTorch fixture file from packages/nn/fixtures. */
export function readFixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as T;
}

/** A float64 tensor from a packed fixture value. */
export const f64 = (p: Packed, requiresGrad = false): Tensor =>
  tensor(p.data, { shape: p.shape, dtype: 'float64', requiresGrad });

/** |a − e| ≤ tol·max(1, |e|) elementwise, with the first failing index in the message. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)))) {
      expect.fail(`${what}: element ${i} is ${a}, expected ${e} (tolerance ${tol})`);
    }
  }
}
