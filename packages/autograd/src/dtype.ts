/** Element types a tensor can hold. `float32` is the default; `float64` is for gradient checks and fixtures. */
export type DType = 'float32' | 'float64';

/** The contiguous storage behind a tensor. */
export type TypedArray = Float32Array | Float64Array;

/** Allocates zeroed storage of `size` elements for `dtype`. */
export function allocate(dtype: DType, size: number): TypedArray {
  try {
    return dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
  } catch (e) {
    throw new Error(
      `allocate: cannot allocate ${size} ${dtype} elements (${size * (dtype === 'float64' ? 8 : 4)} bytes): ${(e as Error).message}`,
    );
  }
}

/** The dtype that matches a typed array. */
export function dtypeOf(data: TypedArray): DType {
  return data instanceof Float64Array ? 'float64' : 'float32';
}

/** Throws unless `dtype` is a supported dtype name. */
export function checkDtype(op: string, dtype: unknown): asserts dtype is DType {
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw new Error(`${op}: unknown dtype ${JSON.stringify(dtype)} (expected 'float32' or 'float64')`);
  }
}
