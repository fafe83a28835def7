/**
 * Fused pointwise steps: the part of an LSTM or GRU step after the matrix products, as one op with one
 * forward pass and one backward pass over the gates, instead of a dozen primitives (each with its own
 * allocation, graph node and pass over memory). DESIGN: "promote a composite to a fused primitive only when
 * a benchmark shows the gain, and keep a test that the fused and composed versions agree". Here:
 *
 * - `lstmPointwiseComposed` / `gruPointwiseComposed` are the definitions, composed from autograd primitives;
 *   they are the reference (test/fused.test.ts holds the fused ops to them, values and gradients) and the
 *   path taken when an observer wants the gates as tensors.
 * - `lstmPointwise` / `gruPointwise` compute the same values in one loop. Their VJP runs one loop too when
 *   backward is not being recorded; when it is (`createGraph`, gradients of gradients), it is written with
 *   differentiable ops instead, so higher-order gradients still work.
 * - float32 computes σ with a table-driven exp and tanh with a rational function (see `sigmoidOfSum`,
 *   `tanhRational`), 3–4 ns per element where `Math.exp`/`Math.tanh` cost 15–25 ns, which at these sizes is
 *   more than the step's matrix product. float64, the checking dtype, uses `Math.exp`/`Math.tanh` as
 *   autograd's kernels do.
 *
 * Measured on the LSTM step of issue 6 (B 32, T 50, in 64, H 128): see packages/lstm/scripts/profile-step.ts.
 */
import {
  add,
  cat,
  currentBackwardPass,
  customOp,
  gemm,
  isGradEnabled,
  linear,
  mul,
  sigmoid,
  sub,
  sum,
  Tensor,
  type TypedArray,
  tanh,
  zeros,
} from '@tensorloom/autograd';
import {
  keepResident,
  wasmGruBackward,
  wasmGruForward,
  wasmLstmBackward,
  wasmLstmForward,
} from '@tensorloom/autograd/kernels';
import { multiOutput, splitParts } from './split.ts';

// ---------------------------------------------------------------------------------------------------------
// Nonlinearities over ranges of typed arrays

/**
 * float32 σ through eᵛ = 2^(n/32) · eʳ with n = round(32·v/ln 2) and |r| ≤ ln 2/64: eʳ by its cubic
 * Taylor polynomial (truncation r⁴/24 < 6e-10 relative), 2^(n/32) = 2^⌊n/32⌋ · 2^((n mod 32)/32) from two
 * small tables. Every operation is a double add, multiply or table read, inlined in the loop: ~4 ns per
 * element against 15–25 ns for `Math.exp`/`Math.tanh`. Results are within ~1e-7 relative of the exact
 * function, below float32's rounding (ulp 6e-8 to 1.2e-7). float64 uses the exact functions.
 */
const EXP_HI = Float64Array.from({ length: 512 }, (_, k) => 2 ** (k - 256));
const EXP_LO = Float64Array.from({ length: 32 }, (_, j) => 2 ** (j / 32));
const TO_N = 32 / Math.LN2;
const FROM_N = Math.LN2 / 32;
/** Adding and subtracting 1.5·2^52 rounds a double below 2^51 in magnitude to the nearest integer. */
const ROUND = 6755399441055744;

/**
 * dst[k] = σ((a[k] + bias[k − from]) + b[k]) for k in [from, to): the order of (x·W_ihᵀ + b) + h·W_hhᵀ when
 * the biases are added to the projection first, so both ways give the same float64 bits. float32:
 * 1/(1 + e⁻ᵛ) with v clamped to ±120 (σ is 0 or 1 in float32 beyond); NaN stays NaN (n = NaN | 0 = 0 reads
 * a table entry, and r is NaN). float64: autograd's kernel.
 */
function sigmoidOfSum(
  a: TypedArray,
  b: TypedArray,
  bias: TypedArray,
  dst: TypedArray,
  from: number,
  to: number,
): void {
  if (dst instanceof Float64Array) {
    for (let k = from; k < to; k++) {
      const v = a[k]! + bias[k - from]! + b[k]!;
      if (v >= 0) dst[k] = 1 / (1 + Math.exp(-v));
      else {
        const e = Math.exp(v);
        dst[k] = e / (1 + e);
      }
    }
    return;
  }
  for (let k = from; k < to; k++) {
    const v = -Math.min(Math.max(a[k]! + bias[k - from]! + b[k]!, -120), 120);
    const m = v * TO_N + ROUND - ROUND;
    const r = v - m * FROM_N;
    const n = m | 0;
    const e = (1 + r * (1 + r * (0.5 + r * (1 / 6)))) * EXP_HI[(n >> 5) + 256]! * EXP_LO[n & 31]!;
    dst[k] = 1 / (1 + e);
  }
}

/**
 * tanh x ≈ x·P(x²)/Q(x²) on |x| ≤ 9, P and Q of degree 4 (fitted for this file by iteratively reweighted
 * least squares on the relative error; max relative error 2.1e-8 on [0, 9], including as x → 0; within one
 * float32 ulp of the correctly rounded tanh). Beyond 9, tanh x rounds to ±1 in float32, and the clamp gives
 * that; NaN stays NaN. No table, no exp: ~2.6 ns per element.
 */
function tanhRational(v: number): number {
  const x = Math.min(Math.max(v, -9), 9);
  const z = x * x;
  return (
    (x *
      (0.9999999795309523 +
        z *
          (0.13381014218283527 +
            z * (0.0034955739581780144 + z * (2.060882555288872e-5 + z * 1.3354263139753186e-8))))) /
    (1 +
      z *
        (0.46714329836954865 +
          z * (0.025876929848569652 + z * (0.00032856106194176275 + z * 7.776404142290083e-7))))
  );
}

/** dst[k] = tanh((a[k] + bias[k − from]) + b[k]) for k in [from, to): float32 by `tanhRational`, float64 exact. */
function tanhOfSum(
  a: TypedArray,
  b: TypedArray,
  bias: TypedArray,
  dst: TypedArray,
  from: number,
  to: number,
): void {
  if (dst instanceof Float64Array) {
    for (let k = from; k < to; k++) dst[k] = Math.tanh(a[k]! + bias[k - from]! + b[k]!);
    return;
  }
  for (let k = from; k < to; k++) dst[k] = tanhRational(a[k]! + bias[k - from]! + b[k]!);
}

/** dst[k] = tanh(src[k]), in place or not, as `tanhOfSum`. */
function tanhRange(src: TypedArray, dst: TypedArray, from: number, to: number): void {
  if (dst instanceof Float64Array) {
    for (let k = from; k < to; k++) dst[k] = Math.tanh(src[k]!);
    return;
  }
  for (let k = from; k < to; k++) dst[k] = tanhRational(src[k]!);
}

let scratch32 = new Float32Array(0);
let scratch64 = new Float64Array(0);
let zeros32 = new Float32Array(0);
let zeros64 = new Float64Array(0);

/** At least `size` zeros, shared and never written: the bias of a step that has none. */
function sharedZeros(dtype: Tensor['dtype'], size: number): TypedArray {
  if (dtype === 'float64') {
    if (zeros64.length < size) zeros64 = new Float64Array(size);
    return zeros64;
  }
  if (zeros32.length < size) zeros32 = new Float32Array(size);
  return zeros32;
}

/**
 * A work buffer of at least `size` elements, shared by every call (contents undefined): for intermediates
 * that die before the call returns. Grown, never shrunk.
 */
function scratch(dtype: Tensor['dtype'], size: number): TypedArray {
  if (dtype === 'float64') {
    if (scratch64.length < size) scratch64 = new Float64Array(size);
    return scratch64;
  }
  if (scratch32.length < size) scratch32 = new Float32Array(size);
  return scratch32;
}

// ---------------------------------------------------------------------------------------------------------
// Matrix products shared by the steps

/**
 * h·Wᵀ (+ b) at every step of one sequence, with the gradient of W (and b) formed once per backward pass
 * instead of once per step. Per step, the product's VJP would compute gₜᵀ·hₜ ([G·H, H], a small matrix
 * product, and an allocation of the weight's size) and the engine would add it to the running sum: for
 * the LSTM of issue 6 that is 50 allocations of 256 KB, 50 additions and 50 products with k = B = 32 per
 * pass. Here each step only files (gₜ, hₜ) by its step index, and a node shared by all steps (which the
 * engine runs after all of them: it is their common input) computes
 *
 *   ∂W = Σₜ gₜᵀ·hₜ = Gᵀ·Hs,   ∂b = Σ_rows G      G = [g₀; g₁; …] [L·B, G·H],  Hs = [h₀; h₁; …] [L·B, H]
 *
 * as one product with k = L·B. A fused step VJP can write gₜ straight into its rows of G (`gradientRows`),
 * so that G is also, at no cost, the gradient of an input projection laid out the same way (for the LSTM,
 * ∂xp = ∂(h·Wᵀ)). Each step index may be used once; recorded backward passes compose the same sum from
 * differentiable ops. Created per sequence (see `lstmCell`), so separate forward passes never share it.
 */
export class RecurrentProduct {
  private readonly shared: Tensor;
  private readonly used: Uint8Array;
  private readonly filedG: Array<Tensor | null>;
  private readonly filedH: Array<Tensor | null>;
  /** This backward pass's G, allocated by its first writer. */
  private rows: Tensor | null = null;
  /** This backward pass's block of input-projection gradients (`inputGradientRows`), likewise. */
  private inputRows: Tensor | null = null;
  private seeded = false;
  /** The backward pass the filed gradients belong to (see `enterPass`). */
  private pass = -1;
  private readonly width: number;

  /**
   * A product over `steps` steps of `batch` rows each; null when nothing needs the deferral (grad mode off,
   * or neither W nor b requires grad).
   */
  static create(weight: Tensor, bias: Tensor | null, steps: number, batch: number): RecurrentProduct | null {
    if (!isGradEnabled() || !(weight.requiresGrad || bias?.requiresGrad)) return null;
    return new RecurrentProduct(weight, bias, steps, batch);
  }

  private constructor(
    readonly weight: Tensor,
    readonly bias: Tensor | null,
    readonly steps: number,
    readonly batch: number,
  ) {
    this.width = weight.shape[0]!;
    this.used = new Uint8Array(steps);
    this.filedG = new Array<Tensor | null>(steps).fill(null);
    this.filedH = new Array<Tensor | null>(steps).fill(null);
    const inputs = bias ? [weight, bias] : [weight];
    this.shared = customOp('recurrentProduct.weight', {
      forward: () => zeros([1], { dtype: weight.dtype }),
      backward: () => this.weightGradients(),
    })(...inputs);
  }

  /** Claims step `t` for one use; false if it is out of range or already used (the caller then multiplies directly). */
  claim(t: number): boolean {
    if (t < 0 || t >= this.steps || this.used[t] || !isGradEnabled()) return false;
    this.used[t] = 1;
    return true;
  }

  /** h·Wᵀ (+ b) for claimed step `t`, h [B, H] → [B, G·H]. */
  apply(h: Tensor, t: number): Tensor {
    const { weight, bias } = this;
    const op = customOp('recurrentProduct', {
      forward: () => (bias ? linear(h, weight, bias) : gemm(h, weight, { transB: true })),
      backward: (g) => {
        this.enterPass();
        this.filedG[t] = g;
        this.filedH[t] = h;
        const dh = h.requiresGrad ? gemm(g, weight) : null;
        // One zero per pass puts the shared node on the engine's path.
        if (this.seeded) return [dh, null];
        this.seeded = true;
        return [dh, zeros([1], { dtype: weight.dtype })];
      },
    });
    return op(h, this.shared);
  }

  /**
   * Rows t·B … (t+1)·B − 1 of this pass's G, as a [B, G·H] tensor for a fused VJP to write gₜ into and return
   * as its gradient (which then reaches `apply`'s VJP unchanged, so nothing is copied).
   */
  gradientRows(t: number): Tensor {
    this.enterPass();
    return this.stepRows(this.passRows(), t);
  }

  /**
   * Rows t·B … (t+1)·B − 1 of a [steps·B, G·H] block, laid out like the input projection, for a fused VJP
   * whose ∂xp differs from ∂hh (the GRU's) to write ∂xpₜ into. The steps' pieces of the projection are then
   * adjacent views of one block, which `splitParts` hands back as the projection's gradient without a copy.
   */
  inputGradientRows(t: number): Tensor {
    this.enterPass();
    this.inputRows ??= this.passBlock();
    return this.stepRows(this.inputRows, t);
  }

  /** A zeroed [steps·B, G·H] block for one backward pass. */
  private passBlock(): Tensor {
    return zeros([this.steps * this.batch, this.width], { dtype: this.weight.dtype });
  }

  /** Step t's rows of a pass block, as a [B, G·H] view. */
  private stepRows(block: Tensor, t: number): Tensor {
    const n = this.batch * this.width;
    return new Tensor(block.data.subarray(t * n, (t + 1) * n), [this.batch, this.width]);
  }

  /**
   * Starts afresh when a new backward pass files: a pass that did not need W's gradient (autograd's
   * `grad` with respect to other inputs) files but never runs the shared node, and must not leak into the next.
   */
  private enterPass(): void {
    const pass = currentBackwardPass();
    if (pass === this.pass) return;
    this.pass = pass;
    // Every step of this pass multiplies by W (∂h = g·W): keep it in wasm memory until the pass ends.
    keepResident(this.weight.data);
    this.release();
  }

  /** Lets go of everything filed or allocated for a pass. */
  private release(): void {
    this.filedG.fill(null);
    this.filedH.fill(null);
    this.rows = null;
    this.inputRows = null;
    this.seeded = false;
  }

  private passRows(): Tensor {
    this.rows ??= this.passBlock();
    return this.rows;
  }

  /** The shared node's VJP: ∂W (and ∂b) from everything filed in this pass. */
  private weightGradients(): Array<Tensor | null> {
    this.enterPass();
    const { weight, bias, batch } = this;
    const filed: number[] = [];
    for (let t = 0; t < this.steps; t++) if (this.filedG[t]) filed.push(t);
    if (filed.length === 0) return [null, ...(bias ? [null] : [])];
    let gW: Tensor;
    let gb: Tensor | null = null;
    if (isGradEnabled()) {
      // Recorded: the same sum from differentiable ops.
      const G = cat(
        filed.map((t) => this.filedG[t]!),
        0,
      );
      const Hs = cat(
        filed.map((t) => this.filedH[t]!),
        0,
      );
      gW = gemm(G, Hs, { transA: true });
      if (bias?.requiresGrad) gb = sum(G, 0);
    } else {
      const G = this.passRows();
      const n = batch * this.width;
      const hSize = batch * weight.shape[1]!;
      // Hs lives only until the product below returns: a shared scratch buffer, not a fresh allocation
      // (hundreds of kilobytes per pass). Rows of steps that filed nothing meet zero rows of G, but must
      // not hold stale NaNs, so they are cleared.
      const hsSize = this.steps * hSize;
      const Hs = new Tensor(scratch(weight.dtype, hsSize).subarray(0, hsSize), [
        this.steps * batch,
        weight.shape[1]!,
      ]);
      if (filed.length < this.steps) Hs.data.fill(0);
      for (const t of filed) {
        const g = this.filedG[t]!.data;
        // G already holds gₜ when a fused VJP wrote it in place; otherwise copy it in.
        if (g.buffer !== G.data.buffer || g.byteOffset !== G.data.byteOffset + t * n * g.BYTES_PER_ELEMENT)
          G.data.set(g, t * n);
        Hs.data.set(this.filedH[t]!.data, t * hSize);
      }
      gW = gemm(G, Hs, { transA: true });
      if (bias?.requiresGrad) gb = sum(G, 0);
    }
    // Done for this pass: let go of the filed tensors, and start afresh on the next filing.
    this.release();
    this.pass = -1;
    return [weight.requiresGrad ? gW : null, ...(bias ? [gb] : [])];
  }
}

// ---------------------------------------------------------------------------------------------------------
// LSTM

/** The gate activations and new state of one LSTM step, each [B, H]. */
export interface LSTMPointwise {
  /** Input gate σ(a_i) [B, H]. */
  i: Tensor;
  /** Forget gate σ(a_f) [B, H]. */
  f: Tensor;
  /** Cell candidate tanh(a_g) [B, H]. */
  g: Tensor;
  /** Output gate σ(a_o) [B, H]. */
  o: Tensor;
  /** Next cell state c' = f ⊙ c + i ⊙ g [B, H]. */
  c: Tensor;
  /** Next hidden state h' = o ⊙ tanh(c') [B, H]. */
  h: Tensor;
}

/**
 * The definition (and reference) of the LSTM's pointwise part, composed from primitives. From the input
 * projection xp [B, 4H], the recurrent product hh = h·W_hhᵀ [B, 4H], the cell c [B, H] and optionally the
 * biases b = b_ih + b_hh [4H] (when xp does not already include them):
 *
 *   a = xp (+ b) + hh;  a_i, a_f, a_g, a_o = split(a, 4)      PyTorch's gate order
 *   i = σ(a_i),  f = σ(a_f),  g = tanh(a_g),  o = σ(a_o)
 *   c' = f ⊙ c + i ⊙ g
 *   h' = o ⊙ tanh(c')
 */
export function lstmPointwiseComposed(
  xp: Tensor,
  hh: Tensor,
  c: Tensor,
  bias: Tensor | null = null,
): LSTMPointwise {
  const H = c.shape[1]!;
  const pre = add(bias ? add(xp, bias) : xp, hh);
  const [ai, af, ag, ao] = splitParts(pre, [H, H, H, H], 1) as [Tensor, Tensor, Tensor, Tensor];
  const i = sigmoid(ai);
  const f = sigmoid(af);
  const g = tanh(ag);
  const o = sigmoid(ao);
  const cNext = add(mul(f, c), mul(i, g));
  const hNext = mul(o, tanh(cNext));
  return { i, f, g, o, c: cNext, h: hNext };
}

/** Buffer hints from a caller that owns the step's tensors (see `lstmStep`). */
export interface LSTMPointwiseOptions {
  /**
   * Supplies the [B, 4H] tensor the plain backward writes ∂xp (= ∂hh) into (see
   * `RecurrentProduct.gradientRows`); by default it is allocated.
   */
  gateGradient?: () => Tensor;
  /**
   * Given when nothing else reads hh: the op then stores the activations over hh's storage instead of
   * allocating ([B, 4H] less per step), and a recorded backward calls this to get hh's value again,
   * as a differentiable expression of what hh was computed from (e.g. gemm(h, W_hh, transB)).
   */
  recomputeHH?: () => Tensor;
}

function checkLstmShapes(xp: Tensor, hh: Tensor, c: Tensor, bias: Tensor | null): void {
  const [B, H] = c.shape as [number, number];
  const ok = (t: Tensor) => t.ndim === 2 && t.shape[0] === B && t.shape[1] === 4 * H && t.dtype === c.dtype;
  const biasOk = !bias || (bias.ndim === 1 && bias.shape[0] === 4 * H && bias.dtype === c.dtype);
  if (c.ndim !== 2 || !ok(xp) || !ok(hh) || !biasOk) {
    throw new Error(
      `lstmPointwise: expected xp and hh [B, 4H], c [B, H] and bias [4H] of one dtype, got xp [${xp.shape}] ${xp.dtype}, hh [${hh.shape}] ${hh.dtype}, c [${c.shape}] ${c.dtype}${bias ? `, bias [${bias.shape}] ${bias.dtype}` : ''}`,
    );
  }
}

/**
 * `lstmPointwiseComposed` as one op: returns [h', c'] ([B, H] each). The forward keeps the activations
 * (i, f, g, o and tanh c') for the backward, which given ∂L/∂h' and ∂L/∂c' (either may be absent) is
 *
 *   ∂c' = ∂L/∂c' + ∂L/∂h' ⊙ o ⊙ (1 − tanh²c')       (c' reaches L directly and through h')
 *   ∂a_i = ∂c' ⊙ g ⊙ i(1 − i)        ∂a_f = ∂c' ⊙ c ⊙ f(1 − f)
 *   ∂a_g = ∂c' ⊙ i ⊙ (1 − g²)        ∂a_o = ∂L/∂h' ⊙ tanh c' ⊙ o(1 − o)
 *   ∂xp = ∂hh = [∂a_i, ∂a_f, ∂a_g, ∂a_o],   ∂c = ∂c' ⊙ f
 *
 * and with a bias, ∂b = Σ_rows ∂a. See `LSTMPointwiseOptions` for the caller's buffer hints.
 */
export function lstmPointwise(
  xp: Tensor,
  hh: Tensor,
  c: Tensor,
  bias: Tensor | null = null,
  options: LSTMPointwiseOptions = {},
): [h: Tensor, c: Tensor] {
  checkLstmShapes(xp, hh, c, bias);
  const { gateGradient, recomputeHH } = options;
  const [B, H] = c.shape as [number, number];
  const n = B * H;
  const recording =
    isGradEnabled() && (xp.requiresGrad || hh.requiresGrad || c.requiresGrad || !!bias?.requiresGrad);
  // The activations i, f, g, o [B, 4H], which the backward reads, go over hh when the caller gives it up,
  // else with tanh c' [B, H] (also kept) and h', c' [B, H] into one allocation: fresh memory costs more
  // than its size suggests, every new page being a fault. Without a backward, tanh c' (and the activations,
  // if hh is kept) go to a scratch buffer reused by every call.
  const own = (recording ? 1 : 0) * (recomputeHH ? n : 5 * n);
  const block = zeros([own + 2 * n], { dtype: c.dtype }).data;
  const work = recording ? block : scratch(c.dtype, 5 * n);
  const act = recomputeHH ? hh.data : work.subarray(0, 4 * n);
  const tc = recomputeHH ? work.subarray(0, n) : work.subarray(4 * n, 5 * n);
  const hNext = new Tensor(block.subarray(own, own + n), [B, H]);
  const cNext = new Tensor(block.subarray(own + n), [B, H]);
  const b = bias ? bias.data : sharedZeros(c.dtype, 4 * H);
  lstmForwardKernel(xp.data, hh.data, b, c.data, hNext.data, cNext.data, act, tc, B, H);
  if (!recording) return [hNext, cNext];
  const inputs = bias ? [xp, hh, c, bias] : [xp, hh, c];
  const [h2, c2] = multiOutput('lstmPointwise', inputs, [hNext, cNext], ([gh, gc]) => {
    if (isGradEnabled()) {
      // hh's storage may hold the activations now: the caller's recomputation stands in for it.
      const hhValue = recomputeHH ? recomputeHH() : hh;
      return lstmPointwiseRecordedVjp(xp, hhValue, c, bias, gh ?? null, gc ?? null);
    }
    const da = gateGradient ? gateGradient() : zeros([B, 4 * H], { dtype: c.dtype });
    // ∂c, and zeros for an absent ∂h' or ∂c', in one zero-filled block (one allocation; no null checks
    // in the loop, whose first call may see one absent and later calls not).
    const missing = (gh ? 0 : 1) + (gc ? 0 : 1);
    const spare = zeros([(missing + 1) * n], { dtype: c.dtype }).data;
    const dc = new Tensor(spare.subarray(missing * n), [B, H]);
    const ghData = gh ? gh.data : spare.subarray(0, n);
    const gcData = gc ? gc.data : spare.subarray((missing - 1) * n, missing * n);
    // ∂b = Σ_rows ∂a, summed by the kernel as it writes ∂a (into a scratch row when there is no bias).
    const db = bias?.requiresGrad ? zeros([4 * H], { dtype: c.dtype }) : null;
    const dbData = db ? db.data : scratch(c.dtype, 4 * H).fill(0, 0, 4 * H);
    lstmBackwardKernel(ghData, gcData, c.data, act, tc, da.data, dc.data, dbData, B, H);
    const grads = [xp.requiresGrad ? da : null, hh.requiresGrad ? da : null, c.requiresGrad ? dc : null];
    return bias ? [...grads, db] : grads;
  });
  return [h2!, c2!];
}

/** The VJP above written with differentiable ops (for recorded backward passes), from the inputs. */
function lstmPointwiseRecordedVjp(
  xp: Tensor,
  hh: Tensor,
  c: Tensor,
  bias: Tensor | null,
  gh: Tensor | null,
  gc: Tensor | null,
): Array<Tensor | null> {
  const { i, f, g, o, c: cNext } = lstmPointwiseComposed(xp, hh, c, bias);
  const tc = tanh(cNext);
  const zero = zeros(c.shape, { dtype: c.dtype });
  const dh = gh ?? zero;
  const dcNext = add(gc ?? zero, mul(mul(dh, o), sub(1, mul(tc, tc))));
  const da = cat(
    [
      mul(mul(dcNext, g), mul(i, sub(1, i))),
      mul(mul(dcNext, c), mul(f, sub(1, f))),
      mul(mul(dcNext, i), sub(1, mul(g, g))),
      mul(mul(dh, tc), mul(o, sub(1, o))),
    ],
    1,
  );
  return bias ? [da, da, mul(dcNext, f), sum(da, 0)] : [da, da, mul(dcNext, f)];
}

/**
 * float32 with H a multiple of 4 runs autograd's WebAssembly SIMD version of this kernel (four hidden units
 * per instruction, σ and tanh evaluated in float32: within 3–4 float32 ulps of the exact functions, and
 * σ(v) = 0 below v = −87.3; see autograd's kernels/wasm/cells-source.mjs) whenever that backend is available.
 * Otherwise (float64, other H, backend off) the JavaScript kernel below: forward in two passes, each loop in
 * a function of its own (V8 optimises a function while it runs its first hot loop, and a later loop that had
 * not run yet would send it back to slower code on every call): act = σ/tanh(xp + hh) gate block by gate
 * block, then c' = f ⊙ c + i ⊙ g, tanh c' and h' = o ⊙ tanh c'.
 */
function lstmForwardKernel(
  xp: TypedArray,
  hh: TypedArray,
  bias: TypedArray,
  c: TypedArray,
  hOut: TypedArray,
  cOut: TypedArray,
  act: TypedArray,
  tc: TypedArray,
  B: number,
  H: number,
): void {
  if (wasmLstmForward(xp, hh, bias, c, act, tc, hOut, cOut, B, H)) return;
  const bi = bias.subarray(0, 2 * H);
  const bg = bias.subarray(2 * H, 3 * H);
  const bo = bias.subarray(3 * H, 4 * H);
  for (let b = 0; b < B; b++) {
    const row = 4 * H * b;
    sigmoidOfSum(xp, hh, bi, act, row, row + 2 * H);
    tanhOfSum(xp, hh, bg, act, row + 2 * H, row + 3 * H);
    sigmoidOfSum(xp, hh, bo, act, row + 3 * H, row + 4 * H);
  }
  lstmCellHidden(act, c, cOut, tc, hOut, B, H);
}

/** c' = f ⊙ c + i ⊙ g,  tanh c',  h' = o ⊙ tanh c', from act = [i, f, g, o] per row. */
function lstmCellHidden(
  act: TypedArray,
  c: TypedArray,
  cOut: TypedArray,
  tc: TypedArray,
  hOut: TypedArray,
  B: number,
  H: number,
): void {
  const exact = cOut instanceof Float64Array;
  for (let b = 0; b < B; b++) {
    const row = 4 * H * b;
    const s = b * H;
    for (let j = 0; j < H; j++) {
      const cn = act[row + H + j]! * c[s + j]! + act[row + j]! * act[row + 2 * H + j]!;
      const t = exact ? Math.tanh(cn) : tanhRational(cn);
      cOut[s + j] = cn;
      tc[s + j] = t;
      hOut[s + j] = act[row + 3 * H + j]! * t;
    }
  }
}

/**
 * The backward of `lstmForwardKernel` (formulas at `lstmPointwise`); an absent ∂h' or ∂c' comes as zeros.
 * Also accumulates ∂b += Σ_rows ∂a into `db` [4H]. float32 with H a multiple of 4 runs the WebAssembly
 * version when available (as the forward).
 */
function lstmBackwardKernel(
  gh: TypedArray,
  gc: TypedArray,
  c: TypedArray,
  act: TypedArray,
  tc: TypedArray,
  da: TypedArray,
  dc: TypedArray,
  db: TypedArray,
  B: number,
  H: number,
): void {
  if (wasmLstmBackward(gh, gc, c, act, tc, da, dc, db, B, H)) return;
  for (let b = 0; b < B; b++) {
    const row = b * 4 * H;
    const s = b * H;
    for (let j = 0; j < H; j++) {
      const pi = row + j;
      const pf = pi + H;
      const pg = pf + H;
      const po = pg + H;
      const i = act[pi]!;
      const f = act[pf]!;
      const g = act[pg]!;
      const o = act[po]!;
      const t = tc[s + j]!;
      const dh = gh[s + j]!;
      const dcn = gc[s + j]! + dh * o * (1 - t * t);
      const dai = dcn * g * i * (1 - i);
      const daf = dcn * c[s + j]! * f * (1 - f);
      const dag = dcn * i * (1 - g * g);
      const dao = dh * t * o * (1 - o);
      da[pi] = dai;
      da[pf] = daf;
      da[pg] = dag;
      da[po] = dao;
      db[j]! += dai;
      db[H + j]! += daf;
      db[2 * H + j]! += dag;
      db[3 * H + j]! += dao;
      dc[s + j] = dcn * f;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// GRU

/** The gate activations and new state of one GRU step, each [B, H]. */
export interface GRUPointwise {
  /** Reset gate [B, H]. */
  r: Tensor;
  /** Update gate [B, H]. */
  z: Tensor;
  /** Candidate state [B, H]. */
  n: Tensor;
  /** Next hidden state h' = n + z ⊙ (h − n) [B, H]. */
  h: Tensor;
}

/**
 * The definition (and reference) of the GRU's pointwise part, composed from primitives. From the input
 * projection xp = x·W_ihᵀ + b_ih [B, 3H], the recurrent product hh = h·W_hhᵀ + b_hh [B, 3H] and h [B, H]:
 *
 *   r = σ(x_r + h_r),  z = σ(x_z + h_z)
 *   n = tanh(x_n + r ⊙ h_n)                   (b_hn stays inside the reset product, as PyTorch)
 *   h' = n + z ⊙ (h − n)  =  (1 − z) ⊙ n + z ⊙ h
 */
export function gruPointwiseComposed(xp: Tensor, hh: Tensor, h: Tensor): GRUPointwise {
  const H = h.shape[1]!;
  const [xr, xz, xn] = splitParts(xp, [H, H, H], 1) as [Tensor, Tensor, Tensor];
  const [hr, hz, hn] = splitParts(hh, [H, H, H], 1) as [Tensor, Tensor, Tensor];
  const r = sigmoid(add(xr, hr));
  const z = sigmoid(add(xz, hz));
  const n = tanh(add(xn, mul(r, hn)));
  const hNext = add(n, mul(z, sub(h, n)));
  return { r, z, n, h: hNext };
}

function checkGruShapes(xp: Tensor, hh: Tensor, h: Tensor): void {
  const [B, H] = h.shape as [number, number];
  const ok = (t: Tensor) => t.ndim === 2 && t.shape[0] === B && t.shape[1] === 3 * H && t.dtype === h.dtype;
  if (h.ndim !== 2 || !ok(xp) || !ok(hh)) {
    throw new Error(
      `gruPointwise: expected xp and hh [B, 3H] and h [B, H] of one dtype, got xp [${xp.shape}] ${xp.dtype}, hh [${hh.shape}] ${hh.dtype}, h [${h.shape}] ${h.dtype}`,
    );
  }
}

/** Where `gruPointwise`'s plain backward writes its gradients (each [B, 3H]; by default allocated). */
export interface GRUPointwiseOptions {
  /** Supplies the tensor for ∂hh (see `RecurrentProduct.gradientRows`). */
  hhGradient?: () => Tensor;
  /** Supplies the tensor for ∂xp (see `RecurrentProduct.inputGradientRows`). */
  xpGradient?: () => Tensor;
}

/**
 * `gruPointwiseComposed` as one op, returning h' [B, H]. Backward, from ∂L/∂h' = d and the kept r, z, n:
 *
 *   ∂n = d ⊙ (1 − z),  ∂z = d ⊙ (h − n),  ∂h = d ⊙ z
 *   ∂a_n = ∂n ⊙ (1 − n²)    (a_n = x_n + r ⊙ h_n)
 *   ∂a_r = ∂a_n ⊙ h_n ⊙ r(1 − r),   ∂a_z = ∂z ⊙ z(1 − z)
 *   ∂xp = [∂a_r, ∂a_z, ∂a_n],   ∂hh = [∂a_r, ∂a_z, ∂a_n ⊙ r]
 */
export function gruPointwise(xp: Tensor, hh: Tensor, h: Tensor, options: GRUPointwiseOptions = {}): Tensor {
  const { hhGradient, xpGradient } = options;
  checkGruShapes(xp, hh, h);
  const [B, H] = h.shape as [number, number];
  // One allocation: the activations r, z, n [B, 3H], which the backward reads, then h' [B, H].
  const block = zeros([4 * B * H], { dtype: h.dtype }).data;
  const act = block.subarray(0, 3 * B * H);
  const out = new Tensor(block.subarray(3 * B * H), [B, H]);
  gruForwardKernel(xp.data, hh.data, h.data, out.data, act, B, H);
  if (!isGradEnabled() || !(xp.requiresGrad || hh.requiresGrad || h.requiresGrad)) return out;
  const op = customOp('gruPointwise', {
    forward: () => out,
    backward: (g) => {
      if (isGradEnabled()) return gruPointwiseRecordedVjp(xp, hh, h, g);
      const dxp = xpGradient ? xpGradient() : zeros([B, 3 * H], { dtype: h.dtype });
      const dhh = hhGradient ? hhGradient() : zeros([B, 3 * H], { dtype: h.dtype });
      const dh = h.requiresGrad ? zeros([B, H], { dtype: h.dtype }) : null;
      gruBackwardKernel(g.data, hh.data, h.data, act, dxp.data, dhh.data, dh?.data ?? null, B, H);
      return [xp.requiresGrad ? dxp : null, hh.requiresGrad ? dhh : null, dh];
    },
  });
  return op(xp, hh, h);
}

/** The GRU VJP written with differentiable ops (for recorded backward passes), from the inputs. */
function gruPointwiseRecordedVjp(xp: Tensor, hh: Tensor, h: Tensor, d: Tensor): Array<Tensor | null> {
  const H = h.shape[1]!;
  const { r, z, n } = gruPointwiseComposed(xp, hh, h);
  const hn = splitParts(hh, [H, H, H], 1)[2]!;
  const dan = mul(mul(d, sub(1, z)), sub(1, mul(n, n)));
  const dar = mul(mul(dan, hn), mul(r, sub(1, r)));
  const daz = mul(mul(d, sub(h, n)), mul(z, sub(1, z)));
  return [cat([dar, daz, dan], 1), cat([dar, daz, mul(dan, r)], 1), mul(d, z)];
}

/**
 * Forward in passes: r, z = σ(xp + hh), then n = tanh(x_n + r ⊙ h_n), then h' = n + z ⊙ (h − n). float32
 * with H a multiple of 4 runs the WebAssembly version when available (as `lstmForwardKernel`).
 */
function gruForwardKernel(
  xp: TypedArray,
  hh: TypedArray,
  h: TypedArray,
  out: TypedArray,
  act: TypedArray,
  B: number,
  H: number,
): void {
  if (wasmGruForward(xp, hh, h, act, out, B, H)) return;
  const noBias = sharedZeros(out instanceof Float64Array ? 'float64' : 'float32', 2 * H);
  for (let b = 0; b < B; b++) {
    const row = 3 * H * b;
    sigmoidOfSum(xp, hh, noBias, act, row, row + 2 * H);
    gruCandidate(xp, hh, act, row + 2 * H, row + 3 * H, H);
    tanhRange(act, act, row + 2 * H, row + 3 * H);
  }
  gruHidden(act, h, out, B, H);
}

/** act[k] = x_n + r ⊙ h_n over the n block [from, to) of a row (r sits 2H before). */
function gruCandidate(
  xp: TypedArray,
  hh: TypedArray,
  act: TypedArray,
  from: number,
  to: number,
  H: number,
): void {
  for (let k = from; k < to; k++) act[k] = xp[k]! + act[k - 2 * H]! * hh[k]!;
}

/** h' = n + z ⊙ (h − n). */
function gruHidden(act: TypedArray, h: TypedArray, out: TypedArray, B: number, H: number): void {
  for (let b = 0; b < B; b++) {
    const row = 3 * H * b;
    const s = b * H;
    for (let j = 0; j < H; j++) {
      const n = act[row + 2 * H + j]!;
      out[s + j] = n + act[row + H + j]! * (h[s + j]! - n);
    }
  }
}

/** The backward of `gruForwardKernel` (formulas at `gruPointwise`); float32 as the forward. */
function gruBackwardKernel(
  d: TypedArray,
  hh: TypedArray,
  h: TypedArray,
  act: TypedArray,
  dxp: TypedArray,
  dhh: TypedArray,
  dh: TypedArray | null,
  B: number,
  H: number,
): void {
  if (wasmGruBackward(d, hh, h, act, dxp, dhh, dh, B, H)) return;
  for (let b = 0; b < B; b++) {
    const row = b * 3 * H;
    const s = b * H;
    for (let j = 0; j < H; j++) {
      const pr = row + j;
      const pz = pr + H;
      const pn = pz + H;
      const r = act[pr]!;
      const z = act[pz]!;
      const n = act[pn]!;
      const g = d[s + j]!;
      const dan = g * (1 - z) * (1 - n * n);
      const dar = dan * hh[pn]! * r * (1 - r);
      const daz = g * (h[s + j]! - n) * z * (1 - z);
      dxp[pr] = dar;
      dhh[pr] = dar;
      dxp[pz] = daz;
      dhh[pz] = daz;
      dxp[pn] = dan;
      dhh[pn] = dan * r;
      if (dh !== null) dh[s + j] = g * z;
    }
  }
}
