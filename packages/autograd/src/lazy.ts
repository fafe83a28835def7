/**
 * Elementwise fusion. An elementwise op (unary, binary with broadcasting, `where`, `clamp`) and a strided
 * view (narrow, select, permute of any tensor) do not compute at once: they return a *pending* tensor that
 * holds the op and its arguments. The first read of a pending tensor's `data` (a matrix product, most
 * reductions, `item()`) realizes it, and with it the whole DAG of pending tensors it depends on, as one
 * kernel generated for that DAG: one loop nest over the output's shape, each argument read through its own
 * affine index map (broadcast dims read with stride 0, views with an offset), no intermediate array.
 *
 * A sum over one dim is pending too. Over the last dim, in a loop whose innermost dim runs over the summed
 * dim or over equal pieces of it (a layer norm's x − mean, a softmax's e / Σe; a layer norm over an LSTM's
 * gates in the loop of its cell), it is computed inside the kernel, by innermost loops of its own at the
 * outer level, before what reads it; elsewhere it is realized in a loop over its argument's shape and read.
 * Over another dim (a bias's gradient, summed over the batch) it is realized in a loop over its argument's
 * shape, by a store that adds each element into its place as the loop runs. Either adds in the unfused
 * sum's order: over the last dim, a vector at a time into partial sums by lane (see `rowSums`); over another
 * dim, in index order.
 *
 * Backward passes fuse the same way without any rule of their own: a VJP is written with the same ops, so
 * the gradient of a fused group is a pending DAG built from the primitives' own VJPs, realized when a
 * product or a leaf's `.grad` needs it.
 *
 * Which intermediates get stored: a realization writes the tensors asked for, plus every intermediate of its
 * DAG that is seen at the output's full extent and is either saved for backward (a VJP reads it) or read by
 * a pending tensor outside this DAG (the next realization), unless a few cheap ops compute it again from
 * one stored array and row sums (a layer norm's x − mean: see `cheapToRecompute`), where storing it would
 * cost more than computing it again. Other intermediates stay pending and are computed again if someone
 * reads them later, from the same realized arguments.
 *
 * A DAG of the same structure as one realized before (the same step of a recurrent cell, at every time step)
 * is not walked again: its kernel plan is replayed (see `fingerprint`).
 *
 * In a backward pass, pending tensors that the pass will read (a sum over the batch, a gradient asked to go
 * to a given place) are computed with the next kernel over their loop (`withKernelSharing`).
 *
 * Numerics: each node is evaluated with the same scalar operation as the unfused kernel, in float32 as a
 * float32 operation (rounded by `Math.fround` in JavaScript, native in WebAssembly's f32x4 lanes), so fused
 * and unfused results are bit-identical in both dtypes.
 *
 * This file turns a DAG into a kernel's IR; kernels/fused.ts generates and caches the kernel (JavaScript,
 * and WebAssembly SIMD where its ops allow). Where `new Function` is forbidden (a content-security policy
 * without 'unsafe-eval'), fusion turns itself off and every op runs its own kernel.
 */
import { allocate, type DType, dtypeOf, type TypedArray } from './dtype.ts';
import {
  hashInt32s,
  type Kernel,
  kernelOf,
  runCompiled,
  sameInt32s,
  sameIr,
  sameNumbers,
} from './kernels/fused.ts';
import type { IrStore, IrValue, KernelIr } from './kernels/ir.ts';
import { sumLanes } from './kernels/reduce.ts';
import { copyInto } from './kernels/strided.ts';
import { forgetOutput } from './kernels/wasm/module.ts';
import { fmt, type Shape, shapesEqual, sizeOf, stridesOf } from './shape.ts';
import type { Tensor } from './tensor.ts';

/** What a pending tensor will compute. */
export interface Pending {
  readonly id: number;
  /** An elementwise op name, 'view', or the op of a node computed on demand by `compute` (never fused). */
  readonly op: string;
  readonly args: readonly Tensor[];
  /** clamp: [lo, hi]; view: for each input dim, [output dim or −1, offset] pairs. */
  readonly params: readonly number[];
  /** Longest chain of pending tensors below this one (1 for a node over realized arguments). */
  readonly depth: number;
  /** How many pending tensors read this one. */
  uses: number;
  /** A VJP of the graph reads this tensor. */
  saved: boolean;
  /** For a node computed on demand: produces the elements, in `into` when given. */
  readonly compute?: (into: TypedArray | null) => TypedArray;
  /** Where the elements go when computed, if a consumer asked (`computeInto`); else fresh storage. */
  into: TypedArray | null;
  /** For a `cat` of pending parts: each part's request, written into its place in `data`. */
  readonly pieces?: (data: TypedArray) => ReadonlyArray<{ tensor: Tensor; into: Destination }>;
  /** The op's own unfused kernel: what realizing this node alone, over computed arguments, runs. */
  readonly eager?: Eager;
  /** The arguments' versions when the op was recorded (see `Tensor.version`). */
  readonly versions: readonly number[];
  /**
   * Scratch of the kernel builder walking this node, kept on the node rather than in maps of the builder's
   * (see `KernelBuilder.mark`): the builder's serial, the node's value there (−1: none yet), reads of it
   * counted from inside the builder's DAG, and whether its own reads of its arguments were counted.
   */
  walker: number;
  walkValue: number;
  walkReads: number;
  walkCounted: boolean;
}

/**
 * An op's unfused kernel over computed arguments, into a new tensor of `shape`: one function per op (or op
 * family), shared by all its nodes, which keep only their arguments and params, not a closure of their own.
 */
export type Eager = (args: readonly Tensor[], shape: Shape, params: readonly number[]) => Tensor;

/** The params of an op that has none (shared: pending nodes never change their params). */
export const NO_PARAMS: readonly number[] = Object.freeze([]);

/** Longer chains are cut by realizing their arguments first, to bound kernel size and recursion. */
const MAX_DEPTH = 64;

let nextId = 1;

let enabled = canGenerate();

function canGenerate(): boolean {
  try {
    return new Function('return 1')() === 1;
  } catch {
    return false;
  }
}

/** Whether elementwise ops are deferred and fused (on by default where code can be generated). */
export function isFusionEnabled(): boolean {
  return enabled;
}

/**
 * Turns fusion on or off (off: every elementwise op runs its own kernel at once). Returns the previous
 * setting. Fusion stays off where code cannot be generated.
 */
export function setFusionEnabled(on: boolean): boolean {
  const previous = enabled;
  enabled = on && canGenerate();
  return previous;
}

/** Runs `fn` with fusion on or off, restoring the setting afterwards. */
export function withFusion<T>(on: boolean, fn: () => T): T {
  const previous = setFusionEnabled(on);
  try {
    return fn();
  } finally {
    setFusionEnabled(previous);
  }
}

/** Whether `t` is pending and computed by a fused kernel (not by a `compute` of its own). */
export function isFused(t: Tensor): boolean {
  return t.pending !== null && t.pending.compute === undefined;
}

/**
 * The description of a pending tensor of `shape` computing `op` over `args`. Chains longer than MAX_DEPTH
 * are cut here, by realizing the deepest arguments.
 */
export function pendingNode(
  op: string,
  args: readonly Tensor[],
  params: readonly number[] = NO_PARAMS,
  eager?: Eager,
): Pending {
  let depth = deepest(args);
  if (depth >= MAX_DEPTH) {
    realize(...args.filter((a) => isFused(a) && a.pending!.depth >= MAX_DEPTH));
    depth = deepest(args);
  }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (isFused(a)) a.pending!.uses++;
  }
  const versions = versionsOf(args);
  return {
    id: nextId++,
    op,
    args,
    params,
    depth: depth + 1,
    uses: 0,
    saved: false,
    eager,
    versions,
    into: null,
    walker: 0,
    walkValue: -1,
    walkReads: 0,
    walkCounted: false,
  };
}

/** Version lists of arguments never changed in place (most are: intermediates), one shared per length. */
const UNCHANGED: Array<readonly number[]> = [];

/**
 * The arguments' versions (see `Tensor.version`). Every pending node and graph node keeps this list, and
 * nearly all read only tensors never changed in place, so those share one frozen list of zeros: a list per
 * op would be an object more for the collector to copy while the graph lives.
 */
export function versionsOf(args: readonly Tensor[]): readonly number[] {
  let changed = false;
  for (let i = 0; i < args.length && !changed; i++) changed = args[i]!.version !== 0;
  if (changed) return args.map((a) => a.version);
  return (UNCHANGED[args.length] ??= Object.freeze(new Array<number>(args.length).fill(0)));
}

/** The longest chain of pending tensors below `args` (0 when all are computed). */
function deepest(args: readonly Tensor[]): number {
  let depth = 0;
  for (let i = 0; i < args.length; i++) {
    const p = args[i]!.pending;
    if (p && !p.compute && p.depth > depth) depth = p.depth;
  }
  return depth;
}

/**
 * A node of `op` computed on demand by `compute`, outside fusion (a deferred sum of products, a `cat` of
 * pending parts); `args`, if given, must not change in place before it is computed.
 */
export function deferredNode(
  op: string,
  compute: (into: TypedArray | null) => TypedArray,
  args: readonly Tensor[] = [],
  pieces?: Pending['pieces'],
): Pending {
  const versions = versionsOf(args);
  return {
    id: nextId++,
    op,
    args,
    params: NO_PARAMS,
    depth: 0,
    uses: 0,
    saved: false,
    compute,
    versions,
    into: null,
    pieces,
    walker: 0,
    walkValue: -1,
    walkReads: 0,
    walkCounted: false,
  };
}

/**
 * Pending tensors that nothing has read yet but that a backward pass will read: each is computed with the
 * next kernel of its loop, where it shares what that kernel computes anyway, rather than by a kernel of its
 * own later. They are tensors with a place of their own (`computeInto`: a GRU's input-side and hidden-side
 * gate gradients share their terms) and sums over a leading dim (`joinNextKernel`: a bias's gradient sums the
 * gradient the kernel computes). Collected only while `withKernelSharing` runs, and forgotten when it ends.
 */
const awaiting = new Map<Tensor, Awaiting>();

/** What a tensor awaiting a kernel asks for (a cat, each of its parts in its place), and that kernel's key. */
interface Awaiting {
  parts: ReadonlyArray<{ tensor: Tensor; into: Destination | null }>;
  key: string;
}
let sharing = 0;

/** Runs `fn` (a backward pass) with pending tensors joining the next kernel of their loop (see `awaiting`). */
export function withKernelSharing<T>(fn: () => T): T {
  sharing++;
  try {
    return fn();
  } finally {
    if (--sharing === 0) awaiting.clear();
  }
}

/** Marks pending `t` to be computed with the next kernel of its loop, inside `withKernelSharing`. */
export function joinNextKernel(t: Tensor): void {
  const p = t.pending;
  if (sharing === 0 || !p) return;
  const parts = p.pieces?.(p.into!) ?? (p.compute ? [] : [{ tensor: t, into: null }]);
  if (parts.length > 0) awaiting.set(t, { parts, key: groupKey(parts[0]!.tensor) });
}

/**
 * Asks that pending `t` store its elements in `data` (t.size contiguous elements of t's dtype) when it is
 * computed, so that a consumer that needs them there finds them in place (a stacked gradient, see `unbind`).
 * Returns false, asking nothing, when t is computed already or was asked before. A realization path that
 * cannot honour the request (an op computed on its own) gives t storage of its own instead: a consumer
 * checks where t's elements are before relying on them.
 */
export function computeInto(t: Tensor, data: TypedArray): boolean {
  const p = t.pending;
  if (!p || p.into || data.length !== t.size || dtypeOf(data) !== t.dtype) return false;
  p.into = data;
  joinNextKernel(t);
  return true;
}

/** Marks tensors a VJP will read, so that a realization stores them rather than leaving them pending. */
export function markSaved(...tensors: Tensor[]): void {
  for (const t of tensors) if (t.pending) t.pending.saved = true;
}

/**
 * For a time loop's state: the tensors are stored by whatever kernel computes them, and the function returned
 * computes, as one kernel, those that a pending tensor built since reads (the next step's). A state that the
 * next step never reads (an SRU's h, read by its output alone) stays pending: computed only where something
 * reads it later, and not at all if nothing does.
 */
export function carry(tensors: readonly Tensor[]): () => void {
  markSaved(...tensors);
  const uses = tensors.map((t) => t.pending?.uses ?? 0);
  return () => realize(...tensors.filter((t, i) => (t.pending?.uses ?? 0) > uses[i]!));
}

/** Where a realized tensor's elements go: an array, the offset of element 0, and a stride per dim. */
export interface Destination {
  data: TypedArray;
  offset: number;
  strides: readonly number[];
}

/**
 * Computes pending tensors now (a no-op for computed ones); those of one shape and dtype are computed by one
 * fused kernel, with the intermediates they share computed once. The time loops call it (through `carry`) on
 * the state each step reads, which makes a cell's step one kernel.
 */
export function realize(...tensors: Tensor[]): void {
  realizeInto(tensors.map((t) => ({ tensor: t, into: null })));
}

/**
 * Computes pending tensors, each into fresh storage or into a strided destination (how `cat` and `stack`
 * write their parts without a copy). A tensor written to a destination stays pending itself.
 */
export function realizeInto(requests: ReadonlyArray<{ tensor: Tensor; into: Destination | null }>): void {
  const groups = new Map<string, Array<{ tensor: Tensor; into: Destination | null }>>();
  const queue = [...requests];
  // Cats computed part by part in this round, set to their places after it.
  const placed: Array<{ tensor: Tensor; data: TypedArray }> = [];
  while (queue.length > 0) {
    for (const r of queue.splice(0)) {
      awaiting.delete(r.tensor);
      const p = r.tensor.pending;
      if (!p && !r.into) continue;
      if (p?.compute && !r.into) {
        checkArgVersions(p);
        r.tensor.setStorage(p.compute(p.into));
        continue;
      }
      if (!r.into && shareStorage(r.tensor)) continue;
      if (p?.eager && !r.into && p.args.every((a) => a.isRealized)) {
        checkArgVersions(p);
        // One op over computed arguments: its own kernel, without generating one (the same operations).
        r.tensor.setStorage(p.eager(p.args, r.tensor.shape, p.params).data);
        continue;
      }
      if ((!p || p.compute || p.op === 'sum' || p.op === 'sumOver') && r.into) {
        // Computed already, or computed on its own (a deferred value; a sum, in its own loop): a copy into place.
        copyToDestination(r.tensor, r.into);
        continue;
      }
      const key = groupKey(r.tensor);
      const group = groups.get(key);
      if (group) group.push(r);
      else groups.set(key, [r]);
    }
    // Tensors awaiting a kernel of a loop computed now join it (a cat of pending parts, by its parts).
    for (const [t, { parts, key }] of awaiting) {
      const p = t.pending;
      if (!p) {
        awaiting.delete(t);
        continue;
      }
      if (!groups.has(key)) continue;
      awaiting.delete(t);
      // An argument changed in place: left pending, for whoever reads it to get the error.
      if (changedArg(p) >= 0) continue;
      queue.push(...parts);
      if (p.pieces) placed.push({ tensor: t, data: p.into! });
    }
  }
  // Larger loops first: a smaller one often reads what a larger one sums (a gain's gradient, a view of the
  // sum over the batch that the input gradient's kernel computes), which is then computed already.
  const size = (group: Array<{ tensor: Tensor }>) => sizeOf(loopOf(group[0]!.tensor));
  const ordered = [...groups.values()].sort((a, b) => size(b) - size(a));
  for (const group of ordered) runGroup(group);
  for (const { tensor, data } of placed) if (tensor.pending) tensor.setStorage(data);
}

/** Copies computed t into `dest`; a product's copy kept in wasm memory of what it overwrites is dropped. */
function copyToDestination(t: Tensor, dest: Destination): void {
  forgetOutput(dest.data);
  copyInto(t.data, t.shape, dest.data, dest.offset, dest.strides);
}

/**
 * Gives pending view t the storage of the computed tensor it views, when it has the same elements in the same
 * order (a reshape by dims of size 1): as many elements, no offsets, its dims read in their order. Returns
 * whether it did.
 */
function shareStorage(t: Tensor): boolean {
  const p = t.pending;
  if (p?.op !== 'view' || !sameLayout(p, t)) return false;
  checkArgVersions(p);
  t.setStorage(p.args[0]!.data);
  t.shareVersion(p.args[0]!);
  return true;
}

function sameLayout(p: Pending, t: Tensor): boolean {
  const x = p.args[0]!;
  if (!x.isRealized || x.size !== t.size) return false;
  let last = -1;
  for (let j = 0; j < x.ndim; j++) {
    const d = p.params[2 * j]!;
    if (p.params[2 * j + 1] !== 0 || (d >= 0 && d <= last)) return false;
    if (d >= 0) last = d;
  }
  return true;
}

/**
 * The loop a pending tensor is computed in: its shape, or for a sum its argument's shape (a sum over the last
 * dim runs over the innermost loop and is stored once per row; a sum over another dim is added up by an
 * accumulating store as the loop runs).
 */
function loopOf(t: Tensor): Shape {
  const p = t.pending;
  return p?.op === 'sum' || p?.op === 'sumOver' ? p.args[0]!.shape : t.shape;
}

/** Pending tensors of one key are computed by one kernel: their dtype and loop. */
function groupKey(t: Tensor): string {
  return `${t.dtype}[${loopOf(t)}]`;
}

/** How a tensor computed in `loop` (see loopOf) reads it: for each of its dims, a loop dim or −1. */
function dimsIn(t: Tensor, loop: Shape): number[] {
  if (shapesEqual(t.shape, loop)) return loop.map((_, d) => d);
  const p = t.pending!;
  if (p.op === 'sumOver') {
    // Summed over loop dim d: kept as a dim of size 1 (no loop dim), or dropped.
    const d = p.params[0]!;
    return t.ndim === loop.length
      ? loop.map((_, j) => (j === d ? -1 : j))
      : t.shape.map((_, j) => (j < d ? j : j + 1));
  }
  // A sum over the last dim: its leading dims are the loop's; a kept last dim is not one.
  return t.shape.map((_, j) => (j < loop.length - 1 ? j : -1));
}

/** A realization's build: its kernel's builder, and the tensors it gives storage, each with its array. */
interface Build {
  b: KernelBuilder;
  fresh: ReadonlyArray<{ tensor: Tensor; data: TypedArray; zeroed: boolean }>;
}

/**
 * Computes the pending tensors of one loop by one kernel: as a plan made before for a DAG of the same
 * structure says (see `fingerprint`), or built from their DAG, which then makes the plan.
 */
function runGroup(requests: ReadonlyArray<{ tensor: Tensor; into: Destination | null }>): void {
  // Realizations nested in this one (a tensor computed on demand) write their fingerprints a level deeper.
  const level = depth++;
  try {
    const print = fingerprint(requests, level);
    const found = print === null ? undefined : findPlan(print);
    if (found) {
      if (checkingPlans) checkPlan(found, planOf(print!, buildGroup(requests)));
      replay(found, print!, requests[0]!.tensor.dtype);
      return;
    }
    const build = buildGroup(requests);
    const firstSight = print !== null && found === undefined;
    const plan = firstSight ? planOf(print!, build) : null;
    if (firstSight) keepPlan(print!, plan);
    const ir = plan?.ir ?? build.b.ir();
    if (ir) runCompiled(plan?.kernel ?? kernelOf(ir), ir, build.b.arrays);
    for (const { tensor, data } of build.fresh) {
      // (A sum realized on its own during the walk may have computed one already, with the same values.)
      if (tensor.pending) tensor.setStorage(data);
    }
  } finally {
    depth--;
  }
}

/** Walks the DAG of `requests` into a kernel's IR and chooses and allocates the tensors it stores. */
function buildGroup(requests: ReadonlyArray<{ tensor: Tensor; into: Destination | null }>): Build {
  const first = requests[0]!.tensor;
  const loop = loopOf(first);
  const b = new KernelBuilder(loop, first.dtype);
  const identity = loop.map((_, d) => d);
  const zeros = loop.map(() => 0);
  // Tensors that get storage of their own, each written through the maps it is read with here: the ones
  // asked for, then intermediates worth keeping (see the file comment), whole or in tiles.
  const fresh: Array<{ tensor: Tensor; parts: Part[] }> = [];
  const asked = new Set<Tensor>();
  for (const { tensor, into } of requests) {
    if (!tensor.pending) {
      // Computed on its own while this kernel was built (a sum another request reads).
      if (into) copyToDestination(tensor, into);
      continue;
    }
    // A view of what a kernel run before this one computed (a sum over the batch).
    if (!into && shareStorage(tensor)) continue;
    if (!into && asked.has(tensor)) continue;
    const dims = dimsIn(tensor, loop);
    const offs = dims.map(() => 0);
    if (tensor.pending?.op === 'sumOver') {
      // Its argument's value at every loop index, added into the element the other dims name.
      const x = tensor.pending.args[0]!;
      b.countRead(x);
      const ref = b.walk(x, identity, zeros);
      asked.add(tensor);
      fresh.push({ tensor, parts: [{ ref, dims, offs, accumulate: true }] });
      continue;
    }
    const ref = b.walk(tensor, dims, offs);
    if (into) b.store(ref, into, false);
    else {
      asked.add(tensor);
      fresh.push({ tensor, parts: [{ ref, dims, offs }] });
    }
  }
  const worthKeeping = (t: Tensor) => {
    // (A sum computed on its own during the walk may have computed some already.)
    const p = t.pending;
    if (p === null || asked.has(t) || !(p.saved || p.uses > b.readsInDag(p))) return false;
    const sums = cheapToRecompute(t, asked, b.sums);
    if (!sums) return true;
    // Left pending: the row sums it is computed from are stored instead (a value per row).
    for (const sum of sums) {
      asked.add(sum);
      fresh.push({ tensor: sum, parts: [b.sums.get(sum)!] });
    }
    return false;
  };
  for (const { tensor, ref } of b.fullExtent) {
    if (!worthKeeping(tensor)) continue;
    asked.add(tensor);
    fresh.push({ tensor, parts: [{ ref, dims: identity, offs: zeros }] });
  }
  for (const [tensor, parts] of b.viewed) {
    if (!worthKeeping(tensor) || !tiles(tensor, loop, parts)) continue;
    asked.add(tensor);
    fresh.push({ tensor, parts });
  }
  // One allocation for all of them (allocating is costly per call, not per byte), cut into their arrays,
  // except those asked to go elsewhere (`computeInto`); a part is written through its dims' strides placed
  // on the loop dims they read.
  const given = fresh.map(({ tensor }) => tensor.pending?.into ?? null);
  const block = allocate(
    first.dtype,
    fresh.reduce((n, { tensor }, k) => n + (given[k] ? 0 : tensor.size), 0),
  );
  let at = 0;
  const arrays = fresh.map(({ tensor, parts }, k) => {
    let data = given[k];
    if (!data) {
      data = block.subarray(at, at + tensor.size);
      at += tensor.size;
    }
    const strides = stridesOf(tensor.shape);
    for (const { ref, dims, offs, accumulate = false } of parts) {
      const coefs = loop.map(() => 0);
      let offset = 0;
      dims.forEach((d, j) => {
        offset += offs[j]! * strides[j]!;
        if (d >= 0 && tensor.shape[j] !== 1) coefs[d]! += strides[j]!;
      });
      if (accumulate && given[k]) data.fill(0);
      b.store(ref, { data, offset, strides: coefs }, !accumulate, accumulate);
    }
    return data;
  });
  const zeroed = (k: number) => given[k] !== null && fresh[k]!.parts.some((part) => part.accumulate);
  return { b, fresh: fresh.map(({ tensor }, k) => ({ tensor, data: arrays[k]!, zeroed: zeroed(k) })) };
}

/**
 * A DAG's fingerprint: everything `buildGroup` reads of it, as a list of numbers. A recurrent network realizes
 * DAGs of one structure at every time step of every training step, and for a small step building the kernel
 * (walking the DAG into IR, choosing what to store, finding the kernel by its IR's hash) costs more than
 * running it. The build is a function of the DAG's structure alone: the requests and their destinations; for
 * each pending tensor, in the order a walk first meets it, its op, params, shape, whether a VJP reads it, how
 * many pending tensors read it and where it was asked to go; for each computed tensor read, its shape and
 * which array it reads; the arrays numbered by first sight, so that which reads and writes share an array is
 * part of it. A DAG whose fingerprint was seen replays the plan its build made (`replay`). A build that
 * computes part of its DAG on its own (a sum over the last dim in a loop that does not run over it) reads
 * an array the fingerprint does not know, and makes no plan.
 */
interface Fingerprint {
  /**
   * The key, as the 32-bit words of its numbers' float64 bits (equal keys are equal bit for bit, −0 and NaN
   * bounds included): a view of a scratch buffer, which kept plans copy (`keepPlan`).
   */
  key: Int32Array;
  hash: number;
  /** The arrays, by number. */
  arrays: TypedArray[];
  numbers: Map<TypedArray, number>;
  /** The pending tensors, in the order first met. */
  nodes: Tensor[];
}

/** What a build made of a DAG, to do again for DAGs of the same fingerprint. */
interface Plan {
  ir: KernelIr;
  kernel: Kernel;
  /** For each array of the kernel: its number in the fingerprint (≥ 0), or ~k for the new array of fresh[k]. */
  sources: number[];
  /** Tensors given storage: which node, where in the block (−1: where it was asked to go), zeroed first. */
  fresh: Array<{ node: number; at: number; zeroed: boolean }>;
  blockSize: number;
}

/** Plans by fingerprint hash (a bucket compares keys in full); null: builds of that DAG make no plan. */
const plans = new Map<number, Array<{ key: Int32Array; plan: Plan | null }>>();
/** The plans' keys and IRs, in numbers: all are dropped past MAX_PLAN_WORDS (~100 MB). */
let planWords = 0;
const MAX_PLAN_WORDS = 2 ** 23;
/** Each op's number in fingerprints. */
const opNumbers = new Map<string, number>();
/**
 * Where fingerprints are written, one buffer per depth of nested realizations (a fingerprint or a build can
 * compute a tensor whose realization takes one): most DAGs were seen before, and their key is only compared.
 */
const scratch: Float64Array[] = [];
let depth = 0;
const LEAF = -1;
const SEEN = -2;
const NODE = -3;
/** Tests build every replayed DAG again and compare (see `setPlanChecking`). */
let checkingPlans = false;
let replays = 0;

/** Number of realizations computed by replaying a plan so far (for tests and diagnostics). */
export function planReplayCount(): number {
  return replays;
}

/**
 * Makes every replayed plan be checked against a new build of its DAG (an error if they differ), for tests;
 * returns the previous setting.
 */
export function setPlanChecking(on: boolean): boolean {
  const previous = checkingPlans;
  checkingPlans = on;
  return previous;
}

/**
 * The fingerprint of the DAG of `requests`, or null when it has a part the build computes on its own (a sum
 * over a dim that is not the last, a request computed already or shared by a view). A computed-on-demand
 * tensor it reads is computed here, where the walk would compute it.
 */
function fingerprint(
  requests: ReadonlyArray<{ tensor: Tensor; into: Destination | null }>,
  level: number,
): Fingerprint | null {
  const serial = ++builders;
  let key = (scratch[level] ??= new Float64Array(1024));
  let length = 0;
  const push = (x: number) => {
    if (length === key.length) {
      const larger = new Float64Array(2 * key.length);
      larger.set(key);
      key = scratch[level] = larger;
    }
    key[length++] = x;
  };
  const list = (xs: readonly number[]) => {
    push(xs.length);
    for (let i = 0; i < xs.length; i++) push(xs[i]!);
  };
  const arrays: TypedArray[] = [];
  const numbers = new Map<TypedArray, number>();
  const nodes: Tensor[] = [];
  const numberOf = (data: TypedArray) => {
    let n = numbers.get(data);
    if (n === undefined) {
      n = arrays.length;
      arrays.push(data);
      numbers.set(data, n);
    }
    return n;
  };
  const visit = (t: Tensor, asked: boolean): boolean => {
    const p = t.pending;
    if (p === null || p.compute) {
      const data = t.data;
      push(LEAF);
      push(numberOf(data));
      push(data.BYTES_PER_ELEMENT);
      list(t.shape);
      return true;
    }
    // Met already: marked by this walk, or by a walk nested in it since (a tensor computed on demand).
    const seen = p.walker === serial ? p.walkValue : p.walker > serial ? nodes.indexOf(t) : -1;
    if (seen >= 0) {
      push(SEEN);
      push(seen);
      return true;
    }
    if (p.op === 'sumOver') {
      if (!asked) return false;
    } else checkArgVersions(p);
    p.walker = serial;
    p.walkValue = nodes.length;
    nodes.push(t);
    let op = opNumbers.get(p.op);
    if (op === undefined) opNumbers.set(p.op, (op = opNumbers.size));
    push(NODE);
    push(op);
    push(p.saved ? 1 : 0);
    push(p.uses);
    push(p.into ? numberOf(p.into) : -1);
    list(t.shape);
    list(p.params);
    push(p.args.length);
    for (let i = 0; i < p.args.length; i++) if (!visit(p.args[i]!, false)) return false;
    return true;
  };
  push(requests[0]!.tensor.dtype === 'float32' ? 1 : 2);
  push(requests.length);
  for (const { tensor, into } of requests) {
    const p = tensor.pending;
    if (p === null || p.compute || (!into && p.op === 'view' && sameLayout(p, tensor))) return null;
    if (into) {
      push(numberOf(into.data));
      push(into.offset);
      list(into.strides);
    } else push(-1);
    if (!visit(tensor, true)) return null;
  }
  // A tensor computed on demand above may have computed one met before it: then the DAG changed.
  for (const t of nodes) if (t.pending === null) return null;
  const words = new Int32Array(key.buffer, 0, 2 * length);
  return { key: words, hash: hashInt32s(words), arrays, numbers, nodes };
}

/** The plan for `print`: a plan, null when builds of its DAG make none, undefined when not seen yet. */
function findPlan(print: Fingerprint): Plan | null | undefined {
  const bucket = plans.get(print.hash);
  if (bucket === undefined) return undefined;
  for (const entry of bucket) if (sameInt32s(entry.key, print.key)) return entry.plan;
  return undefined;
}

function keepPlan(print: Fingerprint, plan: Plan | null): void {
  const words = print.key.length / 2 + (plan ? plan.ir.values.length * 4 + plan.sources.length : 0);
  if (planWords + words > MAX_PLAN_WORDS) {
    plans.clear();
    planWords = 0;
  }
  planWords += words;
  const key = print.key.slice();
  const bucket = plans.get(print.hash);
  if (bucket) bucket.push({ key, plan });
  else plans.set(print.hash, [{ key, plan }]);
}

/** The plan of `build`, made from the DAG fingerprinted as `print`; null when it cannot be replayed. */
function planOf(print: Fingerprint, build: Build): Plan | null {
  const ir = build.b.ir();
  if (ir === null) return null;
  const nodeOf = new Map(print.nodes.map((t, i) => [t, i]));
  const made = new Map<TypedArray, number>();
  let blockSize = 0;
  const fresh: Plan['fresh'] = [];
  for (let k = 0; k < build.fresh.length; k++) {
    const { tensor, data, zeroed } = build.fresh[k]!;
    const node = nodeOf.get(tensor);
    if (node === undefined || tensor.pending === null) return null;
    if (tensor.pending.into) fresh.push({ node, at: -1, zeroed });
    else {
      made.set(data, k);
      fresh.push({ node, at: blockSize, zeroed });
      blockSize += tensor.size;
    }
  }
  const sources: number[] = [];
  for (const data of build.b.arrays) {
    const number = print.numbers.get(data);
    const k = made.get(data);
    if (number === undefined && k === undefined) return null;
    sources.push(number ?? ~k!);
  }
  return { ir, kernel: kernelOf(ir), sources, fresh, blockSize };
}

/** Computes the DAG fingerprinted as `print` as `plan` says. */
function replay(plan: Plan, print: Fingerprint, dtype: DType): void {
  replays++;
  const block = allocate(dtype, plan.blockSize);
  const made = plan.fresh.map(({ node, at, zeroed }) => {
    const t = print.nodes[node]!;
    if (at >= 0) return block.subarray(at, at + t.size);
    const data = t.pending!.into!;
    if (zeroed) data.fill(0);
    return data;
  });
  const arrays = plan.sources.map((n) => (n >= 0 ? print.arrays[n]! : made[~n]!));
  runCompiled(plan.kernel, plan.ir, arrays);
  plan.fresh.forEach(({ node }, k) => {
    const t = print.nodes[node]!;
    if (t.pending) t.setStorage(made[k]!);
  });
}

/** Throws unless a plan replayed and the plan a new build makes are the same (see `setPlanChecking`). */
function checkPlan(found: Plan, built: Plan | null): void {
  const same =
    built !== null &&
    sameIr(found.ir, built.ir) &&
    sameNumbers(found.sources, built.sources) &&
    found.blockSize === built.blockSize &&
    found.fresh.length === built.fresh.length &&
    found.fresh.every(
      (f, k) =>
        f.node === built.fresh[k]!.node && f.at === built.fresh[k]!.at && f.zeroed === built.fresh[k]!.zeroed,
    );
  if (!same) throw new Error('realize: a kernel plan replayed differs from the build of its DAG');
}

/**
 * Ops cheaper to compute again, in the kernel that reads their result later, than to store: storing costs
 * an allocation, a copy out of WebAssembly memory and one back in, and garbage to collect, which dwarf a few
 * additions or a square root per element. σ, tanh, exp and log are dearer, so their results are kept.
 */
const CHEAP = new Set([
  'view',
  'add',
  'sub',
  'mul',
  'div',
  'neg',
  'abs',
  'sqrt',
  'relu',
  'clamp',
  'where',
  'maximum',
  'minimum',
  'eq',
  'ne',
  'lt',
  'gt',
  'le',
  'ge',
]);

/** A sum over the last dim is computed in a loop over at most this many pieces of its row (see `sumInLoop`). */
const MAX_PIECES = 8;

/** Intermediates computed from stored values by at most this many cheap ops are computed again. */
const MAX_RECOMPUTE = 16;

/**
 * Whether t is cheaper to compute again where it is read than to store: at most MAX_RECOMPUTE ops of CHEAP
 * from computed tensors, at most one of them as large as t (a reader loads it in place of t; more would
 * cost more loads than the store saves), and from row sums computed in this kernel (`sums`, stored then).
 * A layer norm's x − mean and (x − mean)/σ qualify, and so does a chunk of a computed array (an SRU's x̃, a
 * view of its input projection): storing it would copy what is stored already, into new storage, which
 * costs more than loading the range it spans again. An LSTM's carried cell gradient, a sum of products of
 * four stored arrays, does not. Returns the row sums to store, or null to store t itself.
 */
function cheapToRecompute(
  t: Tensor,
  stored: ReadonlySet<Tensor>,
  sums: ReadonlyMap<Tensor, Part>,
): Tensor[] | null {
  const large = new Set<Tensor>();
  const needed: Tensor[] = [];
  const seen = new Set<Tensor>();
  let ops = 0;
  const visit = (u: Tensor): boolean => {
    if (seen.has(u)) return true;
    seen.add(u);
    const p = u.pending;
    if (!p || p.compute || stored.has(u)) {
      if (2 * u.size >= t.size) large.add(u);
      return large.size <= 1;
    }
    if (p.op === 'sum') {
      if (!sums.has(u)) return false;
      needed.push(u);
      return true;
    }
    if (!CHEAP.has(p.op) || ++ops > MAX_RECOMPUTE) return false;
    return p.args.every(visit);
  };
  return visit(t) ? needed : null;
}

/**
 * A tensor's value as read in a kernel: its ref, through dims (a loop dim or −1 per dim) and offsets;
 * `accumulate`: the tensor is a sum over the loop dims it does not read, added up as the loop runs.
 */
interface Part {
  ref: number;
  dims: readonly number[];
  offs: readonly number[];
  accumulate?: boolean;
}

/**
 * Whether the parts of `t` read in `loop` cover it once, so that storing each part stores t: each reads the
 * loop's own dims, at an offset along one dim d of t that is k·loop[d] for every k < t.shape[d] / loop[d]
 * (the pieces of a split, say the gates of an LSTM's [B, 4H] pre-activation read as four [B, H] chunks).
 */
function tiles(t: Tensor, loop: Shape, parts: readonly Part[]): boolean {
  if (t.ndim !== loop.length) return false;
  const d = t.shape.findIndex((n, j) => n !== loop[j]);
  if (d < 0 || t.shape.some((n, j) => j !== d && n !== loop[j]) || t.shape[d]! % loop[d]! !== 0) return false;
  const offsets = new Set<number>();
  for (const { dims, offs } of parts) {
    if (dims.some((x, j) => x !== j) || offs.some((o, j) => j !== d && o !== 0)) return false;
    if (offs[d]! % loop[d]! !== 0) return false;
    offsets.add(offs[d]!);
  }
  return offsets.size === t.shape[d]! / loop[d]! && offsets.size === parts.length;
}

/** Walks made so far, by kernel builders and fingerprints (each marks the nodes it walks with its serial). */
let builders = 0;

class KernelBuilder {
  private readonly rank: number;
  private readonly f32: boolean;
  /** The kernel's arrays: array k of its IR is `arrays[k]`. */
  readonly arrays: TypedArray[] = [];
  private readonly arrayIndex = new Map<TypedArray, number>();
  private readonly values: IrValue[] = [];
  private readonly stores: IrStore[] = [];
  private readonly fresh: boolean[] = [];
  /** Pending tensors computed already through maps other than the identity (which `mark` keeps), by id. */
  private readonly mapped = new Map<
    number,
    Array<{ dims: readonly number[]; offs: readonly number[]; ref: number }>
  >();
  /** Reads made already, by array. */
  private readonly loads = new Map<number, Array<{ base: number; coefs: readonly number[]; ref: number }>>();
  /** Pending intermediates seen at the loop's full extent with the identity map. */
  readonly fullExtent: Array<{ tensor: Tensor; ref: number }> = [];
  /** Pending intermediates read here in parts, through views (the pieces of a split). */
  readonly viewed = new Map<Tensor, Part[]>();
  /** Sums over the innermost loop computed here, each with a read that covers it whole (to store it by). */
  readonly sums = new Map<Tensor, Part>();

  /** This builder's serial: the `walker` of the nodes it has marked. */
  private readonly serial = ++builders;
  /** Scratch for a read's coefficients (see `load`). */
  private readonly coefs: number[];

  constructor(
    private readonly loop: Shape,
    dtype: DType,
  ) {
    this.rank = loop.length;
    this.f32 = dtype === 'float32';
    this.coefs = new Array<number>(this.rank).fill(0);
  }

  /**
   * Makes p's walk scratch this builder's, fresh on first sight. A realization nested in this builder's
   * walk (a sum computed on its own) takes over the nodes it walks, and this walk then meets them as new:
   * that costs at most a value computed twice, since the nested kernel stores what this one reads of its
   * DAG, or leaves it cheap to compute again.
   */
  private mark(p: Pending): void {
    if (p.walker === this.serial) return;
    p.walker = this.serial;
    p.walkValue = -1;
    p.walkReads = 0;
    p.walkCounted = false;
  }

  /** How many reads of pending p come from inside this builder's DAG. */
  readsInDag(p: Pending): number {
    return p.walker === this.serial ? p.walkReads : 0;
  }

  /** The value of `t` at the element whose index along t's dim j is `i[dims[j]] + offs[j]` (dims[j] −1: 0). */
  walk(t: Tensor, dims: readonly number[], offs: readonly number[]): number {
    const p = t.pending;
    if (!p || p.compute) return this.load(t.data, t.shape, dims, offs);
    if (p.op === 'sumOver') {
      // Complete only once its whole loop has run: computed in a kernel of its own, then read.
      realize(t);
      return this.walk(t, dims, offs);
    }
    this.mark(p);
    const identity = isIdentity(dims, offs);
    const known = identity
      ? p.walkValue
      : (this.mapped.get(p.id)?.find((m) => shapesEqual(m.dims, dims) && shapesEqual(m.offs, offs))?.ref ??
        -1);
    if (known >= 0) return known;
    if (!p.walkCounted) {
      p.walkCounted = true;
      checkArgVersions(p);
      for (let i = 0; i < p.args.length; i++) this.countRead(p.args[i]!);
    }
    let ref: number;
    if (p.op === 'sum') {
      const sum = this.sumInLoop(p, dims, offs);
      if (sum === null) {
        // This loop does not run over x's last dim: the sum is computed in a loop over x's shape, and read.
        realize(t);
        return this.walk(t, dims, offs);
      }
      ref = sum;
      if (!this.sums.has(t) && this.coversWhole(t, dims, offs)) this.sums.set(t, { ref, dims, offs });
    } else if (p.op === 'view') {
      const src = p.args[0]!;
      const sd = new Array<number>(src.ndim);
      const so = new Array<number>(src.ndim);
      for (let j = 0; j < src.ndim; j++) {
        const d = p.params[2 * j]!;
        const off = p.params[2 * j + 1]!;
        sd[j] = d < 0 ? -1 : dims[d]!;
        so[j] = d < 0 ? off : offs[d]! + off;
      }
      ref = this.walk(src, sd, so);
    } else {
      const args = new Array<number>(p.args.length);
      let level = -1;
      for (let i = 0; i < p.args.length; i++) {
        const a = p.args[i]!;
        // An operand of the output's shape is read through the output's own map, a scalar through none.
        const operand = shapesEqual(a.shape, t.shape)
          ? this.walk(a, dims, offs)
          : a.ndim === 0
            ? this.walk(a, NO_PARAMS, NO_PARAMS)
            : this.walk(a, ...broadcastMap(a.shape, t.shape, dims, offs));
        args[i] = operand;
        const l = this.values[operand]!.level;
        if (l > level) level = l;
      }
      ref = this.add({ kind: 'op', op: p.op, args, params: p.params, level });
    }
    if (identity) p.walkValue = ref;
    else {
      const maps = this.mapped.get(p.id);
      if (maps) maps.push({ dims, offs, ref });
      else this.mapped.set(p.id, [{ dims, offs, ref }]);
    }
    if (identity && shapesEqual(t.shape, this.loop)) this.fullExtent.push({ tensor: t, ref });
    else if (p.op !== 'view' && p.op !== 'sum' && t.ndim === this.rank) {
      // Read in part (through a view): kept if its parts tile it (see `tiles`).
      const parts = this.viewed.get(t);
      if (parts) parts.push({ ref, dims, offs });
      else this.viewed.set(t, [{ ref, dims, offs }]);
    }
    return ref;
  }

  /** Counts a read of `t` from inside the DAG (see `readsInDag`). */
  countRead(t: Tensor): void {
    const p = t.pending;
    if (!p) return;
    this.mark(p);
    p.walkReads++;
  }

  /** Whether reading t through (dims, offs) visits each of its elements: no offsets, each dim a whole loop. */
  private coversWhole(t: Tensor, dims: readonly number[], offs: readonly number[]): boolean {
    const used = new Set<number>();
    for (let j = 0; j < t.ndim; j++) {
      if (t.shape[j] === 1) continue;
      const d = dims[j]!;
      if (offs[j] !== 0 || d < 0 || used.has(d) || this.loop[d] !== t.shape[j]) return false;
      used.add(d);
    }
    return true;
  }

  /**
   * Pending t = sum(x) over x's last dim, read through (dims, offs), as a sum over this kernel's innermost
   * loop at the outer level where it varies; null unless that loop runs over x's last dim, or over an
   * equal piece of it (t itself not varying along it). A row of several pieces (a layer norm over an LSTM's
   * 4H gates, in the H-long loop of its cell) is added a piece at a time, into the same partial sums: in
   * the order of `rowSums` when each piece is a whole number of vectors, which is asked for.
   */
  private sumInLoop(p: Pending, dims: readonly number[], offs: readonly number[]): number | null {
    const x = p.args[0]!;
    const inner = this.rank - 1;
    const lead = x.ndim - 1;
    if (inner < 0 || lead < 0) return null;
    const n = this.loop[inner]!;
    const pieces = x.shape[lead]! / n;
    const whole = pieces === 1 || (pieces <= MAX_PIECES && n % sumLanes(this.f32) === 0);
    if (!Number.isInteger(pieces) || pieces < 1 || !whole) return null;
    const leadDims = dims.slice(0, lead);
    if (leadDims.includes(inner)) return null;
    const args: number[] = [];
    for (let k = 0; k < pieces; k++) {
      args.push(this.walk(x, [...leadDims, inner], [...offs.slice(0, lead), k * n]));
    }
    let level = -1;
    leadDims.forEach((d, j) => {
      if (x.shape[j] !== 1 && d > level) level = d;
    });
    return this.add({ kind: 'op', op: 'sum', args, params: NO_PARAMS, level });
  }

  /**
   * Writes `ref` through `dest` (adds it to what is there, with `accumulate`); `fresh`: dest is a new array
   * this store fills whole.
   */
  store(ref: number, dest: Destination, fresh: boolean, accumulate = false): void {
    const array = this.arrayOf(dest.data);
    this.fresh[array] = fresh;
    this.stores.push({ array, base: dest.offset, coefs: dest.strides, value: ref, accumulate });
  }

  /** The kernel's IR, or null when it stores nothing (every request was computed already). */
  ir(): KernelIr | null {
    if (this.stores.length === 0) return null;
    return {
      loop: this.loop,
      f32: this.f32,
      values: this.values,
      stores: this.stores,
      arrayCount: this.arrays.length,
      fresh: this.arrays.map((_, k) => this.fresh[k] ?? false),
    };
  }

  private arrayOf(data: TypedArray): number {
    let i = this.arrayIndex.get(data);
    if (i === undefined) {
      i = this.arrays.length;
      this.arrays.push(data);
      this.arrayIndex.set(data, i);
    }
    return i;
  }

  /** A read of `data` (of `shape`) through the map: element index base + Σ coefs[d]·i_d. */
  private load(data: TypedArray, shape: Shape, dims: readonly number[], offs: readonly number[]): number {
    // Into scratch first: most reads repeat one made already (a scalar, a weight row), found without a copy.
    const coefs = this.coefs.fill(0);
    let base = 0;
    let stride = 1;
    for (let j = shape.length - 1; j >= 0; j--) {
      if (shape[j] !== 1) {
        base += offs[j]! * stride;
        if (dims[j]! >= 0) coefs[dims[j]!]! += stride;
      }
      stride *= shape[j]!;
    }
    const array = this.arrayOf(data);
    const reads = this.loads.get(array);
    if (reads) {
      for (const r of reads) if (r.base === base && shapesEqual(r.coefs, coefs)) return r.ref;
    }
    let level = -1;
    for (let d = 0; d < coefs.length; d++) if (coefs[d] !== 0) level = d;
    const kept = coefs.slice();
    const ref = this.add({ kind: 'load', array, base, coefs: kept, level });
    if (reads) reads.push({ base, coefs: kept, ref });
    else this.loads.set(array, [{ base, coefs: kept, ref }]);
    return ref;
  }

  private add(value: IrValue): number {
    this.values.push(value);
    return this.values.length - 1;
  }
}

function isIdentity(dims: readonly number[], offs: readonly number[]): boolean {
  for (let j = 0; j < dims.length; j++) if (dims[j] !== j || offs[j] !== 0) return false;
  return true;
}

/** The map of an operand of shape `shape` broadcast to `out` (read through `dims`, `offs`). */
function broadcastMap(
  shape: Shape,
  out: Shape,
  dims: readonly number[],
  offs: readonly number[],
): [number[], number[]] {
  const lead = out.length - shape.length;
  const d: number[] = [];
  const o: number[] = [];
  for (let j = 0; j < shape.length; j++) {
    const broadcast = shape[j] === 1 && out[j + lead] !== 1;
    d.push(broadcast ? -1 : dims[j + lead]!);
    o.push(broadcast ? 0 : offs[j + lead]!);
  }
  return [d, o];
}

/** A pending op reads its arguments when realized: refuses if one changed in place since it was recorded. */
function checkArgVersions(p: Pending): void {
  const i = changedArg(p);
  if (i < 0) return;
  throw new Error(
    `realize: argument ${i} of the pending '${p.op}' (shape ${fmt(p.args[i]!.shape)}) was modified in place after the op ` +
      'was recorded, and pending ops read their arguments when computed; read the result (or realize() it) ' +
      'before changing its inputs',
  );
}

/** The first argument of p changed in place since p was recorded, or −1. */
function changedArg(p: Pending): number {
  for (let i = 0; i < p.args.length; i++) if (p.args[i]!.version !== p.versions[i]) return i;
  return -1;
}
