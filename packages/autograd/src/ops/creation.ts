/** Tensor creation: from data, constants, ranges and seeded random draws. */
import {
  allocate,
  checkDtype,
  type DType,
  FLOAT_DTYPES,
  INT32_MAX,
  INT32_MIN,
  type TypedArray,
  toInt32,
  toInt32Array,
} from '../dtype.ts';
import { normal, uniform, uniformInt } from '../random.ts';
import { checkShape, fmt, type Shape, sizeOf } from '../shape.ts';
import { type NestedArray, Tensor } from '../tensor.ts';

/** Options of the tensor factories. */
export interface CreateOptions {
  /**
   * Element type. Default `'float32'` (or the data's own, where given; `randint`'s is `'int32'`). Values
   * stored as int32 are truncated toward zero; one outside the int32 range is an error.
   */
  dtype?: DType;
  /** Make the new tensor a leaf that receives gradients. Default false. */
  requiresGrad?: boolean;
}

/** Options of `tensor`. */
export interface TensorOptions extends CreateOptions {
  /** Shape for flat data; nested arrays carry their own shape. */
  shape?: Shape;
}

function finish(data: TypedArray, shape: Shape, options: CreateOptions): Tensor {
  const t = new Tensor(data, shape);
  t.requiresGrad = options.requiresGrad ?? false;
  return t;
}

function dtypeFrom(
  op: string,
  options: CreateOptions,
  fallback: DType = 'float32',
  allowed: readonly DType[] | undefined = undefined,
): DType {
  const dtype = options.dtype ?? fallback;
  checkDtype(op, dtype, allowed);
  return dtype;
}

/** Storage of `dtype` holding `values` (computed as doubles), int32 ones checked by `toInt32`. */
function storageOf(op: string, dtype: DType, values: Float64Array): TypedArray {
  if (dtype === 'int32') return toInt32Array(op, values, 'value');
  const out = allocate(dtype, values.length);
  out.set(values);
  return out;
}

/** Infers the shape of nested arrays, checking they are rectangular. */
function nestedShape(value: NestedArray): number[] {
  const shape: number[] = [];
  let v: NestedArray = value;
  while (Array.isArray(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0]!;
  }
  return shape;
}

function flattenInto(
  value: NestedArray,
  shape: Shape,
  dim: number,
  out: TypedArray,
  at: { i: number },
): void {
  if (dim === shape.length) {
    if (typeof value !== 'number')
      throw new Error(`tensor: ragged nested array (expected a number at depth ${dim}, shape ${fmt(shape)})`);
    out[at.i++] = value;
    return;
  }
  if (!Array.isArray(value) || value.length !== shape[dim]) {
    throw new Error(
      `tensor: ragged nested array (expected ${shape[dim]} entries at depth ${dim}, shape ${fmt(shape)})`,
    );
  }
  for (const v of value) flattenInto(v, shape, dim + 1, out, at);
}

/**
 * A tensor from a number, nested arrays, a flat `number[]` or a typed array (copied). The dtype follows a
 * Float64Array or Int32Array input, else defaults to float32.
 */
export function tensor(data: NestedArray | ArrayLike<number>, options: TensorOptions = {}): Tensor {
  const fallback =
    data instanceof Float64Array ? 'float64' : data instanceof Int32Array ? 'int32' : 'float32';
  const dtype = dtypeFrom('tensor', options, fallback);
  if (typeof data === 'number') {
    const out = allocate(dtype, 1);
    out[0] = dtype === 'int32' ? toInt32('tensor', data, 'the value') : data;
    if (options.shape && sizeOf(options.shape) !== 1)
      throw new Error(`tensor: one value cannot fill shape ${fmt(options.shape)}`);
    return finish(out, options.shape ?? [], options);
  }
  if (Array.isArray(data) && !options.shape) {
    const shape = nestedShape(data as NestedArray);
    // int32 values are read as doubles first, so that each can be checked before it is truncated.
    const out = allocate(dtype === 'int32' ? 'float64' : dtype, sizeOf(shape));
    flattenInto(data as NestedArray, shape, 0, out, { i: 0 });
    return finish(dtype === 'int32' ? toInt32Array('tensor', out, 'value') : out, shape, options);
  }
  const flat = data as ArrayLike<number>;
  const shape = options.shape ?? [flat.length];
  checkShape('tensor', shape);
  if (sizeOf(shape) !== flat.length) {
    throw new Error(
      `tensor: ${flat.length} values do not fill shape ${fmt(shape)} (${sizeOf(shape)} needed)`,
    );
  }
  const out = allocate(dtype === 'int32' ? 'float64' : dtype, flat.length);
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i];
    if (typeof v !== 'number') throw new Error(`tensor: element ${i} is ${typeof v}, expected a number`);
    out[i] = v;
  }
  return finish(dtype === 'int32' ? toInt32Array('tensor', out, 'value') : out, shape, options);
}

/** A tensor filled with `value`. */
export function full(shape: Shape, value: number, options: CreateOptions = {}): Tensor {
  checkShape('full', shape);
  const dtype = dtypeFrom('full', options);
  const data = allocate(dtype, sizeOf(shape));
  if (value !== 0) data.fill(dtype === 'int32' ? toInt32('full', value, 'the fill value') : value);
  return finish(data, shape, options);
}

/** A tensor of zeros. */
export function zeros(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 0, options);
}

/** A tensor of ones. */
export function ones(shape: Shape, options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

/** Values start, start+step, … below end (or 0…start−1 when only one bound is given). */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0 || !Number.isFinite(step))
    throw new Error(`arange: step must be a finite non-zero number, got ${step}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const dtype = dtypeFrom('arange', options);
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = start + i * step;
  return finish(storageOf('arange', dtype, values), [n], options);
}

/** `steps` evenly spaced values from start to end inclusive. */
export function linspace(start: number, end: number, steps: number, options: CreateOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0)
    throw new Error(`linspace: steps must be an integer >= 0, got ${steps}`);
  const dtype = dtypeFrom('linspace', options);
  const values = new Float64Array(steps);
  const delta = steps > 1 ? (end - start) / (steps - 1) : 0;
  for (let i = 0; i < steps; i++) values[i] = start + i * delta;
  return finish(storageOf('linspace', dtype, values), [steps], options);
}

/** The n×m identity (m defaults to n). */
export function eye(n: number, m = n, options: CreateOptions = {}): Tensor {
  checkShape('eye', [n, m]);
  const data = allocate(dtypeFrom('eye', options), n * m);
  for (let i = 0; i < Math.min(n, m); i++) data[i * m + i] = 1;
  return finish(data, [n, m], options);
}

/** Uniform samples in [0, 1), from the seeded generator. */
export function rand(shape: Shape, options: CreateOptions = {}): Tensor {
  checkShape('rand', shape);
  const data = allocate(dtypeFrom('rand', options, 'float32', FLOAT_DTYPES), sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = uniform();
  return finish(data, shape, options);
}

/** Standard normal samples, from the seeded generator. */
export function randn(shape: Shape, options: CreateOptions = {}): Tensor {
  checkShape('randn', shape);
  const data = allocate(dtypeFrom('randn', options, 'float32', FLOAT_DTYPES), sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = normal();
  return finish(data, shape, options);
}

/**
 * Uniform integers in [low, high), from the seeded generator: int32 by default (PyTorch's default is int64),
 * or float32/float64 with `dtype`. Every value is exact in int32 (so low ≥ −2^31 and high ≤ 2^31) and in
 * float64 (|low|, |high| ≤ 2^53); float32 rounds values past 2^24, as its storage must.
 */
export function randint(low: number, high: number, shape: Shape, options: CreateOptions = {}): Tensor {
  checkShape('randint', shape);
  if (!(Number.isInteger(low) && Number.isInteger(high) && high > low)) {
    throw new Error(`randint: expected integers low < high, got low=${low}, high=${high}`);
  }
  const dtype = dtypeFrom('randint', options, 'int32');
  const [min, max] = dtype === 'int32' ? [INT32_MIN, INT32_MAX + 1] : [-(2 ** 53), 2 ** 53];
  if (low < min || high > max || high - low > 2 ** 53) {
    throw new Error(
      `randint: [${low}, ${high}) does not fit ${dtype} (expected ${min} <= low < high <= ${max}${dtype === 'int32' ? "; pass { dtype: 'float64' } for a wider range" : ''})`,
    );
  }
  const data = allocate(dtype, sizeOf(shape));
  const range = high - low;
  for (let i = 0; i < data.length; i++) data[i] = low + uniformInt(range);
  return finish(data, shape, options);
}

const like = (x: Tensor, options: CreateOptions): CreateOptions => ({ dtype: x.dtype, ...options });

/** Zeros of `x`'s shape and (unless given) dtype. */
export function zerosLike(x: Tensor, options: CreateOptions = {}): Tensor {
  return zeros(x.shape, like(x, options));
}
/** Ones of `x`'s shape and (unless given) dtype. */
export function onesLike(x: Tensor, options: CreateOptions = {}): Tensor {
  return ones(x.shape, like(x, options));
}
/** `value` in `x`'s shape and (unless given) dtype. */
export function fullLike(x: Tensor, value: number, options: CreateOptions = {}): Tensor {
  return full(x.shape, value, like(x, options));
}
/** Uniform [0, 1) draws in `x`'s shape and (unless given) dtype. */
export function randLike(x: Tensor, options: CreateOptions = {}): Tensor {
  return rand(x.shape, like(x, options));
}
/** Standard normal draws in `x`'s shape and (unless given) dtype. */
export function randnLike(x: Tensor, options: CreateOptions = {}): Tensor {
  return randn(x.shape, like(x, options));
}
