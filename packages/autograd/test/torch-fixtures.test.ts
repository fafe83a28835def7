/**
 * Golden values from PyTorch: every case in fixtures/ops.json (written by scripts/gen_fixtures.py with
 * torch, float64) is replayed through our op, and the output and the gradient of Σ output ⊙ cotangent with
 * respect to each input must agree with PyTorch's to 1e-10 (absolute + relative).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  abs,
  add,
  argmax,
  argmin,
  broadcastTo,
  cat,
  chunk,
  clamp,
  clone,
  cos,
  div,
  eq,
  erf,
  exp,
  flatten,
  gather,
  ge,
  gemm,
  gt,
  indexAdd,
  indexSelect,
  le,
  linear,
  log,
  log1p,
  logSoftmax,
  logsumexp,
  lt,
  matmul,
  max,
  maximum,
  mean,
  min,
  minimum,
  mul,
  narrow,
  ne,
  neg,
  permute,
  pow,
  relu,
  reshape,
  scatterAdd,
  sigmoid,
  sign,
  sin,
  slice,
  softmax,
  split,
  sqrt,
  squeeze,
  stack,
  sub,
  sum,
  sumTo,
  Tensor,
  type TensorLike,
  tanh,
  tensor,
  transpose,
  unsqueeze,
  variance,
  where,
  zeroPad,
} from '../src/index.ts';

interface Encoded {
  shape: number[];
  values: number[];
  /** Our dtype when not float64 (int32 for PyTorch's integer tensors). */
  dtype?: 'float32' | 'int32';
}
type EncodedInput = (Encoded & { requiresGrad: boolean }) | { number: number };

/** Parameters in our argument conventions (the generator writes them so). */
interface Params {
  dim?: number | number[];
  keepdim?: boolean;
  correction?: number;
  min?: number;
  max?: number;
  shape?: number[];
  startDim?: number;
  endDim?: number;
  dim0?: number;
  dim1?: number;
  dims?: number[];
  start?: number;
  end?: number;
  length?: number;
  before?: number;
  after?: number;
  splitSize?: number | number[];
  chunks?: number;
  index?: number[] | Encoded;
  transA?: boolean;
  transB?: boolean;
}

interface Case {
  op: string;
  id: string;
  torch: string;
  params: Params;
  inputs: EncodedInput[];
  outputs: Encoded[];
  cotangents?: Encoded[];
  grads?: Array<Encoded | null>;
}

interface Fixture {
  torch: string;
  dtype: string;
  cases: Case[];
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/ops.json', import.meta.url), 'utf8')) as Fixture;

type Arg = Tensor | number;
type OpFn = (inputs: Arg[], p: Params) => Tensor | Tensor[];

function T(x: Arg | undefined): Tensor {
  if (!(x instanceof Tensor)) throw new Error(`fixture: expected a tensor input, got ${x}`);
  return x;
}

/** A required parameter; a fixture without it is malformed. */
function req<K extends keyof Params>(p: Params, key: K): NonNullable<Params[K]> {
  const v = p[key];
  if (v === undefined || v === null) throw new Error(`fixture: missing parameter '${key}'`);
  return v as NonNullable<Params[K]>;
}

function oneDim(p: Params): number {
  const d = req(p, 'dim');
  if (typeof d !== 'number') throw new Error(`fixture: expected a single dim, got [${d}]`);
  return d;
}

function indexList(p: Params): number[] {
  const i = req(p, 'index');
  if (!Array.isArray(i)) throw new Error('fixture: expected a list of indices');
  return i;
}

function indexTensor(p: Params): Tensor {
  const i = req(p, 'index');
  if (Array.isArray(i)) throw new Error('fixture: expected an index tensor');
  return build(i);
}

const binary =
  (f: (a: TensorLike, b: TensorLike) => Tensor): OpFn =>
  ([a, b]) =>
    f(a!, b!);
const unary =
  (f: (x: Tensor) => Tensor): OpFn =>
  ([x]) =>
    f(T(x));
const reduction =
  (f: (x: Tensor, dim?: number | readonly number[], keepdim?: boolean) => Tensor): OpFn =>
  ([x], p) =>
    f(T(x), p.dim, p.keepdim);

/** Our function for each op name in the fixture, with PyTorch's arguments mapped to our conventions. */
const OPS: Record<string, OpFn> = {
  add: binary(add),
  sub: binary(sub),
  mul: binary(mul),
  div: binary(div),
  pow: binary(pow),
  maximum: binary(maximum),
  minimum: binary(minimum),
  gt: binary(gt),
  lt: binary(lt),
  ge: binary(ge),
  le: binary(le),
  eq: binary(eq),
  ne: binary(ne),
  where: ([c, a, b]) => where(c!, a!, b!),
  neg: unary(neg),
  exp: unary(exp),
  log: unary(log),
  log1p: unary(log1p),
  sqrt: unary(sqrt),
  abs: unary(abs),
  tanh: unary(tanh),
  sigmoid: unary(sigmoid),
  relu: unary(relu),
  sin: unary(sin),
  cos: unary(cos),
  erf: unary(erf),
  sign: unary(sign),
  clamp: ([x], p) => clamp(T(x), p.min, p.max),
  sum: reduction(sum),
  mean: reduction(mean),
  max: reduction(max),
  min: reduction(min),
  logsumexp: reduction(logsumexp),
  variance: ([x], p) => variance(T(x), p.dim, { correction: req(p, 'correction'), keepdim: p.keepdim }),
  softmax: ([x], p) => softmax(T(x), oneDim(p)),
  logSoftmax: ([x], p) => logSoftmax(T(x), oneDim(p)),
  argmax: ([x], p) => argmax(T(x), p.dim as number | undefined, p.keepdim),
  argmin: ([x], p) => argmin(T(x), p.dim as number | undefined, p.keepdim),
  reshape: ([x], p) => reshape(T(x), req(p, 'shape')),
  flatten: ([x], p) => flatten(T(x), p.startDim, p.endDim),
  transpose: ([x], p) => transpose(T(x), req(p, 'dim0'), req(p, 'dim1')),
  permute: ([x], p) => permute(T(x), req(p, 'dims')),
  squeeze: ([x], p) => squeeze(T(x), p.dim as number | undefined),
  unsqueeze: ([x], p) => unsqueeze(T(x), oneDim(p)),
  broadcastTo: ([x], p) => broadcastTo(T(x), req(p, 'shape')),
  sumTo: ([x], p) => sumTo(T(x), req(p, 'shape')),
  narrow: ([x], p) => narrow(T(x), oneDim(p), req(p, 'start'), req(p, 'length')),
  slice: ([x], p) => slice(T(x), oneDim(p), p.start, p.end),
  zeroPad: ([x], p) => zeroPad(T(x), oneDim(p), req(p, 'before'), req(p, 'after')),
  clone: unary(clone),
  cat: (xs, p) => cat(xs.map(T), oneDim(p)),
  stack: (xs, p) => stack(xs.map(T), oneDim(p)),
  split: ([x], p) => split(T(x), req(p, 'splitSize'), oneDim(p)),
  chunk: ([x], p) => chunk(T(x), req(p, 'chunks'), oneDim(p)),
  indexSelect: ([x], p) => indexSelect(T(x), oneDim(p), indexList(p)),
  indexAdd: ([x, src], p) => indexAdd(T(x), oneDim(p), indexList(p), T(src)),
  gather: ([x], p) => gather(T(x), oneDim(p), indexTensor(p)),
  scatterAdd: ([x, src], p) => scatterAdd(T(x), oneDim(p), indexTensor(p), T(src)),
  matmul: ([a, b]) => matmul(T(a), T(b)),
  linear: ([x, w, b]) => linear(T(x), T(w), b === undefined ? undefined : T(b)),
  gemm: ([a, b], p) => gemm(T(a), T(b), { transA: req(p, 'transA'), transB: req(p, 'transB') }),
};

/** Ops that must have gradient cases in the fixture (a regenerated fixture that drops one fails). */
const DIFFERENTIABLE = Object.keys(OPS).filter(
  (op) => !['gt', 'lt', 'ge', 'le', 'eq', 'ne', 'sign', 'argmax', 'argmin'].includes(op),
);
/** Ops that must have broadcasting cases (input tensors of different shapes). */
const BROADCASTING = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'where', 'gt', 'eq'];
/** Ops whose kink/tie conventions must be pinned by dedicated cases. */
const KINKS = ['maximum', 'minimum', 'max', 'min', 'abs', 'relu', 'clamp', 'pow', 'argmax', 'argmin'];

const TOL = 1e-10;

function build(e: Encoded, requiresGrad = false): Tensor {
  const dtype = e.dtype ?? 'float64';
  // int32 tensors cannot require grad.
  return tensor(e.values, { shape: e.shape, dtype, requiresGrad: requiresGrad && dtype !== 'int32' });
}

/** Mismatches between our tensor and PyTorch's, as readable lines (empty when they agree). */
function compare(what: string, actual: Tensor | null, expected: Encoded): string[] {
  if (actual === null) return [`${what}: missing (expected shape [${expected.shape}])`];
  if (actual.shape.join() !== expected.shape.join()) {
    return [`${what}: shape [${actual.shape}] but PyTorch gives [${expected.shape}]`];
  }
  const dtype = expected.dtype ?? 'float64';
  if (actual.dtype !== dtype) return [`${what}: dtype ${actual.dtype}, expected ${dtype}`];
  // float32 results are held to float32 rounding; int32 ones must be exact.
  const tol = dtype === 'float64' ? TOL : dtype === 'float32' ? 1e-6 : 0;
  const bad: string[] = [];
  expected.values.forEach((want, i) => {
    const got = actual.data[i]!;
    if (!(Math.abs(got - want) <= tol + tol * Math.abs(want))) {
      bad.push(`${what}[${i}]: ours ${got}, PyTorch ${want} (diff ${Math.abs(got - want)})`);
    }
  });
  return bad;
}

describe('PyTorch golden fixtures', () => {
  it('records the torch version and float64 dtype', () => {
    expect(fixture.torch).toMatch(/^\d+\.\d+/);
    expect(fixture.dtype).toBe('float64');
    expect(fixture.cases.length).toBeGreaterThan(200);
  });

  it('maps every op in the fixture to one of ours', () => {
    const unmapped = [...new Set(fixture.cases.map((c) => c.op))].filter((op) => !(op in OPS));
    expect(unmapped, 'fixture ops without a mapping in OPS').toEqual([]);
  });

  it('has cases for every op we map, with gradients for the differentiable ones', () => {
    const missing = Object.keys(OPS).filter((op) => !fixture.cases.some((c) => c.op === op));
    expect(missing, 'ops with no fixture case').toEqual([]);
    const noGrads = DIFFERENTIABLE.filter(
      (op) => !fixture.cases.some((c) => c.op === op && c.grads?.some((g) => g !== null)),
    );
    expect(noGrads, 'differentiable ops with no gradient case').toEqual([]);
  });

  it('has broadcasting cases for binary ops and where, and kink/tie cases', () => {
    const broadcasts = (c: Case) => {
      const shapes = c.inputs.flatMap((i) => ('shape' in i ? [i.shape.join()] : []));
      return new Set(shapes).size > 1;
    };
    const noBroadcast = BROADCASTING.filter((op) => !fixture.cases.some((c) => c.op === op && broadcasts(c)));
    expect(noBroadcast, 'ops without a broadcasting case').toEqual([]);
    const noKink = KINKS.filter((op) => !fixture.cases.some((c) => c.op === op && /kink|tie/.test(c.id)));
    expect(noKink, 'ops without a kink/tie case').toEqual([]);
  });

  for (const c of fixture.cases) {
    it(`${c.id}  (${c.torch})`, () => {
      const fn = OPS[c.op];
      if (!fn) throw new Error(`no mapping for op '${c.op}' (case ${c.id})`);
      const differentiable = c.cotangents !== undefined;
      // Non-differentiable ops get inputs that require grad, to check that no gradient path is recorded.
      const inputs: Arg[] = c.inputs.map((i) =>
        'number' in i ? i.number : build(i, differentiable ? i.requiresGrad : true),
      );
      const result = fn(inputs, c.params);
      const outs = Array.isArray(result) ? result : [result];
      expect(outs.length, `${c.id}: number of outputs`).toBe(c.outputs.length);
      const problems = outs.flatMap((o, k) => compare(`${c.id} output ${k}`, o, c.outputs[k]!));
      expect(problems, `${c.id}: forward disagrees with PyTorch`).toEqual([]);
      if (!differentiable) {
        expect(
          outs.map((o) => o.requiresGrad),
          `${c.id}: a non-differentiable op must not record a gradient`,
        ).toEqual(outs.map(() => false));
        return;
      }
      const cots = c.cotangents!.map((e) => build(e));
      if (outs.length === 1) outs[0]!.backward(cots[0]);
      else {
        // Several outputs (split, chunk): L = Σₖ sum(outₖ ⊙ cotₖ), whose gradient is the same VJP.
        outs
          .map((o, k) => sum(mul(o, cots[k]!)))
          .reduce((a, b) => add(a, b))
          .backward();
      }
      const gradProblems = c.grads!.flatMap((want, i) => {
        const input = inputs[i]!;
        if (want === null) {
          return input instanceof Tensor && input.grad !== null
            ? [`${c.id} grad ${i}: expected none (input does not require grad)`]
            : [];
        }
        return compare(`${c.id} grad of input ${i}`, T(input).grad, want);
      });
      expect(gradProblems, `${c.id}: gradients disagree with PyTorch`).toEqual([]);
    });
  }
});
