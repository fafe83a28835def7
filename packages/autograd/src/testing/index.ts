/**
 * `@tensorloom/autograd/testing`: property-test your own ops and cells the way TensorLoom tests its own.
 * fast-check arbitraries generate shapes (including broadcastable tuples with size-1 and missing leading
 * dims) and float64 tensors inside an op's domain; `checkGradients` / `gradientProperty` hold the VJP against
 * central differences along a random direction with a random cotangent; `opTable` is the table that drives
 * the library's own tests. Requires the optional peer dependency `fast-check`.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { mul, sin } from '@tensorloom/autograd';
 * import { broadcastableShapesArb, gradientProperty, tensorsForShapesArb } from '@tensorloom/autograd/testing';
 *
 * // f(a, b) = sin(a)·b with NumPy broadcasting: first and second derivatives, 50 random cases.
 * const inputs = broadcastableShapesArb(2).chain((shapes) => tensorsForShapesArb(shapes, { requiresGrad: true }));
 * fc.assert(gradientProperty(inputs, (a, b) => mul(sin(a), b), { secondOrder: true }), { numRuns: 50 });
 * ```
 */
export {
  broadcastableShapesArb,
  dimArb,
  indicesArb,
  type ShapeArbOptions,
  shapeArb,
  type TensorArbOptions,
  tensorArb,
  tensorsForShapesArb,
  type ValueArbOptions,
  valuesArb,
} from './arbitraries.ts';
export { type CheckGradientsOptions, checkGradients, gradientProperty } from './check.ts';
export { type OpSample, type OpTestCase, opTable } from './ops.ts';
