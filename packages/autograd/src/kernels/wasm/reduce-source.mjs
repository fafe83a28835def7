/**
 * AssemblyScript source of the float32 axis sum (f32x4 SIMD), compiled into the same module as the GEMM
 * (see source.mjs). The JavaScript `reduceAxis` (kernels/reduce.ts) is its reference: each
 * output is summed over k in the same order, rounding to float32 after every addition as the JavaScript
 * kernel's float32 stores do, so the two agree bit for bit. Four adjacent outputs share one vector.
 */
export const reduceKernelSource = `
// ---- axis sum (reduce-source.mjs) ----

/** out[o, i] = Σ_k x[o, k, i] for a row-major x [outer, n, inner]; k runs in order. */
export function sumAxis(x: usize, outer: i32, n: i32, inner: i32, out: usize): void {
  const vectorEnd = inner & ~3;
  const rowBytes = <usize>inner << 2;
  for (let o = 0; o < outer; o++) {
    const dst = out + <usize>o * rowBytes;
    for (let i = 0; i < inner; i++) store<f32>(dst + (<usize>i << 2), 0);
    let row = x + <usize>o * <usize>n * rowBytes;
    for (let k = 0; k < n; k++) {
      let i = 0;
      for (; i < vectorEnd; i += 4) {
        const at = <usize>i << 2;
        v128.store(dst + at, f32x4.add(v128.load(dst + at), v128.load(row + at)));
      }
      for (; i < inner; i++) {
        const at = <usize>i << 2;
        store<f32>(dst + at, load<f32>(dst + at) + load<f32>(row + at));
      }
      row += rowBytes;
    }
  }
}
`;
