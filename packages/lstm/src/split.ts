/**
 * Cutting one tensor into many pieces, and joining many into one, with O(size) backward passes; and
 * `multiOutput`, the mechanism behind them, which records any op with several outputs.
 *
 * Why not autograd's `split`: it is a list of `narrow`s, and each narrow's VJP zero-pads its gradient back to
 * the full size, so cutting a [T, B, k] input projection into T steps costs O(T²·B·k) in backward (T full-size
 * pads and T full-size sums). Here the pieces are the outputs of one op (see `multiOutput`), whose VJP joins
 * their gradients with one `cat` (zeros for pieces the loss did not reach). The VJPs are written with tensor
 * ops, so gradients of gradients still work.
 */
import {
  add,
  cat,
  currentBackwardPass,
  customOp,
  isGradEnabled,
  reshape,
  Tensor,
  zeros,
} from '@tensorloom/autograd';

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
 * hands each input a zero-copy slice of the gradient (or nothing, for an all-zero slice).
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
    // A plain backward hands each input its slice as a view, or nothing where the slice is all zeros (a
    // loss on the last step alone gives every other step a zero gradient, which would only be added and
    // multiplied through). Finding a non-zero usually takes one read; a zero slice costs one pass.
    backward: (g) =>
      isGradEnabled() ? unbind(g) : unbind(g).map((piece) => (allZero(piece.data) ? null : piece)),
  });
  return op(...xs);
}

function allZero(x: ArrayLike<number>): boolean {
  for (let i = 0; i < x.length; i++) if (x[i] !== 0) return false;
  return true;
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
  return multiOutput(
    'splitParts',
    [x],
    sizes.map((_, k) => cut(k)),
    (grads) => {
      const joined = dim === 0 ? adjacentViews(grads, x) : null;
      if (joined) return [joined];
      const parts = sizes.map((s, k) => {
        const g = grads[k];
        const full = x.shape.map((n, d) => (d === dim ? s : n));
        return g ? reshape(g, full) : zeros(full, { dtype: x.dtype });
      });
      return [cat(parts, dim)];
    },
  );
}

/**
 * When every piece's gradient is, in order, an adjacent view of one buffer (a fused VJP wrote them into one
 * block, see fused.ts's `RecurrentProduct`), that block is the joined gradient: returned without a copy.
 * Only for plain backward passes (recorded ones must record the join).
 */
function adjacentViews(grads: ReadonlyArray<Tensor | null>, x: Tensor): Tensor | null {
  const first = grads[0]?.data;
  if (!first || isGradEnabled()) return null;
  let offset = first.byteOffset;
  for (const g of grads) {
    if (!g || g.data.buffer !== first.buffer || g.data.byteOffset !== offset) return null;
    offset += g.data.byteLength;
  }
  const data =
    first instanceof Float64Array
      ? new Float64Array(first.buffer, first.byteOffset, x.size)
      : new Float32Array(first.buffer, first.byteOffset, x.size);
  return new Tensor(data, x.shape);
}

/**
 * Records an op with several outputs (the engine's nodes have one). `outputs` were computed by the caller
 * from `inputs`; `backward` receives one gradient per output (null where the loss did not reach it) and
 * returns one per input. Returns the outputs, recorded when some input requires grad and grad mode is on.
 *
 * How: a hidden shared node reads the inputs, and each output hangs off it. An output's VJP only files its
 * gradient (the first to run also passes a one-element zero on, so that the shared node is reached); the
 * shared node's VJP, which the engine runs after every output's (it is their common input), calls `backward`
 * with everything filed. With `createGraph`, the filed gradients are recorded tensors, so `backward` written
 * with tensor ops gives differentiable gradients.
 */
export function multiOutput(
  name: string,
  inputs: readonly Tensor[],
  outputs: readonly Tensor[],
  backward: (grads: ReadonlyArray<Tensor | null>) => ReadonlyArray<Tensor | null>,
): Tensor[] {
  if (!isGradEnabled() || !inputs.some((t) => t.requiresGrad)) return [...outputs];
  const dtype = inputs[0]!.dtype;
  const filed: Array<Tensor | null> = outputs.map(() => null);
  let seeded = false;
  // The pass the filed gradients belong to: a pass that stopped early (an exception) must not leak into the next.
  let pass = -1;
  const enterPass = () => {
    if (currentBackwardPass() === pass) return;
    pass = currentBackwardPass();
    filed.fill(null);
    seeded = false;
  };
  const shared = customOp(name, {
    forward: () => zeros([1], { dtype }),
    backward: () => {
      enterPass();
      const grads = filed.slice();
      filed.fill(null);
      pass = -1;
      return backward(grads);
    },
  })(...inputs);
  return outputs.map((out, k) =>
    customOp(`${name}.output`, {
      forward: () => out,
      backward: (g) => {
        enterPass();
        const prev = filed[k];
        filed[k] = prev ? add(prev, g) : g;
        // One zero per pass is enough to put the shared node on the engine's path.
        if (seeded) return [null];
        seeded = true;
        return [zeros([1], { dtype })];
      },
    })(shared),
  );
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
