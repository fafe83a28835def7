/**
 * The IR of a fused elementwise kernel (built by lazy.ts from a DAG of pending tensors, turned into code by
 * fused.ts and wasm/fused.ts): one loop nest over the output's shape, each value a read of an array through
 * an affine map or an op over earlier values, computed at the outermost loop it varies in; a sum runs its
 * own innermost loops at an outer level, one per operand: the operands are the consecutive innermost-loop-long
 * pieces of the row it adds up, in order.
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
 * One pass over the innermost loop: the values it computes, in order; those of them it writes to the row
 * cache (`keep`, each at its slot); and the values it reads back from there (`reuse`), computed by an earlier
 * pass.
 */
export interface InnerPass {
  compute: readonly number[];
  keep: readonly number[];
  reuse: readonly number[];
}

/**
 * How a kernel's passes over the innermost loop share their work. With sums over the innermost loop, each
 * row is run over several times: once per sum operand, then once for the stores. (A sum has one operand per
 * innermost-loop-long piece of the row it adds up: a layer norm over the 4H gates of an LSTM, in a kernel
 * whose loop runs over H, adds four.) A value that a later pass needs again is written by the pass that
 * computes it into a row cache (`slots` of `length` elements each) and read back there, not computed again:
 * a layer norm of an LSTM's cell state, say, would otherwise evaluate the gates' σ and tanh three times
 * over. Loads are read again rather than cached.
 */
export interface InnerPlan {
  /** The passes of each sum (by value index), one per operand. */
  sums: ReadonlyMap<number, readonly InnerPass[]>;
  /** The stores' pass. */
  stores: InnerPass;
  /** Row-cache slot of each value kept. */
  slots: ReadonlyMap<number, number>;
  /** Elements per slot: the innermost length rounded up to whole vectors (4 lanes). */
  length: number;
}

/** The row cache holds at most this many bytes (in float64); past it, passes compute their values again. */
const MAX_ROW_CACHE_BYTES = 1 << 18;

/** The operands of op value i. */
function operands(ir: KernelIr, i: number): readonly number[] {
  const v = ir.values[i]!;
  return v.kind === 'op' ? v.args : [];
}

/** The passes of `ir` over its innermost loop and what they pass on (see `InnerPlan`). */
export function planInnerPasses(ir: KernelIr): InnerPlan {
  const inner = ir.loop.length - 1;
  const length = inner < 0 ? 0 : Math.ceil(ir.loop[inner]! / 4) * 4;
  // The passes in the order the code runs them: sums by level (outer first), then by position, each
  // operand in order; stores last.
  const sums = ir.values
    .map((v, i) => ({ v, i }))
    .filter(({ v }) => v.kind === 'op' && v.op === 'sum')
    .sort((a, b) => a.v.level - b.v.level || a.i - b.i)
    .map(({ i }) => i);
  const order = sums.flatMap((i) => operands(ir, i).map((arg) => [arg]));
  order.push(ir.stores.filter((s) => storeLevel(ir, s) === inner).map((s) => s.value));
  const plan = (share: boolean): InnerPlan => {
    const computedIn = new Map<number, number>();
    const slots = new Map<number, number>();
    const passes: Array<{ compute: number[]; keep: number[]; reuse: number[] }> = [];
    for (const [key, roots] of order.entries()) {
      const compute = new Set<number>();
      const reuse = new Set<number>();
      const stack = [...roots];
      while (stack.length > 0) {
        const i = stack.pop()!;
        const v = ir.values[i]!;
        if (v.level !== inner || compute.has(i) || reuse.has(i)) continue;
        if (share && v.kind === 'op' && computedIn.has(i)) {
          reuse.add(i);
          if (!slots.has(i)) {
            slots.set(i, slots.size);
            passes[computedIn.get(i)!]!.keep.push(i);
          }
          continue;
        }
        compute.add(i);
        if (v.kind === 'op') stack.push(...v.args);
      }
      for (const i of compute) computedIn.set(i, key);
      const sorted = (xs: Set<number>) => [...xs].sort((a, b) => a - b);
      passes.push({ compute: sorted(compute), keep: [], reuse: sorted(reuse) });
    }
    for (const pass of passes) pass.keep.sort((a, b) => a - b);
    const bySum = new Map<number, InnerPass[]>();
    let next = 0;
    for (const i of sums) {
      const count = operands(ir, i).length;
      bySum.set(i, passes.slice(next, next + count));
      next += count;
    }
    return { sums: bySum, stores: passes[passes.length - 1]!, slots, length };
  };
  const shared = plan(true);
  return shared.slots.size * length * 8 <= MAX_ROW_CACHE_BYTES ? shared : plan(false);
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
