/**
 * Fused elementwise kernels as WebAssembly SIMD, emitted at run time from their IR (../fused.ts; no
 * `eval`, so they also run where a content-security policy forbids it, given 'wasm-unsafe-eval').
 *
 * Each value is computed several elements at a time, four float32 lanes (f32x4) or two float64 lanes
 * (f64x2), with the very IEEE operations the JavaScript kernel performs (add, sub, mul, div, sqrt, min, max,
 * abs, neg; comparisons; row sums into partial sums by lane (`rowSums`), and stores that add into place;
 * the float32 σ and tanh of kernels/elementwise.ts, written in float32 operations, whose 2ᵏ comes from the
 * bits instead of the table). So a WebAssembly kernel gives the JavaScript kernel's results bit for bit; it
 * is only faster. A DAG with an op outside that set (exp, log, erf, pow, the float64 σ and tanh of Math),
 * more than two loop dims, or a strided innermost read runs in JavaScript.
 *
 * The range of each operand a kernel touches is copied into the WebAssembly memory of the GEMM module
 * (module.ts), past what that keeps there, padded so that a full vector read at a row's last element stays
 * inside; the results are copied out. A product's result just copied out of that memory, or a view of it, is
 * read where it is.
 */
import type { TypedArray } from '../../dtype.ts';
import { EXPM1_TAYLOR, LN2_HI, LN2_LO, LOG2E_F32, ROUNDING_F32, TANH_TAYLOR } from '../elementwise.ts';
import {
  type InnerPass,
  type InnerPlan,
  type IrValue,
  type KernelIr,
  planInnerPasses,
  storeLevel,
} from '../ir.ts';
import { forgetOutput, fusedScratchStart, outputAddress, wasmHeap, wasmKernels } from './module.ts';

/** A compiled kernel and what to copy in and out. */
export interface WasmFused {
  run: (...pointers: number[]) => void;
  /** Arrays whose contents the kernel needs (read, or written only in part). */
  copyIn: readonly boolean[];
  /** Arrays the kernel writes. */
  copyOut: readonly boolean[];
  /** The element range [first, end) of each array the kernel touches: only that much is copied. */
  first: readonly number[];
  end: readonly number[];
  /** Bytes of row cache the kernel needs (see `InnerPlan`), passed after the arrays' addresses. */
  rowCacheBytes: number;
}

/** The opcodes (after the 0xfd prefix) of one lane type. */
interface Lanes {
  /** Elements per vector. */
  count: number;
  /** Bytes per element. */
  size: number;
  binary: Readonly<Record<string, number>>;
  unary: Readonly<Record<string, number>>;
  compare: Readonly<Record<string, number>>;
  /**
   * pmin(a, b) = b < a ? b : a and pmax(a, b) = a < b ? b : a: one x86 instruction each, where the IEEE
   * minimum and maximum take about eight. Against a constant c that is neither ±0 nor NaN, as the second
   * operand, they equal Math.min(a, c) and Math.max(a, c): NaN in a stays NaN, and zeros' signs never meet.
   */
  pmin: number;
  pmax: number;
  /** The splat of a scalar, and the scalar load (plain opcode) that feeds it. */
  splat: number;
  scalarLoad: number;
  /** A constant in every lane, as v128.const bytes. */
  constant: (x: number) => number[];
  /** v128.storeN_lane: one lane's element. */
  storeLane: number;
  /** The scalar add and store (plain opcodes), and the lane extraction that yields a scalar. */
  scalarAdd: number;
  scalarStore: number;
  extractLane: number;
}

const F32X4: Lanes = {
  count: 4,
  size: 4,
  binary: { add: 0xe4, sub: 0xe5, mul: 0xe6, div: 0xe7, minimum: 0xe8, maximum: 0xe9 },
  unary: { abs: 0xe0, neg: 0xe1, sqrt: 0xe3 },
  compare: { eq: 0x41, ne: 0x42, lt: 0x43, gt: 0x44, le: 0x45, ge: 0x46 },
  pmin: 0xea,
  pmax: 0xeb,
  splat: 0x13,
  scalarLoad: 0x2a,
  constant: (x) => Array.from(new Uint8Array(new Float32Array(4).fill(x).buffer)),
  storeLane: 0x5a,
  scalarAdd: 0x92,
  scalarStore: 0x38,
  extractLane: 0x1f,
};

const F64X2: Lanes = {
  count: 2,
  size: 8,
  binary: { add: 0xf0, sub: 0xf1, mul: 0xf2, div: 0xf3, minimum: 0xf4, maximum: 0xf5 },
  unary: { abs: 0xec, neg: 0xed, sqrt: 0xef },
  compare: { eq: 0x47, ne: 0x48, lt: 0x49, gt: 0x4a, le: 0x4b, ge: 0x4c },
  pmin: 0xf6,
  pmax: 0xf7,
  splat: 0x14,
  scalarLoad: 0x2b,
  constant: (x) => Array.from(new Uint8Array(new Float64Array(2).fill(x).buffer)),
  storeLane: 0x5b,
  scalarAdd: 0xa0,
  scalarStore: 0x39,
  extractLane: 0x21,
};

/** Whether the op has a WebAssembly form with the JavaScript kernel's exact semantics. */
function supported(op: string, f32: boolean): boolean {
  return (
    op in F32X4.binary ||
    op in F32X4.unary ||
    op in F32X4.compare ||
    op === 'relu' ||
    op === 'sum' ||
    op === 'where' ||
    op === 'clamp' ||
    (f32 && (op === 'sigmoid' || op === 'tanh'))
  );
}

let compiled = 0;

/** How many fused kernels were compiled to WebAssembly (for tests and diagnostics). */
export function wasmFusedKernelCount(): number {
  return compiled;
}

/** Compiles `ir` to WebAssembly, or returns null when it cannot run there (the caller uses JavaScript). */
export function compileFused(ir: KernelIr): WasmFused | null {
  const rank = ir.loop.length;
  const ex = wasmKernels();
  if (rank < 1 || rank > 2 || ex === null) return null;
  const inner = rank - 1;
  for (const v of ir.values) {
    if (v.kind === 'op' && !supported(v.op, ir.f32)) return null;
    if (v.kind === 'load' && v.coefs[inner]! > 1) return null;
  }
  for (const s of ir.stores) if (s.coefs[inner] !== 1 && storeLevel(ir, s) === inner) return null;
  const copyIn = new Array<boolean>(ir.arrayCount).fill(false);
  const copyOut = new Array<boolean>(ir.arrayCount).fill(false);
  const first = new Array<number>(ir.arrayCount).fill(Infinity);
  const end = new Array<number>(ir.arrayCount).fill(0);
  const touch = (array: number, base: number, coefs: readonly number[]) => {
    let lo = base;
    let hi = base;
    coefs.forEach((c, d) => {
      if (c < 0) lo += c * (ir.loop[d]! - 1);
      else hi += c * (ir.loop[d]! - 1);
    });
    first[array] = Math.min(first[array]!, lo);
    end[array] = Math.max(end[array]!, hi + 1);
  };
  for (const v of ir.values) {
    if (v.kind !== 'load') continue;
    copyIn[v.array] = true;
    touch(v.array, v.base, v.coefs);
  }
  for (const s of ir.stores) {
    copyOut[s.array] = true;
    touch(s.array, s.base, s.coefs);
  }
  // An array written in part keeps the rest: copied in, unless the stores together cover its range (the
  // chunks of a gate gradient written into their row of a stacked gradient).
  for (const s of ir.stores) {
    if (copyIn[s.array] || ir.fresh[s.array]) continue;
    copyIn[s.array] = s.accumulate || !covered(ir, s.array, first[s.array]!, end[s.array]!);
  }
  const plan = planInnerPasses(ir);
  const rowCacheBytes = plan.slots.size * plan.length * (ir.f32 ? 4 : 8);
  try {
    const bytes = emitModule(ir, plan);
    const module = new WebAssembly.Module(bytes);
    const instance = new WebAssembly.Instance(module, { m: { m: ex.memory as WebAssembly.Memory } });
    compiled++;
    return {
      run: instance.exports.run as (...p: number[]) => void,
      copyIn,
      copyOut,
      first,
      end,
      rowCacheBytes,
    };
  } catch {
    return null; // too large to compile synchronously here (a browser's main thread), say
  }
}

/** Arrays of at most this many elements are checked for being written whole by several stores. */
const MAX_COVERAGE_CHECK = 1 << 22;

/** Whether the stores into `array` write every element of [first, end) (loads of it aside). */
function covered(ir: KernelIr, array: number, first: number, end: number): boolean {
  if (end - first > MAX_COVERAGE_CHECK) return false;
  const written = new Uint8Array(end - first);
  const [outer, inner] = ir.loop.length === 2 ? [ir.loop[0]!, ir.loop[1]!] : [1, ir.loop[0]!];
  for (const s of ir.stores) {
    if (s.array !== array) continue;
    const [c0, c1] = ir.loop.length === 2 ? [s.coefs[0]!, s.coefs[1]!] : [0, s.coefs[0]!];
    for (let i0 = 0; i0 < outer; i0++)
      for (let i1 = 0; i1 < inner; i1++) written[s.base + c0 * i0 + c1 * i1 - first] = 1;
  }
  return written.every((w) => w === 1);
}

/**
 * Runs a compiled kernel over `arrays`: copies in the range of each that it touches, runs, copies out; an
 * array it only reads that a product just left in memory, or a view of one (`outputAddress`), is read there
 * instead. A range [first, end) placed at byte `place` is passed as the address place − first·size
 * (wrapping i32 arithmetic), so that the kernel's element indices need no offset. Returns false, running
 * nothing, when memory cannot grow enough (the caller runs the JavaScript kernel).
 */
export function runFused(kernel: WasmFused, arrays: readonly TypedArray[]): boolean {
  const ex = wasmKernels();
  if (ex === null) return false;
  const pointers: number[] = [];
  const places: number[] = [];
  let top = fusedScratchStart();
  for (let k = 0; k < arrays.length; k++) {
    const a = arrays[k]!;
    const kept = kernel.copyOut[k] ? -1 : outputAddress(a);
    if (kept >= 0) {
      pointers.push(kept);
      places.push(-1);
      continue;
    }
    const size = a.BYTES_PER_ELEMENT;
    places.push(top);
    pointers.push(top - kernel.first[k]! * size);
    top += Math.max(0, kernel.end[k]! - kernel.first[k]!) * size;
    top = (top + 32 + 15) & ~15; // a vector read past a range's end stays in memory
  }
  pointers.push(top); // the row cache
  const heap32 = wasmHeap(ex, top + kernel.rowCacheBytes + 32);
  if (heap32 === null) return false;
  if (heap64.buffer !== heap32.buffer) heap64 = new Float64Array(heap32.buffer);
  // Each range at its place, as whole views of memory indexed in elements (places are 16-byte aligned).
  const heapOf = (a: TypedArray) => (a instanceof Float64Array ? heap64 : heap32);
  for (let k = 0; k < arrays.length; k++) {
    const a = arrays[k]!;
    if (!kernel.copyIn[k] || places[k]! < 0) continue;
    const first = kernel.first[k]!;
    const end = kernel.end[k]!;
    heapOf(a).set(
      first === 0 && end === a.length ? a : a.subarray(first, end),
      places[k]! / a.BYTES_PER_ELEMENT,
    );
  }
  kernel.run(...pointers);
  for (let k = 0; k < arrays.length; k++) {
    if (!kernel.copyOut[k]) continue;
    const a = arrays[k]!;
    forgetOutput(a); // written here: a product's copy of it is out of date
    const at = places[k]! / a.BYTES_PER_ELEMENT;
    a.set(heapOf(a).subarray(at, at + kernel.end[k]! - kernel.first[k]!), kernel.first[k]!);
  }
  return true;
}

/** A float64 view of the whole WebAssembly memory (renewed when the memory grows). */
let heap64: Float64Array = new Float64Array(0);

/** v128.const bytes with every bit set in lanes 0 … count − 1 and clear in the others. */
function laneMask(count: number, lanes: Lanes): number[] {
  return Array.from({ length: 16 }, (_, b) => (b < count * lanes.size ? 0xff : 0));
}

// ---- The binary encoder ----------------------------------------------------------------------------

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** Instruction builder for one function body, over one lane type. */
class Code {
  readonly bytes: number[] = [];
  constructor(readonly lanes: Lanes) {}
  op(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }
  simd(opcode: number, ...imm: number[]): this {
    return this.op(0xfd, ...uleb(opcode), ...imm);
  }
  get(local: number): this {
    return this.op(0x20, ...uleb(local));
  }
  set(local: number): this {
    return this.op(0x21, ...uleb(local));
  }
  i32(n: number): this {
    return this.op(0x41, ...sleb(n));
  }
  /** x in every lane. */
  splat(x: number): this {
    return this.simd(0x0c, ...this.lanes.constant(x));
  }
  /** The 32-bit integer n in every i32x4 lane. */
  splatI32(n: number): this {
    return this.simd(0x0c, ...new Uint8Array(new Int32Array(4).fill(n).buffer));
  }
  binary(op: string): this {
    return this.simd(this.lanes.binary[op]!);
  }
  /** The vector on the stack as Math.min(Math.max(v, lo), hi) gives it; a bound of ±Infinity is skipped. */
  clamp(lo: number, hi: number): this {
    if (lo !== -Infinity) this.splat(lo).simd(lo === 0 ? this.lanes.binary.maximum! : this.lanes.pmax);
    if (hi !== Infinity) this.splat(hi).simd(hi === 0 ? this.lanes.binary.minimum! : this.lanes.pmin);
    return this;
  }
  unary(op: string): this {
    return this.simd(this.lanes.unary[op]!);
  }
}

const V128 = 0x7b;
const I32 = 0x7f;

/**
 * The module: `run(p_0, …, p_n−1, rows)` over the loop [outer?, inner], the inner elements a vector at a
 * time, then the last inner length mod lanes of them as one vector of which only those lanes are stored;
 * `rows` is the row cache (`plan`). Locals: the parameters, i0, i1, one row address per load and store, one
 * v128 per value, and scratch.
 */
function emitModule(ir: KernelIr, plan: InnerPlan): Uint8Array<ArrayBuffer> {
  const rank = ir.loop.length;
  const inner = rank - 1;
  const n = ir.arrayCount;
  const lanes = ir.f32 ? F32X4 : F64X2;
  const size = lanes.size;
  const [ROWS, I0, I1] = [n, n + 1, n + 2];
  const rowOfLoad = new Map<number, number>();
  let next = n + 3;
  ir.values.forEach((v, i) => {
    if (v.kind === 'load') rowOfLoad.set(i, next++);
  });
  const rowOfStore = ir.stores.map(() => next++);
  const i32Locals = next - n - 1;
  const valueLocal = (i: number) => next + i;
  const scratch = next + ir.values.length; // 8 v128 scratch locals
  const partials = scratch + 8; // the partial sums of emitSum
  const v128Locals = ir.values.length + 9;

  const c = new Code(lanes);
  /** Row address of an access: p + size·(base + coef_outer·i0), set where its level begins. */
  const setRow = (local: number, array: number, base: number, coefs: readonly number[]) => {
    c.get(array)
      .i32(size * base)
      .op(0x6a);
    if (rank === 2 && coefs[0] !== 0)
      c.get(I0)
        .i32(size * coefs[0]!)
        .op(0x6c, 0x6a);
    c.set(local);
  };
  /** Pushes the address of element i1 of a row. */
  const address = (row: number) => c.get(row).get(I1).i32(size).op(0x6c, 0x6a);
  /** Pushes the address of element i1 of value i's row-cache slot. */
  const cached = (i: number) =>
    address(ROWS)
      .i32(plan.slots.get(i)! * plan.length * size)
      .op(0x6a);
  const loadValue = (i: number, v: Extract<IrValue, { kind: 'load' }>) => {
    const row = rowOfLoad.get(i)!;
    if (v.coefs[inner] === 0) {
      // Constant along the inner loop: one element, in every lane.
      c.get(row).op(lanes.scalarLoad, Math.log2(size), 0).simd(lanes.splat);
    } else {
      address(row).simd(0x00, 4, 0); // v128.load
    }
    c.set(valueLocal(i));
  };
  /** c_0 + x·(c_1 + x·(…)) over the constants `coefs` and the local `x`, like the JavaScript. */
  const horner = (coefs: readonly number[], x: number) => {
    c.splat(coefs[coefs.length - 1]!);
    for (let k = coefs.length - 2; k >= 0; k--) {
      c.get(x).binary('mul');
      c.splat(coefs[k]!).binary('add'); // c_k + x·inner and x·inner + c_k are the same IEEE sum
    }
  };
  /**
   * The float32 eˣ = 2ᵏ·(1 + q) of kernels/elementwise.ts for x in local `x`: sets local `s` = 2ᵏ and `q`
   * (scratch t, k, r).
   */
  const expParts = (x: number, s: number, q: number) => {
    const [t, k, r] = [scratch + 1, scratch + 2, scratch + 3];
    c.get(x).splat(LOG2E_F32).binary('mul').splat(ROUNDING_F32).binary('add').set(t); // t = x·log₂e + R
    c.get(t).splat(ROUNDING_F32).binary('sub').set(k); // k = t − R
    c.get(x).get(k).splat(LN2_HI).binary('mul').binary('sub'); // (x − k·LN2_HI) − k·LN2_LO
    c.get(k).splat(LN2_LO).binary('mul').binary('sub').set(r);
    c.get(r);
    horner(EXPM1_TAYLOR, r);
    c.binary('mul').set(q); // q = r·(1 + r·(1/2 + …))
    // 2ᵏ from the low bits of t (k + 0x4B400000): ((t ≪ 23) + (127 ≪ 23)) as float32; k = 128 gives ∞.
    c.get(t)
      .i32(23)
      .simd(0xab)
      .splatI32(127 << 23)
      .simd(0xae)
      .set(s);
  };
  const emitOp = (v: Extract<IrValue, { kind: 'op' }>) => {
    const arg = (j: number) => c.get(valueLocal(v.args[j]!));
    if (v.op in lanes.binary) {
      arg(0);
      arg(1);
      c.binary(v.op);
    } else if (v.op in lanes.unary) {
      arg(0);
      c.unary(v.op);
    } else if (v.op in lanes.compare) {
      arg(0);
      arg(1);
      c.simd(lanes.compare[v.op]!).splat(1).simd(0x4e); // mask & 1.0
    } else if (v.op === 'relu') {
      arg(0);
      c.splat(0).binary('maximum');
    } else if (v.op === 'clamp') {
      arg(0);
      c.clamp(v.params[0]!, v.params[1]!);
    } else if (v.op === 'where') {
      arg(1);
      arg(2);
      arg(0);
      c.splat(0).simd(lanes.compare.ne!).simd(0x52); // bitselect(a, b, c ≠ 0)
    } else if (v.op === 'sigmoid') {
      // 1 / (1 + 2ᵏ·(1 + q)) for x = min(max(−a, −87), 89)
      const [x, s, q] = [scratch, scratch + 4, scratch + 5];
      arg(0);
      c.unary('neg').clamp(-87, 89).set(x);
      expParts(x, s, q);
      c.splat(1);
      c.get(s).splat(1).get(q).binary('add').binary('mul');
      c.binary('add');
      c.set(x).splat(1).get(x).binary('div');
    } else if (v.op === 'tanh') {
      // sign(a)·t(|a|): t = |a| + |a|·s·P(s) (s = a²) below 1/4, else m / (m + 2) with m = (2ᵏ − 1) + 2ᵏ·q
      // for x = 2·min(|a|, 9); the sign is a's sign bit
      const [x, s, q, m, abs] = [scratch, scratch + 4, scratch + 5, scratch + 6, scratch + 7];
      arg(0);
      c.unary('abs').set(abs);
      c.splat(2).get(abs).clamp(-Infinity, 9).binary('mul').set(x);
      expParts(x, s, q);
      c.get(s).splat(1).binary('sub').get(s).get(q).binary('mul').binary('add').set(m);
      c.get(abs).get(abs).binary('mul').set(x); // x = s² from here on
      c.get(abs).get(abs).get(x);
      horner(TANH_TAYLOR, x);
      c.binary('mul').binary('mul').binary('add'); // small = |a| + |a|·(s·P(s))
      c.get(m).get(m).splat(2).binary('add').binary('div'); // big = m / (m + 2)
      c.get(abs).splat(0.25).simd(lanes.compare.lt!).simd(0x52); // |a| < 1/4 ? small : big
      arg(0);
      c.splatI32(-0x80000000).simd(0x4e).simd(0x50); // | (a & sign bit)
    }
  };
  const emitValue = (i: number) => {
    const v = ir.values[i]!;
    if (v.kind === 'load') loadValue(i, v);
    else if (v.op === 'sum') emitSum(i, v.args);
    else {
      emitOp(v);
      c.set(valueLocal(i));
    }
  };
  /** The values of an outer level, then the stores that run there (lane 0, one element). */
  const emitLevel = (level: number) => {
    ir.values.forEach((v, i) => {
      if (v.level === level) emitValue(i);
    });
    ir.stores.forEach((s, j) => {
      if (storeLevel(ir, s) !== level) return;
      c.get(rowOfStore[j]!).get(valueLocal(s.value)).simd(lanes.extractLane, 0);
      c.op(lanes.scalarStore, Math.log2(size), 0);
    });
  };
  /**
   * The sum over the innermost loop of the values `operands` (the pieces of a row, in order), into value i:
   * a loop of its own per operand computing what it needs, adding each vector into one vector of partial
   * sums (lane j: the elements k ≡ j mod lanes; past the row's end, lanes of +0), then the lanes pairwise,
   * as the JavaScript does (`rowSums`).
   */
  const emitSum = (i: number, operands: readonly number[]) => {
    c.splat(0).set(partials);
    operands.forEach((operand, k) => {
      innerLoop(plan.sums.get(i)![k]!, (count) => {
        c.get(partials).get(valueLocal(operand));
        if (count < lanes.count) c.simd(0x0c, ...laneMask(count, lanes)).simd(0x4e); // v128.and
        c.binary('add').set(partials);
      });
    });
    const lane = (j: number) => c.get(partials).simd(lanes.extractLane, j);
    lane(0);
    lane(1);
    c.op(lanes.scalarAdd);
    if (lanes.count === 4) {
      lane(2);
      lane(3);
      c.op(lanes.scalarAdd, lanes.scalarAdd);
    }
    c.simd(lanes.splat).set(valueLocal(i));
  };
  /** Stores every lane, or the first `only` lanes; an accumulating store adds to what is there. */
  const emitStores = (only: number) => {
    ir.stores.forEach((s, j) => {
      if (storeLevel(ir, s) !== inner) return;
      const row = rowOfStore[j]!;
      const value = valueLocal(s.value);
      if (only === 0) {
        address(row);
        if (s.accumulate) address(row).simd(0x00, 4, 0).get(value).binary('add');
        else c.get(value);
        c.simd(0x0b, 4, 0); // v128.store
        return;
      }
      for (let lane = 0; lane < only; lane++) {
        address(row);
        if (s.accumulate) {
          address(row).op(lanes.scalarLoad, Math.log2(size), size * lane);
          c.get(value).simd(lanes.extractLane, lane).op(lanes.scalarAdd);
          c.op(lanes.scalarStore, Math.log2(size), size * lane);
        } else c.get(value).simd(lanes.storeLane, Math.log2(size), size * lane, lane);
      }
    });
  };
  /** Sets the row addresses of the accesses (only those that vary with i0, when `varying`). */
  const setRows = (varying: boolean) => {
    ir.values.forEach((v, i) => {
      if (v.kind === 'load' && (!varying || v.coefs[0] !== 0))
        setRow(rowOfLoad.get(i)!, v.array, v.base, v.coefs);
    });
    ir.stores.forEach((s, j) => {
      if (!varying || s.coefs[0] !== 0) setRow(rowOfStore[j]!, s.array, s.base, s.coefs);
    });
  };
  const innerLength = ir.loop[inner]!;
  /**
   * A loop over the innermost dim, a vector at a time, running a pass (reading back, computing and keeping
   * its values), then `each` of the vector's lanes (all, or the last few at the end).
   */
  const innerLoop = ({ compute, keep, reuse }: InnerPass, each: (count: number) => void) => {
    const values = () => {
      for (const i of reuse) cached(i).simd(0x00, 4, 0).set(valueLocal(i)); // v128.load
      for (const i of compute) emitValue(i);
      for (const i of keep) cached(i).get(valueLocal(i)).simd(0x0b, 4, 0); // v128.store
    };
    c.i32(0).set(I1);
    if (innerLength >= lanes.count) {
      c.op(0x02, 0x40, 0x03, 0x40); // block loop
      values();
      each(lanes.count);
      c.get(I1).i32(lanes.count).op(0x6a).set(I1);
      c.get(I1)
        .i32(innerLength - lanes.count + 1)
        .op(0x48, 0x0d, 0); // br_if loop (i1 < len − lanes + 1)
      c.op(0x0b, 0x0b); // end loop, end block
    }
    if (innerLength % lanes.count !== 0) {
      values();
      each(innerLength % lanes.count);
    }
  };
  const storeLoop = () => innerLoop(plan.stores, (count) => emitStores(count === lanes.count ? 0 : count));
  // Every row address at i0 = 0, the constants (level −1), then the loops.
  c.i32(0).set(I0);
  setRows(false);
  emitLevel(-1);
  if (rank === 1) storeLoop();
  else {
    c.op(0x02, 0x40, 0x03, 0x40);
    setRows(true);
    emitLevel(0);
    storeLoop();
    c.get(I0).i32(1).op(0x6a).set(I0);
    c.get(I0).i32(ir.loop[0]!).op(0x48, 0x0d, 0);
    c.op(0x0b, 0x0b);
  }
  c.op(0x0b);

  const locals = [2, ...uleb(i32Locals), I32, ...uleb(v128Locals), V128];
  const body = [...locals, ...c.bytes];
  const func = [...uleb(body.length), ...body];
  const type = [1, 0x60, ...uleb(n + 1), ...new Array<number>(n + 1).fill(I32), 0];
  const imports = [1, 1, 0x6d, 1, 0x6d, 0x02, 0x00, 1]; // "m"."m": memory, min 1 page
  const exportsSection = [1, 3, 0x72, 0x75, 0x6e, 0x00, 0]; // "run": func 0
  return new Uint8Array([
    0,
    97,
    115,
    109,
    1,
    0,
    0,
    0,
    ...section(1, type),
    ...section(2, imports),
    ...section(3, [1, 0]),
    ...section(7, exportsSection),
    ...section(10, [1, ...func]),
  ]);
}
