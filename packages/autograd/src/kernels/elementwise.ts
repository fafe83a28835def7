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
 * float32 σ and tanh. Computed in double precision to ~1e-8 relative error and then rounded to float32, they
 * are within 1 ulp of the correctly rounded values (checked against Math.exp/Math.tanh in the tests), at a
 * fraction of the cost of Math.exp and Math.tanh, which are accurate to double precision that float32
 * rounding then throws away. Every float32 path (fused or not) uses these; float64 uses Math's.
 */

/**
 * Rounds |x| < 2⁵¹ to an integer (ties to even) by adding and subtracting 1.5·2⁵²: the sum's last bit is the
 * units place. Several times faster than Math.round in V8.
 */
export const ROUNDING = 6755399441055744;
function roundToInteger(x: number): number {
  return x + ROUNDING - ROUNDING;
}

/** 2^i for i in [−64, 192): the exact scale factors of the exponential below. */
export const POW2 = Float64Array.from({ length: 256 }, (_, i) => 2 ** (i - 64));

/** eʳ for |r| ≤ ln2/2 by its Taylor polynomial of degree 7 (`EXP_TAYLOR`, Horner's scheme). */
function expTaylor(r: number): number {
  return (
    1 + r * (1 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040)))))))
  );
}

/**
 * σ(v) for float32. With x = −v clamped to [−44, 110] (beyond, float32 σ is 1 or 0): x = k·ln 2 + r with
 * |r| ≤ ln2/2, eˣ = 2ᵏ·eʳ, eʳ by its Taylor polynomial of degree 7 (remainder r⁸/8! ≤ 5e-9 relative) and 2ᵏ
 * exact from a table; then σ = 1 / (1 + eˣ). NaN stays NaN.
 */
export function sigmoid32(v: number): number {
  const x = Math.min(Math.max(-v, -44), 110);
  const k = roundToInteger(x * Math.LOG2E);
  const r = x - k * Math.LN2;
  const p = expTaylor(r);
  return 1 / (1 + p * POW2[k + 64]!);
}

/**
 * tanh v for float32: for |v| < 1/4 its odd Taylor polynomial to v¹³ (remainder < 1e-11 relative, and
 * tanh(−0) = −0), else 1 − 2 / (e²ᵛ + 1) with v clamped to ±10 (where float32 tanh is ±1) and e²ᵛ as in
 * `sigmoid32`; cancellation at |v| = 1/4 costs at most a factor 5 of the exponential's relative error.
 * Both branches are computed and one is selected, so that generated kernels need no branch.
 */
export function tanh32(v: number): number {
  const s = v * v;
  const small =
    v *
    (1 +
      s *
        (-1 / 3 +
          s * (2 / 15 + s * (-17 / 315 + s * (62 / 2835 + s * (-1382 / 155925 + s * (21844 / 6081075)))))));
  const x = 2 * Math.min(Math.max(v, -10), 10);
  const k = roundToInteger(x * Math.LOG2E);
  const r = x - k * Math.LN2;
  const p = expTaylor(r);
  return Math.abs(v) < 0.25 ? small : 1 - 2 / (p * POW2[k + 64]! + 1);
}

/** Horner's scheme over `coefs` (lowest power first) in the variable `x`, as source text. */
function hornerCode(coefs: readonly number[], x: string): string {
  return coefs.reduceRight(
    (inner, c, i) => (i === coefs.length - 1 ? String(c) : `(${c} + ${x} * ${inner})`),
    '',
  );
}

/** Taylor coefficients of eʳ and of tanh(v)/v in v², lowest first (for the float32 σ and tanh). */
export const EXP_TAYLOR = [1, 1, 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040];
export const TANH_TAYLOR = [1, -1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075];

/**
 * `sigmoid32` and `tanh32` as source text for generated kernels (lazy.ts): the same operations in the same
 * order, inlined, since a call that returns a double would allocate it. `P` is `POW2`. The text is made once,
 * with `$a` for the operand and `$t` for the temporaries' prefix. Tests hold the generated kernels bit for
 * bit to these functions.
 */
const FLOAT32_SOURCE: Readonly<Record<string, { lines: string; expr: string }>> = {
  sigmoid: {
    lines: [
      `const $tx = Math.min(Math.max(-$a, -44), 110);`,
      `const $tk = ($tx * ${Math.LOG2E} + ${ROUNDING}) - ${ROUNDING};`,
      `const $tr = $tx - $tk * ${Math.LN2};`,
    ].join('\n'),
    expr: `1 / (1 + ${hornerCode(EXP_TAYLOR, '$tr')} * P[$tk + 64])`,
  },
  tanh: {
    lines: [
      `const $ts = $a * $a;`,
      `const $tx = 2 * Math.min(Math.max($a, -10), 10);`,
      `const $tk = ($tx * ${Math.LOG2E} + ${ROUNDING}) - ${ROUNDING};`,
      `const $tr = $tx - $tk * ${Math.LN2};`,
    ].join('\n'),
    expr: `(Math.abs($a) < 0.25 ? $a * ${hornerCode(TANH_TAYLOR, '$ts')} : 1 - 2 / (${hornerCode(EXP_TAYLOR, '$tr')} * P[$tk + 64] + 1))`,
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
