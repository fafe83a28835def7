/**
 * C = op(A)·op(B) for row-major matrices, where op transposes when its flag is set. The flags let the
 * backward pass (which needs Aᵀ and Bᵀ) read operands in place instead of materialising transposes.
 * A is [M,K] (or [K,M] when transA), B is [K,N] (or [N,K] when transB), C is [M,N].
 * float32 products big enough to repay copying the operands go to the WebAssembly SIMD kernel
 * (kernels/wasm); everything else, and everything when that backend is off or unavailable, runs `matmulJs`,
 * which is also the reference the wasm kernel is tested against.
 */
import type { TypedArray } from '../dtype.ts';
import { wasmGemm } from './wasm/gemm.ts';

/**
 * Smallest M·N·K sent to wasm. Below it the fixed cost of a call (three subarray views and copies, the
 * packing set-up: about half a microsecond) is comparable to what the JavaScript loops take; measured
 * crossover near 4×4×4.
 */
export const WASM_MIN_WORK = 512;

/**
 * C = op(A)·op(B) (see the file comment), plus `bias` ([n]) on every row of C when given, dispatching
 * float32 work to WebAssembly when it pays.
 */
export function matmul(
  a: TypedArray,
  aOffset: number,
  b: TypedArray,
  bOffset: number,
  c: TypedArray,
  cOffset: number,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  bias: TypedArray | null = null,
): void {
  if (
    m * n * k >= WASM_MIN_WORK &&
    c instanceof Float32Array &&
    a instanceof Float32Array &&
    b instanceof Float32Array &&
    (bias === null || bias instanceof Float32Array) &&
    wasmGemm(a, aOffset, b, bOffset, c, cOffset, m, n, k, transA, transB, bias)
  ) {
    return;
  }
  matmulJs(a, aOffset, b, bOffset, c, cOffset, m, n, k, transA, transB);
  // The same rounding as a separate broadcast add: fl(product + b).
  if (bias !== null) {
    for (let r = cOffset; r < cOffset + m * n; r += n) for (let j = 0; j < n; j++) c[r + j]! += bias[j]!;
  }
}

/** The plain JavaScript kernel: loop orders keep the innermost loop on contiguous memory for each case. */
export function matmulJs(
  a: TypedArray,
  aOffset: number,
  b: TypedArray,
  bOffset: number,
  c: TypedArray,
  cOffset: number,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
): void {
  for (let i = 0; i < m * n; i++) c[cOffset + i] = 0;
  if (!transB) {
    // C[i,:] += A(i,p) · B[p,:] — rows of B and C are contiguous.
    for (let i = 0; i < m; i++) {
      const cRow = cOffset + i * n;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[aOffset + p * m + i]! : a[aOffset + i * k + p]!;
        const bRow = bOffset + p * n;
        for (let j = 0; j < n; j++) c[cRow + j]! += av * b[bRow + j]!;
      }
    }
  } else if (!transA) {
    // C[i,j] = A[i,:] · B[j,:] — both rows contiguous.
    for (let i = 0; i < m; i++) {
      const aRow = aOffset + i * k;
      for (let j = 0; j < n; j++) {
        const bRow = bOffset + j * k;
        let s = 0;
        for (let p = 0; p < k; p++) s += a[aRow + p]! * b[bRow + p]!;
        c[cOffset + i * n + j] = s;
      }
    }
  } else {
    // C[i,j] = Σp A[p,i] · B[j,p]: accumulate C[i,:] += A[p,i] · B[:,p] column by column of B.
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        const bRow = bOffset + j * k;
        for (let p = 0; p < k; p++) s += a[aOffset + p * m + i]! * b[bRow + p]!;
        c[cOffset + i * n + j] = s;
      }
    }
  }
}
