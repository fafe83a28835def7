/**
 * Deferred sums of products. A weight W that a loop multiplies by at every step (h_t·Wᵀ) receives one
 * gradient term per step, ∂W = Σ_t X_tᵀ·Y_t. Formed one at a time, that is T thin products (K = the batch
 * rows of one step) and T additions of a full-size matrix. Deferred, the engine collects the terms as they
 * arrive and the sum is formed when first read, as one product over the stacked rows:
 *
 *   Σ_t X_tᵀ·Y_t = [X_1; …; X_T]ᵀ · [Y_1; …; Y_T]      (K = T·batch: one long, efficient GEMM)
 *
 * Any op's gradient of this form qualifies (gemm's and linear's weight gradients), for any cell.
 */
import { allocate, type TypedArray } from './dtype.ts';
import { matmul as matmulKernel } from './kernels/matmul.ts';
import { wasmGemmStacked } from './kernels/wasm/gemm.ts';
import { deferredNode } from './lazy.ts';
import { Tensor } from './tensor.ts';

const terms = new WeakMap<Tensor, ReadonlyArray<readonly [Tensor, Tensor]>>();

/** Xᵀ·Y for X [k, m], Y [k, n], computed when read; further terms can join it (`sumOfProducts`). */
export function deferredProduct(x: Tensor, y: Tensor): Tensor {
  return fromTerms([[x, y]]);
}

/** a + b as one deferred product when both are deferred products of one shape and dtype, else null. */
export function sumOfProducts(a: Tensor, b: Tensor): Tensor | null {
  const ta = a.pending ? terms.get(a) : undefined;
  const tb = b.pending ? terms.get(b) : undefined;
  if (!ta || !tb || a.dtype !== b.dtype || a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1]) {
    return null;
  }
  return fromTerms([...ta, ...tb]);
}

function fromTerms(list: ReadonlyArray<readonly [Tensor, Tensor]>): Tensor {
  const [x0, y0] = list[0]!;
  const m = x0.shape[1]!;
  const n = y0.shape[1]!;
  const t = new Tensor(
    null,
    [m, n],
    deferredNode(() => {
      // Computed: no term can join any more, and the terms (every step's X_t and Y_t) are let go.
      terms.delete(t);
      return stackedProduct(list, m, n);
    }),
    x0.dtype,
  );
  terms.set(t, list);
  return t;
}

function stackedProduct(list: ReadonlyArray<readonly [Tensor, Tensor]>, m: number, n: number): TypedArray {
  const dtype = list[0]![0].dtype;
  const out = allocate(dtype, m * n);
  if (list.length === 1) {
    const [x, y] = list[0]!;
    matmulKernel(x.data, 0, y.data, 0, out, 0, m, n, x.shape[0]!, true, false);
    return out;
  }
  let k = 0;
  for (const [x] of list) k += x.shape[0]!;
  if (out instanceof Float32Array) {
    const xs = list.map(([x]) => x.data as Float32Array);
    const ys = list.map(([, y]) => y.data as Float32Array);
    if (wasmGemmStacked(xs, ys, out, m, n, k)) return out;
  }
  const xs = allocate(dtype, k * m);
  const ys = allocate(dtype, k * n);
  let row = 0;
  for (const [x, y] of list) {
    xs.set(x.data, row * m);
    ys.set(y.data, row * n);
    row += x.shape[0]!;
  }
  matmulKernel(xs, 0, ys, 0, out, 0, m, n, k, true, false);
  return out;
}
