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

/**
 * The terms of a deferred sum: one product's pair (X, Y), or two sums joined, in order. Joining two sums is
 * one node, not a copy of their lists, so collecting T terms costs O(T); the pairs are listed, left to
 * right, when the sum is computed.
 */
type Terms = { readonly x: Tensor; readonly y: Tensor } | { readonly left: Terms; readonly right: Terms };

const terms = new WeakMap<Tensor, Terms>();

/** Xᵀ·Y for X [k, m], Y [k, n], computed when read; further terms can join it (`sumOfProducts`). */
export function deferredProduct(x: Tensor, y: Tensor): Tensor {
  return fromTerms({ x, y }, x.shape[1]!, y.shape[1]!, x.dtype);
}

/** a + b as one deferred product when both are deferred products of one shape and dtype, else null. */
export function sumOfProducts(a: Tensor, b: Tensor): Tensor | null {
  const ta = a.pending ? terms.get(a) : undefined;
  const tb = b.pending ? terms.get(b) : undefined;
  if (!ta || !tb || a.dtype !== b.dtype || a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1]) {
    return null;
  }
  return fromTerms({ left: ta, right: tb }, a.shape[0]!, a.shape[1]!, a.dtype);
}

function fromTerms(joined: Terms, m: number, n: number, dtype: Tensor['dtype']): Tensor {
  const t = new Tensor(
    null,
    [m, n],
    deferredNode('sumOfProducts', () => {
      // Computed: no term can join any more, and the terms (every step's X_t and Y_t) are let go.
      terms.delete(t);
      return stackedProduct(pairsOf(joined), m, n);
    }),
    dtype,
  );
  terms.set(t, joined);
  return t;
}

/** The pairs of `joined`, left to right (with a stack of its own: a sum of T terms is T deep). */
function pairsOf(joined: Terms): Array<readonly [Tensor, Tensor]> {
  const pairs: Array<readonly [Tensor, Tensor]> = [];
  const stack: Terms[] = [joined];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if ('x' in node) pairs.push([node.x, node.y]);
    else stack.push(node.right, node.left);
  }
  return pairs;
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
