/** Shape arithmetic shared by kernels and ops: sizes, strides, broadcasting and dim normalisation. */

export type Shape = readonly number[];

/** Formats a shape the way error messages show it: `[2,3]`. */
export function fmt(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

/** Number of elements in a tensor of this shape (1 for a scalar). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i]!;
  return n;
}

/** Row-major strides of a contiguous tensor. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d]!;
  }
  return strides;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Throws unless every entry is a non-negative integer. */
export function checkShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0)
      throw new Error(`${op}: invalid shape ${fmt(shape)} (dimensions must be integers >= 0)`);
  }
}

/** NumPy broadcasting: align trailing dimensions; each pair must be equal or contain a 1. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const d = s[s.length - 1 - i]!;
      const o = rank - 1 - i;
      if (d === out[o] || d === 1) continue;
      if (out[o] === 1) out[o] = d;
      else
        throw new Error(
          `${op}: shapes ${shapes.map(fmt).join(' and ')} cannot be broadcast together (dimension ${i} from the end: ${out[o]} vs ${d})`,
        );
    }
  }
  return out;
}

/** Resolves a possibly negative `dim` against `rank`, PyTorch style. */
export function normalizeDim(op: string, dim: number, rank: number): number {
  const lo = -Math.max(rank, 1);
  const hi = Math.max(rank, 1) - 1;
  if (!Number.isInteger(dim) || dim < lo || dim > hi) {
    throw new Error(
      `${op}: dim ${dim} is out of range for a tensor of rank ${rank} (expected an integer in [${lo}, ${hi}])`,
    );
  }
  return dim < 0 ? dim + Math.max(rank, 1) : dim;
}

/** Normalises a reduction's dims: undefined means all; duplicates are an error. Returned sorted ascending. */
export function normalizeDims(
  op: string,
  dim: number | readonly number[] | undefined,
  rank: number,
): number[] {
  if (dim === undefined) return Array.from({ length: rank }, (_, i) => i);
  const dims = (typeof dim === 'number' ? [dim] : dim).map((d) => normalizeDim(op, d, rank));
  if (rank === 0) return [];
  const sorted = [...dims].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] === sorted[i - 1])
      throw new Error(`${op}: dim ${sorted[i]} appears more than once in [${dims}]`);
  }
  return sorted;
}

/**
 * Whether `small` broadcast to `shape` only repeats its data along leading dims ([n] or [1, n] in [m, n]):
 * then the broadcast is whole copies of `small` laid end to end, and kernels can work block by block.
 */
export function repeatsAlongLeadingDims(small: Shape, shape: Shape): boolean {
  const lead = shape.length - small.length;
  let d = 0;
  while (d < small.length && small[d] === 1) d++;
  for (; d < small.length; d++) if (small[d] !== shape[lead + d]) return false;
  return true;
}
