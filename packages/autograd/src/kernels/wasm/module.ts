/**
 * Loader of the WebAssembly SIMD kernel module (sources: generate-gemm.mjs and
 * reduce-source.mjs, joined by source.mjs; built by scripts/build-wasm.mjs into module-wasm.generated.ts).
 * The module is instantiated lazily on first use, after checking that the engine validates SIMD; until it
 * is ready (or where it cannot run) callers keep using their JavaScript kernels. Tensors own plain JS typed
 * arrays, so each kernel call copies its operands into wasm memory and its results back out (gemm.ts,
 * reduce.ts, and the fused elementwise kernels of fused.ts, which share this memory); the memory grows to
 * the largest problem seen and is reused by every call.
 */
import type { TypedArray } from '../../dtype.ts';
import { wasmModuleBase64 } from './module-wasm.generated.ts';

/**
 * What is used of the module's `WebAssembly.Memory`, declared here so the published `.d.ts` type-checks
 * without the DOM library (which declares the `WebAssembly` namespace; `lib: ["es2022"]` does not).
 */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** The module's exports (byte addresses for every pointer argument). */
export interface WasmKernels {
  readonly memory: WasmMemory;
  heapBase(): number;
  workspaceBytes(m: number, n: number, k: number): number;
  gemm(
    a: number,
    b: number,
    c: number,
    m: number,
    n: number,
    k: number,
    transA: number,
    transB: number,
    work: number,
    packedB: number,
    addToC: number,
  ): void;
  packedBBytes(n: number, k: number): number;
  packB(b: number, n: number, k: number, transB: number, dst: number): void;
  sumAxis(x: number, outer: number, n: number, inner: number, out: number): void;
}

/** Where the backend is: not tried yet, compiling in the background, usable, or not usable here. */
export type WasmStatus = 'unloaded' | 'pending' | 'ready' | 'unavailable';

/**
 * (module (func (result v128) v128.const i32x4 0 0 0 0)): validates only where the engine has SIMD, so an
 * engine without it never sees (or fails to compile) the real module.
 */
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01,
  0x00, 0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b,
]);

/** Buffers start on cache-line boundaries so v128 loads never straddle two lines needlessly. */
const ALIGN = 64;
const WASM_PAGE = 65536;
/** wasm32 addresses are below 4 GiB; problems that would not fit stay on the JavaScript path. */
const MAX_BYTES = 2 ** 32 - WASM_PAGE;

let status: WasmStatus = 'unloaded';
let kernels: WasmKernels | null = null;
let heap = new Float32Array(0);
/** First free byte after the module's own data; resident operands start here, then each call's buffers. */
let base = 0;
/**
 * What the open residency scopes keep in wasm memory (innermost last): copies of arrays, and op(B) packed
 * from such a copy for products of one shape and transposition (`packedB` set).
 */
const residents: Array<{
  array: Float32Array;
  address: number;
  packedB?: { n: number; k: number; transB: boolean };
}> = [];
/** Where each call's buffers start: after the resident operands. */
let scratchStart = 0;
/**
 * The last product's result as the kernel left it (`keepOutput`): a float32 array's whole contents at a
 * byte address, readable by the fused elementwise kernels until the next call lays out its buffers.
 */
let output: { array: Float32Array; address: number; end: number } | null = null;
/** How many residency scopes are open. */
let scopes = 0;

const envFlag = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
  ?.TENSORLOOM_WASM;
let enabled = !(envFlag !== undefined && ['0', 'false', 'off', 'no'].includes(envFlag.toLowerCase()));

/**
 * Turns the WebAssembly float32 kernels (matmul, axis sums) on or off (default on; the
 * environment variable `TENSORLOOM_WASM=0` starts them off) and returns the previous setting. Off, every
 * kernel runs its plain JavaScript version.
 */
export function setWasmEnabled(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  return previous;
}

/** Whether float32 kernels may use the WebAssembly backend: switched on, and SIMD wasm usable here. */
export function isWasmEnabled(): boolean {
  return enabled && load() !== null;
}

/** The backend's load state (loading it if it was never tried), for diagnostics and benchmarks. */
export function wasmStatus(): WasmStatus {
  load();
  return status;
}

/** The module's exports when switched on and ready, else null (starting the load if never tried). */
export function wasmKernels(): WasmKernels | null {
  return enabled ? load() : null;
}

/**
 * Makes wasm memory at least `bytes` long (growth detaches the old buffer, so the view is refreshed) and
 * returns a float32 view of all of it, or null when that much cannot be had.
 */
export function wasmHeap(ex: WasmKernels, bytes: number): Float32Array | null {
  const have = ex.memory.buffer.byteLength;
  if (bytes > have) {
    if (bytes > MAX_BYTES) return null;
    try {
      ex.memory.grow(Math.ceil((bytes - have) / WASM_PAGE));
    } catch {
      return null;
    }
  }
  if (heap.buffer !== ex.memory.buffer) heap = new Float32Array(ex.memory.buffer);
  return heap;
}

/**
 * Runs `fn` with the given float32 arrays copied into wasm memory once (float64 ones are skipped), for its
 * whole duration: a kernel call inside whose operand is one of them (the same array object, whole) reads
 * that copy instead of copying the array again. For weights that every step of a loop multiplies by (an
 * LSTM's W_hh, 256 KB copied and read twice per step otherwise). The arrays must not be written while `fn`
 * runs; scopes nest, and each releases its copies when it returns or throws. Without the backend this is
 * just `fn()`.
 */
export function withResidentOperands<T>(arrays: readonly TypedArray[], fn: () => T): T {
  return withResidentScope(() => {
    for (const array of arrays) keepResident(array);
    return fn();
  });
}

/**
 * Runs `fn` as a residency scope: operands made resident inside it (`keepResident`) stay until it returns
 * or throws. The engine runs every backward pass as one, so a VJP can keep a weight that the pass's steps
 * multiply by (an LSTM's W_hh) resident for the rest of the pass.
 */
export function withResidentScope<T>(fn: () => T): T {
  const depth = residents.length;
  const start = scratchStart;
  scopes++;
  try {
    return fn();
  } finally {
    scopes--;
    residents.length = depth;
    scratchStart = start;
  }
}

/**
 * Copies `array` into wasm memory until the innermost open scope ends (see `withResidentOperands`); does
 * nothing outside a scope, without the backend, for float64 (the kernels are float32), when it is already
 * resident, or when it does not fit.
 */
export function keepResident(array: TypedArray): void {
  const ex = wasmKernels();
  if (ex === null || scopes === 0 || !(array instanceof Float32Array)) return;
  if (residentAddress(array, 0, array.length) >= 0) return;
  output = null;
  const end = alignUp(scratchStart + array.length * 4);
  const memory = wasmHeap(ex, end);
  if (memory === null) return; // does not fit: calls copy it as usual
  memory.set(array, scratchStart >>> 2);
  residents.push({ array, address: scratchStart });
  scratchStart = end;
}

/** The byte address of `array[offset, offset + size)` when it is a whole resident operand, else −1. */
export function residentAddress(array: Float32Array, offset: number, size: number): number {
  if (offset !== 0 || size !== array.length) return -1;
  for (const r of residents) if (r.array === array && r.packedB === undefined) return r.address;
  return -1;
}

/**
 * When B (`array[offset, offset + size)`) is a whole resident operand: the address of op(B) packed for
 * `gemm` (n columns, k rows, transposed or not), packing it on first use and keeping it until the
 * innermost scope ends, so the products of a loop pack their shared B once. Else −1.
 */
export function residentPackedB(
  ex: WasmKernels,
  array: Float32Array,
  offset: number,
  size: number,
  n: number,
  k: number,
  transB: boolean,
): number {
  const raw = residentAddress(array, offset, size);
  if (raw < 0) return -1;
  for (const r of residents) {
    const p = r.packedB;
    if (r.array === array && p !== undefined && p.n === n && p.k === k && p.transB === transB)
      return r.address;
  }
  const end = alignUp(scratchStart + ex.packedBBytes(n, k));
  if (wasmHeap(ex, end) === null) return -1;
  output = null;
  ex.packB(raw, n, k, transB ? 1 : 0, scratchStart);
  residents.push({ array, address: scratchStart, packedB: { n, k, transB } });
  scratchStart = end;
  return residents[residents.length - 1]!.address;
}

/**
 * Lays out buffers of the given float counts one after another from the first free byte after the
 * resident operands, each on a cache line; returns their byte addresses and, last, the end of the layout.
 */
export function layout(...floats: number[]): number[] {
  output = null;
  const addresses: number[] = [];
  let at = scratchStart;
  for (const count of floats) {
    addresses.push(at);
    at = alignUp(at + count * 4);
  }
  addresses.push(at);
  return addresses;
}

/**
 * Records that `array` (float32, whole) was just copied out of wasm memory from byte `address`: until the
 * next call lays out its buffers there, a fused kernel that reads it, or a view of it, reads that copy
 * (`outputAddress`) instead of copying it back in (an LSTM step's gate pre-activations, read right after
 * their product; an SRU's steps, row blocks of the input projection).
 */
export function keepOutput(array: Float32Array, address: number): void {
  output = { array, address, end: alignUp(address + array.length * 4) };
}

/** Stops reading the kept copy when `array` shares any of its bytes (they were changed in place). */
export function forgetOutput(array: TypedArray): void {
  if (output === null || output.array.buffer !== array.buffer) return;
  const kept = output.array;
  const overlap =
    array.byteOffset < kept.byteOffset + kept.byteLength &&
    kept.byteOffset < array.byteOffset + array.byteLength;
  if (overlap) output = null;
}

/** The byte address of `array`'s contents in wasm memory when it is the kept output or a view within it, else −1. */
export function outputAddress(array: TypedArray): number {
  if (output === null || output.array.buffer !== array.buffer) return -1;
  const from = array.byteOffset - output.array.byteOffset;
  return from >= 0 && from + array.byteLength <= output.array.byteLength ? output.address + from : -1;
}

/**
 * The first byte the fused elementwise kernels may use for their operands: past the resident operands and
 * the kept output; nothing else there outlives a call.
 */
export function fusedScratchStart(): number {
  return Math.max(scratchStart, output?.end ?? 0);
}

function alignUp(x: number): number {
  return Math.ceil(x / ALIGN) * ALIGN;
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/** Returns the instance when ready; otherwise starts loading (once) and returns null. */
function load(): WasmKernels | null {
  if (status === 'ready') return kernels;
  if (status !== 'unloaded') return null;
  if (typeof WebAssembly !== 'object' || !WebAssembly.validate(SIMD_PROBE)) {
    status = 'unavailable';
    return null;
  }
  const bytes = decodeBase64(wasmModuleBase64);
  try {
    adopt(new WebAssembly.Instance(new WebAssembly.Module(bytes), {}));
  } catch {
    // Browser main threads refuse synchronous compilation of modules over 4 KB: compile in the background
    // and stay on the JavaScript kernels until it is done.
    status = 'pending';
    WebAssembly.instantiate(bytes, {}).then(
      (result) => adopt(result.instance),
      () => {
        status = 'unavailable';
      },
    );
    return null;
  }
  return kernels;
}

function adopt(instance: WebAssembly.Instance): void {
  const ex = instance.exports as unknown as WasmKernels;
  base = alignUp(ex.heapBase());
  scratchStart = base;
  kernels = ex;
  heap = new Float32Array(ex.memory.buffer);
  warmUp(ex);
  status = 'ready';
}

/**
 * V8 first runs wasm in its baseline compiler and re-optimises functions once they have run for a while;
 * a few small calls at load time trigger that, so real work does not start on the slow tier.
 */
function warmUp(ex: WasmKernels): void {
  const size = 48;
  const [a, b, c, work, end] = layout(size * size, size * size, size * size, 0);
  if (!wasmHeap(ex, end! + ex.workspaceBytes(size, size, size))) return;
  for (let round = 0; round < 4; round++) {
    for (let flags = 0; flags < 4; flags++)
      ex.gemm(a!, b!, c!, size, size, size, flags & 1, flags >> 1, work!, 0, round & 1);
    ex.sumAxis(a!, 1, size, size, c!);
  }
}
