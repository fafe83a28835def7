/**
 * Element types a tensor can hold. `float32` is the default; `float64` is for gradient checks and fixtures;
 * `int32` holds indices exactly (ids past 2^24, which float32 rounds) and never requires grad.
 */
export type DType = 'float32' | 'float64' | 'int32';

/** The dtypes that can carry gradients. */
export type FloatDType = 'float32' | 'float64';

/** Storage of a floating-point tensor: what kernels that compute gradients, products or norms read. */
export type FloatArray = Float32Array | Float64Array;

/** The contiguous storage behind a tensor. */
export type TypedArray = FloatArray | Int32Array;

/** Every dtype, in the order error messages list them. */
export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];

/** The floating dtypes. */
export const FLOAT_DTYPES: readonly FloatDType[] = ['float32', 'float64'];

/** The range of int32: [INT32_MIN, INT32_MAX]. */
export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;

const BYTES: Record<DType, number> = { float32: 4, float64: 8, int32: 4 };

/** Allocates zeroed storage of `size` elements for `dtype`. */
export function allocate(dtype: FloatDType, size: number): FloatArray;
export function allocate(dtype: DType, size: number): TypedArray;
export function allocate(dtype: DType, size: number): TypedArray {
  try {
    if (dtype === 'int32') return new Int32Array(size);
    return dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
  } catch (e) {
    throw new Error(
      `allocate: cannot allocate ${size} ${dtype} elements (${size * BYTES[dtype]} bytes): ${(e as Error).message}`,
    );
  }
}

/** The dtype that matches a typed array. */
export function dtypeOf(data: TypedArray): DType {
  if (data instanceof Int32Array) return 'int32';
  return data instanceof Float64Array ? 'float64' : 'float32';
}

/** Throws unless `dtype` is one of `allowed` (every dtype by default). */
export function checkDtype<D extends DType = DType>(
  op: string,
  dtype: unknown,
  allowed: readonly D[] = DTYPES as readonly D[],
): asserts dtype is D {
  if (!(allowed as readonly unknown[]).includes(dtype)) {
    const known = (DTYPES as readonly unknown[]).includes(dtype);
    throw new Error(
      `${op}: ${known ? 'unsupported' : 'unknown'} dtype ${JSON.stringify(dtype)} (expected ${allowed.map((d) => `'${d}'`).join(', ')})`,
    );
  }
}

/**
 * The dtype an op over tensors of dtypes `a` and `b` computes in (PyTorch's type promotion): int32 with a
 * float dtype gives the float dtype, equal dtypes stay. float32 with float64 gives null: that mix is refused
 * (convert one with `.to()`), so precision is never changed behind the user's back.
 */
export function promote(a: DType, b: DType): DType | null {
  if (a === b) return a;
  if (a === 'int32') return b;
  if (b === 'int32') return a;
  return null;
}

/**
 * The dtype a plain number takes when it meets tensors of dtype `dtype` (PyTorch's rule for Python scalars):
 * an integral number keeps int32, a non-integral one (or NaN, ±∞) makes the op float32. Float dtypes stay.
 */
export function promoteScalar(dtype: DType, value: number): DType {
  return dtype === 'int32' && !Number.isInteger(value) ? 'float32' : dtype;
}

/**
 * `v` as an int32: truncated toward zero, like PyTorch's conversion to an integer type. NaN, ±∞ and values
 * outside [−2^31, 2^31 − 1] have no int32 value and throw, naming `op` and `what` (where `v` came from).
 */
export function toInt32(op: string, v: number, what: string): number {
  // −2^31 − 1 < v < 2^31 is exactly "truncates into range" (and false for NaN).
  if (!(v > INT32_MIN - 1 && v < INT32_MAX + 1)) {
    throw new Error(
      `${op}: ${what} is ${v}, which has no int32 value (expected a finite number in [${INT32_MIN}, ${INT32_MAX}])`,
    );
  }
  return Math.trunc(v);
}

/** `src` converted element by element with `toInt32` (`what` names the source in errors). */
export function toInt32Array(op: string, src: ArrayLike<number>, what: string): Int32Array {
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    out[i] = v > INT32_MIN - 1 && v < INT32_MAX + 1 ? v : toInt32(op, v, `${what} at flat index ${i}`);
  }
  return out;
}
