/**
 * The table of differentiable ops: one entry per op (several for ops with distinct code paths, such as
 * gemm's transpose flags or matmul's 1-d and batched cases), each with a fast-check generator of arguments
 * inside the op's domain. The property tests hold every entry's VJP against central differences, and the
 * smooth ones' second derivatives too; a test fails when an exported differentiable op has no entry here,
 * so a new op is tested the moment it is added.
 */
import fc from 'fast-check';
import type { CheckedFn, GradcheckOptions } from '../gradcheck.ts';
import {
  abs,
  add,
  broadcastShapes,
  broadcastTo,
  cast,
  cat,
  chunk,
  clamp,
  clone,
  cos,
  div,
  erf,
  exp,
  flatten,
  gather,
  gemm,
  indexAdd,
  indexSelect,
  linear,
  log,
  log1p,
  logSoftmax,
  logsumexp,
  matmul,
  max,
  maximum,
  mean,
  min,
  minimum,
  mul,
  narrow,
  neg,
  permute,
  pow,
  relu,
  reshape,
  scatterAdd,
  sigmoid,
  sin,
  slice,
  softmax,
  split,
  sqrt,
  squeeze,
  squeezeDims,
  stack,
  sub,
  sum,
  sumTo,
  tanh,
  tensor,
  transpose,
  unbind,
  unsqueeze,
  variance,
  where,
  zeroPad,
} from '../index.ts';
import { type Shape, sizeOf } from '../shape.ts';
import type { Tensor, TensorLike } from '../tensor.ts';
import {
  broadcastableShapesArb,
  dimArb,
  indicesArb,
  shapeArb,
  type TensorArbOptions,
  tensorArb,
  tensorsForShapesArb,
  type ValueArbOptions,
} from './arbitraries.ts';

/** One generated case: the inputs (those with requiresGrad are checked) and the op with its other arguments bound. */
export interface OpSample {
  /** The tensor inputs (float64, requiring grad where the op is differentiable in them). */
  readonly inputs: Tensor[];
  /** The op with its non-tensor arguments bound. */
  readonly fn: CheckedFn;
  /** The bound non-tensor arguments (dims, flags, indices), shown in failure reports. */
  readonly args: string;
}

/** An entry of the op table. */
export interface OpTestCase {
  /** Unique label, e.g. `gemm[transA]`. */
  readonly name: string;
  /** The exported function it exercises. */
  readonly op: string;
  /** Where its inputs are drawn from, and why (domain, kinks avoided). */
  readonly domain: string;
  /** Smooth on its domain: also gets second-order checks. */
  readonly smooth: boolean;
  /** Tolerances for its checks when the defaults do not fit. */
  readonly tolerances?: Omit<GradcheckOptions, 'fastMode'>;
  /** Generates inputs and bound arguments. */
  readonly sample: fc.Arbitrary<OpSample>;
}

class Sample implements OpSample {
  constructor(
    readonly inputs: Tensor[],
    readonly fn: CheckedFn,
    readonly args: string,
  ) {}
  [fc.toStringMethod](): string {
    const shown = this.inputs.map((t) => `${t.requiresGrad ? '' : '(constant) '}${t}`).join(', ');
    return `${this.args ? `${this.args}; ` : ''}inputs ${shown}`;
  }
}

/** A fresh copy of t with requiresGrad set as asked (generated values may be shared between runs). */
function fresh(t: Tensor, requiresGrad = true): Tensor {
  const c = tensor(t.data.slice(), { shape: t.shape, dtype: t.dtype });
  c.requiresGrad = requiresGrad;
  return c;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const show = (v: unknown): string => (v === undefined ? 'undefined' : JSON.stringify(v));

// Shapes are kept small: the cost of a check grows with the element count, and bugs show up at small sizes.
const smallShape = (o: { minRank?: number; maxRank?: number; maxDim?: number } = {}) =>
  shapeArb({ maxRank: 3, maxDim: 3, ...o });

/** Which inputs require grad: all of them, or just one (exercising the "input needs no gradient" paths). */
function gradMask(n: number): fc.Arbitrary<boolean[]> {
  if (n === 1) return fc.constant([true]);
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(range(n).map(() => true)) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: n - 1 }).map((k) => range(n).map((i) => i === k)) },
  );
}

function unaryCase(
  op: string,
  f: (x: Tensor) => Tensor,
  smooth: boolean,
  domain: string,
  values: ValueArbOptions = {},
): OpTestCase {
  const sample = shapeArb()
    .chain((shape) => tensorArb(shape, values))
    .map((x) => new Sample([fresh(x)], f, ''));
  return { name: op, op, smooth, domain, sample };
}

type BinaryMode = 'tensors' | 'tensor, number' | 'number, tensor';

function binaryCase(
  name: string,
  op: string,
  f: (a: TensorLike, b: TensorLike) => Tensor,
  smooth: boolean,
  domain: string,
  va: TensorArbOptions,
  vb: TensorArbOptions,
  distinct = false,
): OpTestCase {
  const modes: BinaryMode[] = ['tensors', 'tensors', 'tensors', 'tensor, number', 'number, tensor'];
  const sample = fc
    .tuple(broadcastableShapesArb(2), fc.constantFrom(...modes), gradMask(2))
    .chain(([[sa, sb], mode, mask]) => {
      const pair = distinct
        ? tensorsForShapesArb([sa!, sb!], { ...va, distinct: true })
        : fc.tuple(tensorArb(sa!, va), tensorArb(sb!, vb));
      return pair.map(([a, b]) => {
        if (mode === 'tensor, number') {
          const n = b!.data[0]!;
          return new Sample([fresh(a!)], (x) => f(x, n), `b = ${n}`);
        }
        if (mode === 'number, tensor') {
          const n = a!.data[0]!;
          return new Sample([fresh(b!)], (y) => f(n, y), `a = ${n}`);
        }
        return new Sample([fresh(a!, mask[0]), fresh(b!, mask[1])], (x, y) => f(x, y), '');
      });
    });
  return { name, op, smooth, domain, sample };
}

/** A reduction's `dim`: omitted (all dims), one dim, or a list of distinct dims, negatives included. */
function reduceDimArb(rank: number): fc.Arbitrary<number | number[] | undefined> {
  const one = dimArb(rank);
  if (rank === 0) return fc.oneof(fc.constant(undefined), one);
  const several = fc
    .shuffledSubarray(range(rank), { minLength: 1 })
    .chain((ds) =>
      fc
        .array(fc.boolean(), { minLength: ds.length, maxLength: ds.length })
        .map((negate) => ds.map((d, i) => (negate[i] ? d - rank : d))),
    );
  return fc.oneof(fc.constant(undefined), one, several);
}

/** The number of elements a reduction over `dim` combines. */
function reducedCount(shape: Shape, dim: number | number[] | undefined): number {
  if (dim === undefined) return sizeOf(shape);
  const r = Math.max(shape.length, 1);
  const dims = new Set((typeof dim === 'number' ? [dim] : dim).map((d) => (d + r) % r));
  return shape.reduce((n, s, i) => (dims.has(i) ? n * s : n), 1);
}

function reductionCase(
  op: string,
  f: (x: Tensor, dim: number | number[] | undefined, keepdim: boolean) => Tensor,
  smooth: boolean,
  domain: string,
  values: ValueArbOptions = {},
): OpTestCase {
  const sample = smallShape()
    .chain((shape) => fc.tuple(tensorArb(shape, values), reduceDimArb(shape.length), fc.boolean()))
    .map(
      ([x, dim, keepdim]) =>
        new Sample([fresh(x)], (t) => f(t, dim, keepdim), `dim = ${show(dim)}, keepdim = ${keepdim}`),
    );
  return { name: op, op, smooth, domain, sample };
}

/** An op applied along one dim of a tensor of rank ≥ minRank: generates the tensor and the dim. */
function alongDim(minRank: number, values: ValueArbOptions = {}) {
  return smallShape({ minRank }).chain((shape) =>
    fc.tuple(tensorArb(shape, values), dimArb(shape.length)).map(([x, dim]) => ({ x, dim, shape })),
  );
}

const anyReal = 'any real values in [-2, 2]';

const elementwise: OpTestCase[] = [
  unaryCase('neg', neg, true, anyReal),
  unaryCase('exp', exp, true, anyReal),
  unaryCase('log', log, true, 'x in [0.1, 3]: log needs x > 0', { min: 0.1, max: 3 }),
  unaryCase('log1p', log1p, true, 'x in [-0.9, 3]: log1p needs x > -1', { min: -0.9, max: 3 }),
  unaryCase('sqrt', sqrt, true, 'x in [0.1, 3]: sqrt is not differentiable at 0', { min: 0.1, max: 3 }),
  unaryCase('abs', abs, false, 'kink at 0: |x| >= 0.1', { avoid: [0] }),
  unaryCase('tanh', tanh, true, 'x in [-3, 3]', { min: -3, max: 3 }),
  unaryCase('sigmoid', sigmoid, true, 'x in [-4, 4]', { min: -4, max: 4 }),
  unaryCase('relu', relu, false, 'kink at 0: |x| >= 0.1', { avoid: [0] }),
  unaryCase('sin', sin, true, anyReal),
  unaryCase('cos', cos, true, anyReal),
  unaryCase('erf', erf, true, anyReal),
  {
    name: 'clamp',
    op: 'clamp',
    smooth: false,
    domain: 'kinks at the bounds: x at least 0.1 away from min and max; either bound may be omitted',
    sample: fc
      .tuple(
        shapeArb(),
        fc.integer({ min: -6, max: 2 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom('both', 'min only', 'max only'),
      )
      .chain(([shape, a, w, which]) => {
        // Bounds on a grid of 1/4, at least 0.25 apart, so the 0.1 margins around them do not overlap.
        const lo = which === 'max only' ? undefined : a / 4;
        const hi = which === 'min only' ? undefined : a / 4 + w / 4;
        const avoid = [lo, hi].filter((v): v is number => v !== undefined);
        return tensorArb(shape, { avoid }).map(
          (x) => new Sample([fresh(x)], (t) => clamp(t, lo, hi), `min = ${lo}, max = ${hi}`),
        );
      }),
  },
  binaryCase('add', 'add', add, true, anyReal, {}, {}),
  binaryCase('sub', 'sub', sub, true, anyReal, {}, {}),
  binaryCase('mul', 'mul', mul, true, anyReal, {}, {}),
  binaryCase('div', 'div', div, true, 'divisor |b| >= 0.3', {}, { avoid: [0], margin: 0.3 }),
  binaryCase(
    'pow',
    'pow',
    pow,
    true,
    'base a in [0.2, 2] (∂/∂b needs ln a), exponent b in [-2, 2]',
    { min: 0.2, max: 2 },
    {},
  ),
  {
    name: 'pow[x, integer]',
    op: 'pow',
    smooth: true,
    domain: 'any real base, a fixed integer exponent 1..3',
    sample: fc
      .tuple(shapeArb(), fc.integer({ min: 1, max: 3 }))
      .chain(([shape, n]) =>
        tensorArb(shape).map((x) => new Sample([fresh(x)], (t) => pow(t, n), `b = ${n}`)),
      ),
  },
  binaryCase(
    'maximum',
    'maximum',
    maximum,
    false,
    'kink at a = b: all values distinct on a grid of 1/64',
    {},
    {},
    true,
  ),
  binaryCase(
    'minimum',
    'minimum',
    minimum,
    false,
    'kink at a = b: all values distinct on a grid of 1/64',
    {},
    {},
    true,
  ),
  {
    name: 'where',
    op: 'where',
    smooth: true,
    domain: 'a random 0/1 condition broadcast with a and b; b may be a number',
    sample: fc
      .tuple(broadcastableShapesArb(3), fc.boolean(), gradMask(2))
      .chain(([[sc, sa, sb], scalarB, mask]) =>
        fc
          .tuple(
            fc.array(fc.boolean(), { minLength: sizeOf(sc!), maxLength: sizeOf(sc!) }),
            tensorArb(sa!),
            tensorArb(sb!),
          )
          .map(([bits, a, b]) => {
            const cond = tensor(
              bits.map((v) => (v ? 1 : 0)),
              { shape: sc!, dtype: 'float64' },
            );
            if (scalarB) {
              const n = b.data[0]!;
              return new Sample([fresh(a)], (x) => where(cond, x, n), `condition ${cond}, b = ${n}`);
            }
            return new Sample(
              [fresh(a, mask[0]), fresh(b, mask[1])],
              (x, y) => where(cond, x, y),
              `condition ${cond}`,
            );
          }),
      ),
  },
];

const distinctValues = 'ties at the extreme: values distinct on a grid of 1/64';

const reductions: OpTestCase[] = [
  reductionCase('sum', sum, true, anyReal),
  reductionCase('mean', mean, true, anyReal),
  reductionCase('max', max, false, distinctValues, { distinct: true }),
  reductionCase('min', min, false, distinctValues, { distinct: true }),
  reductionCase('logsumexp', logsumexp, true, anyReal),
  {
    name: 'variance',
    op: 'variance',
    smooth: true,
    domain: 'any real values; more reduced elements than the correction (else 0/0)',
    sample: smallShape()
      .chain((shape) =>
        fc.tuple(tensorArb(shape), reduceDimArb(shape.length), fc.constantFrom(0, 1), fc.boolean()),
      )
      .filter(([x, dim, correction]) => reducedCount(x.shape, dim) > correction)
      .map(
        ([x, dim, correction, keepdim]) =>
          new Sample(
            [fresh(x)],
            (t) => variance(t, dim, { correction, keepdim }),
            `dim = ${show(dim)}, correction = ${correction}, keepdim = ${keepdim}`,
          ),
      ),
  },
  {
    name: 'softmax',
    op: 'softmax',
    smooth: true,
    domain: anyReal,
    sample: alongDim(0).map(({ x, dim }) => new Sample([fresh(x)], (t) => softmax(t, dim), `dim = ${dim}`)),
  },
  {
    name: 'logSoftmax',
    op: 'logSoftmax',
    smooth: true,
    domain: anyReal,
    sample: alongDim(0).map(
      ({ x, dim }) => new Sample([fresh(x)], (t) => logSoftmax(t, dim), `dim = ${dim}`),
    ),
  },
];

const linearMove = 'any real values (a linear map)';

/** A movement op: generates a tensor of a small shape and the op's other arguments from that shape. */
function movementCase(
  name: string,
  op: string,
  shapeOptions: { minRank?: number; maxRank?: number; maxDim?: number },
  args: (shape: number[]) => fc.Arbitrary<{ fn: CheckedFn; args: string }>,
): OpTestCase {
  const sample = smallShape(shapeOptions)
    .chain((shape) => fc.tuple(tensorArb(shape), args(shape)))
    .map(([x, a]) => new Sample([fresh(x)], a.fn, a.args));
  return { name, op, smooth: true, domain: linearMove, sample };
}

/** Several tensors sharing a shape except along `dim`, for cat. */
const catSample = smallShape({ minRank: 1 }).chain((shape) =>
  fc
    .tuple(dimArb(shape.length), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 }))
    .chain(([dim, sizes]) => {
      const d = (dim + shape.length) % shape.length;
      const shapes = sizes.map((n) => shape.map((s, i) => (i === d ? n : s)));
      return fc.tuple(tensorsForShapesArb(shapes), gradMask(shapes.length)).map(
        ([xs, mask]) =>
          new Sample(
            xs.map((x, i) => fresh(x, mask[i])),
            (...ts) => cat(ts, dim),
            `dim = ${dim}`,
          ),
      );
    }),
);

/**
 * An index tensor for gather/scatterAdd along `d`: same rank as x, no larger except along d; int32, or
 * float64 holding whole numbers.
 */
function gatherIndexArb(shape: readonly number[], d: number): fc.Arbitrary<Tensor> {
  const n = shape[d]!;
  return fc
    .tuple(
      ...shape.map((s, i) => (i === d ? fc.integer({ min: 1, max: 3 }) : fc.integer({ min: 1, max: s }))),
    )
    .chain((ishape) =>
      fc
        .tuple(
          indicesArb(n, { minLength: sizeOf(ishape), maxLength: sizeOf(ishape) }),
          fc.constantFrom('int32', 'float64') as fc.Arbitrary<'int32' | 'float64'>,
        )
        .map(([ids, dtype]) => tensor(ids, { shape: ishape, dtype })),
    );
}

const movement: OpTestCase[] = [
  movementCase('reshape', 'reshape', {}, (shape) =>
    fc
      .tuple(
        fc.shuffledSubarray(shape, { minLength: shape.length, maxLength: shape.length }),
        fc.boolean(),
        fc.option(fc.nat()),
      )
      .map(([perm, merge, infer]) => {
        // A permutation of the dims has the same size; merging two and inferring one (-1) vary the rank.
        const target = merge && perm.length >= 2 ? [perm[0]! * perm[1]!, ...perm.slice(2)] : [...perm];
        if (infer !== null && target.length > 0 && sizeOf(target) > 0) target[infer % target.length] = -1;
        return { fn: (t: Tensor) => reshape(t, target), args: `shape = ${show(target)}` };
      }),
  ),
  movementCase('flatten', 'flatten', { minRank: 1 }, (shape) =>
    fc
      .tuple(dimArb(shape.length), dimArb(shape.length))
      .map(([a, b]) => {
        const r = shape.length;
        return (a + r) % r <= (b + r) % r ? [a, b] : [b, a];
      })
      .map(([s, e]) => ({ fn: (t: Tensor) => flatten(t, s, e), args: `startDim = ${s}, endDim = ${e}` })),
  ),
  movementCase('squeeze', 'squeeze', { maxDim: 2 }, (shape) =>
    fc
      .option(dimArb(shape.length))
      .map((dim) => ({ fn: (t: Tensor) => squeeze(t, dim ?? undefined), args: `dim = ${show(dim)}` })),
  ),
  movementCase('squeezeDims', 'squeezeDims', { maxDim: 2 }, (shape) =>
    fc
      .subarray(range(shape.length).filter((d) => shape[d] === 1))
      .map((dims) => ({ fn: (t: Tensor) => squeezeDims(t, dims), args: `dims = ${show(dims)}` })),
  ),
  movementCase('unsqueeze', 'unsqueeze', {}, (shape) =>
    dimArb(shape.length + 1).map((dim) => ({ fn: (t: Tensor) => unsqueeze(t, dim), args: `dim = ${dim}` })),
  ),
  movementCase('transpose', 'transpose', { minRank: 1 }, (shape) =>
    fc.tuple(dimArb(shape.length), dimArb(shape.length)).map(([a, b]) => ({
      fn: (t: Tensor) => transpose(t, a, b),
      args: `dim0 = ${a}, dim1 = ${b}`,
    })),
  ),
  movementCase('permute', 'permute', {}, (shape) =>
    fc
      .shuffledSubarray(range(shape.length), { minLength: shape.length, maxLength: shape.length })
      .map((dims) => ({ fn: (t: Tensor) => permute(t, dims), args: `dims = ${show(dims)}` })),
  ),
  {
    name: 'broadcastTo',
    op: 'broadcastTo',
    smooth: true,
    domain: linearMove,
    sample: broadcastableShapesArb(2).chain(([s, other]) => {
      const target = broadcastShapes('broadcastTo', s!, other!);
      return tensorArb(s!).map(
        (x) => new Sample([fresh(x)], (t) => broadcastTo(t, target), `shape = ${show(target)}`),
      );
    }),
  },
  {
    name: 'sumTo',
    op: 'sumTo',
    smooth: true,
    domain: linearMove,
    sample: broadcastableShapesArb(2).chain(([s, other]) => {
      const from = broadcastShapes('sumTo', s!, other!);
      return tensorArb(from).map((x) => new Sample([fresh(x)], (t) => sumTo(t, s!), `shape = ${show(s)}`));
    }),
  },
  movementCase('narrow', 'narrow', { minRank: 1 }, (shape) =>
    dimArb(shape.length).chain((dim) => {
      const n = shape[(dim + shape.length) % shape.length]!;
      // Non-empty pieces: an empty one has nothing to check.
      return fc
        .integer({ min: 0, max: n - 1 })
        .chain((start) => fc.integer({ min: 1, max: n - start }).map((length) => [start, length] as const))
        .map(([start, length]) => ({
          fn: (t: Tensor) => narrow(t, dim, start, length),
          args: `dim = ${dim}, start = ${start}, length = ${length}`,
        }));
    }),
  ),
  movementCase('slice', 'slice', { minRank: 1 }, (shape) =>
    dimArb(shape.length).chain((dim) => {
      const n = shape[(dim + shape.length) % shape.length]!;
      // Python slice bounds: negative counts from the end, out of range is clamped.
      const bound = fc.option(fc.integer({ min: -n - 1, max: n + 1 }));
      return fc.tuple(bound, bound).map(([start, end]) => ({
        fn: (t: Tensor) => slice(t, dim, start ?? undefined, end ?? undefined),
        args: `dim = ${dim}, start = ${show(start)}, end = ${show(end)}`,
      }));
    }),
  ),
  movementCase('zeroPad', 'zeroPad', { minRank: 1 }, (shape) =>
    fc
      .tuple(dimArb(shape.length), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }))
      .map(([dim, before, after]) => ({
        fn: (t: Tensor) => zeroPad(t, dim, before, after),
        args: `dim = ${dim}, before = ${before}, after = ${after}`,
      })),
  ),
  { name: 'cat', op: 'cat', smooth: true, domain: linearMove, sample: catSample },
  {
    name: 'stack',
    op: 'stack',
    smooth: true,
    domain: linearMove,
    sample: smallShape().chain((shape) =>
      fc.tuple(fc.integer({ min: 1, max: 3 }), dimArb(shape.length + 1)).chain(([k, dim]) =>
        fc.tuple(tensorsForShapesArb(range(k).map(() => shape)), gradMask(k)).map(
          ([xs, mask]) =>
            new Sample(
              xs.map((x, i) => fresh(x, mask[i])),
              (...ts) => stack(ts, dim),
              `dim = ${dim}`,
            ),
        ),
      ),
    ),
  },
  movementCase('split', 'split', { minRank: 1 }, (shape) =>
    dimArb(shape.length).chain((dim) => {
      const n = shape[(dim + shape.length) % shape.length]!;
      // Either one piece size, or explicit sizes from cutting [0, n] at random points.
      const sizes: fc.Arbitrary<number | number[]> = fc.oneof(
        fc.integer({ min: 1, max: n + 1 }),
        fc.array(fc.integer({ min: 0, max: n }), { maxLength: 3 }).map((cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), n];
          return points.slice(1).map((p, i) => p - points[i]!);
        }),
      );
      return sizes.map((s) => ({
        fn: (t: Tensor) => split(t, s, dim),
        args: `splitSize = ${show(s)}, dim = ${dim}`,
      }));
    }),
  ),
  movementCase('chunk', 'chunk', { minRank: 1 }, (shape) =>
    fc.tuple(fc.integer({ min: 1, max: 4 }), dimArb(shape.length)).map(([chunks, dim]) => ({
      fn: (t: Tensor) => chunk(t, chunks, dim),
      args: `chunks = ${chunks}, dim = ${dim}`,
    })),
  ),
  movementCase('unbind', 'unbind', { minRank: 1 }, (shape) =>
    dimArb(shape.length).map((dim) => ({ fn: (t: Tensor) => unbind(t, dim), args: `dim = ${dim}` })),
  ),
  movementCase('indexSelect', 'indexSelect', { minRank: 1 }, (shape) =>
    dimArb(shape.length).chain((dim) => {
      const n = shape[(dim + shape.length) % shape.length]!;
      return fc
        .tuple(indicesArb(n), fc.constantFrom('number[]', 'Int32Array', 'Tensor', 'int32 Tensor'))
        .map(([ids, form]) => {
          const index =
            form === 'Int32Array'
              ? Int32Array.from(ids)
              : form === 'Tensor'
                ? tensor(ids, { dtype: 'float64' })
                : form === 'int32 Tensor'
                  ? tensor(ids, { dtype: 'int32' })
                  : ids;
          return {
            fn: (t: Tensor) => indexSelect(t, dim, index),
            args: `dim = ${dim}, index = ${show(ids)} as ${form}`,
          };
        });
    }),
  ),
  movementCase('gather', 'gather', { minRank: 1 }, (shape) =>
    dimArb(shape.length).chain((dim) =>
      gatherIndexArb(shape, (dim + shape.length) % shape.length).map((index) => ({
        fn: (t: Tensor) => gather(t, dim, index),
        args: `dim = ${dim}, index = ${index}`,
      })),
    ),
  ),
  {
    name: 'indexAdd',
    op: 'indexAdd',
    smooth: true,
    domain: linearMove,
    sample: alongDim(1).chain(({ x, dim, shape }) => {
      const d = (dim + shape.length) % shape.length;
      return indicesArb(shape[d]!).chain((ids) =>
        fc
          .tuple(
            tensorArb(shape.map((s, i) => (i === d ? ids.length : s))),
            gradMask(2),
            fc.constantFrom('number[]', 'Int32Array'),
          )
          .map(
            ([src, mask, form]) =>
              new Sample(
                [fresh(x, mask[0]), fresh(src, mask[1])],
                (t, s) => indexAdd(t, dim, form === 'Int32Array' ? Int32Array.from(ids) : ids, s),
                `dim = ${dim}, index = ${show(ids)} as ${form}`,
              ),
          ),
      );
    }),
  },
  {
    name: 'scatterAdd',
    op: 'scatterAdd',
    smooth: true,
    domain: linearMove,
    sample: alongDim(1).chain(({ x, dim, shape }) =>
      gatherIndexArb(shape, (dim + shape.length) % shape.length).chain((index) =>
        fc
          .tuple(tensorArb(index.shape), gradMask(2))
          .map(
            ([src, mask]) =>
              new Sample(
                [fresh(x, mask[0]), fresh(src, mask[1])],
                (t, s) => scatterAdd(t, dim, index, s),
                `dim = ${dim}, index = ${index}`,
              ),
          ),
      ),
    ),
  },
  movementCase('clone', 'clone', {}, () => fc.constant({ fn: (t: Tensor) => clone(t), args: '' })),
  {
    name: 'cast',
    op: 'cast',
    smooth: true,
    domain: 'any real values; float64 → float32 → float64 rounds, so a wider step and looser tolerances',
    // The round trip is the identity up to float32 rounding (relative 6e-8): with ε = 1e-2 the difference
    // quotient's error is about 1e-5 per element, and a linear map has no truncation error to fear.
    tolerances: { eps: 1e-2, atol: 1e-3, rtol: 1e-3 },
    sample: shapeArb()
      .chain((shape) => tensorArb(shape))
      .map((x) => new Sample([fresh(x)], (t) => cast(cast(t, 'float32'), 'float64'), "'float32' and back")),
  },
];

const bilinear = 'any real values (bilinear)';

function gemmCase(transA: boolean, transB: boolean): OpTestCase {
  const flags = [transA && 'transA', transB && 'transB'].filter(Boolean).join(',');
  const sample = fc
    .tuple(
      fc.option(fc.integer({ min: 1, max: 3 })),
      fc.tuple(...range(3).map(() => fc.integer({ min: 1, max: 4 }))),
    )
    .chain(([batch, [m, k, n]]) => {
      const lead = batch === null ? [] : [batch];
      const sa = [...lead, ...(transA ? [k!, m!] : [m!, k!])];
      const sb = [...lead, ...(transB ? [n!, k!] : [k!, n!])];
      return fc.tuple(tensorArb(sa), tensorArb(sb), gradMask(2));
    })
    .map(
      ([a, b, mask]) =>
        new Sample(
          [fresh(a, mask[0]), fresh(b, mask[1])],
          (x, y) => gemm(x, y, { transA, transB }),
          `transA = ${transA}, transB = ${transB}`,
        ),
    );
  return { name: flags ? `gemm[${flags}]` : 'gemm', op: 'gemm', smooth: true, domain: bilinear, sample };
}

function matmulCase(label: string, shapes: fc.Arbitrary<[number[], number[]]>): OpTestCase {
  const sample = shapes
    .chain(([sa, sb]) => fc.tuple(tensorArb(sa), tensorArb(sb), gradMask(2)))
    .map(([a, b, mask]) => new Sample([fresh(a, mask[0]), fresh(b, mask[1])], (x, y) => matmul(x, y), ''));
  return { name: `matmul[${label}]`, op: 'matmul', smooth: true, domain: bilinear, sample };
}

const dimSize = fc.integer({ min: 1, max: 4 });
const batchShape = shapeArb({ minRank: 0, maxRank: 2, maxDim: 3 });

const linalg: OpTestCase[] = [
  gemmCase(false, false),
  gemmCase(true, false),
  gemmCase(false, true),
  gemmCase(true, true),
  matmulCase(
    '1d,1d',
    dimSize.map((k) => [[k], [k]]),
  ),
  matmulCase(
    '1d,nd',
    fc.tuple(batchShape, dimSize, dimSize).map(([batch, k, n]) => [[k], [...batch, k, n]]),
  ),
  matmulCase(
    'nd,1d',
    fc.tuple(batchShape, dimSize, dimSize).map(([batch, m, k]) => [[...batch, m, k], [k]]),
  ),
  matmulCase(
    '2d,2d',
    fc.tuple(dimSize, dimSize, dimSize).map(([m, k, n]) => [
      [m, k],
      [k, n],
    ]),
  ),
  matmulCase(
    'batched broadcast',
    fc
      .tuple(broadcastableShapesArb(2, { minRank: 1, maxRank: 2, maxDim: 3 }), dimSize, dimSize, dimSize)
      .map(([[ba, bb], m, k, n]) => [
        [...ba!, m, k],
        [...bb!, k, n],
      ]),
  ),
  {
    name: 'linear',
    op: 'linear',
    smooth: true,
    domain: bilinear,
    sample: fc
      .tuple(shapeArb({ minRank: 0, maxRank: 2, maxDim: 3 }), dimSize, dimSize, fc.boolean())
      .chain(([lead, inF, outF, withBias]) =>
        fc.tuple(
          tensorArb([...lead, inF]),
          tensorArb([outF, inF]),
          withBias ? tensorArb([outF]) : fc.constant(null),
          gradMask(withBias ? 3 : 2),
        ),
      )
      .map(([x, w, b, mask]) =>
        b
          ? new Sample(
              [fresh(x, mask[0]), fresh(w, mask[1]), fresh(b, mask[2])],
              (t, wt, bt) => linear(t, wt, bt),
              'with bias',
            )
          : new Sample([fresh(x, mask[0]), fresh(w, mask[1])], (t, wt) => linear(t, wt), 'no bias'),
      ),
  },
];

/** Every differentiable op of the public API with its argument generator, domain and smoothness. */
export const opTable: readonly OpTestCase[] = [...elementwise, ...reductions, ...movement, ...linalg];
