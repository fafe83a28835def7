/**
 * The JavaScript side of the fused LSTM and GRU cell kernels (source: cells-source.mjs; loading and memory:
 * module.ts): copies the step's operands into wasm memory, runs the kernel, copies the results out. The
 * equations, the JavaScript kernels these stand in for, and their tests are `@tensorloom/lstm`'s
 * `lstmPointwise` and `gruPointwise` (fused.ts). Each returns false, writing nothing, when the backend is off or not ready, or
 * when H is not a multiple of 4 (the kernels work on four hidden units at a time); the caller then runs
 * its JavaScript kernel.
 */
import { layout, wasmHeap, wasmKernels } from './module.ts';

let calls = 0;

/** How many cell kernels (LSTM or GRU, forward or backward) have run in WebAssembly (lets tests observe dispatch). */
export function wasmCellCallCount(): number {
  return calls;
}

/**
 * One step's pointwise forward, float32: act = [σ(a_i), σ(a_f), tanh(a_g), σ(a_o)] with a = (xp + bias) + hh,
 * c' = f·c + i·g into `cOut`, tc = tanh c', h' = o·tc into `hOut`. xp, hh, act: [B, 4H]; bias: [4H]; c, tc,
 * hOut, cOut: [B, H]. `act` may be `hh`'s storage (the product is read before the activations are written).
 */
export function wasmLstmForward(
  xp: Float32Array,
  hh: Float32Array,
  bias: Float32Array,
  c: Float32Array,
  act: Float32Array,
  tc: Float32Array,
  hOut: Float32Array,
  cOut: Float32Array,
  batch: number,
  hidden: number,
): boolean {
  const ex = wasmKernels();
  if (ex === null || hidden % 4 !== 0) return false;
  const n = batch * hidden;
  const [pXp, pHh, pBias, pC, pTc, pH, pCOut, end] = layout(4 * n, 4 * n, 4 * hidden, n, n, n, n) as number[];
  const heap = wasmHeap(ex, end!);
  if (heap === null) return false;
  heap.set(xp.subarray(0, 4 * n), pXp! >>> 2);
  heap.set(hh.subarray(0, 4 * n), pHh! >>> 2);
  heap.set(bias.subarray(0, 4 * hidden), pBias! >>> 2);
  heap.set(c.subarray(0, n), pC! >>> 2);
  // The activations are written over the copy of hh, which each lane reads before writing.
  ex.lstmForward(pXp!, pHh!, pBias!, pC!, pHh!, pTc!, pH!, pCOut!, batch, hidden);
  act.set(heap.subarray(pHh! >>> 2, (pHh! >>> 2) + 4 * n));
  tc.set(heap.subarray(pTc! >>> 2, (pTc! >>> 2) + n));
  hOut.set(heap.subarray(pH! >>> 2, (pH! >>> 2) + n));
  cOut.set(heap.subarray(pCOut! >>> 2, (pCOut! >>> 2) + n));
  calls++;
  return true;
}

/**
 * The backward of `wasmLstmForward`, float32, from ∂L/∂h' (gh) and ∂L/∂c' (gc) [B, H] and the kept c, act,
 * tc: writes da = ∂L/∂a [B, 4H] and dc = ∂L/∂c [B, H], and adds Σ_rows da into db [4H].
 */
export function wasmLstmBackward(
  gh: Float32Array,
  gc: Float32Array,
  c: Float32Array,
  act: Float32Array,
  tc: Float32Array,
  da: Float32Array,
  dc: Float32Array,
  db: Float32Array,
  batch: number,
  hidden: number,
): boolean {
  const ex = wasmKernels();
  if (ex === null || hidden % 4 !== 0) return false;
  const n = batch * hidden;
  const [pGh, pGc, pC, pAct, pTc, pDa, pDc, pDb, end] = layout(n, n, n, 4 * n, n, 4 * n, n, 4 * hidden);
  const heap = wasmHeap(ex, end!);
  if (heap === null) return false;
  heap.set(gh.subarray(0, n), pGh! >>> 2);
  heap.set(gc.subarray(0, n), pGc! >>> 2);
  heap.set(c.subarray(0, n), pC! >>> 2);
  heap.set(act.subarray(0, 4 * n), pAct! >>> 2);
  heap.set(tc.subarray(0, n), pTc! >>> 2);
  heap.set(db.subarray(0, 4 * hidden), pDb! >>> 2);
  ex.lstmBackward(pGh!, pGc!, pC!, pAct!, pTc!, pDa!, pDc!, pDb!, batch, hidden);
  da.set(heap.subarray(pDa! >>> 2, (pDa! >>> 2) + 4 * n));
  dc.set(heap.subarray(pDc! >>> 2, (pDc! >>> 2) + n));
  db.set(heap.subarray(pDb! >>> 2, (pDb! >>> 2) + 4 * hidden));
  calls++;
  return true;
}

/**
 * One GRU step's pointwise forward, float32: act = [r, z, n] with r, z = σ(xp + hh) and n = tanh(x_n + r·h_n),
 * h' = n + z·(h − n) into `hOut`. xp, hh, act: [B, 3H]; h, hOut: [B, H].
 */
export function wasmGruForward(
  xp: Float32Array,
  hh: Float32Array,
  h: Float32Array,
  act: Float32Array,
  hOut: Float32Array,
  batch: number,
  hidden: number,
): boolean {
  const ex = wasmKernels();
  if (ex === null || hidden % 4 !== 0) return false;
  const n = batch * hidden;
  const [pXp, pHh, pH, pAct, pOut, end] = layout(3 * n, 3 * n, n, 3 * n, n);
  const heap = wasmHeap(ex, end!);
  if (heap === null) return false;
  heap.set(xp.subarray(0, 3 * n), pXp! >>> 2);
  heap.set(hh.subarray(0, 3 * n), pHh! >>> 2);
  heap.set(h.subarray(0, n), pH! >>> 2);
  ex.gruForward(pXp!, pHh!, pH!, pAct!, pOut!, batch, hidden);
  act.set(heap.subarray(pAct! >>> 2, (pAct! >>> 2) + 3 * n));
  hOut.set(heap.subarray(pOut! >>> 2, (pOut! >>> 2) + n));
  calls++;
  return true;
}

/**
 * The backward of `wasmGruForward`, float32, from d = ∂L/∂h' [B, H] and the kept hh, h, act: writes
 * dxp and dhh [B, 3H] and, when given, dh = ∂L/∂h [B, H].
 */
export function wasmGruBackward(
  d: Float32Array,
  hh: Float32Array,
  h: Float32Array,
  act: Float32Array,
  dxp: Float32Array,
  dhh: Float32Array,
  dh: Float32Array | null,
  batch: number,
  hidden: number,
): boolean {
  const ex = wasmKernels();
  if (ex === null || hidden % 4 !== 0) return false;
  const n = batch * hidden;
  const [pD, pHh, pH, pAct, pDxp, pDhh, pDh, end] = layout(n, 3 * n, n, 3 * n, 3 * n, 3 * n, n);
  const heap = wasmHeap(ex, end!);
  if (heap === null) return false;
  heap.set(d.subarray(0, n), pD! >>> 2);
  heap.set(hh.subarray(0, 3 * n), pHh! >>> 2);
  heap.set(h.subarray(0, n), pH! >>> 2);
  heap.set(act.subarray(0, 3 * n), pAct! >>> 2);
  ex.gruBackward(pD!, pHh!, pH!, pAct!, pDxp!, pDhh!, pDh!, dh === null ? 0 : 1, batch, hidden);
  dxp.set(heap.subarray(pDxp! >>> 2, (pDxp! >>> 2) + 3 * n));
  dhh.set(heap.subarray(pDhh! >>> 2, (pDhh! >>> 2) + 3 * n));
  dh?.set(heap.subarray(pDh! >>> 2, (pDh! >>> 2) + n));
  calls++;
  return true;
}
