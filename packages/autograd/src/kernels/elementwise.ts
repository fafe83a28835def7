/**
 * Elementwise kernels: typed arrays in, typed arrays out, no autograd. Inputs of binary kernels have
 * already been brought to the output's shape (see `strided.ts`), so every loop here is flat and tight.
 */
import type { TypedArray } from '../dtype.ts';

export type UnaryKernel = (x: TypedArray, out: TypedArray) => void;
export type BinaryKernel = (a: TypedArray, b: TypedArray, out: TypedArray) => void;

export const neg: UnaryKernel = (x, out) => {
  for (let i = 0; i < x.length; i++) out[i] = -x[i]!;
};
export const exp: UnaryKernel = (x, out) => {
  for (let i = 0; i < x.length; i++) out[i] = Math.exp(x[i]!);
};
export const log: UnaryKernel = (x, out) => {
  for (let i = 0; i < x.length; i++) out[i] = Math.log(x[i]!);
};
export const log1p: UnaryKernel = (x, out) => {
  for (let i = 0; i < x.length; i++) out[i] = Math.log1p(x[i]!);
};
export const sqrt: UnaryKernel = (x, out) => {
  for (let i = 0; i < x.length; i++) out[i] = Math.sqrt(x[i]!);
};
export const abs: UnaryKernel = (x, out) => {
  for (let i = 0; i < x.length; i++) out[i] = Math.abs(x[i]!);
};
export const sign: UnaryKernel = (x, out) => {
  for (let i = 0; i < x.length; i++) out[i] = Math.sign(x[i]!);
};
export const tanh: UnaryKernel = (x, out) => {
  if (out instanceof Float32Array) for (let i = 0; i < x.length; i++) out[i] = tanh32(x[i]!);
  else for (let i = 0; i < x.length; i++) out[i] = Math.tanh(x[i]!);
};
export const sin: UnaryKernel = (x, out) => {
  for (let i = 0; i < x.length; i++) out[i] = Math.sin(x[i]!);
};
export const cos: UnaryKernel = (x, out) => {
  for (let i = 0; i < x.length; i++) out[i] = Math.cos(x[i]!);
};
/** σ(v) = 1 / (1 + e^−v), evaluated without overflow for large |v|; fused kernels call this too. */
export function sigmoidScalar(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}
export const sigmoid: UnaryKernel = (x, out) => {
  if (out instanceof Float32Array) for (let i = 0; i < x.length; i++) out[i] = sigmoid32(x[i]!);
  else for (let i = 0; i < x.length; i++) out[i] = sigmoidScalar(x[i]!);
};

/*
 * float32 σ and tanh, computed in float32 arithmetic: every operation below is one IEEE float32 operation
 * (here each double result is rounded by `Math.fround`, which gives the float32 result exactly for + − × ÷),
 * so that WebAssembly evaluates the very same operations four lanes at a time (f32x4, wasm/fused.ts) and every
 * float32 path (unfused kernels, generated JavaScript, WebAssembly) agrees bit for bit. Both are within
 * 2 ulp (σ) and 3 ulp (tanh) of the correctly rounded values (tested over every scale), except that results
 * below the smallest normal float32 (2⁻¹²⁶ ≈ 1.2e−38) may be flushed to 0. float64 uses Math's.
 *
 * Both reduce to eˣ = 2ᵏ·(1 + q): k = round(x·log₂e), r = x − k·ln2 (ln2 split in a high part whose products
 * with k are exact and a low part, so r is accurate), q = eʳ − 1 by its Taylor polynomial to r⁷ (remainder
 * r⁸/8! < 6e−9 for |r| ≤ ln2/2), 2ᵏ exact (from a table here, from the bits in WebAssembly).
 *   σ(v) = 1 / (1 + 2ᵏ·(1 + q)) with x = −v clamped to [−87, 89] (σ is 1 below, and 2¹²⁸ = ∞ gives 0 above);
 *   tanh v = sign(v)·t(|v|), t(a) = m / (m + 2) with m = e²ᵃ − 1 = (2ᵏ − 1) + 2ᵏ·q and a clamped to 9 (float32
 *   tanh 9 is 1); below a = 1/4, where rounding m + 2 would cost relative accuracy, t(a) = a + a·s·P(s), s = a²,
 *   P the Taylor polynomial of (tanh a − a)/a³ to s⁴ (remainder < 1e−8 relative). The sign is applied last, so
 *   tanh(−0) = −0.
 */

/** 1.5·2²³: adding and subtracting it rounds a float32 |x| < 2²² to an integer (ties to even). */
export const ROUNDING_F32 = 12582912;
/** log₂e and ln2 = LN2_HI + LN2_LO as float32; LN2_HI has 9 significant bits, so k·LN2_HI is exact. */
export const LOG2E_F32 = Math.fround(Math.LOG2E);
export const LN2_HI = 0.693359375;
export const LN2_LO = Math.fround(Math.LN2 - LN2_HI);
/** Taylor coefficients of (eʳ − 1)/r, lowest first, as float32. */
export const EXPM1_TAYLOR = [1, 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040].map(Math.fround);
/** Taylor coefficients of (tanh a − a)/a³ in s = a², lowest first, as float32. */
export const TANH_TAYLOR = [-1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925].map(Math.fround);
/** 2ᵏ for k in [−126, 128] at index k + 126; 2¹²⁸ is float32 infinity, as its bit pattern in WebAssembly. */
export const POW2_F32 = Float64Array.from({ length: 255 }, (_, i) => (i === 254 ? Infinity : 2 ** (i - 126)));

const f = Math.fround;
const [C0, C1, C2, C3, C4, C5, C6] = EXPM1_TAYLOR as [number, number, number, number, number, number, number];
const [T0, T1, T2, T3, T4] = TANH_TAYLOR as [number, number, number, number, number];

/** σ(v) for float32 v (see above). Written out in full: a helper returning a double would allocate it. */
export function sigmoid32(v: number): number {
  const x = Math.min(Math.max(-v, -87), 89);
  const k = f(f(x * LOG2E_F32) + ROUNDING_F32) - ROUNDING_F32;
  const r = f(f(x - f(k * LN2_HI)) - f(k * LN2_LO));
  const q = f(
    r * f(C0 + f(r * f(C1 + f(r * f(C2 + f(r * f(C3 + f(r * f(C4 + f(r * f(C5 + f(r * C6)))))))))))),
  );
  return f(1 / f(1 + f(POW2_F32[k + 126]! * f(1 + q))));
}

/** tanh v for float32 v (see above), written out in full like `sigmoid32`. */
export function tanh32(v: number): number {
  const a = Math.abs(v);
  let t: number;
  if (a < 0.25) {
    const s = f(a * a);
    t = f(a + f(a * f(s * f(T0 + f(s * f(T1 + f(s * f(T2 + f(s * f(T3 + f(s * T4)))))))))));
  } else {
    const x = f(2 * Math.min(a, 9));
    const k = f(f(x * LOG2E_F32) + ROUNDING_F32) - ROUNDING_F32;
    const r = f(f(x - f(k * LN2_HI)) - f(k * LN2_LO));
    const q = f(
      r * f(C0 + f(r * f(C1 + f(r * f(C2 + f(r * f(C3 + f(r * f(C4 + f(r * f(C5 + f(r * C6)))))))))))),
    );
    const p = POW2_F32[k + 126]!;
    const m = f(f(p - 1) + f(p * q));
    t = f(m / f(m + 2));
  }
  return v > 0 ? t : v < 0 ? -t : v;
}

/** `e` rounded to float32, as source text. */
function fr(e: string): string {
  return `Math.fround(${e})`;
}

/** c₀ + x·(c₁ + x·(…)) in float32 operations over the constants `coefs` and the variable `x`, as source text. */
function horner32(coefs: readonly number[], x: string): string {
  let code = String(coefs[coefs.length - 1]);
  for (let k = coefs.length - 2; k >= 0; k--) code = fr(`${coefs[k]} + ${fr(`${x} * ${code}`)}`);
  return code;
}

/** The source text of k and q (see `sigmoid32`) for `$tx`: defines `$tk` and `$tq`. */
const EXP_PARTS_SOURCE = [
  `const $tk = ${fr(`${fr(`$tx * ${LOG2E_F32}`)} + ${ROUNDING_F32}`)} - ${ROUNDING_F32};`,
  `const $tr = ${fr(`${fr(`$tx - ${fr(`$tk * ${LN2_HI}`)}`)} - ${fr(`$tk * ${LN2_LO}`)}`)};`,
  `const $tq = ${fr(`$tr * ${horner32(EXPM1_TAYLOR, '$tr')}`)};`,
].join('\n');

/**
 * `sigmoid32` and `tanh32` as source text for generated kernels: the same operations in the same order,
 * inlined (a call that returns a double would allocate it). `P` is `POW2_F32`. The text is made once, with
 * `$a` for the operand and `$t` for the temporaries' prefix; the tests hold the generated kernels bit for bit
 * to these functions.
 */
const FLOAT32_SOURCE: Readonly<Record<string, { lines: string; expr: string }>> = {
  sigmoid: {
    lines: [`const $tx = Math.min(Math.max(-$a, -87), 89);`, EXP_PARTS_SOURCE].join('\n'),
    expr: `1 / ${fr(`1 + ${fr(`P[$tk + 126] * ${fr('1 + $tq')}`)}`)}`,
  },
  tanh: {
    lines: [
      `const $ta = Math.abs($a);`,
      `const $tx = ${fr('2 * Math.min($ta, 9)')};`,
      EXP_PARTS_SOURCE,
      `const $tp = P[$tk + 126];`,
      `const $tm = ${fr(`${fr('$tp - 1')} + ${fr('$tp * $tq')}`)};`,
      `const $ts = ${fr('$ta * $ta')};`,
      `const $tt = $ta < 0.25 ? ${fr(`$ta + ${fr(`$ta * ${fr(`$ts * ${horner32(TANH_TAYLOR, '$ts')}`)}`)}`)} : ${fr(`$tm / ${fr('$tm + 2')}`)};`,
    ].join('\n'),
    expr: `($a > 0 ? $tt : $a < 0 ? -$tt : $a)`,
  },
};

/** The float32 source of σ or tanh (see `FLOAT32_SOURCE`) for operand `a`, temporaries prefixed `t`. */
export function float32Code(op: string, a: string, t: string): { lines: string; expr: string } | null {
  const source = FLOAT32_SOURCE[op];
  if (!source) return null;
  const fill = (text: string) => text.replaceAll('$a', a).replaceAll('$t', t);
  return { lines: fill(source.lines), expr: fill(source.expr) };
}

export const relu: UnaryKernel = (x, out) => {
  for (let i = 0; i < x.length; i++) {
    out[i] = Math.max(x[i]!, 0); // NaN stays NaN, as in PyTorch
  }
};
/** erf by Abramowitz–Stegun 7.1.26 is too coarse for float64 checks; this uses a series / continued fraction. */
export const erf: UnaryKernel = (x, out) => {
  for (let i = 0; i < x.length; i++) out[i] = erfScalar(x[i]!);
};

/** The error function to ~1e-15 relative: Taylor series near 0, Lentz continued fraction for erfc beyond. */
export function erfScalar(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // erf x = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  if (ax > 6) return Math.sign(x);
  // erfc x = e^(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))), evaluated by modified Lentz.
  const tiny = 1e-300;
  let f = ax;
  let c = ax;
  let d = 0;
  for (let n = 1; n < 300; n++) {
    const a = n / 2;
    d = ax + a * d;
    d = d === 0 ? tiny : d;
    c = ax + a / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

export function clamp(x: TypedArray, lo: number, hi: number, out: TypedArray): void {
  for (let i = 0; i < x.length; i++) {
    out[i] = Math.min(Math.max(x[i]!, lo), hi);
  }
}

export const add: BinaryKernel = (a, b, out) => {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! + b[i]!;
};
export const sub: BinaryKernel = (a, b, out) => {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! - b[i]!;
};
export const mul: BinaryKernel = (a, b, out) => {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! * b[i]!;
};
/** int32 product, wrapping like Int32Array (a double product past 2^53 would lose the low bits). */
export const imul: BinaryKernel = (a, b, out) => {
  for (let i = 0; i < out.length; i++) out[i] = Math.imul(a[i]!, b[i]!);
};
export const div: BinaryKernel = (a, b, out) => {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! / b[i]!;
};
export const pow: BinaryKernel = (a, b, out) => {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! ** b[i]!;
};
export const maximum: BinaryKernel = (a, b, out) => {
  for (let i = 0; i < out.length; i++) out[i] = Math.max(a[i]!, b[i]!); // NaN propagates
};
export const minimum: BinaryKernel = (a, b, out) => {
  for (let i = 0; i < out.length; i++) out[i] = Math.min(a[i]!, b[i]!); // NaN propagates
};
export const gt: BinaryKernel = (a, b, out) => {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! > b[i]! ? 1 : 0;
};
export const lt: BinaryKernel = (a, b, out) => {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! < b[i]! ? 1 : 0;
};
export const ge: BinaryKernel = (a, b, out) => {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! >= b[i]! ? 1 : 0;
};
export const le: BinaryKernel = (a, b, out) => {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! <= b[i]! ? 1 : 0;
};
export const eq: BinaryKernel = (a, b, out) => {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! === b[i]! ? 1 : 0;
};
export const ne: BinaryKernel = (a, b, out) => {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! !== b[i]! ? 1 : 0;
};

/** out = cond ≠ 0 ? a : b, all three already at the output's shape. */
export function where(cond: TypedArray, a: TypedArray, b: TypedArray, out: TypedArray): void {
  for (let i = 0; i < out.length; i++) out[i] = cond[i] !== 0 ? a[i]! : b[i]!;
}
