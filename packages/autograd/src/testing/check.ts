/**
 * Gradient properties for fast-check: the engine's fast-mode gradcheck (one random cotangent u and one
 * random direction v, comparing uᵀ·J·v with the central difference uᵀ·(f(x + εv) − f(x − εv)) / 2ε), run
 * under a seed so that a failing case replays exactly.
 */
import fc from 'fast-check';
import { type CheckedFn, type GradcheckOptions, gradcheck, gradgradcheck } from '../gradcheck.ts';
import { getRngState, manualSeed, setRngState } from '../random.ts';
import type { Tensor } from '../tensor.ts';

/** Tolerances of the check, whether to check second order too, and the seed of u and v. */
export interface CheckGradientsOptions extends Omit<GradcheckOptions, 'fastMode'> {
  /** Also check second derivatives with `gradgradcheck` (for smooth functions). Default false. */
  secondOrder?: boolean;
  /** Seeds the random cotangent and direction; the global generator's state is restored afterwards. */
  seed?: number;
}

/**
 * Holds fn's VJP against central differences in float64 along a random direction with a random cotangent
 * (`gradcheck` in fast mode), and optionally its second derivatives. Returns true or throws gradcheck's error.
 */
export function checkGradients(
  fn: CheckedFn,
  inputs: readonly Tensor[],
  options: CheckGradientsOptions = {},
): true {
  const { secondOrder = false, seed, ...tolerances } = options;
  const saved = seed === undefined ? null : getRngState();
  if (seed !== undefined) manualSeed(seed);
  try {
    gradcheck(fn, inputs, { ...tolerances, fastMode: true });
    if (secondOrder) gradgradcheck(fn, inputs, { ...tolerances, fastMode: true });
    return true;
  } finally {
    if (saved) setRngState(saved);
  }
}

/**
 * A fast-check property: for every input tuple from `inputs` (tensors with `requiresGrad` on those to
 * check, float64) and a random seed, `checkGradients(fn, inputs, options)` holds.
 */
export function gradientProperty(
  inputs: fc.Arbitrary<readonly Tensor[]>,
  fn: CheckedFn,
  options: Omit<CheckGradientsOptions, 'seed'> = {},
): fc.IPropertyWithHooks<[readonly Tensor[], number]> {
  return fc.property(inputs, fc.integer({ min: 0, max: 0x7fffffff }), (xs, seed) =>
    checkGradients(fn, xs, { ...options, seed }),
  );
}
