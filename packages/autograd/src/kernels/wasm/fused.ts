/**
 * Fused elementwise kernels as WebAssembly SIMD, emitted at run time from their IR (../fused.ts; no
 * `eval`, so they also run where a content-security policy forbids it, given 'wasm-unsafe-eval').
 *
 * Each value is computed two elements at a time in f64x2 lanes with the very operations the JavaScript
 * kernel performs in double precision (IEEE add, sub, mul, div, sqrt, min, max; comparisons; the float32
 * σ and tanh of kernels/elementwise.ts, whose 2ᵏ comes from the bits instead of the table), and a float32
 * node is rounded to float32 after every op, as `Math.fround` does. So a WebAssembly kernel gives the
 * JavaScript kernel's results bit for bit; it is only faster. A DAG with an op outside that set (exp, log,
 * erf, pow, the float64 σ and tanh of Math), more than two loop dims, or a strided innermost read runs in
 * JavaScript.
 *
 * Operands are copied into one WebAssembly memory, each padded so that a pair read at a row's last element
 * stays inside; the results are copied out.
 */
import type { TypedArray } from '../../dtype.ts';
import { EXP_TAYLOR, ROUNDING, TANH_TAYLOR } from '../elementwise.ts';
import type { IrValue, KernelIr } from '../fused.ts';

/** A compiled kernel and what to copy in and out. */
export interface WasmFused {
  run: (...pointers: number[]) => void;
  /** Arrays whose contents the kernel needs (read, or written only in part). */
  copyIn: readonly boolean[];
  /** Arrays the kernel writes. */
  copyOut: readonly boolean[];
}

const BINARY: Readonly<Record<string, number>> = {
  add: 0xf0,
  sub: 0xf1,
  mul: 0xf2,
  div: 0xf3,
  minimum: 0xf4,
  maximum: 0xf5,
};
const UNARY: Readonly<Record<string, number>> = { abs: 0xec, neg: 0xed };
const COMPARE: Readonly<Record<string, number>> = {
  eq: 0x47,
  ne: 0x48,
  lt: 0x49,
  gt: 0x4a,
  le: 0x4b,
  ge: 0x4c,
};

/** Whether the op has a WebAssembly form with the JavaScript kernel's exact semantics. */
function supported(op: string, f32: boolean): boolean {
  return (
    op in BINARY ||
    op in UNARY ||
    op in COMPARE ||
    op === 'relu' ||
    op === 'where' ||
    op === 'clamp' ||
    (f32 && (op === 'sigmoid' || op === 'tanh'))
  );
}

let memory: WebAssembly.Memory | null = null;
let available: boolean | null = null;

/** Whether WebAssembly can be used here at all; a kernel whose module fails to build runs in JavaScript. */
function wasmAvailable(): boolean {
  if (available === null) {
    try {
      memory = new WebAssembly.Memory({ initial: 16 });
      available = true;
    } catch {
      available = false;
    }
  }
  return available;
}

let compiled = 0;

/** How many fused kernels were compiled to WebAssembly (for tests and diagnostics). */
export function wasmFusedKernelCount(): number {
  return compiled;
}

/** Compiles `ir` to WebAssembly, or returns null when it cannot run there (the caller uses JavaScript). */
export function compileFused(ir: KernelIr): WasmFused | null {
  const rank = ir.loop.length;
  if (rank < 1 || rank > 2 || !wasmAvailable()) return null;
  const inner = rank - 1;
  for (const v of ir.values) {
    if (v.kind === 'op' && !supported(v.op, ir.f32)) return null;
    if (v.kind === 'load' && v.coefs[inner]! > 1) return null;
  }
  for (const s of ir.stores) if (s.coefs[inner] !== 1) return null;
  const copyIn = new Array<boolean>(ir.arrayCount).fill(false);
  const copyOut = new Array<boolean>(ir.arrayCount).fill(false);
  for (const v of ir.values) if (v.kind === 'load') copyIn[v.array] = true;
  for (const s of ir.stores) {
    copyOut[s.array] = true;
    if (!ir.fresh[s.array]) copyIn[s.array] = true; // written in part: keep the rest
  }
  try {
    const bytes = emitModule(ir);
    const module = new WebAssembly.Module(bytes);
    const instance = new WebAssembly.Instance(module, { m: { m: memory! } });
    compiled++;
    return { run: instance.exports.run as (...p: number[]) => void, copyIn, copyOut };
  } catch {
    return null; // too large to compile synchronously here (a browser's main thread), say
  }
}

/** Runs a compiled kernel over `arrays` (copies in, runs, copies out). */
export function runFused(kernel: WasmFused, arrays: readonly TypedArray[]): void {
  const pointers: number[] = [];
  let end = 0;
  for (const a of arrays) {
    pointers.push(end);
    end += a.byteLength + 32; // padding: a pair read at a row's last element stays in bounds
    end = (end + 15) & ~15;
  }
  const mem = memory!;
  if (end > mem.buffer.byteLength) mem.grow(Math.ceil((end - mem.buffer.byteLength) / 65536));
  const buffer = mem.buffer;
  arrays.forEach((a, k) => {
    if (kernel.copyIn[k])
      new Uint8Array(buffer, pointers[k]!, a.byteLength).set(
        new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
      );
  });
  kernel.run(...pointers);
  arrays.forEach((a, k) => {
    if (kernel.copyOut[k])
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(
        new Uint8Array(buffer, pointers[k]!, a.byteLength),
      );
  });
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

function f64Bytes(x: number): number[] {
  return Array.from(new Uint8Array(new Float64Array([x]).buffer));
}

/** Instruction builder for one function body. */
class Code {
  readonly bytes: number[] = [];
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
  /** f64x2 of x in both lanes. */
  splat(x: number): this {
    const b = f64Bytes(x);
    return this.simd(0x0c, ...b, ...b);
  }
  /** i64x2 of n in both lanes (n < 2⁵³, exactly representable). */
  splatI64(n: bigint): this {
    const b = Array.from(new Uint8Array(new BigInt64Array([n]).buffer));
    return this.simd(0x0c, ...b, ...b);
  }
}

const V128 = 0x7b;
const I32 = 0x7f;

/**
 * The module: `run(p_0, …, p_n)` over the loop [outer?, inner], inner elements two at a time and a last
 * single one when the inner length is odd. Locals: the parameters, i0, i1, one row address per load and
 * store, one v128 per value, and scratch.
 */
function emitModule(ir: KernelIr): Uint8Array<ArrayBuffer> {
  const rank = ir.loop.length;
  const inner = rank - 1;
  const n = ir.arrayCount;
  const size = ir.f32 ? 4 : 8;
  const [I0, I1] = [n, n + 1];
  const rowOfLoad = new Map<number, number>();
  let next = n + 2;
  ir.values.forEach((v, i) => {
    if (v.kind === 'load') rowOfLoad.set(i, next++);
  });
  const rowOfStore = ir.stores.map(() => next++);
  const i32Locals = next - n;
  const valueLocal = (i: number) => next + i;
  const scratch = next + ir.values.length; // 8 v128 scratch locals
  const v128Locals = ir.values.length + 8;

  const c = new Code();
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
  const loadValue = (i: number, v: Extract<IrValue, { kind: 'load' }>) => {
    const row = rowOfLoad.get(i)!;
    if (v.coefs[inner] === 0) {
      // Constant along the inner loop: one element, in both lanes.
      c.get(row);
      if (ir.f32)
        c.op(0x2a, 2, 0, 0xbb); // f32.load, f64.promote_f32
      else c.op(0x2b, 3, 0);
      c.simd(0x14); // f64x2.splat
    } else {
      c.get(row).get(I1).i32(size).op(0x6c, 0x6a);
      if (ir.f32)
        c.simd(0x5d, 3, 0).simd(0x5f); // v128.load64_zero, f64x2.promote_low_f32x4
      else c.simd(0x00, 4, 0);
    }
    c.set(valueLocal(i));
  };
  const round = () => {
    if (ir.f32) c.simd(0x5e).simd(0x5f); // f32x4.demote_f64x2_zero, f64x2.promote_low_f32x4
  };
  const horner = (coefs: readonly number[], x: number) => {
    // ((c_n·x + c_{n−1})·x + …): evaluated as c_0 + x·(c_1 + x·(…)) like the JavaScript.
    c.splat(coefs[coefs.length - 1]!);
    for (let k = coefs.length - 2; k >= 0; k--) {
      c.get(x).simd(0xf2); // * x
      c.splat(coefs[k]!).simd(0xf0); // + c_k  (c_k + x·inner and inner·x + c_k are the same IEEE ops)
    }
  };
  /** e^x·… pieces for σ/tanh: given x in local `x`, leaves p·2ᵏ on the stack (t, k, r in scratch). */
  const expScaled = (x: number) => {
    const [t, k, r] = [scratch + 1, scratch + 2, scratch + 3];
    c.get(x).splat(Math.LOG2E).simd(0xf2).splat(ROUNDING).simd(0xf0).set(t); // t = x·log2e + R
    c.get(t).splat(ROUNDING).simd(0xf1).set(k); // k = t − R
    c.get(x).get(k).splat(Math.LN2).simd(0xf2).simd(0xf1).set(r); // r = x − k·ln2
    horner(EXP_TAYLOR, r);
    // 2ᵏ from the low bits of t: ((t ≪ 52) + (1023 ≪ 52)) as f64.
    c.get(t)
      .i32(52)
      .simd(0xcb)
      .splatI64(1023n << 52n)
      .simd(0xce);
    c.simd(0xf2); // p · 2ᵏ
  };
  const emitOp = (v: Extract<IrValue, { kind: 'op' }>) => {
    const arg = (j: number) => c.get(valueLocal(v.args[j]!));
    if (v.op in BINARY) {
      arg(0);
      arg(1);
      c.simd(BINARY[v.op]!);
    } else if (v.op in UNARY) {
      arg(0);
      c.simd(UNARY[v.op]!);
    } else if (v.op in COMPARE) {
      arg(0);
      arg(1);
      c.simd(COMPARE[v.op]!).splat(1).simd(0x4e); // mask & 1.0
    } else if (v.op === 'relu') {
      arg(0);
      c.splat(0).simd(0xf5);
    } else if (v.op === 'clamp') {
      arg(0);
      c.splat(v.params[0]!).simd(0xf5).splat(v.params[1]!).simd(0xf4);
    } else if (v.op === 'where') {
      arg(1);
      arg(2);
      arg(0);
      c.splat(0).simd(0x48).simd(0x52); // bitselect(a, b, c ≠ 0)
    } else if (v.op === 'sigmoid') {
      const x = scratch;
      arg(0);
      c.simd(0xed).splat(-44).simd(0xf5).splat(110).simd(0xf4).set(x); // min(max(−a, −44), 110)
      c.splat(1);
      expScaled(x);
      c.splat(1).simd(0xf0).simd(0xf3); // 1 / (p·2ᵏ + 1), the same IEEE sum as 1 + p·2ᵏ
    } else if (v.op === 'tanh') {
      const [x, big, sq, small] = [scratch, scratch + 4, scratch + 5, scratch + 6];
      // x = 2·min(max(a, −10), 10);  big = 1 − 2 / (p·2ᵏ + 1)
      c.splat(2);
      arg(0);
      c.splat(-10).simd(0xf5).splat(10).simd(0xf4).simd(0xf2).set(x);
      c.splat(1).splat(2);
      expScaled(x);
      c.splat(1).simd(0xf0).simd(0xf3).simd(0xf1).set(big);
      // small = a·(1 + s·(…)), s = a·a
      arg(0);
      arg(0);
      c.simd(0xf2).set(sq);
      arg(0);
      horner(TANH_TAYLOR, sq);
      c.simd(0xf2).set(small);
      // small where |a| < 1/4, else big
      c.get(small).get(big);
      arg(0);
      c.simd(0xec).splat(0.25).simd(0x49).simd(0x52);
    }
    round();
  };
  const emitLevel = (level: number) => {
    ir.values.forEach((v, i) => {
      if (v.level !== level) return;
      if (v.kind === 'load') loadValue(i, v);
      else {
        emitOp(v);
        c.set(valueLocal(i));
      }
    });
  };
  const emitStores = (tail: boolean) => {
    ir.stores.forEach((s, j) => {
      c.get(rowOfStore[j]!).get(I1).i32(size).op(0x6c, 0x6a).get(valueLocal(s.value));
      if (ir.f32) {
        c.simd(0x5e); // to f32 lanes
        if (tail)
          c.simd(0x5a, 2, 0, 0); // v128.store32_lane lane 0
        else c.simd(0x5b, 3, 0, 0); // v128.store64_lane lane 0 (two floats)
      } else if (tail) c.simd(0x5b, 3, 0, 0);
      else c.simd(0x0b, 4, 0); // v128.store
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
  const innerLoop = () => {
    c.i32(0).set(I1);
    if (innerLength >= 2) {
      c.op(0x02, 0x40, 0x03, 0x40); // block loop
      emitLevel(inner);
      emitStores(false);
      c.get(I1).i32(2).op(0x6a).set(I1);
      c.get(I1)
        .i32(innerLength - 1)
        .op(0x48, 0x0d, 0); // br_if loop (i1 < len − 1)
      c.op(0x0b, 0x0b); // end loop, end block
    }
    if (innerLength % 2 === 1) {
      emitLevel(inner);
      emitStores(true);
    }
  };
  // Every row address at i0 = 0, the constants (level −1), then the loops.
  c.i32(0).set(I0);
  setRows(false);
  emitLevel(-1);
  if (rank === 1) innerLoop();
  else {
    c.op(0x02, 0x40, 0x03, 0x40);
    setRows(true);
    emitLevel(0);
    innerLoop();
    c.get(I0).i32(1).op(0x6a).set(I0);
    c.get(I0).i32(ir.loop[0]!).op(0x48, 0x0d, 0);
    c.op(0x0b, 0x0b);
  }
  c.op(0x0b);

  const locals = [2, ...uleb(i32Locals), I32, ...uleb(v128Locals), V128];
  const body = [...locals, ...c.bytes];
  const func = [...uleb(body.length), ...body];
  const type = [1, 0x60, ...uleb(n), ...new Array<number>(n).fill(I32), 0];
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
