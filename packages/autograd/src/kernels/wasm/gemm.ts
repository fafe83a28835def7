/**
 * Loader and JavaScript-side wrapper of the WebAssembly SIMD float32 GEMM (source: generate-gemm.mjs,
 * built by scripts/build-wasm.mjs into gemm-wasm.generated.ts). The module is instantiated lazily on the
 * first call, after checking that the engine validates SIMD; until it is ready (or where it cannot run) the
 * callers keep using the JavaScript kernels. Tensors own plain JS typed arrays, so each call copies the
 * operands into wasm memory and the product back out; memory grows to the largest problem seen.
 */
import { gemmWasmBase64 } from './gemm-wasm.generated.ts';

interface GemmExports {
  readonly memory: WebAssembly.Memory;
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
  ): void;
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

/** Buffers start on cache-line boundaries so the kernel's v128 loads never straddle two lines needlessly. */
const ALIGN = 64;
const WASM_PAGE = 65536;
/** wasm32 addresses are below 4 GiB; problems that would not fit stay on the JavaScript path. */
const MAX_BYTES = 2 ** 32 - WASM_PAGE;

let status: WasmStatus = 'unloaded';
let gemmExports: GemmExports | null = null;
let heap = new Float32Array(0);
let base = 0;
let calls = 0;

const envFlag = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
  ?.TENSORLOOM_WASM;
let enabled = !(envFlag !== undefined && ['0', 'false', 'off', 'no'].includes(envFlag.toLowerCase()));

/**
 * Turns the WebAssembly float32 matmul backend on or off (default on; the environment variable
 * `TENSORLOOM_WASM=0` starts it off) and returns the previous setting. Off, every matmul runs the plain
 * JavaScript kernel.
 */
export function setWasmEnabled(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  return previous;
}

/** Whether float32 matmuls may use the WebAssembly backend: switched on, and SIMD wasm usable here. */
export function isWasmEnabled(): boolean {
  return enabled && load() !== null;
}

/** The backend's load state (loading it if it was never tried), for diagnostics and benchmarks. */
export function wasmStatus(): WasmStatus {
  load();
  return status;
}

/** How many products the WebAssembly kernel has computed (lets tests observe dispatch). */
export function wasmGemmCallCount(): number {
  return calls;
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/** Returns the instance when ready; otherwise starts loading (once) and returns null. */
function load(): GemmExports | null {
  if (status === 'ready') return gemmExports;
  if (status !== 'unloaded') return null;
  if (typeof WebAssembly !== 'object' || !WebAssembly.validate(SIMD_PROBE)) {
    status = 'unavailable';
    return null;
  }
  const bytes = decodeBase64(gemmWasmBase64);
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
  return gemmExports;
}

function adopt(instance: WebAssembly.Instance): void {
  const ex = instance.exports as unknown as GemmExports;
  base = alignUp(ex.heapBase());
  gemmExports = ex;
  heap = new Float32Array(ex.memory.buffer);
  warmUp(ex);
  status = 'ready';
}

/**
 * V8 first runs wasm in its baseline compiler and re-optimises functions once they have run for a while;
 * a few small products at load time trigger that, so real work does not start on the slow tier.
 */
function warmUp(ex: GemmExports): void {
  const size = 48;
  const a = alignUp(base);
  const b = alignUp(a + size * size * 4);
  const c = alignUp(b + size * size * 4);
  const work = alignUp(c + size * size * 4);
  if (!reserve(ex, work + ex.workspaceBytes(size, size, size))) return;
  for (let round = 0; round < 4; round++) {
    for (let flags = 0; flags < 4; flags++) ex.gemm(a, b, c, size, size, size, flags & 1, flags >> 1, work);
  }
}

function alignUp(x: number): number {
  return Math.ceil(x / ALIGN) * ALIGN;
}

/** Grows wasm memory to at least `bytes` and refreshes the view (growth detaches the old buffer). */
function reserve(ex: GemmExports, bytes: number): boolean {
  const have = ex.memory.buffer.byteLength;
  if (bytes > have) {
    if (bytes > MAX_BYTES) return false;
    try {
      ex.memory.grow(Math.ceil((bytes - have) / WASM_PAGE));
    } catch {
      return false;
    }
  }
  if (heap.buffer !== ex.memory.buffer) heap = new Float32Array(ex.memory.buffer);
  return true;
}

/**
 * C[m,n] = op(A)·op(B) in float32 on the WebAssembly kernel, with the operands read from and the product
 * written to the given arrays at the given offsets (same contract as kernels/matmul.ts). Returns false,
 * leaving `c` untouched, when the backend is switched off, not ready, or the problem does not fit in wasm32
 * memory; the caller then runs the JavaScript kernel.
 */
export function wasmGemm(
  a: Float32Array,
  aOffset: number,
  b: Float32Array,
  bOffset: number,
  c: Float32Array,
  cOffset: number,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
): boolean {
  if (!enabled) return false;
  const ex = load();
  if (ex === null) return false;
  const sizeA = m * k;
  const sizeB = k * n;
  const sizeC = m * n;
  if (sizeC === 0) return true;
  if (k === 0) {
    c.fill(0, cOffset, cOffset + sizeC);
    return true;
  }
  const aPtr = base;
  const bPtr = alignUp(aPtr + sizeA * 4);
  const cPtr = alignUp(bPtr + sizeB * 4);
  const work = alignUp(cPtr + sizeC * 4);
  if (!reserve(ex, work + ex.workspaceBytes(m, n, k))) return false;
  heap.set(a.subarray(aOffset, aOffset + sizeA), aPtr >>> 2);
  heap.set(b.subarray(bOffset, bOffset + sizeB), bPtr >>> 2);
  ex.gemm(aPtr, bPtr, cPtr, m, n, k, transA ? 1 : 0, transB ? 1 : 0, work);
  c.set(heap.subarray(cPtr >>> 2, (cPtr >>> 2) + sizeC), cOffset);
  calls++;
  return true;
}
