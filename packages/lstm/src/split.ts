/**
 * Cutting one tensor into many pieces, and joining many into one, with O(size) backward passes.
 *
 * Why not autograd's `split`: it is a list of `narrow`s, and each narrow's VJP zero-pads its gradient back to
 * the full size, so cutting a [T, B, k] input projection into T steps costs O(T²·B·k) in backward (T full-size
 * pads and T full-size sums). Here every piece hangs off one shared node: a piece's VJP only files its gradient
 * (the first to run also passes a one-element zero on, so that the shared node is reached), and the shared
 * node's VJP, which the engine runs after all pieces (it is their common input), joins the filed gradients
 * with one `cat` (zeros for pieces the loss did not reach). The VJPs are written with tensor ops, so
 * gradients of gradients still work.
 */
import { add, cat, customOp, isGradEnabled, reshape, Tensor, zeros } from '@tensorloom/autograd';

/** Cuts `x` along `dim` into pieces of the given sizes (like `split(x, sizes, dim)`), with an O(size) backward. */
export function splitParts(x: Tensor, sizes: readonly number[], dim: number): Tensor[] {
  return cutParts(x, sizes, dim, false);
}

/** The slices x[i] along dim 0, each without that dim (like `torch.unbind`), with an O(size) backward. */
export function unbind(x: Tensor): Tensor[] {
  return cutParts(x, new Array<number>(x.shape[0]!).fill(1), 0, true);
}

/**
 * Stacks equal-shape tensors along a new dim 0 (like `stack(xs, 0)`): one copy forward, and a backward that
 * hands each input a zero-copy slice of the gradient.
 */
export function stackSteps(xs: readonly Tensor[]): Tensor {
  if (xs.length === 0) throw new Error('stackSteps: expected at least one tensor');
  const first = xs[0]!;
  for (const t of xs) {
    if (t.shape.join() !== first.shape.join() || t.dtype !== first.dtype) {
      throw new Error(
        `stackSteps: all tensors must have one shape and dtype, got [${first.shape}] ${first.dtype} and [${t.shape}] ${t.dtype}`,
      );
    }
  }
  const op = customOp('stackSteps', {
    forward: (...ts) => {
      const n = first.size;
      const out = zeros([ts.length, ...first.shape], { dtype: first.dtype });
      ts.forEach((t, i) => {
        out.data.set(t.data, i * n);
      });
      return out;
    },
    backward: (g) => unbind(g),
  });
  return op(...xs);
}

function cutParts(x: Tensor, sizes: readonly number[], dim: number, dropDim: boolean): Tensor[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  if (dim < 0 || dim >= x.ndim || total !== x.shape[dim]) {
    throw new Error(
      `splitParts: sizes [${sizes}] do not add up to dim ${dim} of shape [${x.shape}] (expected ${x.shape[dim]})`,
    );
  }
  const starts: number[] = [];
  let at = 0;
  for (const s of sizes) {
    starts.push(at);
    at += s;
  }
  const shapeOf = (k: number): number[] =>
    dropDim ? x.shape.filter((_, d) => d !== dim) : x.shape.map((n, d) => (d === dim ? sizes[k]! : n));
  const cut = (k: number): Tensor => copyPart(x, dim, starts[k]!, sizes[k]!, shapeOf(k));
  if (sizes.length === 1) return [dropDim ? reshape(x, shapeOf(0)) : x];
  if (!isGradEnabled() || !x.requiresGrad) return sizes.map((_, k) => cut(k));

  const filed: Array<Tensor | undefined> = new Array(sizes.length);
  let seeded = false;
  const join = customOp('splitParts', {
    forward: () => zeros([1], { dtype: x.dtype }),
    backward: () => {
      const parts = sizes.map((s, k) => {
        const g = filed[k];
        const full = x.shape.map((n, d) => (d === dim ? s : n));
        return g ? reshape(g, full) : zeros(full, { dtype: x.dtype });
      });
      filed.fill(undefined);
      seeded = false;
      return [cat(parts, dim)];
    },
  });
  const token = join(x);
  // One op for all pieces (fewer closures kept alive by the graph); the VJP finds its piece by its output.
  const index = new Map<Tensor, number>();
  let current = 0;
  const piece = customOp('splitParts.piece', {
    forward: () => cut(current),
    backward: (g, _inputs, output) => {
      const k = index.get(output)!;
      const prev = filed[k];
      filed[k] = prev ? add(prev, g) : g;
      // One zero per pass is enough to put the shared node on the engine's path.
      if (seeded) return [null];
      seeded = true;
      return [zeros([1], { dtype: x.dtype })];
    },
  });
  return sizes.map((_, k) => {
    current = k;
    const p = piece(token);
    index.set(p, k);
    return p;
  });
}

/**
 * The block start … start+length−1 of `x` along `dim`, not recorded. Along dim 0 it is a zero-copy view of
 * the contiguous storage (tensors are immutable by convention, and `reshape`/`detach` share storage the same
 * way); along other dims the rows of the block are copied.
 */
function copyPart(x: Tensor, dim: number, start: number, length: number, shape: readonly number[]): Tensor {
  let inner = 1;
  for (let d = dim + 1; d < x.ndim; d++) inner *= x.shape[d]!;
  const n = x.shape[dim]!;
  if (dim === 0) return new Tensor(x.data.subarray(start * inner, (start + length) * inner), shape);
  const outer = x.size / (n * inner);
  const block = length * inner;
  const out = zeros(shape, { dtype: x.dtype });
  for (let o = 0; o < outer; o++) {
    const from = (o * n + start) * inner;
    out.data.set(x.data.subarray(from, from + block), o * block);
  }
  return out;
}
