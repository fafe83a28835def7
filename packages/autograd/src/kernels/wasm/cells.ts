/**
 * The JavaScript side of the fused LSTM and GRU cell kernels (source: cells-source.mjs; loading and memory:
 * module.ts): copies the step's operands into wasm memory, runs the kernel, copies the results out. The
 * equations, the JavaScript kernels these stand in for, and their tests are `@tensorloom/lstm`'s
 * `lstmPointwise` and `gruPointwise` (fused.ts). Each returns false, writing nothing, when it cannot run:
 * backend off or not ready, an operand that is not float32, or H not a multiple of 4 (the kernels work on
 * four hidden units at a time); the caller then runs its JavaScript kernel.
 */
import type { TypedArray } from '../../dtype.ts';
import { layout, type WasmKernels, wasmHeap, wasmKernels } from './module.ts';

let calls = 0;

/** How many cell kernels (LSTM or GRU, forward or backward) have run in WebAssembly (lets tests observe dispatch). */
export function wasmCellCallCount(): number {
  return calls;
}

/** One buffer of a kernel call: its first `size` elements, copied in, out, or both (absent: null). */
interface Operand {
  data: TypedArray | null;
  size: number;
  copyIn: boolean;
  copyOut: boolean;
}
const input = (data: TypedArray, size: number): Operand => ({ data, size, copyIn: true, copyOut: false });
const output = (data: TypedArray | null, size: number): Operand => ({
  data,
  size,
  copyIn: false,
  copyOut: true,
});
const inOut = (data: TypedArray, size: number): Operand => ({ data, size, copyIn: true, copyOut: true });

/**
 * The one way every cell kernel runs: lays the operands out in wasm memory (in order), copies the inputs
 * in, calls `run` with their byte addresses (0 for an absent one), copies the outputs back.
 */
function runCellKernel(
  hidden: number,
  operands: readonly Operand[],
  run: (ex: WasmKernels, addresses: readonly number[]) => void,
): boolean {
  const ex = wasmKernels();
  if (ex === null || hidden % 4 !== 0) return false;
  if (!operands.every((o) => o.data === null || o.data instanceof Float32Array)) return false;
  const addresses = layout(...operands.map((o) => (o.data === null ? 0 : o.size)));
  const heap = wasmHeap(ex, addresses[operands.length]!);
  if (heap === null) return false;
  operands.forEach((o, i) => {
    if (o.data !== null && o.copyIn) heap.set(o.data.subarray(0, o.size), addresses[i]! >>> 2);
  });
  run(
    ex,
    operands.map((o, i) => (o.data === null ? 0 : addresses[i]!)),
  );
  operands.forEach((o, i) => {
    const at = addresses[i]! >>> 2;
    if (o.data !== null && o.copyOut) o.data.set(heap.subarray(at, at + o.size));
  });
  calls++;
  return true;
}

/**
 * One step's pointwise forward, float32: act = [σ(a_i), σ(a_f), tanh(a_g), σ(a_o)] with a = (xp + bias) + hh,
 * c' = f·c + i·g into `cOut`, tc = tanh c', h' = o·tc into `hOut`. xp, hh, act: [B, 4H]; bias: [4H]; c, tc,
 * hOut, cOut: [B, H]. `act` may be `hh`'s storage (hh is copied in before act is copied out).
 */
export function wasmLstmForward(
  xp: TypedArray,
  hh: TypedArray,
  bias: TypedArray,
  c: TypedArray,
  act: TypedArray,
  tc: TypedArray,
  hOut: TypedArray,
  cOut: TypedArray,
  batch: number,
  hidden: number,
): boolean {
  const n = batch * hidden;
  const operands = [
    input(xp, 4 * n),
    input(hh, 4 * n),
    input(bias, 4 * hidden),
    input(c, n),
    output(act, 4 * n),
    output(tc, n),
    output(hOut, n),
    output(cOut, n),
  ];
  return runCellKernel(hidden, operands, (ex, [x, y, b, cIn, a, t, h, cNew]) =>
    ex.lstmForward(x!, y!, b!, cIn!, a!, t!, h!, cNew!, batch, hidden),
  );
}

/**
 * The backward of `wasmLstmForward`, float32, from ∂L/∂h' (gh) and ∂L/∂c' (gc) [B, H] and the kept c, act,
 * tc: writes da = ∂L/∂a [B, 4H] and dc = ∂L/∂c [B, H], and adds Σ_rows da into db [4H].
 */
export function wasmLstmBackward(
  gh: TypedArray,
  gc: TypedArray,
  c: TypedArray,
  act: TypedArray,
  tc: TypedArray,
  da: TypedArray,
  dc: TypedArray,
  db: TypedArray,
  batch: number,
  hidden: number,
): boolean {
  const n = batch * hidden;
  const operands = [
    input(gh, n),
    input(gc, n),
    input(c, n),
    input(act, 4 * n),
    input(tc, n),
    output(da, 4 * n),
    output(dc, n),
    inOut(db, 4 * hidden),
  ];
  return runCellKernel(hidden, operands, (ex, [dh, dcNext, cIn, a, t, dA, dC, dB]) =>
    ex.lstmBackward(dh!, dcNext!, cIn!, a!, t!, dA!, dC!, dB!, batch, hidden),
  );
}

/**
 * One GRU step's pointwise forward, float32: act = [r, z, n] with r, z = σ(xp + hh) and n = tanh(x_n + r·h_n),
 * h' = n + z·(h − n) into `hOut`. xp, hh, act: [B, 3H]; h, hOut: [B, H].
 */
export function wasmGruForward(
  xp: TypedArray,
  hh: TypedArray,
  h: TypedArray,
  act: TypedArray,
  hOut: TypedArray,
  batch: number,
  hidden: number,
): boolean {
  const n = batch * hidden;
  const operands = [input(xp, 3 * n), input(hh, 3 * n), input(h, n), output(act, 3 * n), output(hOut, n)];
  return runCellKernel(hidden, operands, (ex, [x, y, hIn, a, hNew]) =>
    ex.gruForward(x!, y!, hIn!, a!, hNew!, batch, hidden),
  );
}

/**
 * The backward of `wasmGruForward`, float32, from d = ∂L/∂h' [B, H] and the kept hh, h, act: writes
 * dxp and dhh [B, 3H] and, when given, dh = ∂L/∂h [B, H].
 */
export function wasmGruBackward(
  d: TypedArray,
  hh: TypedArray,
  h: TypedArray,
  act: TypedArray,
  dxp: TypedArray,
  dhh: TypedArray,
  dh: TypedArray | null,
  batch: number,
  hidden: number,
): boolean {
  const n = batch * hidden;
  const operands = [
    input(d, n),
    input(hh, 3 * n),
    input(h, n),
    input(act, 3 * n),
    output(dxp, 3 * n),
    output(dhh, 3 * n),
    output(dh, n),
  ];
  return runCellKernel(hidden, operands, (ex, [g, y, hIn, a, dx, dy, dH]) =>
    ex.gruBackward(g!, y!, hIn!, a!, dx!, dy!, dH!, dh === null ? 0 : 1, batch, hidden),
  );
}
