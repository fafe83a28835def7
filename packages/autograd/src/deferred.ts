/**
 * Deferred sums of products. A weight W that a loop multiplies by at every step (h_t·Wᵀ) receives one
 * gradient term per step, ∂W = Σ_t X_tᵀ·Y_t. Formed one at a time, that is T thin products (K = the batch
 * rows of one step) and T additions of a full-size matrix. Deferred, the engine collects the terms as they
 * arrive and the sum is formed when first read, as one product over the stacked rows:
 *
 *   Σ_t X_tᵀ·Y_t = [X_1; …; X_T]ᵀ · [Y_1; …; Y_T]      (K = T·batch: one long, efficient GEMM)
 *
 * Any op's gradient of this form qualifies (gemm's and linear's weight gradients), for any cell; so does a
 * bias's, Σ over the rows of Y = 1ᵀ·Y.
 */
import { allocate, type TypedArray } from './dtype.ts';
import { matmul as matmulKernel } from './kernels/matmul.ts';
import { wasmGemmStacked } from './kernels/wasm/gemm.ts';
import { deferredNode } from './lazy.ts';
import { shapesEqual } from './shape.ts';
import { Tensor } from './tensor.ts';

const terms = new WeakMap<Tensor, ReadonlyArray<readonly [Tensor, Tensor]>>();

/** Xᵀ·Y for X [k, m], Y [k, n], computed when read; further terms can join it (`sumOfProducts`). */
export function deferredProduct(x: Tensor, y: Tensor): Tensor {
  return fromTerms([[x, y]]);
}

/** Σ over the rows of y [k, n] (a bias's gradient), [n], computed when read as 1ᵀ·Y; joins like a product. */
export function deferredRowSum(y: Tensor): Tensor {
  const ones = new Tensor(allocate(y.dtype, y.shape[0]!).fill(1), [y.shape[0]!, 1]);
  return fromTerms([[ones, y]], [y.shape[1]!]);
}

/** a + b as one deferred product when both are deferred products of one shape and dtype, else null. */
export function sumOfProducts(a: Tensor, b: Tensor): Tensor | null {
  const ta = a.pending ? terms.get(a) : undefined;
  const tb = b.pending ? terms.get(b) : undefined;
  if (!ta || !tb || a.dtype !== b.dtype || !shapesEqual(a.shape, b.shape)) return null;
  return fromTerms([...ta, ...tb], a.shape);
}

function fromTerms(list: ReadonlyArray<readonly [Tensor, Tensor]>, shape?: readonly number[]): Tensor {
  const [x0, y0] = list[0]!;
  const m = x0.shape[1]!;
  const n = y0.shape[1]!;
  const t = new Tensor(
    null,
    shape ?? [m, n],
    deferredNode(() => stackedProduct(list, m, n)),
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
