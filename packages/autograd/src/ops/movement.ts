/**
 * Shape and data movement: views of the same elements in another shape or order, slices, joins and
 * indexed reads/writes. Each gradient moves g back the way the data came: a permutation's VJP is the
 * inverse permutation, a slice's is zero padding, a gather's is a scatter-add, broadcasting's is a sum.
 */
import { allocate, checkDtype, type DType, type TypedArray, toInt32Array } from '../dtype.ts';
import { type GradOffer, isGradEnabled, record, recordMulti } from '../engine.ts';
import { expand, narrowInto, narrow as narrowKernel, permute as permuteKernel } from '../kernels/strided.ts';
import {
  computeInto,
  deferredNode,
  isFused,
  isFusionEnabled,
  pendingNode,
  realize,
  realizeInto,
} from '../lazy.ts';
import {
  broadcastShapes,
  checkShape,
  fmt,
  normalizeDim,
  type Shape,
  shapesEqual,
  sizeOf,
  stridesOf,
} from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { zeros } from './creation.ts';
import { checkTensor, empty } from './helpers.ts';
import { sum } from './reduce.ts';

/**
 * Integer indices: a plain array, an Int32Array, or a tensor: int32 (exact for any id), or float holding whole
 * numbers (exact below 2^24 in float32), accepted as before int32 existed.
 */
export type IndexLike = readonly number[] | Int32Array | Tensor;

/**
 * Reads and validates indices into a dimension of size `bound` (`what` names the argument in errors).
 * Negative indices are not accepted. An index tensor is only read: it receives no gradient.
 */
function toIndices(op: string, index: IndexLike, bound: number, what = 'index'): Int32Array {
  const values: ArrayLike<number> = index instanceof Tensor ? index.data : index;
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= bound) {
      throw new Error(
        `${op}: ${what} ${v} at position ${i} is ${Number.isInteger(v) ? 'out of range' : 'not an integer'} for a dimension of size ${bound} (expected an integer in [0, ${bound - 1}])`,
      );
    }
    out[i] = v;
  }
  return out;
}

/**
 * A pending view of x's elements (lazy.ts): input dim j is read at output dim `map[2j]` (−1: a fixed index)
 * plus offset `map[2j + 1]`. Consumers read through it without a copy; reading it alone copies once. With
 * fusion off, or for int32 (fused kernels are float32 or float64), `copy` makes the elements at once.
 */
function view(x: Tensor, shape: Shape, map: readonly number[], copy: (y: Tensor) => void): Tensor {
  if (isFusionEnabled() && x.dtype !== 'int32')
    return new Tensor(null, shape, pendingNode('view', [x], map), x.dtype);
  const y = empty(shape, x.dtype);
  copy(y);
  return y;
}

/** The same elements in a new shape (one entry may be −1, inferred). Shares storage with x. ∂: reshape back. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  checkTensor('reshape', x);
  const target = [...shape];
  const free = target.indexOf(-1);
  if (free !== -1) {
    const known = sizeOf(target.filter((_, i) => i !== free));
    if (target.indexOf(-1, free + 1) !== -1 || known === 0 || x.size % known !== 0) {
      throw new Error(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)}`);
    }
    target[free] = x.size / known;
  }
  checkShape('reshape', target);
  if (sizeOf(target) !== x.size) {
    throw new Error(
      `reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)} (${sizeOf(target)} elements)`,
    );
  }
  if (shapesEqual(target, x.shape)) return x;
  const y = isFused(x) ? unitDimsView(x, target) : null;
  return record('reshape', [x], y ?? new Tensor(x.data, target).shareVersion(x), (g) => [
    reshape(g, x.shape),
  ]);
}

/**
 * A reshape of pending x that only inserts or removes dims of size 1 (a kept dim of a sum dropped, say), as a
 * pending view, so that x is not computed to be reshaped; null for any other reshape.
 */
function unitDimsView(x: Tensor, shape: Shape): Tensor | null {
  const kept = shape.flatMap((n, d) => (n === 1 ? [] : [d]));
  const map: number[] = [];
  let k = 0;
  for (const n of x.shape) {
    if (n === 1) map.push(-1, 0);
    else if (shape[kept[k]!] === n) map.push(kept[k++]!, 0);
    else return null;
  }
  return k === kept.length ? view(x, shape, map, (y) => y.data.set(x.data)) : null;
}

/** Flattens dims startDim..endDim into one. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  checkTensor('flatten', x);
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeDim('flatten', startDim, x.ndim);
  const e = normalizeDim('flatten', endDim, x.ndim);
  if (s > e)
    throw new Error(`flatten: startDim ${startDim} comes after endDim ${endDim} for shape ${fmt(x.shape)}`);
  return reshape(x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

/** Inserts a size-1 dimension at `dim`. */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  checkTensor('unsqueeze', x);
  const d = normalizeDim('unsqueeze', dim, x.ndim + 1);
  return reshape(x, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}

/** Removes size-1 dimensions: all of them, or only `dim` (a no-op if that dim is not 1, as PyTorch). */
export function squeeze(x: Tensor, dim?: number): Tensor {
  checkTensor('squeeze', x);
  if (dim === undefined)
    return reshape(
      x,
      x.shape.filter((n) => n !== 1),
    );
  const d = normalizeDim('squeeze', dim, x.ndim);
  return x.shape[d] === 1
    ? reshape(
        x,
        x.shape.filter((_, i) => i !== d),
      )
    : x;
}

/** Removes the given size-1 dims. */
export function squeezeDims(x: Tensor, dims: readonly number[]): Tensor {
  return reshape(
    x,
    x.shape.filter((_, d) => !dims.includes(d)),
  );
}

/** Reorders dimensions: output dim i is input dim dims[i].  ∂: permute by the inverse. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  checkTensor('permute', x);
  const perm = dims.map((d) => normalizeDim('permute', d, x.ndim));
  if (perm.length !== x.ndim || new Set(perm).size !== perm.length) {
    throw new Error(`permute: [${dims}] is not a permutation of the ${x.ndim} dims of ${fmt(x.shape)}`);
  }
  if (perm.every((p, i) => p === i)) return x;
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inverse[p] = i;
  });
  const y = view(
    x,
    perm.map((p) => x.shape[p]!),
    inverse.flatMap((i) => [i, 0]),
    (out) => permuteKernel(x.data, x.shape, perm, out.data),
  );
  return record('permute', [x], y, (g) => [permute(g, inverse)]);
}

/** Swaps two dimensions. */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  checkTensor('transpose', x);
  const a = normalizeDim('transpose', dim0, x.ndim);
  const b = normalizeDim('transpose', dim1, x.ndim);
  const perm = x.shape.map((_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/** Repeats x along broadcast dimensions to `shape` (NumPy rules).  ∂: sum g back to x's shape. */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  checkTensor('broadcastTo', x);
  checkShape('broadcastTo', shape);
  if (shapesEqual(x.shape, shape)) return x;
  const target = broadcastShapes('broadcastTo', x.shape, shape);
  if (!shapesEqual(target, shape))
    throw new Error(`broadcastTo: cannot broadcast ${fmt(x.shape)} to ${fmt(shape)}`);
  const lead = shape.length - x.ndim;
  const y = view(
    x,
    shape,
    x.shape.flatMap((n, j) => (n === 1 && shape[j + lead] !== 1 ? [-1, 0] : [j + lead, 0])),
    (out) => expand(x.data, x.shape, shape, out.data),
  );
  return record('broadcastTo', [x], y, (g) => [sumTo(g, x.shape)]);
}

/**
 * Sums x down to `shape`, the inverse of broadcasting: leading dims are summed away and dims where `shape`
 * has 1 are summed with keepdim. Composite (sum + reshape), so its gradient is broadcastTo.
 */
export function sumTo(x: Tensor, shape: Shape): Tensor {
  if (shapesEqual(x.shape, shape)) return x;
  const lead = x.ndim - shape.length;
  const dims: number[] = [];
  x.shape.forEach((n, d) => {
    if (d < lead || (shape[d - lead] === 1 && n !== 1)) dims.push(d);
  });
  if (lead < 0 || shape.some((n, i) => n !== 1 && n !== x.shape[i + lead])) {
    throw new Error(`sumTo: cannot sum ${fmt(x.shape)} down to ${fmt(shape)}`);
  }
  return reshape(sum(x, dims, true), shape);
}

/** Elements start … start+length−1 along `dim`.  ∂: g zero-padded back to x's extent. */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  checkTensor('narrow', x);
  const d = normalizeDim('narrow', dim, x.ndim);
  const n = x.shape[d]!;
  if (
    !Number.isInteger(start) ||
    !Number.isInteger(length) ||
    start < 0 ||
    length < 0 ||
    start + length > n
  ) {
    throw new Error(
      `narrow: start ${start} and length ${length} exceed dim ${d} of size ${n} in shape ${fmt(x.shape)}`,
    );
  }
  if (start === 0 && length === n) return x;
  const y = piece(x, d, start, length);
  return record('narrow', [x], y, (g) => [zeroPad(g, d, start, n - start - length)]);
}

/** Rows start … start+length−1 of a computed tensor, sharing its storage, as a tensor of `shape`. */
function rows(x: Tensor, start: number, length: number, shape: Shape): Tensor {
  const row = sizeOf(x.shape.slice(1));
  return new Tensor(x.data.subarray(start * row, (start + length) * row), shape).shareVersion(x);
}

/**
 * Elements start … start+length−1 along `d`, unrecorded: rows of a computed tensor (d = 0) share its
 * storage, other pieces are views while fusion is on, else copies.
 */
function piece(x: Tensor, d: number, start: number, length: number): Tensor {
  const shape = x.shape.map((s, i) => (i === d ? length : s));
  if (d === 0 && x.isRealized) return rows(x, start, length, shape);
  const inPart = pieceOfPart(x, d, start, length, shape);
  if (inPart) return inPart;
  return view(
    x,
    shape,
    x.shape.flatMap((_, j) => [j, j === d ? start : 0]),
    (out) => narrowKernel(x.data, x.shape, d, start, length, out.data),
  );
}

/** Python-style slice x[start:end] along `dim`: negative indices count from the end, bounds are clamped. */
export function slice(x: Tensor, dim: number, start = 0, end?: number): Tensor {
  checkTensor('slice', x);
  const d = normalizeDim('slice', dim, x.ndim);
  if (!Number.isInteger(start) || (end !== undefined && !Number.isInteger(end))) {
    throw new Error(`slice: start and end must be integers, got start=${start}, end=${end}`);
  }
  const n = x.shape[d]!;
  const resolve = (i: number) => Math.min(n, Math.max(0, i < 0 ? i + n : i));
  const s = resolve(start);
  const e = resolve(end ?? n);
  return narrow(x, d, s, Math.max(0, e - s));
}

/**
 * Adds `before` and `after` zeros along `dim`, computed when read.  ∂: narrow g back to the original extent.
 * The gradient of `narrow` is a zero padding, and a join's VJP reads it by parts without computing it (see
 * `gradSlice`).
 */
export function zeroPad(x: Tensor, dim: number, before: number, after: number): Tensor {
  checkTensor('zeroPad', x);
  const d = normalizeDim('zeroPad', dim, x.ndim);
  if (!Number.isInteger(before) || !Number.isInteger(after) || before < 0 || after < 0) {
    throw new Error(`zeroPad: padding must be integers >= 0, got before=${before}, after=${after}`);
  }
  if (before === 0 && after === 0) return x;
  const n = x.shape[d]!;
  const shape = x.shape.map((s, i) => (i === d ? before + s + after : s));
  const pad = (into: TypedArray | null) => {
    const out = into?.fill(0) ?? allocate(x.dtype, sizeOf(shape));
    narrowInto(x.data, shape, d, before, out);
    return out;
  };
  const y = new Tensor(null, shape, deferredNode('zeroPad', pad, [x]), x.dtype);
  padded.set(y, { source: x, dim: d, before });
  return record('zeroPad', [x], y, (g) => [narrow(g, d, before, n)]);
}

/** Each zero padding's source, and where along which dim it lies (see `gradSlice`). */
const padded = new WeakMap<Tensor, { source: Tensor; dim: number; before: number }>();

/**
 * Elements [start, start + length) of g along d, as a join's VJP gives a part its gradient. When g is a zero
 * padding (`narrow`'s gradient: the loss read one step of a stacked sequence), a part inside the padding gets
 * no gradient at all (null), so backward skips what computed it, and a part inside the source reads the
 * source; the padding itself is never computed.
 */
function gradSlice(g: Tensor, d: number, start: number, length: number): Tensor | null {
  const pad = padded.get(g);
  if (pad === undefined || pad.dim !== d) return narrow(g, d, start, length);
  const from = start - pad.before;
  const n = pad.source.shape[d]!;
  if (from + length <= 0 || from >= n) return null;
  if (from < 0 || from + length > n) return narrow(g, d, start, length);
  return narrow(pad.source, d, from, length);
}

/** A pending join's parts: where each starts along `dim`, and whether each is a slice of it (`stack`). */
interface Join {
  parts: readonly Tensor[];
  dim: number;
  starts: readonly number[];
  stacked: boolean;
}
const joins = new WeakMap<Tensor, Join>();

/**
 * Pending parts of a join are computed a few per kernel. A kernel over all of them (the 50 steps' outputs of
 * an SRU, each read from three arrays) reads and writes some 150 arrays at once, more streams than the
 * memory system follows well; a kernel per part pays its fixed cost at every part. Four keeps the four gate
 * gradients of one step (a cat that shares their terms) in one kernel.
 */
const PARTS_PER_KERNEL = 4;

/**
 * The parts laid side by side along d (`stacked`: each as one slice, a new dim): each part is computed (a
 * pending one fused with what produced it) or copied straight into its place. Parts all pending: so is the
 * result, computed when read, where it is asked to go (`computeInto`); a piece of it within one part reads
 * that part (`piece`), so a loss that reads the last step of a stacked sequence never computes the rest.
 */
function join(parts: readonly Tensor[], d: number, shape: Shape, starts: number[], stacked: boolean): Tensor {
  const dtype = parts[0]!.dtype;
  const strides = stridesOf(shape);
  const partStrides = stacked ? strides.filter((_, j) => j !== d) : strides;
  const pieces = (data: TypedArray) =>
    parts.map((t, i) => ({
      tensor: t,
      into: { data, offset: starts[i]! * strides[d]!, strides: partStrides },
    }));
  const place = (data: TypedArray) => {
    const all = pieces(data);
    for (let i = 0; i < all.length; i += PARTS_PER_KERNEL) realizeInto(all.slice(i, i + PARTS_PER_KERNEL));
    return data;
  };
  if (!parts.every(isFused)) return new Tensor(place(allocate(dtype, sizeOf(shape))), shape);
  const y = new Tensor(
    null,
    shape,
    deferredNode(
      stacked ? 'stack' : 'cat',
      (into) => place(into ?? allocate(dtype, sizeOf(shape))),
      parts,
      pieces,
    ),
    dtype,
  );
  joins.set(y, { parts, dim: d, starts, stacked });
  return y;
}

/**
 * Elements start … start+length−1 along d of a pending join, read from the one part they lie in (see
 * `join`); null when they span several parts or x is no pending join.
 */
function pieceOfPart(x: Tensor, d: number, start: number, length: number, shape: Shape): Tensor | null {
  const j = joins.get(x);
  if (j === undefined || !x.pending || j.dim !== d || length === 0) return null;
  let i = j.starts.length - 1;
  while (i > 0 && j.starts[i]! > start) i--;
  const part = j.parts[i]!;
  const from = start - j.starts[i]!;
  if (!j.stacked) return from + length <= part.shape[d]! ? piece(part, d, from, length) : null;
  if (length !== 1) return null;
  // The part as a slice of shape [..., 1, ...]: its dims are the output's, skipping d.
  const map = part.shape.flatMap((_, k) => [k < d ? k : k + 1, 0]);
  return view(part, shape, map, (out) => out.data.set(part.data));
}

/** Joins tensors along an existing `dim`.  ∂: each input gets its own slice of g. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error('cat: expected at least one tensor');
  tensors.forEach((t, i) => {
    checkTensor('cat', t, `tensor ${i}`);
  });
  const first = tensors[0]!;
  const d = normalizeDim('cat', dim, first.ndim);
  for (const t of tensors) {
    const agrees = t.ndim === first.ndim && t.shape.every((n, i) => i === d || n === first.shape[i]);
    if (!agrees || t.dtype !== first.dtype) {
      throw new Error(
        `cat: tensors must agree except in dim ${d}: got ${tensors.map((x) => `${fmt(x.shape)} ${x.dtype}`).join(', ')}`,
      );
    }
  }
  const total = tensors.reduce((n, t) => n + t.shape[d]!, 0);
  const starts: number[] = [];
  let at = 0;
  for (const t of tensors) {
    starts.push(at);
    at += t.shape[d]!;
  }
  const y = join(
    tensors,
    d,
    first.shape.map((n, i) => (i === d ? total : n)),
    starts,
    false,
  );
  return record('cat', tensors, y, (g) =>
    tensors.map((t, i) => (t.requiresGrad ? gradSlice(g, d, starts[i]!, t.shape[d]!) : null)),
  );
}

/** Joins tensors of one shape along a new `dim`.  ∂: g unbound along `dim`, one slice per input. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error('stack: expected at least one tensor');
  const first = tensors[0]!;
  for (const t of tensors) {
    checkTensor('stack', t);
    if (!shapesEqual(t.shape, first.shape)) {
      throw new Error(
        `stack: all tensors must have one shape, got ${tensors.map((x) => fmt(x.shape)).join(', ')}`,
      );
    }
    if (t.dtype !== first.dtype) {
      throw new Error(
        `stack: dtype mismatch: ${tensors.map((x) => x.dtype).join(' vs ')}; convert with .to()`,
      );
    }
  }
  const d = normalizeDim('stack', dim, first.ndim + 1);
  const shape = [...first.shape];
  shape.splice(d, 0, tensors.length);
  const y = join(
    tensors,
    d,
    shape,
    tensors.map((_, i) => i),
    true,
  );
  return record('stack', tensors, y, (g) =>
    padded.has(g)
      ? tensors.map((t, i) => {
          const part = gradSlice(g, d, i, 1);
          return part && reshape(part, t.shape);
        })
      : unbind(g, d),
  );
}

/** Splits along `dim` into pieces of `splitSize` (the last may be smaller) or of the given sizes. */
export function split(x: Tensor, splitSize: number | readonly number[], dim = 0): Tensor[] {
  checkTensor('split', x);
  const d = normalizeDim('split', dim, x.ndim);
  const n = x.shape[d]!;
  let sizes: number[];
  if (typeof splitSize === 'number') {
    if (!Number.isInteger(splitSize) || splitSize <= 0)
      throw new Error(`split: splitSize must be a positive integer, got ${splitSize}`);
    sizes = [];
    for (let at = 0; at < n; at += splitSize) sizes.push(Math.min(splitSize, n - at));
  } else {
    sizes = [...splitSize];
    if (sizes.reduce((a, b) => a + b, 0) !== n || sizes.some((s) => !Number.isInteger(s) || s < 0)) {
      throw new Error(
        `split: sizes [${sizes}] do not add up to ${n}, the size of dim ${d} of ${fmt(x.shape)}`,
      );
    }
  }
  const starts: number[] = [];
  let at = 0;
  for (const s of sizes) {
    starts.push(at);
    at += s;
  }
  const parts = sizes.map((s, i) => piece(x, d, starts[i]!, s));
  // One node for all pieces: its VJP places each piece's gradient (zeros where none came) in one pass.
  const inPlace = d === 0 ? rowBlocks(x, starts) : null;
  recordMulti(
    'split',
    [x],
    parts,
    (grads) => [
      inPlace?.take(grads) ??
        cat(
          grads.map((g, i) => g ?? pendingZeros(parts[i]!.shape, x.dtype)),
          d,
        ),
    ],
    inPlace?.offer,
  );
  return parts;
}

/**
 * Zeros as a pending broadcast of one zero: a join of pending gradients with zeros where none came (the
 * gates of a step whose output the loss never read) stays one fused write, with no array of zeros made.
 */
function pendingZeros(shape: Shape, dtype: DType): Tensor {
  return broadcastTo(zeros([], { dtype }), shape);
}

/**
 * The slices along `dim`, each without that dim (PyTorch's `unbind`): x[0], x[1], … for dim 0, as one op.
 * ∂: the slices' gradients stacked back (zeros where none came).
 */
export function unbind(x: Tensor, dim = 0): Tensor[] {
  checkTensor('unbind', x);
  const d = normalizeDim('unbind', dim, x.ndim);
  const n = x.shape[d]!;
  const shape = x.shape.filter((_, j) => j !== d);
  const parts: Tensor[] = [];
  for (let i = 0; i < n; i++) {
    parts.push(
      d === 0 && x.isRealized
        ? rows(x, i, 1, shape)
        : view(
            x,
            shape,
            x.shape.flatMap((_, j) => (j === d ? [-1, i] : [j < d ? j : j - 1, 0])),
            (out) => narrowKernel(x.data, x.shape, d, i, 1, out.data),
          ),
    );
  }
  const inPlace = d === 0 ? rowBlocks(x, [...parts.keys()]) : null;
  recordMulti(
    'unbind',
    [x],
    parts,
    (grads) => [
      inPlace?.take(grads) ??
        stack(
          grads.map((g) => g ?? zeros(shape, { dtype: x.dtype })),
          d,
        ),
    ],
    inPlace?.offer,
  );
  return parts;
}

/**
 * The gradient of x's row blocks (the pieces of `unbind` or `split` along dim 0, which cover x: block i is
 * rows starts[i] up to the next block's start) assembled in place: each block's gradient, offered while still pending, is asked
 * to compute itself straight into its rows of one buffer of x's shape (`computeInto`), so that the join in
 * the VJP copies nothing (a recurrent cell's per-step gate gradients land in the sequence's gradient as they
 * are computed); one that arrived computed already is copied into its rows. `take` returns the buffer, or
 * null when a block holds something else than its gradient (then the VJP joins as usual); gradients
 * recorded for higher order are never taken.
 */
function rowBlocks(
  x: Tensor,
  starts: readonly number[],
): {
  offer: GradOffer;
  take: (grads: ReadonlyArray<Tensor | null>) => Tensor | null;
} {
  const n = x.shape[0]!;
  const rowSize = n === 0 ? 0 : x.size / n;
  let buffer: TypedArray | null = null;
  let views: Array<TypedArray | null> = [];
  return {
    offer: (i, g) => {
      // A block asked for already (a pass whose VJP never ran): a new buffer, leaving the old blocks to their owners.
      if (!buffer || views[i]) {
        buffer = allocate(x.dtype, x.size);
        views = new Array<TypedArray | null>(starts.length).fill(null);
      }
      const view = buffer.subarray(starts[i]! * rowSize, (starts[i + 1] ?? n) * rowSize);
      if (computeInto(g, view)) views[i] = view;
    },
    take: (grads) => {
      const data = buffer;
      const asked = views;
      buffer = null;
      views = [];
      if (!data || isGradEnabled()) return null;
      for (let i = 0; i < starts.length; i++) {
        const g = grads[i];
        const view = asked[i];
        // A block asked for must hold its gradient; one never asked for is free (zero until written).
        if (!g) {
          if (view) return null; // asked for by a pass whose VJP never ran
          continue;
        }
        if (!view) {
          // Computed before it arrived (a chain cut at its depth limit): copied into its rows, which are free.
          data.set(g.data, starts[i]! * rowSize);
          continue;
        }
        if (g.pending?.into === view) realize(g);
        if (g.pending || g.data !== view) return null;
      }
      return new Tensor(data, x.shape);
    },
  };
}

/** Splits along `dim` into `chunks` near-equal pieces (PyTorch: size ⌈n / chunks⌉ each). */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  checkTensor('chunk', x);
  if (!Number.isInteger(chunks) || chunks <= 0)
    throw new Error(`chunk: chunks must be a positive integer, got ${chunks}`);
  const d = normalizeDim('chunk', dim, x.ndim);
  return split(x, Math.max(1, Math.ceil(x.shape[d]! / chunks)), d);
}

/**
 * Rows (slices along `dim`) picked by `index`, in order, repeats allowed.  ∂: indexAdd of g into zeros
 * (the index gets none).
 */
export function indexSelect(x: Tensor, dim: number, index: IndexLike): Tensor {
  checkTensor('indexSelect', x);
  const d = normalizeDim('indexSelect', dim, x.ndim);
  const idx = toIndices('indexSelect', index, x.shape[d]!);
  const inner = sizeOf(x.shape.slice(d + 1));
  const outer = sizeOf(x.shape.slice(0, d));
  const n = x.shape[d]!;
  const y = empty(
    x.shape.map((s, i) => (i === d ? idx.length : s)),
    x.dtype,
  );
  const src = x.data;
  const out = y.data;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < idx.length; j++) {
      const from = (o * n + idx[j]!) * inner;
      const to = (o * idx.length + j) * inner;
      for (let i = 0; i < inner; i++) out[to + i] = src[from + i]!;
    }
  }
  return record('indexSelect', [x], y, (g) => [indexAdd(zeros(x.shape, { dtype: x.dtype }), d, idx, g)]);
}

/**
 * x with src's slices added at `index` along `dim` (repeated indices accumulate).
 * ∂/∂x = g, ∂/∂src = indexSelect(g, dim, index).
 */
export function indexAdd(x: Tensor, dim: number, index: IndexLike, src: Tensor): Tensor {
  checkTensor('indexAdd', x);
  checkTensor('indexAdd', src, 'src');
  const d = normalizeDim('indexAdd', dim, x.ndim);
  const idx = toIndices('indexAdd', index, x.shape[d]!);
  const expected = x.shape.map((s, i) => (i === d ? idx.length : s));
  if (!shapesEqual(src.shape, expected) || src.dtype !== x.dtype) {
    throw new Error(
      `indexAdd: src has shape ${fmt(src.shape)} (${src.dtype}), expected ${fmt(expected)} (${x.dtype})`,
    );
  }
  const inner = sizeOf(x.shape.slice(d + 1));
  const outer = sizeOf(x.shape.slice(0, d));
  const n = x.shape[d]!;
  const y = new Tensor(x.data.slice(), x.shape);
  const out = y.data;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < idx.length; j++) {
      const to = (o * n + idx[j]!) * inner;
      const from = (o * idx.length + j) * inner;
      for (let i = 0; i < inner; i++) out[to + i]! += src.data[from + i]!;
    }
  }
  return record('indexAdd', [x, src], y, (g) => [g, src.requiresGrad ? indexSelect(g, d, idx) : null]);
}

/** Checks gather/scatter index shape rules and returns (indices, the flat source offset of each). */
function gatherOffsets(op: string, x: Tensor, d: number, index: Tensor): Int32Array {
  checkTensor(op, index, 'index');
  if (index.ndim !== x.ndim || index.shape.some((n, i) => i !== d && n > x.shape[i]!)) {
    throw new Error(
      `${op}: index of shape ${fmt(index.shape)} does not fit input ${fmt(x.shape)} along dim ${d} (same rank, no larger except in dim ${d})`,
    );
  }
  const idx = toIndices(op, index, x.shape[d]!);
  const xStrides = stridesOf(x.shape);
  const iStrides = stridesOf(index.shape);
  const offsets = new Int32Array(idx.length);
  for (let flat = 0; flat < idx.length; flat++) {
    let rem = flat;
    let off = 0;
    for (let k = 0; k < index.ndim; k++) {
      const c = Math.floor(rem / iStrides[k]!);
      rem -= c * iStrides[k]!;
      off += (k === d ? idx[flat]! : c) * xStrides[k]!;
    }
    offsets[flat] = off;
  }
  return offsets;
}

/** out[…i…] = x[…index[…i…]…] along `dim` (PyTorch `gather`).  ∂: scatterAdd of g into zeros. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  checkTensor('gather', x);
  const d = normalizeDim('gather', dim, x.ndim);
  const offsets = gatherOffsets('gather', x, d, index);
  const y = empty(index.shape, x.dtype);
  for (let i = 0; i < offsets.length; i++) y.data[i] = x.data[offsets[i]!]!;
  return record('gather', [x], y, (g) => [scatterAdd(zeros(x.shape, { dtype: x.dtype }), d, index, g)]);
}

/** x with src added at the positions `index` names along `dim`.  ∂/∂x = g, ∂/∂src = gather(g, dim, index). */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  checkTensor('scatterAdd', x);
  checkTensor('scatterAdd', src, 'src');
  checkTensor('scatterAdd', index, 'index');
  const d = normalizeDim('scatterAdd', dim, x.ndim);
  if (!shapesEqual(src.shape, index.shape) || src.dtype !== x.dtype) {
    throw new Error(
      `scatterAdd: src has shape ${fmt(src.shape)} (${src.dtype}), expected the index shape ${fmt(index.shape)} (${x.dtype})`,
    );
  }
  const offsets = gatherOffsets('scatterAdd', x, d, index);
  const y = new Tensor(x.data.slice(), x.shape);
  for (let i = 0; i < offsets.length; i++) y.data[offsets[i]!]! += src.data[i]!;
  return record('scatterAdd', [x, src], y, (g) => [g, src.requiresGrad ? gather(g, d, index) : null]);
}

/** The same values, cut from the graph: no gradient flows through. Shares storage (and its version count). */
export function detach(x: Tensor): Tensor {
  checkTensor('detach', x);
  return new Tensor(x.data, x.shape).shareVersion(x);
}

/** A copy with its own storage.  ∂: identity. */
export function clone(x: Tensor): Tensor {
  checkTensor('clone', x);
  return record('clone', [x], new Tensor(x.data.slice(), x.shape), (g) => [g]);
}

/**
 * Converts to another dtype (a copy; the same tensor if the dtype already matches).  ∂: g cast back.
 * To int32, values are truncated toward zero (PyTorch's `.to(torch.int32)`); NaN, ±∞ and values outside the
 * int32 range are an error. The int32 result is not differentiable (it records nothing, as PyTorch's integer
 * results do not require grad). From int32, float64 is exact and float32 rounds past 2^24.
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  checkTensor('cast', x);
  checkDtype('cast', dtype);
  if (x.dtype === dtype) return x;
  if (dtype === 'int32') return new Tensor(toInt32Array('cast', x.data, `value of ${fmt(x.shape)}`), x.shape);
  const data = allocate(dtype, x.size);
  data.set(x.data);
  return record('cast', [x], new Tensor(data, x.shape), (g) => [cast(g, x.dtype)]);
}

/** Same shape? */
export function sameShape(a: Tensor, b: Tensor): boolean {
  return shapesEqual(a.shape, b.shape);
}
