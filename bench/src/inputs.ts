/**
 * Deterministic benchmark inputs, shared by every system: each case draws its arrays once, so TensorLoom
 * and tfjs compute on identical numbers and their outputs can be compared.
 */
import { manualSeed, randn } from '@tensorloom/autograd';

let nextSeed = 1;

/** A fresh float32 array of standard-normal values with the given shape, seeded in call order. */
export function normal(shape: readonly number[], scale = 1): Float32Array {
  manualSeed(nextSeed++);
  const data = randn(shape, { dtype: 'float32' }).data as Float32Array;
  if (scale !== 1) for (let i = 0; i < data.length; i++) data[i]! *= scale;
  return data;
}

/** Concatenates result arrays into one, for the cross-system output check. */
export function concat(parts: readonly ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
