/**
 * The int32 dtype: exact indices past 2^24, PyTorch's type promotion, no gradients, and int32 kept out of the
 * fused (float-only) kernels.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  abs,
  add,
  arange,
  argmax,
  argmin,
  cast,
  cat,
  clamp,
  customOp,
  div,
  eq,
  exp,
  full,
  gather,
  getRngState,
  gt,
  indexAdd,
  indexSelect,
  linear,
  logSoftmax,
  logsumexp,
  manualSeed,
  matmul,
  max,
  maximum,
  mean,
  minimum,
  mul,
  narrow,
  neg,
  ones,
  permute,
  pow,
  randint,
  randn,
  relu,
  reshape,
  scatterAdd,
  setRngState,
  sigmoid,
  sign,
  softmax,
  split,
  sqrt,
  stack,
  sub,
  sum,
  Tensor,
  tensor,
  unbind,
  variance,
  where,
  withFusion,
  zeros,
} from '../src/index.ts';
import { uniform, uniformInt } from '../src/random.ts';

const i32 = (values: number[], shape?: number[]) => tensor(values, { dtype: 'int32', shape });
const values = (t: Tensor) => Array.from(t.data);

/** Values float32 cannot hold: it rounds each to an even neighbour. */
const BIG = [2 ** 24 + 1, 2 ** 31 - 1, -(2 ** 31), 2 ** 24 + 3, -(2 ** 24 + 1), 0];

describe('int32 tensors', () => {
  it('come from Int32Array storage, tensor(), the constant factories and arange', () => {
    expect(new Tensor(new Int32Array([1, 2]), [2]).dtype).toBe('int32');
    expect(tensor(Int32Array.from(BIG)).dtype).toBe('int32');
    expect(values(tensor(Int32Array.from(BIG)))).toEqual(BIG);
    const t = i32([BIG, BIG] as unknown as number[]);
    expect(t.shape).toEqual([2, 6]);
    expect(values(t)).toEqual([...BIG, ...BIG]);
    expect(values(zeros([2], { dtype: 'int32' }))).toEqual([0, 0]);
    expect(values(ones([2], { dtype: 'int32' }))).toEqual([1, 1]);
    expect(values(full([2], 2 ** 31 - 1, { dtype: 'int32' }))).toEqual([2 ** 31 - 1, 2 ** 31 - 1]);
    const r = arange(2 ** 24, 2 ** 24 + 4, 1, { dtype: 'int32' });
    expect(r.dtype).toBe('int32');
    expect(values(r)).toEqual([2 ** 24, 2 ** 24 + 1, 2 ** 24 + 2, 2 ** 24 + 3]);
  });

  it('truncate stored values toward zero, and refuse values int32 cannot hold, by name', () => {
    expect(values(tensor([1.7, -1.7, 2.5, -0.2], { dtype: 'int32' }))).toEqual([1, -1, 2, 0]);
    expect(() => tensor([1, 2 ** 31], { dtype: 'int32' })).toThrow(
      'tensor: value at flat index 1 is 2147483648, which has no int32 value (expected a finite number in [-2147483648, 2147483647])',
    );
    expect(() => tensor([Number.NaN], { dtype: 'int32' })).toThrow('tensor: value at flat index 0 is NaN');
    expect(() => full([2], Number.POSITIVE_INFINITY, { dtype: 'int32' })).toThrow(
      'full: the fill value is Infinity, which has no int32 value',
    );
    expect(() => arange(2 ** 31 - 1, 2 ** 31 + 1, 1, { dtype: 'int32' })).toThrow(
      'arange: value at flat index 1 is 2147483648',
    );
  });

  it('read back exactly through toArray, item, toString, clone and detach', () => {
    const t = i32(BIG, [2, 3]);
    expect(t.toArray()).toEqual([BIG.slice(0, 3), BIG.slice(3)]);
    expect(i32([2 ** 31 - 1], []).item()).toBe(2 ** 31 - 1);
    expect(i32([2 ** 24 + 1, -3]).toString()).toBe('Tensor([16777217,-3], shape=[2], dtype=int32)');
    for (const c of [t.clone(), t.detach()]) {
      expect(c.dtype).toBe('int32');
      expect(values(c)).toEqual(BIG);
    }
  });

  it('never require grad (as PyTorch: only floating point tensors can)', () => {
    const message =
      /^requiresGrad: only floating point tensors can require gradients, and this one of shape \[2\] is int32; convert it with \.to\('float32'\) first$/;
    const t = i32([1, 2]);
    expect(() => {
      t.requiresGrad = true;
    }).toThrow(message);
    expect(() => t.requiresGrad_()).toThrow(message);
    expect(() => tensor([1, 2], { dtype: 'int32', requiresGrad: true })).toThrow(message);
    expect(t.requiresGrad).toBe(false);
    t.requiresGrad = false; // turning it off is fine
    // Nor can a tensor that requires grad be pointed at int32 storage.
    expect(() => tensor([1.5], { requiresGrad: true }).setStorage(new Int32Array(1))).toThrow(
      'setStorage: a tensor of shape [1] that requires grad cannot hold int32 storage',
    );
  });

  it('views, joins and selections keep int32 and its exact values, with fusion on or off', () => {
    for (const fusion of [true, false]) {
      withFusion(fusion, () => {
        const t = i32(BIG, [2, 3]);
        const results: Array<[Tensor, number[]]> = [
          [reshape(t, [3, 2]), BIG],
          [permute(t, [1, 0]), [BIG[0]!, BIG[3]!, BIG[1]!, BIG[4]!, BIG[2]!, BIG[5]!]],
          [narrow(t, 1, 1, 2), [BIG[1]!, BIG[2]!, BIG[4]!, BIG[5]!]],
          [t.broadcastTo([2, 2, 3]), [...BIG, ...BIG]],
          [cat([t, t], 0), [...BIG, ...BIG]],
          [stack([t, t], 1), [...BIG.slice(0, 3), ...BIG.slice(0, 3), ...BIG.slice(3), ...BIG.slice(3)]],
          [indexSelect(t, 1, i32([2, 0])), [BIG[2]!, BIG[0]!, BIG[5]!, BIG[3]!]],
          [unbind(t, 1)[1]!, [BIG[1]!, BIG[4]!]],
          [split(t, 2, 1)[1]!, [BIG[2]!, BIG[5]!]],
        ];
        for (const [r, want] of results) {
          expect(r.dtype).toBe('int32');
          // Never a pending (fused) tensor: fused kernels compute in float32 or float64.
          expect(r.isRealized).toBe(true);
          expect(values(r)).toEqual(want);
        }
      });
    }
  });
});

describe('cast', () => {
  it("to int32 truncates toward zero, as PyTorch's .to(torch.int32)", () => {
    const x = tensor([1.9, -1.9, 0.5, -0.5, 2 ** 31 - 1, -(2 ** 31)], { dtype: 'float64' });
    expect(values(x.to('int32'))).toEqual([1, -1, 0, 0, 2 ** 31 - 1, -(2 ** 31)]);
  });

  it('to int32 refuses NaN, ±∞ and out-of-range values, naming the value and where it was', () => {
    expect(() => tensor([0, 2 ** 31]).to('int32')).toThrow(
      'cast: value of [2] at flat index 1 is 2147483648, which has no int32 value (expected a finite number in [-2147483648, 2147483647])',
    );
    expect(() => tensor([Number.NaN]).to('int32')).toThrow('cast: value of [1] at flat index 0 is NaN');
    expect(() => tensor([-Infinity]).to('int32')).toThrow('is -Infinity');
  });

  it('from int32 is exact in float64 and rounds past 2^24 in float32', () => {
    const t = i32(BIG);
    expect(values(t.to('float64'))).toEqual(BIG);
    expect(values(t.to('float32'))).toEqual(BIG.map((v) => Math.fround(v)));
    expect(t.to('float32').data[0]).toBe(2 ** 24); // 2^24 + 1 rounds: why ids are int32
  });

  it('to int32 of a tensor that requires grad records nothing (an integer result has no gradient)', () => {
    const x = tensor([1.5, 2.5], { requiresGrad: true });
    const n = cast(x, 'int32');
    expect(n.requiresGrad).toBe(false);
    expect(n.gradFn).toBeNull();
  });
});

describe('type promotion', () => {
  const a = i32([7, -7, 2 ** 24 + 1]);
  const f32 = tensor([0.5, 0.5, 0.5]);
  const f64 = tensor([0.5, 0.5, 0.5], { dtype: 'float64' });

  it('int32 with float32 or float64 computes in the float dtype', () => {
    expect(add(a, f32).dtype).toBe('float32');
    // As in PyTorch, the int32 operand is converted first (2^24 + 1 becomes 2^24), then added in float32.
    expect(values(add(a, f32))).toEqual([7.5, -6.5, Math.fround(Math.fround(2 ** 24 + 1) + 0.5)]);
    expect(add(f64, a).dtype).toBe('float64');
    expect(values(add(f64, a))).toEqual([7.5, -6.5, 2 ** 24 + 1.5]);
    expect(values(mul(a, f64))).toEqual([3.5, -3.5, (2 ** 24 + 1) / 2]);
    expect(values(where(tensor([1, 0, 1]), a, f64))).toEqual([7, 0.5, 2 ** 24 + 1]);
  });

  it('int32 with int32 stays int32 and wraps like Int32Array', () => {
    const x = i32([2 ** 31 - 1, 65536, -(2 ** 31), -5]);
    const y = i32([1, 65537, -1, 3]);
    const cases: Array<[Tensor, number[]]> = [
      [add(x, y), [-(2 ** 31), 131073, 2 ** 31 - 1, -2]],
      [sub(x, y), [2 ** 31 - 2, -1, -(2 ** 31) + 1, -8]],
      // 65536 · 65537 = 2^32 + 2^16 wraps to 2^16, which a double product and a truncating store would
      // also give; (2^31 − 1)·(2^31 − 1) needs the exact low bits, which a double product loses.
      [mul(x, y), [2 ** 31 - 1, 65536, -(2 ** 31), -15]],
      [mul(i32([2 ** 31 - 1]), i32([2 ** 31 - 1])), [1]],
      [neg(x), [-(2 ** 31) + 1, -65536, -(2 ** 31), 5]],
      [abs(x), [2 ** 31 - 1, 65536, -(2 ** 31), 5]],
      [maximum(x, y), [2 ** 31 - 1, 65537, -1, 3]],
      [minimum(x, y), [1, 65536, -(2 ** 31), -5]],
      [gt(x, y), [1, 0, 0, 0]],
      [eq(x, x), [1, 1, 1, 1]],
      [sign(x), [1, 1, -1, -1]],
      [relu(x), [2 ** 31 - 1, 65536, 0, 0]],
      [clamp(x, -3, 70000), [70000, 65536, -3, -3]],
      [where(gt(x, 0), x, y), [2 ** 31 - 1, 65536, -1, 3]],
      [sum(x), [65530]],
      [sum(i32([2 ** 31 - 1, 2])), [-(2 ** 31) + 1]],
      [max(x), [2 ** 31 - 1]],
    ];
    for (const [r, want] of cases) {
      expect(r.dtype).toBe('int32');
      // Computed at once, never pending: fused kernels compute in float32 or float64.
      expect(r.isRealized).toBe(true);
      expect(values(r)).toEqual(want);
    }
  });

  it('plain numbers: an integral one keeps int32, a non-integral one makes float32 (PyTorch)', () => {
    expect(add(a, 3).dtype).toBe('int32');
    expect(values(add(a, 3))).toEqual([10, -4, 2 ** 24 + 4]);
    expect(mul(2, a).dtype).toBe('int32');
    expect(add(a, 0.5).dtype).toBe('float32');
    expect(values(add(a, 0.5))).toEqual([7.5, -6.5, Math.fround(Math.fround(2 ** 24 + 1) + 0.5)]);
    expect(add(a, Number.POSITIVE_INFINITY).dtype).toBe('float32');
    expect(() => add(a, 2 ** 40)).toThrow(
      'add: a number meeting an int32 tensor is 1099511627776, which has no int32 value',
    );
  });

  it('true division and floating functions of int32 give float32', () => {
    const d = div(i32([7, -7, 1]), i32([2, 2, 3]));
    expect(d.dtype).toBe('float32');
    expect(values(d)).toEqual([3.5, -3.5, Math.fround(1 / 3)]);
    expect(values(div(i32([7]), 2))).toEqual([3.5]);
    for (const f of [exp, sigmoid, sqrt]) {
      const y = f(i32([0, 1, 4]));
      expect(y.dtype).toBe('float32');
      expect(values(y)).toEqual(values(f(tensor([0, 1, 4]))));
    }
    // Composites built on those (softmax, logsumexp, variance) come out float32 too.
    const n = i32([1, 3, 2]);
    const f = tensor([1, 3, 2]);
    for (const [ours, want] of [
      [softmax(n, 0), softmax(f, 0)],
      [logSoftmax(n, 0), logSoftmax(f, 0)],
      [logsumexp(n), logsumexp(f)],
      [variance(n), variance(f)],
    ] as const) {
      expect(ours.dtype).toBe('float32');
      expect(values(ours)).toEqual(values(want));
    }
    expect(mean(i32([1, 2])).dtype).toBe('float32');
    expect(mean(i32([1, 2])).item()).toBe(1.5);
    expect(clamp(i32([1, 5]), 1.5).dtype).toBe('float32');
    expect(pow(i32([4]), 0.5).item()).toBe(2);
  });

  it('refuses what has no int32 form, saying how to convert', () => {
    expect(() => pow(i32([2]), i32([3]))).toThrow(
      "pow: integer powers of int32 tensors are not supported (shapes [1] and [1]); convert with .to('float32')",
    );
    expect(() => pow(i32([2]), 3)).toThrow('pow: integer powers of int32 tensors are not supported');
    expect(() => matmul(i32([1, 2], [1, 2]), tensor([1, 2], { shape: [2, 1] }))).toThrow(
      "matmul: int32 operands are not supported (int32 [1,2] vs float32 [2,1]); convert with .to('float32')",
    );
    expect(() => linear(i32([1, 2], [1, 2]), zeros([3, 2]))).toThrow(
      'linear: int32 operands are not supported',
    );
    expect(() => clamp(i32([1]), 2 ** 31)).toThrow('clamp: min is 2147483648, which has no int32 value');
    // float32 with float64 is still refused.
    expect(() => add(f32, f64)).toThrow(
      'add: dtype mismatch: float32 [3] vs float64 [3]; convert with .to()',
    );
  });

  it('sends gradients to the float operand only', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true, dtype: 'float64' });
    const i = i32([4, -5, 2 ** 24 + 1]);
    sum(add(mul(x, i), div(i, x))).backward();
    // ∂/∂x (x·i + i/x) = i − i/x²
    const want = [4 - 4 / 1, -5 + 5 / 4, 2 ** 24 + 1 - (2 ** 24 + 1) / 9];
    values(x.grad!).forEach((g, k) => {
      expect(g).toBeCloseTo(want[k]!, 6);
    });
    expect(i.grad).toBeNull();
  });

  it('feeds fused float chains the same values as unfused ones (int32 is converted before, never fused)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom('float32', 'float64') as fc.Arbitrary<'float32' | 'float64'>,
        (ints, dtype) => {
          const run = () => {
            const n = i32(ints);
            const f = tensor(
              ints.map((_, k) => (k % 3) - 0.75),
              { dtype },
            );
            // A pending float node meets int32 operands on both sides, inside and after the int32 ops.
            const chain = mul(add(mul(f, 2), n), sub(add(n, 1), f));
            const y = where(gt(n, 0), exp(neg(abs(f))), chain);
            expect(y.dtype).toBe(dtype);
            return values(y);
          };
          const fused = withFusion(true, run);
          const eager = withFusion(false, run);
          expect(fused).toEqual(eager);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('an int32 result of a custom op is not differentiable', () => {
    const round = customOp('round', {
      forward: (x) => x.to('int32'),
      backward: () => [null],
    });
    const y = round(tensor([1.5, -2.5], { requiresGrad: true }));
    expect(y.dtype).toBe('int32');
    expect(y.requiresGrad).toBe(false);
  });
});

describe('argmax and argmin', () => {
  it('return int32 indices, over a dim or the flattened tensor, with keepdim', () => {
    const x = tensor([
      [1, 5, 3],
      [7, 0, 7],
    ]);
    const cases: Array<[Tensor, number[], number[]]> = [
      [argmax(x), [], [3]],
      [argmin(x), [], [4]],
      [argmax(x, 1), [2], [1, 0]],
      [argmin(x, 0), [3], [0, 1, 0]],
      [argmax(x, -1, true), [2, 1], [1, 0]],
      [argmax(x, undefined, true), [1, 1], [3]],
    ];
    for (const [r, shape, want] of cases) {
      expect(r.dtype).toBe('int32');
      expect(r.shape).toEqual(shape);
      expect(values(r)).toEqual(want);
    }
  });

  it('pick the first of tied extremes, and NaN as the extreme (PyTorch)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -2, max: 2 }), { minLength: 1, maxLength: 12 }), (xs) => {
        const top = Math.max(...xs);
        const bottom = Math.min(...xs);
        expect(argmax(tensor(xs)).item()).toBe(xs.indexOf(top));
        expect(argmin(tensor(xs)).item()).toBe(xs.indexOf(bottom));
        expect(argmax(i32(xs)).item()).toBe(xs.indexOf(top));
      }),
    );
    expect(argmax(tensor([1, Number.NaN, 3, Number.NaN])).item()).toBe(1);
    expect(argmin(tensor([1, Number.NaN, -3])).item()).toBe(1);
  });

  it('index what they were computed over, exactly past 2^24', () => {
    const big = i32([2 ** 24 + 1, 2 ** 31 - 1, 2 ** 24 + 3]);
    expect(gather(big, 0, argmax(big, 0, true)).item()).toBe(2 ** 31 - 1);
  });
});

describe('randint', () => {
  it('is int32 by default and accepts float32 or float64', () => {
    expect(randint(0, 10, [3]).dtype).toBe('int32');
    expect(randint(0, 10, [3], { dtype: 'float32' }).dtype).toBe('float32');
    expect(randint(0, 10, [3], { dtype: 'float64' }).dtype).toBe('float64');
  });

  it('draws exact integers in [0, 2^25): within range, and odd as often as even', () => {
    manualSeed(1);
    const n = 20000;
    const x = randint(0, 2 ** 25, [n]);
    let odd = 0;
    let above = 0;
    let outside = 0;
    for (const v of x.data) {
      if (!(Number.isInteger(v) && v >= 0 && v < 2 ** 25)) outside++;
      odd += v & 1;
      if (v >= 2 ** 24) above++;
    }
    expect(outside).toBe(0);
    // Binomial(20000, ½): the standard deviation of the fraction is 0.0035; 0.02 is about 6 of them.
    // float32 storage gave about a quarter odd here (every value past 2^24 rounded to even).
    expect(Math.abs(odd / n - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(above / n - 0.5)).toBeLessThan(0.02);
  });

  it('covers the whole int32 range [−2^31, 2^31) exactly', () => {
    manualSeed(2);
    const n = 20000;
    const x = randint(-(2 ** 31), 2 ** 31, [n]);
    let odd = 0;
    let negative = 0;
    for (const v of x.data) {
      odd += v & 1;
      if (v < 0) negative++;
    }
    expect(Math.abs(odd / n - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(negative / n - 0.5)).toBeLessThan(0.02);
    // Small ranges at the extremes: every value is reachable and none escapes.
    const top = randint(2 ** 31 - 3, 2 ** 31, [3000]);
    expect(new Set(top.data)).toEqual(new Set([2 ** 31 - 3, 2 ** 31 - 2, 2 ** 31 - 1]));
    const bottom = randint(-(2 ** 31), -(2 ** 31) + 2, [3000]);
    expect(new Set(bottom.data)).toEqual(new Set([-(2 ** 31), -(2 ** 31) + 1]));
  });

  it('is reproducible from the seed', () => {
    manualSeed(42);
    const a = values(randint(-(2 ** 31), 2 ** 31 - 1, [50]));
    manualSeed(42);
    const b = values(randint(-(2 ** 31), 2 ** 31 - 1, [50]));
    manualSeed(43);
    const c = values(randint(-(2 ** 31), 2 ** 31 - 1, [50]));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('is ⌊k·range/2^53⌋ exactly, for the 53 bits k that uniform() draws (property, against BigInt)', () => {
    const state = fc
      .array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { minLength: 4, maxLength: 4 })
      .filter((s) => s.some((v) => v !== 0));
    const range = fc.oneof(
      fc.integer({ min: 1, max: 2 ** 32 }),
      fc.constantFrom(1, 2, 2 ** 24 + 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 53),
      fc.integer({ min: 2 ** 32, max: Number.MAX_SAFE_INTEGER }),
    );
    const saved = getRngState();
    try {
      fc.assert(
        fc.property(state, range, (s, r) => {
          setRngState(s);
          const q = uniformInt(r);
          setRngState(s);
          const k = BigInt(uniform() * 2 ** 53); // uniform() is k / 2^53, exactly
          expect(q).toBe(Number((k * BigInt(r)) >> 53n));
          expect(q >= 0 && q < r).toBe(true);
        }),
        { numRuns: 2000 },
      );
    } finally {
      setRngState(saved);
    }
  });

  it('refuses bounds its dtype cannot hold, naming them', () => {
    expect(() => randint(0, 2 ** 31 + 1, [1])).toThrow(
      "randint: [0, 2147483649) does not fit int32 (expected -2147483648 <= low < high <= 2147483648; pass { dtype: 'float64' } for a wider range)",
    );
    expect(() => randint(-(2 ** 31) - 1, 0, [1])).toThrow('does not fit int32');
    expect(randint(0, 2 ** 40, [4], { dtype: 'float64' }).dtype).toBe('float64');
    expect(() => randint(0, 1.5, [1])).toThrow('randint: expected integers low < high, got low=0, high=1.5');
  });
});

describe('index-taking ops with int32 indices', () => {
  /** x [2, 5, 3] in float64, for gradients. */
  const input = () => randn([2, 5, 3], { dtype: 'float64', requiresGrad: true });

  it('indexSelect, gather, scatterAdd and indexAdd give the values and gradients float indices give', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 10 }),
        (idx, seed) => {
          const runs = [
            (v: number[], shape: number[]) => tensor(v, { dtype: 'int32', shape }),
            (v: number[], shape: number[]) => tensor(v, { dtype: 'float64', shape }),
            (v: number[], shape: number[]) => tensor(v, { dtype: 'float32', shape }),
          ].map((make) => {
            manualSeed(seed);
            const x = input();
            const src = randn([2, idx.length, 3], { dtype: 'float64', requiresGrad: true });
            // gather / scatterAdd along dim 1 with index [2, idx.length, 3]
            const g = make(
              Array.from({ length: 2 * idx.length * 3 }, (_, k) => idx[Math.floor(k / 3) % idx.length]!),
              [2, idx.length, 3],
            );
            const outs = [
              indexSelect(x, 1, make(idx, [idx.length])),
              gather(x, 1, g),
              scatterAdd(x, 1, g, src),
              indexAdd(x, 1, make(idx, [idx.length]), src),
            ];
            const loss = outs.reduce(
              (acc, o) => add(acc, sum(mul(o, randn(o.shape, { dtype: 'float64' })))),
              tensor(0, { dtype: 'float64' }),
            );
            loss.backward();
            return [...outs.map(values), values(x.grad!), values(src.grad!)];
          });
          expect(runs[0]).toEqual(runs[1]);
          expect(runs[0]).toEqual(runs[2]);
          // Plain arrays too (indexSelect, indexAdd).
          manualSeed(seed);
          const x = input();
          expect(values(indexSelect(x, 1, idx))).toEqual(runs[0]![0]);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('an index tensor receives no gradient', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const idx = tensor([2, 0], { requiresGrad: true }); // a float index that requires grad
    sum(indexSelect(x, 0, idx)).backward();
    expect(values(x.grad!)).toEqual([1, 0, 1]);
    expect(idx.grad).toBeNull();
    sum(gather(x, 0, i32([1, 1]))).backward();
    expect(values(x.grad!)).toEqual([1, 2, 1]);
  });

  it('select values past 2^24 exactly (gather and indexSelect of int32 data)', () => {
    const data = i32(BIG, [2, 3]);
    expect(values(gather(data, 1, i32([2, 0, 1, 1], [2, 2])))).toEqual([BIG[2]!, BIG[0]!, BIG[4]!, BIG[4]!]);
    expect(values(indexSelect(data, 0, i32([1, 0])))).toEqual([...BIG.slice(3), ...BIG.slice(0, 3)]);
    expect(
      values(
        scatterAdd(
          zeros([2, 3], { dtype: 'int32' }),
          1,
          i32([0, 0, 2], [1, 3]),
          i32([2 ** 24, 1, 7], [1, 3]),
        ),
      ),
    ).toEqual([2 ** 24 + 1, 0, 7, 0, 0, 0]);
  });

  it('select row 2^24 + 1 of a dimension longer than 2^24 (which a float32 index cannot name)', () => {
    // 2^24 + 2 int32 elements: 64 MiB, so kept to this one test.
    const n = 2 ** 24 + 2;
    const x = new Tensor(new Int32Array(n), [n]);
    x.data[2 ** 24] = 5;
    x.data[2 ** 24 + 1] = 7;
    expect(indexSelect(x, 0, i32([2 ** 24 + 1])).item()).toBe(7);
    expect(gather(x, 0, i32([2 ** 24 + 1, 2 ** 24])).toArray()).toEqual([7, 5]);
    // The same id in a float32 tensor is 2^24 already: the wrong row, which is why ids are int32.
    expect(indexSelect(x, 0, tensor([2 ** 24 + 1])).item()).toBe(5);
  });

  it('name the op, the argument, the value and the valid range for a bad index', () => {
    const x = zeros([3, 2]);
    expect(() => indexSelect(x, 0, tensor([0, 1.5]))).toThrow(
      'indexSelect: index 1.5 at position 1 is not an integer for a dimension of size 3 (expected an integer in [0, 2])',
    );
    expect(() => indexSelect(x, 0, i32([3]))).toThrow(
      'indexSelect: index 3 at position 0 is out of range for a dimension of size 3 (expected an integer in [0, 2])',
    );
    expect(() => indexSelect(x, 0, [-1])).toThrow('indexSelect: index -1 at position 0 is out of range');
    expect(() => gather(x, 1, i32([0, 2], [1, 2]))).toThrow(
      'gather: index 2 at position 1 is out of range for a dimension of size 2 (expected an integer in [0, 1])',
    );
    expect(() => scatterAdd(x, 0, tensor([[0.5, 0]]), zeros([1, 2]))).toThrow(
      'scatterAdd: index 0.5 at position 0 is not an integer',
    );
    expect(() => scatterAdd(x, 0, [[0, 0]] as never, zeros([1, 2]))).toThrow(
      'scatterAdd: index must be a Tensor, got an array (wrap it with tensor())',
    );
    expect(() => indexAdd(x, 0, i32([7]), zeros([1, 2]))).toThrow(
      'indexAdd: index 7 at position 0 is out of range',
    );
  });
});
