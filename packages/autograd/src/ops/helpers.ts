/** Small pieces every op family uses: coercing numbers, checking dtypes, allocating results. */
import { allocate, type DType, promote, promoteScalar, type TypedArray, toInt32 } from '../dtype.ts';
import { expand } from '../kernels/strided.ts';
import { type Eager, isFusionEnabled, NO_PARAMS, pendingNode } from '../lazy.ts';
import { fmt, type Shape, shapesEqual, sizeOf } from '../shape.ts';
import { Tensor, type TensorLike } from '../tensor.ts';

/** A fresh tensor of `shape` and `dtype`, zero-filled, for a kernel to write into. */
export function empty(shape: Shape, dtype: DType): Tensor {
  return new Tensor(allocate(dtype, sizeOf(shape)), shape);
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}

/** Throws unless `x` is a Tensor (catches plain arrays passed where tensors are expected). */
export function checkTensor(op: string, x: unknown, what = 'input'): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw new Error(`${op}: ${what} must be a Tensor, got ${describe(x)}`);
}

function describe(x: unknown): string {
  if (Array.isArray(x)) return 'an array (wrap it with tensor())';
  return x === null ? 'null' : typeof x;
}

/**
 * Brings the operands of an op to tensors of one dtype, by PyTorch's type promotion (`promote`,
 * `promoteScalar`): int32 operands meeting a float operand (or a non-integral number) are converted to that
 * float dtype; numbers become scalars of the common dtype. Mixing float32 with float64 is an error (convert
 * explicitly with `.to()`). With only numbers, the dtype is float32. Returns a new array (the caller's to
 * keep).
 */
export function coerce(op: string, ...xs: TensorLike[]): Tensor[] {
  // Plain loops, no closures: ops with a number operand (1 − σ, x · 0.5) take this path at every step.
  let dtype: DType | null = null;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    if (typeof x === 'number') continue;
    checkTensor(op, x, `argument ${i}`);
    const joined: DType | null = dtype === null ? x.dtype : promote(dtype, x.dtype);
    if (joined === null) {
      throw new Error(
        `${op}: dtype mismatch: ${xs
          .filter(isTensor)
          .map((t) => `${t.dtype} ${fmt(t.shape)}`)
          .join(' vs ')}; convert with .to()`,
      );
    }
    dtype = joined;
  }
  let common: DType = dtype ?? 'float32';
  for (const x of xs) if (typeof x === 'number') common = promoteScalar(common, x);
  // The rest array is the caller's to keep: converted in place.
  const out = xs as Tensor[];
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    if (typeof x !== 'number') {
      if (x.dtype !== common) out[i] = widen(x, common);
    } else
      out[i] = scalar(common, common === 'int32' ? toInt32(op, x, 'a number meeting an int32 tensor') : x);
  }
  return out;
}

/**
 * Numbers met by ops, as scalar tensors, one per dtype and value: ops only read them (a layer norm's
 * backward meets the same few constants at every step). Bounded; −0 is not kept (a map's keys do not tell
 * it from +0).
 */
const SCALARS: Record<DType, Map<number, Tensor>> = {
  float32: new Map(),
  float64: new Map(),
  int32: new Map(),
};
const MAX_SCALARS = 1024;

function scalar(dtype: DType, x: number): Tensor {
  const kept = !Object.is(x, -0);
  const known = kept ? SCALARS[dtype].get(x) : undefined;
  if (known) return known;
  const data = allocate(dtype, 1);
  data[0] = x;
  const t = new Tensor(data, []);
  if (!kept) return t;
  if (SCALARS[dtype].size >= MAX_SCALARS) SCALARS[dtype].clear();
  SCALARS[dtype].set(x, t);
  return t;
}

/**
 * An int32 tensor's values in a float dtype (exact in float64 and, below 2^24, in float32). Not recorded:
 * an int32 tensor never requires grad.
 */
function widen(x: Tensor, dtype: DType): Tensor {
  const y = empty(x.shape, dtype);
  y.data.set(x.data);
  return y;
}

/** `x` converted to float32 if it is int32 (ops whose results are not integers: exp, sqrt, division, …). */
export function floatOperand(x: Tensor): Tensor {
  return x.dtype === 'int32' ? widen(x, 'float32') : x;
}

/**
 * Throws unless the tensors share one float dtype: for ops with no integer form (matrix products), which
 * PyTorch also refuses to mix.
 */
export function checkFloatOperands(op: string, ...xs: Tensor[]): void {
  const first = xs[0]!.dtype;
  if (xs.every((x) => x.dtype === first) && first !== 'int32') return;
  const listed = xs.map((t) => `${t.dtype} ${fmt(t.shape)}`).join(' vs ');
  if (xs.some((x) => x.dtype === 'int32')) {
    throw new Error(`${op}: int32 operands are not supported (${listed}); convert with .to('float32')`);
  }
  throw new Error(`${op}: dtype mismatch: ${listed}; convert with .to()`);
}

/** The data of `x` laid out at the broadcast shape `shape` (no copy when the shapes already agree). */
export function dataAt(x: Tensor, shape: Shape): TypedArray {
  if (shapesEqual(x.shape, shape)) return x.data;
  const out = allocate(x.dtype, sizeOf(shape));
  expand(x.data, x.shape, shape, out);
  return out;
}

/**
 * An elementwise op's result: pending (fused with its neighbours when it is read, see lazy.ts) while fusion
 * is on, else computed at once by `eager`. int32 ops always run `eager`: fused kernels compute in float32 or
 * float64, and integer arithmetic must wrap like Int32Array instead.
 */
export function elementwise(
  op: string,
  args: readonly Tensor[],
  shape: Shape,
  eager: Eager,
  params: readonly number[] = NO_PARAMS,
): Tensor {
  if (!isFusionEnabled() || args[args.length - 1]!.dtype === 'int32') return eager(args, shape, params);
  return new Tensor(null, shape, pendingNode(op, args, params, eager), args[args.length - 1]!.dtype);
}

/**
 * The value `make(arg)` kept in `made` under `key`, made on first use: an op family's VJP or unfused kernel,
 * one per op and shared by all its nodes, so that no node keeps a closure of its own (a graph of thousands
 * of nodes is that many fewer objects for the collector to copy while it lives). `make` must depend on `arg`
 * alone, and `arg` be the same at every call with one key.
 */
export function onePer<K, A, V>(made: Map<K, V>, key: K, arg: A, make: (arg: A) => V): V {
  let value = made.get(key);
  if (value === undefined) made.set(key, (value = make(arg)));
  return value;
}
