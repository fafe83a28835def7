/**
 * The JavaScript side of the WebAssembly float32 axis sum (source: reduce-source.mjs; loading and memory:
 * module.ts): copies x into wasm memory, sums, copies the result out. Its reference is `reduceAxis`
 * (kernels/reduce.ts), which it matches bit for bit.
 */
import type { TypedArray } from '../../dtype.ts';
import { layout, wasmHeap, wasmKernels } from './module.ts';

/**
 * out[o, i] = Σ_k x[o, k, i] for x [outer, n, inner] in float32 on the WebAssembly kernel. Returns false,
 * writing nothing, when the backend is off or not ready, an array is not float32, or the problem does not
 * fit in wasm32 memory; the caller then runs the JavaScript kernel.
 */
export function wasmSumAxis(
  x: TypedArray,
  outer: number,
  n: number,
  inner: number,
  out: TypedArray,
): boolean {
  const ex = wasmKernels();
  if (ex === null || !(x instanceof Float32Array) || !(out instanceof Float32Array)) return false;
  const size = outer * n * inner;
  const [xAt, outAt, end] = layout(size, outer * inner) as [number, number, number];
  const heap = wasmHeap(ex, end);
  if (heap === null) return false;
  heap.set(x.subarray(0, size), xAt >>> 2);
  ex.sumAxis(xAt, outer, n, inner, outAt);
  out.set(heap.subarray(outAt >>> 2, (outAt >>> 2) + outer * inner));
  return true;
}
