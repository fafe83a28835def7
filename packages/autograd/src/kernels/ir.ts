/**
 * The IR of a fused elementwise kernel (built by lazy.ts from a DAG of pending tensors, turned into code by
 * fused.ts and wasm/fused.ts): one loop nest over the output's shape, each value a read of an array through
 * an affine map or an op over earlier values, computed at the outermost loop it varies in; a sum runs its
 * own innermost loop at an outer level.
 */

/** A value of the kernel: a read of an array through an affine map, or an op over earlier values. */
export type IrValue =
  | { kind: 'load'; array: number; base: number; coefs: readonly number[]; level: number }
  | { kind: 'op'; op: string; args: readonly number[]; params: readonly number[]; level: number };

/**
 * A write of a value through an affine map; `accumulate`: added to the element instead (a sum over a loop
 * dim the map skips, in loop order, into a zeroed array).
 */
export interface IrStore {
  array: number;
  base: number;
  coefs: readonly number[];
  value: number;
  accumulate: boolean;
}

/**
 * The whole kernel: loop shape, values in order, stores, whether float32, and the arrays' count. A value's
 * level is the outermost loop it varies in (−1: constant for the whole kernel); element index of an access
 * is `base + Σ_d coefs[d]·i_d`.
 */
export interface KernelIr {
  loop: readonly number[];
  f32: boolean;
  values: readonly IrValue[];
  stores: readonly IrStore[];
  arrayCount: number;
  /** Arrays written whole by one store and read by none: their old contents need not be copied in. */
  fresh: readonly boolean[];
}

/**
 * The innermost-level values that `roots` depend on (themselves included), in order: what a loop over the
 * innermost dim must compute for them (values at outer levels, sums included, are computed already).
 */
export function innermostValues(ir: KernelIr, roots: readonly number[]): number[] {
  const inner = ir.loop.length - 1;
  const seen = new Set<number>();
  const stack = [...roots];
  while (stack.length > 0) {
    const i = stack.pop()!;
    const v = ir.values[i]!;
    if (seen.has(i) || v.level !== inner) continue;
    seen.add(i);
    if (v.kind === 'op') stack.push(...v.args);
  }
  return [...seen].sort((a, b) => a - b);
}

/**
 * The loop level at which a store runs: innermost, unless it writes the same element all along the innermost
 * loop (a sum's result, one per row), which is written once per iteration of the loop it varies in; an
 * accumulating store runs for every element.
 */
export function storeLevel(ir: KernelIr, store: IrStore): number {
  const inner = ir.loop.length - 1;
  let level = ir.values[store.value]!.level;
  if (inner < 0 || store.accumulate || store.coefs[inner] !== 0 || level === inner) return inner;
  store.coefs.forEach((c, d) => {
    if (c !== 0 && d > level) level = d;
  });
  return level;
}
