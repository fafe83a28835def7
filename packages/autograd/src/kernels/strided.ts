/**
 * One strided copy serves broadcasting, transposes/permutes and slicing: each is a walk over the output
 * in row-major order, reading the input at `offset + Σ index[d]·strides[d]`. Broadcast dimensions have
 * stride 0, a permutation reorders strides, a slice moves the offset.
 */
import type { TypedArray } from '../dtype.ts';
import { repeatsAlongLeadingDims, type Shape, stridesOf } from '../shape.ts';

export function stridedCopy(
  x: TypedArray,
  offset: number,
  strides: readonly number[],
  outShape: Shape,
  out: TypedArray,
): void {
  const rank = outShape.length;
  if (out.length === 0) return;
  if (rank === 0) {
    out[0] = x[offset]!;
    return;
  }
  const inner = outShape[rank - 1]!;
  const innerStride = strides[rank - 1]!;
  const index = new Array<number>(rank).fill(0);
  let src = offset;
  for (let o = 0; o < out.length; o += inner) {
    if (innerStride === 1) out.set(x.subarray(src, src + inner), o);
    else if (innerStride === 0) out.fill(x[src]!, o, o + inner);
    else for (let j = 0; j < inner; j++) out[o + j] = x[src + j * innerStride]!;
    // Odometer step over the outer dimensions.
    for (let d = rank - 2; d >= 0; d--) {
      src += strides[d]!;
      if (++index[d]! < outShape[d]!) break;
      src -= strides[d]! * outShape[d]!;
      index[d] = 0;
    }
  }
}

/** Reads `x` (shape `shape`) broadcast to `outShape`. Assumes the shapes are broadcast-compatible. */
export function expand(x: TypedArray, shape: Shape, outShape: Shape, out: TypedArray): void {
  const lead = outShape.length - shape.length;
  // The common cases are a scalar, and a block repeated along leading dims (a bias row): native fill/set.
  if (out.length === 0) return;
  if (x.length === 1) {
    out.fill(x[0]!);
    return;
  }
  if (repeatsAlongLeadingDims(shape, outShape)) {
    for (let o = 0; o < out.length; o += x.length) out.set(x, o);
    return;
  }
  const own = stridesOf(shape);
  const strides = outShape.map((_, d) => {
    const s = d - lead;
    return s < 0 || shape[s] === 1 ? 0 : own[s]!;
  });
  stridedCopy(x, 0, strides, outShape, out);
}

/** out = x permuted so that out dimension d is input dimension perm[d]. */
export function permute(x: TypedArray, shape: Shape, perm: readonly number[], out: TypedArray): void {
  const own = stridesOf(shape);
  stridedCopy(
    x,
    0,
    perm.map((p) => own[p]!),
    perm.map((p) => shape[p]!),
    out,
  );
}

/** out = x[..., start:start+length, ...] along `dim`. */
export function narrow(
  x: TypedArray,
  shape: Shape,
  dim: number,
  start: number,
  length: number,
  out: TypedArray,
): void {
  const own = stridesOf(shape);
  const outShape = shape.map((n, d) => (d === dim ? length : n));
  stridedCopy(x, start * own[dim]!, own, outShape, out);
}

/** Writes `x` into `out` (shape `outShape`) at `start` along `dim`; the rest of `out` is left as is. */
export function narrowInto(
  x: TypedArray,
  outShape: Shape,
  dim: number,
  start: number,
  out: TypedArray,
): void {
  const outer = outShape.slice(0, dim).reduce((a, b) => a * b, 1);
  const inner = outShape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const block = (x.length / Math.max(outer, 1)) | 0;
  const outBlock = outShape[dim]! * inner;
  for (let o = 0; o < outer; o++) {
    const dst = o * outBlock + start * inner;
    const src = o * block;
    for (let j = 0; j < block; j++) out[dst + j] = x[src + j]!;
  }
}

/**
 * Copies the contiguous `x` of shape `shape` into `out` at `offset + Σ index[d]·strides[d]` (a slice of a
 * larger tensor: how `cat` and `stack` place computed parts); rows contiguous in `out` are block copies.
 */
export function copyInto(
  x: TypedArray,
  shape: Shape,
  out: TypedArray,
  offset: number,
  strides: readonly number[],
): void {
  const rank = shape.length;
  if (x.length === 0) return;
  if (rank === 0) {
    out[offset] = x[0]!;
    return;
  }
  // A destination laid out like x (each dim's stride the size of the dims after it): one copy.
  let contiguous = true;
  for (let d = rank - 1, size = 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== size) contiguous = false;
    size *= shape[d]!;
  }
  if (contiguous) {
    out.set(x, offset);
    return;
  }
  const inner = shape[rank - 1]!;
  const innerStride = strides[rank - 1]!;
  const index = new Array<number>(rank).fill(0);
  let dst = offset;
  for (let o = 0; o < x.length; o += inner) {
    if (innerStride === 1) out.set(x.subarray(o, o + inner), dst);
    else for (let j = 0; j < inner; j++) out[dst + j * innerStride] = x[o + j]!;
    for (let d = rank - 2; d >= 0; d--) {
      dst += strides[d]!;
      if (++index[d]! < shape[d]!) break;
      dst -= strides[d]! * shape[d]!;
      index[d] = 0;
    }
  }
}
