/**
 * The JavaScript side of the WebAssembly SIMD float32 GEMM (kernel source: generate-gemm.mjs; loading and
 * memory: module.ts): copies the operands into wasm memory (unless they are resident, see
 * `withResidentOperands`), runs the kernel, copies the product out.
 */
import { keepOutput, layout, residentAddress, residentPackedB, wasmHeap, wasmKernels } from './module.ts';

let calls = 0;

/** How many products the WebAssembly kernel has computed (lets tests observe dispatch). */
export function wasmGemmCallCount(): number {
  return calls;
}

/**
 * C[m,n] = op(A)·op(B) (+ `bias`, [n], on every row) in float32 on the WebAssembly kernel, with the operands
 * read from and the product written to the given arrays at the given offsets (same contract as
 * kernels/matmul.ts). Returns false, leaving `c` untouched, when the backend is switched off, not ready, or
 * the problem does not fit in wasm32 memory; the caller then runs the JavaScript kernel.
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
  bias: Float32Array | null = null,
): boolean {
  const ex = wasmKernels();
  if (ex === null) return false;
  const sizeA = m * k;
  const sizeB = k * n;
  const sizeC = m * n;
  if (sizeC === 0) return true;
  if (k === 0) {
    // An empty sum: C is zero, or the bias rows.
    if (bias === null) c.fill(0, cOffset, cOffset + sizeC);
    else for (let r = 0; r < m; r++) c.set(bias.subarray(0, n), cOffset + r * n);
    return true;
  }
  // Operands kept resident by an enclosing residency scope are read where they are; a resident B is
  // also packed once for all the scope's products of this shape (the kernel then skips packing it).
  const aResident = residentAddress(a, aOffset, sizeA);
  const bPacked = residentPackedB(ex, b, bOffset, sizeB, n, k, transB);
  const [aCopy, bCopy, cPtr, work] = layout(aResident < 0 ? sizeA : 0, bPacked < 0 ? sizeB : 0, sizeC) as [
    number,
    number,
    number,
    number,
  ];
  const heap = wasmHeap(ex, work + ex.workspaceBytes(m, n, k));
  if (heap === null) return false;
  if (aResident < 0) heap.set(a.subarray(aOffset, aOffset + sizeA), aCopy >>> 2);
  if (bPacked < 0) heap.set(b.subarray(bOffset, bOffset + sizeB), bCopy >>> 2);
  const aPtr = aResident < 0 ? aCopy : aResident;
  if (bias !== null) fillRows(heap, cPtr >>> 2, bias, m, n);
  // packedB = 0: the kernel packs B itself; with a bias it adds the product to the rows just filled.
  ex.gemm(
    aPtr,
    bCopy,
    cPtr,
    m,
    n,
    k,
    transA ? 1 : 0,
    transB ? 1 : 0,
    work,
    Math.max(bPacked, 0),
    +(bias !== null),
  );
  c.set(heap.subarray(cPtr >>> 2, (cPtr >>> 2) + sizeC), cOffset);
  if (cOffset === 0 && sizeC === c.length) keepOutput(c, cPtr);
  calls++;
  return true;
}

/**
 * C[m,n] = Xᵀ·Y for X = [X_1; …; X_T] ([k, m]) and Y = [Y_1; …; Y_T] ([k, n]) given as their row blocks
 * (each block whole, X_t [k_t, m], Y_t [k_t, n]): the blocks are copied into wasm memory one after another,
 * which is the stacking, so no stacked array is ever built in JavaScript. Returns false, leaving `c`
 * untouched, when the kernel cannot run (see `wasmGemm`).
 */
export function wasmGemmStacked(
  xs: readonly Float32Array[],
  ys: readonly Float32Array[],
  c: Float32Array,
  m: number,
  n: number,
  k: number,
): boolean {
  const ex = wasmKernels();
  if (ex === null || m * n === 0 || k === 0) return false;
  const [aPtr, bPtr, cPtr, work] = layout(k * m, k * n, m * n) as [number, number, number, number];
  const heap = wasmHeap(ex, work + ex.workspaceBytes(m, n, k));
  if (heap === null) return false;
  let a = aPtr >>> 2;
  for (const x of xs) {
    heap.set(x, a);
    a += x.length;
  }
  let b = bPtr >>> 2;
  for (const y of ys) {
    heap.set(y, b);
    b += y.length;
  }
  ex.gemm(aPtr, bPtr, cPtr, m, n, k, 1, 0, work, 0, 0);
  c.set(heap.subarray(cPtr >>> 2, (cPtr >>> 2) + m * n));
  calls++;
  return true;
}

/** heap[at + r·n + j] = row[j] for r < m: one copy of the row, then copies of what is filled, doubling. */
function fillRows(heap: Float32Array, at: number, row: Float32Array, m: number, n: number): void {
  heap.set(row.subarray(0, n), at);
  const size = m * n;
  for (let filled = n; filled < size; filled *= 2)
    heap.copyWithin(at + filled, at, at + Math.min(filled, size - filled));
}
