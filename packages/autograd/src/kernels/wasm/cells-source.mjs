/**
 * AssemblyScript source of the fused LSTM and GRU cell kernels (float32, f32x4 SIMD), compiled into the same
 * module as the GEMM (see source.mjs). They are the pointwise part of a step, after the matrix products, as
 * in PyTorch's fused LSTM/GRU cell kernels; `@tensorloom/lstm`'s `lstmPointwise`/`gruPointwise` (fused.ts)
 * hold the equations, the float64 and fallback JavaScript kernels, and the tests against the composed
 * definitions.
 *
 * Layout: rows of the gate block are [i | f | g | o] (GRU: [r | z | n]), each H wide (PyTorch's gate order); H must be a
 * multiple of 4 (the caller checks). Every vector of four lanes holds four hidden units of one gate.
 *
 * Accuracy (float32 throughout, where the JavaScript kernels compute in doubles and round once):
 *   eˣ (x ≤ 0): n = round(x·log₂e), r = x − n·ln2 in two parts (Cody–Waite: n·0.693359375 is exact),
 *     eʳ by its degree-7 Taylor polynomial (|r| ≤ ln2/2: truncation < 6e-9), times 2ⁿ built in the exponent
 *     bits. x < −87.3 gives 0 (eˣ there is below float32's smallest normal, 1.2e-38).
 *   σ(v) = 1/(1 + e^−|v|) for v ≥ 0, else e^−|v|/(1 + e^−|v|): never overflows; σ(v) for v < −87.3 is 0.
 *   tanh x = x·P(x²)/Q(x²) on |x| ≤ 9 (the fit of fused.ts's `tanhRational`), ±1 beyond, clamped to [−1, 1].
 *   Measured against float64: σ within 1.7e-7 and tanh within 2.5e-7 relative (3–4 float32 ulps).
 * min/max propagate NaN in wasm, so NaN inputs give NaN outputs.
 */
export const cellKernelSource = `
// ---- fused LSTM and GRU cells (cells-source.mjs) ----

/** eˣ for x ≤ 0 in each lane (0 below −87.3). */
@inline
function expNonPositive(x0: v128): v128 {
  const x = f32x4.max(x0, f32x4.splat(-87.3));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.4426950408889634)));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.0 / 5040.0);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 720.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 120.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 24.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 6.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  // 2ⁿ: n + 127 in the exponent field (n ≥ −126 after the clamp, so the result is normal).
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.bitselect(f32x4.splat(0), f32x4.mul(p, scale), f32x4.lt(x0, f32x4.splat(-87.3)));
}

/** σ(v) in each lane. */
@inline
function sigmoid4(v: v128): v128 {
  const e = expNonPositive(f32x4.neg(f32x4.abs(v)));
  const s = f32x4.div(f32x4.splat(1.0), f32x4.add(f32x4.splat(1.0), e));
  return v128.bitselect(s, f32x4.mul(e, s), f32x4.ge(v, f32x4.splat(0)));
}

/** tanh(v) in each lane: x·P(x²)/Q(x²) with x = clamp(v, ±9), kept within [−1, 1]. */
@inline
function tanh4(v: v128): v128 {
  const x = f32x4.min(f32x4.max(v, f32x4.splat(-9.0)), f32x4.splat(9.0));
  const z = f32x4.mul(x, x);
  let p = f32x4.splat(1.3354263139753186e-8);
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(2.060882555288872e-5));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(0.0034955739581780144));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(0.13381014218283527));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(0.9999999795309523));
  let q = f32x4.splat(7.776404142290083e-7);
  q = f32x4.add(f32x4.mul(q, z), f32x4.splat(0.00032856106194176275));
  q = f32x4.add(f32x4.mul(q, z), f32x4.splat(0.025876929848569652));
  q = f32x4.add(f32x4.mul(q, z), f32x4.splat(0.46714329836954865));
  q = f32x4.add(f32x4.mul(q, z), f32x4.splat(1.0));
  // Rounded in float32 the ratio can exceed 1 by an ulp near the clamp; tanh must stay in [−1, 1].
  return f32x4.min(f32x4.max(f32x4.div(f32x4.mul(x, p), q), f32x4.splat(-1.0)), f32x4.splat(1.0));
}

/**
 * One LSTM step's pointwise part for B rows: a = (xp + bias) + hh, act = [σ(a_i), σ(a_f), tanh(a_g), σ(a_o)],
 * c' = f·c + i·g, tc = tanh c', h' = o·tc. xp, hh, act [B, 4H]; bias [4H]; c, tc, hOut, cOut [B, H].
 */
export function lstmForward(xp: usize, hh: usize, bias: usize, c: usize, act: usize, tc: usize, hOut: usize, cOut: usize, B: i32, H: i32): void {
  const hb = <usize>H << 2;
  const rowBytes = hb << 2;
  for (let b = 0; b < B; b++) {
    const row = <usize>b * rowBytes;
    const x = xp + row;
    const y = hh + row;
    const a = act + row;
    const s = <usize>b * hb;
    for (let j: usize = 0; j < hb; j += 16) {
      const i = sigmoid4(f32x4.add(f32x4.add(v128.load(x + j), v128.load(bias + j)), v128.load(y + j)));
      const jf = j + hb;
      const f = sigmoid4(f32x4.add(f32x4.add(v128.load(x + jf), v128.load(bias + jf)), v128.load(y + jf)));
      const jg = jf + hb;
      const g = tanh4(f32x4.add(f32x4.add(v128.load(x + jg), v128.load(bias + jg)), v128.load(y + jg)));
      const jo = jg + hb;
      const o = sigmoid4(f32x4.add(f32x4.add(v128.load(x + jo), v128.load(bias + jo)), v128.load(y + jo)));
      v128.store(a + j, i);
      v128.store(a + jf, f);
      v128.store(a + jg, g);
      v128.store(a + jo, o);
      const cn = f32x4.add(f32x4.mul(f, v128.load(c + s + j)), f32x4.mul(i, g));
      const t = tanh4(cn);
      v128.store(cOut + s + j, cn);
      v128.store(tc + s + j, t);
      v128.store(hOut + s + j, f32x4.mul(o, t));
    }
  }
}

/**
 * The backward of lstmForward from ∂L/∂h' (gh) and ∂L/∂c' (gc), both [B, H]:
 *   ∂c' = gc + gh·o·(1 − tc²)
 *   ∂a_i = ∂c'·g·i(1 − i),  ∂a_f = ∂c'·c·f(1 − f),  ∂a_g = ∂c'·i·(1 − g²),  ∂a_o = gh·tc·o(1 − o)
 *   da = [∂a_i, ∂a_f, ∂a_g, ∂a_o] [B, 4H],  dc = ∂c'·f [B, H],  db += Σ_rows da [4H].
 */
export function lstmBackward(gh: usize, gc: usize, c: usize, act: usize, tc: usize, da: usize, dc: usize, db: usize, B: i32, H: i32): void {
  const hb = <usize>H << 2;
  const rowBytes = hb << 2;
  const one = f32x4.splat(1.0);
  for (let b = 0; b < B; b++) {
    const a = act + <usize>b * rowBytes;
    const d = da + <usize>b * rowBytes;
    const s = <usize>b * hb;
    for (let j: usize = 0; j < hb; j += 16) {
      const jf = j + hb;
      const jg = jf + hb;
      const jo = jg + hb;
      const i = v128.load(a + j);
      const f = v128.load(a + jf);
      const g = v128.load(a + jg);
      const o = v128.load(a + jo);
      const t = v128.load(tc + s + j);
      const dh = v128.load(gh + s + j);
      const dcn = f32x4.add(v128.load(gc + s + j), f32x4.mul(f32x4.mul(dh, o), f32x4.sub(one, f32x4.mul(t, t))));
      const dai = f32x4.mul(f32x4.mul(dcn, g), f32x4.mul(i, f32x4.sub(one, i)));
      const daf = f32x4.mul(f32x4.mul(dcn, v128.load(c + s + j)), f32x4.mul(f, f32x4.sub(one, f)));
      const dag = f32x4.mul(f32x4.mul(dcn, i), f32x4.sub(one, f32x4.mul(g, g)));
      const dao = f32x4.mul(f32x4.mul(dh, t), f32x4.mul(o, f32x4.sub(one, o)));
      v128.store(d + j, dai);
      v128.store(d + jf, daf);
      v128.store(d + jg, dag);
      v128.store(d + jo, dao);
      v128.store(db + j, f32x4.add(v128.load(db + j), dai));
      v128.store(db + jf, f32x4.add(v128.load(db + jf), daf));
      v128.store(db + jg, f32x4.add(v128.load(db + jg), dag));
      v128.store(db + jo, f32x4.add(v128.load(db + jo), dao));
      v128.store(dc + s + j, f32x4.mul(dcn, f));
    }
  }
}

/**
 * One GRU step's pointwise part for B rows (PyTorch's gate order r, z, n; b_hn inside hh):
 *   r = σ(x_r + h_r),  z = σ(x_z + h_z),  n = tanh(x_n + r·h_n),  h' = n + z·(h − n).
 * xp, hh, act = [r | z | n] [B, 3H]; h, hOut [B, H].
 */
export function gruForward(xp: usize, hh: usize, h: usize, act: usize, hOut: usize, B: i32, H: i32): void {
  const hb = <usize>H << 2;
  const rowBytes = hb * 3;
  for (let b = 0; b < B; b++) {
    const row = <usize>b * rowBytes;
    const x = xp + row;
    const y = hh + row;
    const a = act + row;
    const s = <usize>b * hb;
    for (let j: usize = 0; j < hb; j += 16) {
      const jz = j + hb;
      const jn = jz + hb;
      const r = sigmoid4(f32x4.add(v128.load(x + j), v128.load(y + j)));
      const z = sigmoid4(f32x4.add(v128.load(x + jz), v128.load(y + jz)));
      const n = tanh4(f32x4.add(v128.load(x + jn), f32x4.mul(r, v128.load(y + jn))));
      v128.store(a + j, r);
      v128.store(a + jz, z);
      v128.store(a + jn, n);
      v128.store(hOut + s + j, f32x4.add(n, f32x4.mul(z, f32x4.sub(v128.load(h + s + j), n))));
    }
  }
}

/**
 * The backward of gruForward from d = ∂L/∂h' [B, H]:
 *   ∂a_n = d·(1 − z)·(1 − n²),  ∂a_r = ∂a_n·h_n·r(1 − r),  ∂a_z = d·(h − n)·z(1 − z)
 *   dxp = [∂a_r, ∂a_z, ∂a_n],  dhh = [∂a_r, ∂a_z, ∂a_n·r]  [B, 3H],  and when withDh, dh = d·z [B, H].
 */
export function gruBackward(d: usize, hh: usize, h: usize, act: usize, dxp: usize, dhh: usize, dh: usize, withDh: bool, B: i32, H: i32): void {
  const hb = <usize>H << 2;
  const rowBytes = hb * 3;
  const one = f32x4.splat(1.0);
  for (let b = 0; b < B; b++) {
    const row = <usize>b * rowBytes;
    const a = act + row;
    const y = hh + row;
    const dx = dxp + row;
    const dy = dhh + row;
    const s = <usize>b * hb;
    for (let j: usize = 0; j < hb; j += 16) {
      const jz = j + hb;
      const jn = jz + hb;
      const r = v128.load(a + j);
      const z = v128.load(a + jz);
      const n = v128.load(a + jn);
      const g = v128.load(d + s + j);
      const dan = f32x4.mul(f32x4.mul(g, f32x4.sub(one, z)), f32x4.sub(one, f32x4.mul(n, n)));
      const dar = f32x4.mul(f32x4.mul(dan, v128.load(y + jn)), f32x4.mul(r, f32x4.sub(one, r)));
      const daz = f32x4.mul(f32x4.mul(g, f32x4.sub(v128.load(h + s + j), n)), f32x4.mul(z, f32x4.sub(one, z)));
      v128.store(dx + j, dar);
      v128.store(dy + j, dar);
      v128.store(dx + jz, daz);
      v128.store(dy + jz, daz);
      v128.store(dx + jn, dan);
      v128.store(dy + jn, f32x4.mul(dan, r));
      if (withDh) v128.store(dh + s + j, f32x4.mul(g, z));
    }
  }
}
`;
