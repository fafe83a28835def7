/**
 * The JavaScript side of the WebAssembly SIMD float32 GEMM (kernel source: generate-gemm.mjs; loading and
 * memory: module.ts): copies the operands into wasm memory, runs the kernel, copies the product out.
 */
import { layout, wasmHeap, wasmKernels } from './module.ts';

let calls = 0;

/** How many products the WebAssembly kernel has computed (lets tests observe dispatch). */
export function wasmGemmCallCount(): number {
  return calls;
}

/**
 * C[m,n] = op(A)·op(B) in float32 on the WebAssembly kernel, with the operands read from and the product
 * written to the given arrays at the given offsets (same contract as kernels/matmul.ts). Returns false,
 * leaving `c` untouched, when the backend is switched off, not ready, or the problem does not fit in wasm32
 * memory; the caller then runs the JavaScript kernel.
 */
export function wasmGemm(
  a: Float32Array,
  aOffset: number,
  b: Float32Array,
  bOffset: number,
  c: Float32Array,
  cOffset: number,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
): boolean {
  const ex = wasmKernels();
  if (ex === null) return false;
  const sizeA = m * k;
  const sizeB = k * n;
  const sizeC = m * n;
  if (sizeC === 0) return true;
  if (k === 0) {
    c.fill(0, cOffset, cOffset + sizeC);
    return true;
  }
  const [aPtr, bPtr, cPtr, work] = layout(sizeA, sizeB, sizeC) as [number, number, number, number];
  const heap = wasmHeap(ex, work + ex.workspaceBytes(m, n, k));
  if (heap === null) return false;
  heap.set(a.subarray(aOffset, aOffset + sizeA), aPtr >>> 2);
  heap.set(b.subarray(bOffset, bOffset + sizeB), bPtr >>> 2);
  ex.gemm(aPtr, bPtr, cPtr, m, n, k, transA ? 1 : 0, transB ? 1 : 0, work);
  c.set(heap.subarray(cPtr >>> 2, (cPtr >>> 2) + sizeC), cOffset);
  calls++;
  return true;
}
