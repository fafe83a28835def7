/**
 * fast-check arbitraries for shapes, broadcastable shape tuples, values and tensors.
 *
 * Values are drawn so that finite differences are meaningful: inside the op's domain, away from kinks
 * (`avoid` pushes values at least `margin` away from the given points), and with `distinct` on a grid whose
 * spacing dwarfs the finite-difference step, so max/min/maximum never meet a tie during a check.
 */
import fc from 'fast-check';
import type { FloatDType } from '../dtype.ts';
import { tensor } from '../ops/index.ts';
import { type Shape, sizeOf } from '../shape.ts';
import type { Tensor } from '../tensor.ts';

/** Bounds on the rank and on each dimension of generated shapes. */
export interface ShapeArbOptions {
  /** Smallest rank. Default 0 (a scalar). */
  minRank?: number;
  /** Largest rank. Default 3. */
  maxRank?: number;
  /** Smallest dimension. Default 1 (set 0 to include empty tensors). */
  minDim?: number;
  /** Largest dimension. Default 4. */
  maxDim?: number;
}

/** How the elements of generated tensors are drawn. */
export interface ValueArbOptions {
  /** Lower bound of the values. Default −2. */
  min?: number;
  /** Upper bound of the values. Default 2. */
  max?: number;
  /** Points to keep away from, such as kinks (0 for relu/abs, the bounds for clamp); at least 2·margin apart. */
  avoid?: readonly number[];
  /** Smallest distance from each `avoid` point. Default 0.1. */
  margin?: number;
  /** All values distinct, on a grid of spacing `gap` (no ties for max/min/maximum/minimum). Default false. */
  distinct?: boolean;
  /** Grid spacing of distinct values; a power of two keeps them exact. Default 1/64. */
  gap?: number;
}

/** Options of generated tensors: their values, dtype and whether they require grad. */
export interface TensorArbOptions extends ValueArbOptions {
  /** Default 'float64', the dtype gradient checks need (values are real numbers, so a float dtype). */
  dtype?: FloatDType;
  /** Sets `requiresGrad` on the generated tensors. Default false. */
  requiresGrad?: boolean;
}

function checkRange(op: string, lo: number, hi: number, what: string): void {
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || lo > hi) {
    throw new Error(`${op}: invalid ${what} range [${lo}, ${hi}] (expected integers 0 <= min <= max)`);
  }
}

/** Shapes with rank in [minRank, maxRank] and each dimension in [minDim, maxDim]. */
export function shapeArb(options: ShapeArbOptions = {}): fc.Arbitrary<number[]> {
  const { minRank = 0, maxRank = 3, minDim = 1, maxDim = 4 } = options;
  checkRange('shapeArb', minRank, maxRank, 'rank');
  checkRange('shapeArb', minDim, maxDim, 'dimension');
  return fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/**
 * `n` shapes that broadcast together (NumPy rules): a common output shape, from which each shape drops
 * some leading dimensions and sets some others to 1 (so the output may be larger than every input).
 */
export function broadcastableShapesArb(n: number, options: ShapeArbOptions = {}): fc.Arbitrary<number[][]> {
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`broadcastableShapesArb: n must be an integer >= 1, got ${n}`);
  return shapeArb(options).chain((out) => {
    const one = fc
      .tuple(
        fc.integer({ min: 0, max: out.length }),
        fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
      )
      .map(([drop, ones]) => out.map((d, i) => (ones[i] ? 1 : d)).slice(drop));
    return fc.array(one, { minLength: n, maxLength: n });
  });
}

/** Moves v at least `margin` away from each avoided point, staying inside [min, max] when possible. */
function pushAway(v: number, avoid: readonly number[], margin: number, min: number, max: number): number {
  for (const p of avoid) {
    if (Math.abs(v - p) >= margin) continue;
    const up = p + margin;
    const down = p - margin;
    const preferUp = v >= p;
    if (preferUp) v = up <= max || down < min ? up : down;
    else v = down >= min || up > max ? down : up;
  }
  return v;
}

/** Arrays of exactly `length` values drawn as `options` says (see `ValueArbOptions`). */
export function valuesArb(length: number, options: ValueArbOptions = {}): fc.Arbitrary<number[]> {
  const { min = -2, max = 2, avoid = [], margin = 0.1, distinct = false, gap = 1 / 64 } = options;
  if (!(min <= max)) throw new Error(`valuesArb: min ${min} must not exceed max ${max}`);
  if (distinct) {
    // Grid points min, min + gap, ... that keep their distance from the avoided points.
    const grid: number[] = [];
    for (let k = 0; min + k * gap <= max; k++) {
      const v = min + k * gap;
      if (avoid.every((p) => Math.abs(v - p) >= margin)) grid.push(v);
    }
    if (grid.length < length) {
      throw new Error(
        `valuesArb: only ${grid.length} distinct values with gap ${gap} fit in [${min}, ${max}], ${length} needed (lower the gap)`,
      );
    }
    return fc
      .uniqueArray(fc.integer({ min: 0, max: grid.length - 1 }), { minLength: length, maxLength: length })
      .map((ks) => ks.map((k) => grid[k]!));
  }
  return fc
    .array(fc.double({ min, max, noNaN: true, noDefaultInfinity: true }), {
      minLength: length,
      maxLength: length,
    })
    .map((vs) => vs.map((v) => pushAway(v, avoid, margin, min, max)));
}

function build(shape: Shape, values: readonly number[], options: TensorArbOptions): Tensor {
  const t = tensor(values, { shape, dtype: options.dtype ?? 'float64' });
  t.requiresGrad = options.requiresGrad ?? false;
  return t;
}

/** Tensors of a fixed shape whose elements are drawn as `options` says (float64 by default). */
export function tensorArb(shape: Shape, options: TensorArbOptions = {}): fc.Arbitrary<Tensor> {
  return valuesArb(sizeOf(shape), options).map((vs) => build(shape, vs, options));
}

/**
 * One tensor per shape. With `distinct`, the values are distinct across all the tensors, so elementwise
 * maximum/minimum of two of them never ties.
 */
export function tensorsForShapesArb(
  shapes: readonly Shape[],
  options: TensorArbOptions = {},
): fc.Arbitrary<Tensor[]> {
  const sizes = shapes.map(sizeOf);
  const total = sizes.reduce((a, b) => a + b, 0);
  return valuesArb(total, options).map((vs) => {
    let at = 0;
    return shapes.map((shape, i) => {
      const t = build(shape, vs.slice(at, at + sizes[i]!), options);
      at += sizes[i]!;
      return t;
    });
  });
}

/** Index lists of `minLength`..`maxLength` integers in [0, bound), repeats allowed. */
export function indicesArb(
  bound: number,
  options: { minLength?: number; maxLength?: number } = {},
): fc.Arbitrary<number[]> {
  const { minLength = 0, maxLength = 4 } = options;
  if (!Number.isInteger(bound) || bound < 1)
    throw new Error(`indicesArb: bound must be an integer >= 1, got ${bound}`);
  return fc.array(fc.integer({ min: 0, max: bound - 1 }), { minLength, maxLength });
}

/** A valid `dim` argument for a tensor of rank `rank`, negative values included (PyTorch style). */
export function dimArb(rank: number): fc.Arbitrary<number> {
  const r = Math.max(rank, 1);
  return fc.integer({ min: -r, max: r - 1 });
}
