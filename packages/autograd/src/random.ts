/**
 * Seeded randomness: one global xoshiro128** stream, so `manualSeed(n)` makes every random tensor, weight
 * initialisation and dropout mask reproducible. The state can be saved and restored to resume runs exactly.
 */
let state: Uint32Array = new Uint32Array(4);

/** SplitMix32 expands one seed into the four words of xoshiro's state (never all zero). */
function seedState(seed: number): Uint32Array {
  const s = new Uint32Array(4);
  let x = seed >>> 0;
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    s[i] = (z ^ (z >>> 16)) >>> 0;
  }
  if (s[0] === 0 && s[1] === 0 && s[2] === 0 && s[3] === 0) s[0] = 1;
  return s;
}

/** Seeds all randomness in TensorLoom. */
export function manualSeed(seed: number): void {
  if (!Number.isFinite(seed)) throw new Error(`manualSeed: seed must be a finite number, got ${seed}`);
  state = seedState(Math.floor(seed));
}

/** A copy of the generator's state, for checkpoints. */
export function getRngState(): number[] {
  return Array.from(state);
}

/** Restores a state from `getRngState()`. */
export function setRngState(saved: readonly number[]): void {
  if (saved.length !== 4 || saved.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
    throw new Error('setRngState: expected the 4 unsigned 32-bit words returned by getRngState()');
  }
  state = Uint32Array.from(saved);
}

function nextUint32(): number {
  const s = state;
  const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
  const t = (s[1]! << 9) >>> 0;
  s[2]! ^= s[0]!;
  s[3]! ^= s[1]!;
  s[1]! ^= s[2]!;
  s[0]! ^= s[3]!;
  s[2]! ^= t;
  s[3] = rotl(s[3]!, 11);
  return result;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A uniform double in [0, 1) with 53 random bits. */
export function uniform(): number {
  const hi = nextUint32() >>> 5; // 27 bits
  const lo = nextUint32() >>> 6; // 26 bits
  return (hi * 67108864 + lo) / 9007199254740992;
}

/**
 * A uniform integer in [0, range) for an integer 1 ≤ range ≤ 2^53: ⌊k·range / 2^53⌋ for the same 53 random
 * bits k that `uniform()` draws (so it consumes the stream as `uniform()` does), computed exactly. The
 * product k·range has up to 106 bits, so `Math.floor(uniform() * range)` would round it, and can yield an
 * integer off by one (even `range` itself); here ranges up to 2^32 are split into 16-bit parts whose
 * partial products stay below 2^53, and larger ones use BigInt. Each value is hit by ⌊2^53/range⌋ or
 * ⌈2^53/range⌉ of the 2^53 values of k, so its probability is within 2^-53 of 1/range.
 */
export function uniformInt(range: number): number {
  const kh = nextUint32() >>> 5; // 27 bits
  const kl = nextUint32() >>> 6; // 26 bits
  if (range > 4294967296) {
    return Number(((BigInt(kh) * 67108864n + BigInt(kl)) * BigInt(range)) >> 53n);
  }
  // k = kh·2^26 + kl, range = rh·2^16 + rl: k·range = A·2^42 + B·2^26 + C·2^16 + D, each part exact.
  const rh = Math.floor(range / 65536);
  const rl = range - rh * 65536;
  const a = kh * rh;
  const b = kh * rl;
  const c = kl * rh;
  const d = kl * rl;
  // ⌊k·range / 2^26⌋ = A·2^16 + B + ⌊(C·2^16 + D) / 2^26⌋, then ⌊that / 2^27⌋; floor(m + f) for an integer m and
  // 0 ≤ f < 1 keeps each step's intermediate below 2^53.
  const low = Math.floor((c + Math.floor(d / 65536)) / 1024);
  return Math.floor((a + Math.floor((b + low) / 65536)) / 2048);
}

/** A standard normal sample (Box–Muller; the second value is discarded to keep the stream simple). */
export function normal(): number {
  let u = uniform();
  while (u === 0) u = uniform();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
}

// A fixed default seed, as in PyTorch: runs are reproducible even before manualSeed is called.
manualSeed(0);
