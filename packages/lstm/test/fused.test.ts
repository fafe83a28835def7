/**
 * The fused pointwise ops (src/fused.ts) against their composed definitions: the same values and the same
 * gradients (by the fused backward kernel, and by the recorded rule used under createGraph), second order
 * through the fused op, float32 accuracy of the fast nonlinearities, the multi-output mechanism, the
 * recurrent weight gradient formed once per backward pass (`RecurrentProduct`) against a plain unrolled
 * loop, and autograd's in-place broadcast of a repeated block that the bias additions rely on.
 */
import {
  add,
  broadcastTo,
  div,
  gemm,
  grad,
  grads,
  manualSeed,
  mul,
  narrow,
  noGrad,
  randn,
  reshape,
  stack,
  sub,
  sum,
  type Tensor,
  tensor,
  unsqueeze,
  zeros,
} from '@tensorloom/autograd';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gruPointwise, gruPointwiseComposed, lstmPointwise, lstmPointwiseComposed } from '../src/fused.ts';
import {
  GateRecorder,
  GRU,
  gruInput,
  gruStep,
  LSTM,
  LSTMCell,
  type LSTMState,
  lstmCell,
  lstmInput,
  lstmStep,
  unbind,
} from '../src/index.ts';
import { multiOutput } from '../src/split.ts';
import { constant, expectClose, fastGradcheck, leaf } from './helpers.ts';

const sizes = fc.record({
  B: fc.integer({ min: 1, max: 4 }),
  H: fc.integer({ min: 1, max: 5 }),
  seed: fc.integer({ min: 0, max: 1000 }),
});

/** Leaves xp, hh [B, G·H] and a state [B, H] in float64, pre-activations spread over σ's and tanh's curves. */
function inputs(B: number, H: number, gates: number): [Tensor, Tensor, Tensor] {
  return [leaf([B, gates * H], 1.5), leaf([B, gates * H], 1.5), leaf([B, H])];
}

/** Gradients of Σ u ⊙ out over `wrt`, by plain backward or recorded (createGraph). */
function gradsOf(outs: Tensor[], us: Array<Tensor | null>, wrt: Tensor[], createGraph: boolean): Tensor[] {
  let loss = zeros([], { dtype: 'float64' });
  outs.forEach((o, k) => {
    const u = us[k];
    if (u) loss = add(loss, sum(mul(o, u)));
  });
  for (const t of wrt) t.grad = null;
  loss.backward(undefined, { createGraph });
  return wrt.map((t) => t.grad ?? zeros(t.shape, { dtype: t.dtype }));
}

describe('lstmPointwise (fused) agrees with lstmPointwiseComposed', () => {
  it('in values and in gradients, by the fused kernel and by the recorded rule (float64)', () => {
    fc.assert(
      fc.property(
        sizes,
        fc.constantFrom('both', 'h only', 'c only'),
        fc.boolean(),
        ({ B, H, seed }, reach, withBias) => {
          manualSeed(seed);
          const [xp, hh, c] = inputs(B, H, 4);
          const bias = withBias ? leaf([4 * H]) : null;
          const wrt = bias ? [xp, hh, c, bias] : [xp, hh, c];
          const uh = reach === 'c only' ? null : constant([B, H]);
          const uc = reach === 'h only' ? null : constant([B, H]);
          const ref = lstmPointwiseComposed(xp, hh, c, bias);
          const [h, cNext] = lstmPointwise(xp, hh, c, bias);
          expectClose(h, ref.h, 1e-15);
          expectClose(cNext, ref.c, 1e-15);
          const want = gradsOf([ref.h, ref.c], [uh, uc], wrt, false);
          const fused = gradsOf([h, cNext], [uh, uc], wrt, false);
          const [h2, c2] = lstmPointwise(xp, hh, c, bias);
          const recorded = gradsOf([h2, c2], [uh, uc], wrt, true);
          want.forEach((w, k) => {
            expectClose(fused[k]!, w, 1e-14);
            expectClose(recorded[k]!, w, 1e-14);
          });
          // The recorded gradients are part of a graph (they depend on xp, hh and c), the fused ones are not.
          expect(recorded[0]!.requiresGrad).toBe(true);
          expect(fused[0]!.requiresGrad).toBe(false);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('stores the activations over hh when told it may (recomputeHH), with the same values and gradients', () => {
    fc.assert(
      fc.property(sizes, fc.boolean(), ({ B, H, seed }, createGraph) => {
        manualSeed(seed);
        const xp = leaf([B, 4 * H], 1.5);
        const h = leaf([B, H]);
        const W = leaf([4 * H, H]);
        const c = leaf([B, H]);
        const bias = leaf([4 * H]);
        const wrt = [xp, h, W, c, bias];
        const [uh, uc] = [constant([B, H]), constant([B, H])];
        const ref = lstmPointwiseComposed(xp, gemm(h, W, { transB: true }), c, bias);
        const hh = gemm(h, W, { transB: true });
        const before = hh.data.slice();
        const [hNext, cNext] = lstmPointwise(xp, hh, c, bias, {
          recomputeHH: () => gemm(h, W, { transB: true }),
        });
        expect(Array.from(hh.data)).not.toEqual(Array.from(before)); // the activations went there
        expectClose(hNext, ref.h, 1e-15);
        expectClose(cNext, ref.c, 1e-15);
        const want = gradsOf([ref.h, ref.c], [uh, uc], wrt, false);
        const got = gradsOf([hNext, cNext], [uh, uc], wrt, createGraph);
        want.forEach((w, k) => {
          expectClose(got[k]!, w, 1e-14);
        });
      }),
      { numRuns: 30 },
    );
  });

  it('passes first- and second-order gradient checks', () => {
    fc.assert(
      fc.property(sizes, ({ B, H, seed }) => {
        manualSeed(seed);
        const [xp, hh, c] = inputs(B, H, 4);
        const bias = leaf([4 * H]);
        fastGradcheck(() => lstmPointwise(xp, hh, c, bias), [xp, hh, c, bias], seed, true);
      }),
      { numRuns: 10 },
    );
  });

  it('gives the same gradient when run backward twice through a retained graph', () => {
    manualSeed(3);
    const [xp, hh, c] = inputs(2, 3, 4);
    const [h, cNext] = lstmPointwise(xp, hh, c);
    const loss = add(sum(mul(h, h)), sum(cNext));
    loss.backward(undefined, { retainGraph: true });
    const first = xp.grad!.clone();
    xp.grad = null;
    loss.backward();
    expectClose(xp.grad!, first, 0);
  });

  it('is not recorded under noGrad or for constant inputs', () => {
    const [xp, hh, c] = inputs(2, 3, 4);
    const [h] = noGrad(() => lstmPointwise(xp, hh, c));
    expect(h.requiresGrad).toBe(false);
    const [h2] = lstmPointwise(xp.detach(), hh.detach(), c.detach());
    expect(h2.requiresGrad).toBe(false);
    expect(h2.gradFn).toBeNull();
  });

  it('rejects mismatched shapes and dtypes, naming them', () => {
    const c = zeros([2, 3], { dtype: 'float64' });
    expect(() =>
      lstmPointwise(zeros([2, 12], { dtype: 'float64' }), zeros([2, 9], { dtype: 'float64' }), c),
    ).toThrow(/lstmPointwise: expected xp and hh \[B, 4H\], c \[B, H\] and bias \[4H\].*hh \[2,9\]/);
    expect(() => lstmPointwise(zeros([2, 12]), zeros([2, 12]), c)).toThrow(/xp \[2,12\] float32/);
    const x = zeros([2, 12], { dtype: 'float64' });
    expect(() => lstmPointwise(x, x, c, zeros([9], { dtype: 'float64' }))).toThrow(/bias \[9\] float64/);
  });
});

describe('gruPointwise (fused) agrees with gruPointwiseComposed', () => {
  it('in values and in gradients, by the fused kernel and by the recorded rule (float64)', () => {
    fc.assert(
      fc.property(sizes, ({ B, H, seed }) => {
        manualSeed(seed);
        const [xp, hh, h] = inputs(B, H, 3);
        const u = constant([B, H]);
        const ref = gruPointwiseComposed(xp, hh, h);
        const out = gruPointwise(xp, hh, h);
        expectClose(out, ref.h, 1e-15);
        const want = gradsOf([ref.h], [u], [xp, hh, h], false);
        const fused = gradsOf([out], [u], [xp, hh, h], false);
        const recorded = gradsOf([gruPointwise(xp, hh, h)], [u], [xp, hh, h], true);
        want.forEach((w, k) => {
          expectClose(fused[k]!, w, 1e-14);
          expectClose(recorded[k]!, w, 1e-14);
        });
      }),
      { numRuns: 40 },
    );
  });

  it('passes first- and second-order gradient checks', () => {
    fc.assert(
      fc.property(sizes, ({ B, H, seed }) => {
        manualSeed(seed);
        const [xp, hh, h] = inputs(B, H, 3);
        fastGradcheck(() => gruPointwise(xp, hh, h), [xp, hh, h], seed, true);
      }),
      { numRuns: 10 },
    );
  });
});

describe('float32 fused nonlinearities', () => {
  // Pre-activations from the whole float32 range of interest: tiny (tanh's series branch), moderate,
  // saturated, beyond the clamps, infinite.
  const special = [0, -0, 1e-30, -3e-5, 1e-4, -1e-4, 2e-4, 0.5, -3, 15, -15, 44, -60, 89, -104, 130, -200];
  const values = fc.array(
    fc.oneof(fc.double({ min: -30, max: 30, noNaN: true }), fc.constantFrom(...special, Infinity, -Infinity)),
    { minLength: 4, maxLength: 4 },
  );

  it('match the float64 definition to float32 rounding', () => {
    fc.assert(
      fc.property(
        fc.array(values, { minLength: 1, maxLength: 3 }),
        fc.double({ min: -5, max: 5, noNaN: true }),
        (rows, c0) => {
          // B = rows.length, H = 1: each row's four gate pre-activations are xp (hh = 0).
          const B = rows.length;
          const flat = rows.flat();
          const x32 = tensor(flat, { shape: [B, 4] });
          const c32 = tensor(new Array(B).fill(c0), { shape: [B, 1] });
          const [h, c] = lstmPointwise(x32, zeros([B, 4]), c32);
          const ref = lstmPointwiseComposed(
            x32.to('float64'),
            zeros([B, 4], { dtype: 'float64' }),
            c32.to('float64'),
          );
          for (const [got, want] of [
            [h, ref.h],
            [c, ref.c],
          ] as const) {
            for (let k = 0; k < got.size; k++) {
              const w = want.data[k]!;
              // A few float32 ulps of the terms: c' = f·c + i·g sums terms of size up to |c| + 1, so when they
              // cancel the error is relative to them, not to the (small) result.
              expect(Math.abs(got.data[k]! - w)).toBeLessThanOrEqual(
                3e-7 * (Math.max(Math.abs(w), 1e-3) + Math.abs(c0)) + 1e-45,
              );
            }
          }
          const gru = gruPointwise(tensor(flat.slice(0, 3 * B), { shape: [B, 3] }), zeros([B, 3]), c32);
          const gruRef = gruPointwiseComposed(
            tensor(flat.slice(0, 3 * B), { shape: [B, 3], dtype: 'float64' }),
            zeros([B, 3], { dtype: 'float64' }),
            c32.to('float64'),
          );
          for (let k = 0; k < gru.size; k++) {
            const w = gruRef.h.data[k]!;
            expect(Math.abs(gru.data[k]! - w)).toBeLessThanOrEqual(3e-7 * (1 + Math.abs(c0)));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('give σ and tanh to full relative precision near 0 and in the tails', () => {
    // With c = 0: c' = σ(a_i)·tanh(a_g), so choosing a_i large isolates tanh(a_g), and a_g → tanh 1 isolates σ(a_i).
    const tiny = [1e-30, -2e-8, 5e-5, -9.9e-5];
    for (const v of tiny) {
      const [, c] = lstmPointwise(tensor([[200, 0, v, 0]]), zeros([1, 4]), zeros([1, 1]));
      expect(Math.abs(c.data[0]! - Math.fround(Math.tanh(v)))).toBeLessThanOrEqual(Math.abs(v) * 1.2e-7);
    }
    for (const v of [-20, -50, -87]) {
      const [, c] = lstmPointwise(tensor([[v, 0, 200, 0]]), zeros([1, 4]), zeros([1, 1]));
      const want = 1 / (1 + Math.exp(-v));
      expect(Math.abs(c.data[0]! - want) / want).toBeLessThanOrEqual(2e-7);
    }
  });

  it('propagate NaN', () => {
    const [h, c] = lstmPointwise(tensor([[Number.NaN, 0, 1, 0]]), zeros([1, 4]), zeros([1, 1]));
    expect(Number.isNaN(c.data[0]!)).toBe(true);
    expect(Number.isNaN(h.data[0]!)).toBe(true);
    const g = gruPointwise(tensor([[0, 0, Number.NaN]]), zeros([1, 3]), zeros([1, 1]));
    expect(Number.isNaN(g.data[0]!)).toBe(true);
  });
});

describe('lstmStep', () => {
  it('gives the same state and gradients with an observer (composed path) as without (fused)', () => {
    manualSeed(11);
    const cell = new LSTMCell({ inputSize: 3, hiddenSize: 4, dtype: 'float64' });
    const x = randn([2, 3], { dtype: 'float64' });
    const state: LSTMState = [randn([2, 4], { dtype: 'float64' }), randn([2, 4], { dtype: 'float64' })];
    const run = (observe: boolean): Tensor[] => {
      const recorder = new GateRecorder();
      const loss = (...params: Tensor[]): Tensor => {
        const [weight_ih, weight_hh, bias_ih, bias_hh] = params as [Tensor, Tensor, Tensor, Tensor];
        const w = { weight_ih, weight_hh, bias_ih, bias_hh };
        const [h, c] = lstmStep(lstmInput(x, w), state, w, observe ? recorder.sink() : undefined);
        return add(sum(mul(h, h)), sum(mul(c, 3)));
      };
      const gs = grads(loss)(...cell.parameters());
      if (observe) expect(recorder.names()).toEqual(['i', 'f', 'g', 'o', 'c', 'h']);
      return gs;
    };
    const fused = run(false);
    const composed = run(true);
    fused.forEach((g, k) => {
      expectClose(g, composed[k]!, 1e-13);
    });
  });
});

describe('lstmCell', () => {
  it('adds the biases in its steps, also for inputs that are not views of its own projection', () => {
    manualSeed(12);
    const [B, n, H] = [2, 3, 4];
    const w = {
      weight_ih: leaf([4 * H, n]),
      weight_hh: leaf([4 * H, H]),
      bias_ih: leaf([4 * H]),
      bias_hh: leaf([4 * H]),
    };
    const x = constant([B, n]);
    const state: LSTMState = [constant([B, H]), constant([B, H])];
    const cell = lstmCell(w);
    const want = lstmStep(lstmInput(x, w), state, w);
    // Projected by the cell (a view of its projection: the sequence path) and by hand (a fresh tensor).
    const viaProjection = cell.step(cell.projectInput!(x), state);
    const byHand = cell.step(gemm(x, w.weight_ih, { transB: true }), state);
    for (const got of [viaProjection, byHand]) {
      expectClose(got[0], want[0], 1e-15);
      expectClose(got[1], want[1], 1e-15);
    }
  });
});

// autograd's binary ops read a repeated block (a bias row of ≥ 32 elements) in place instead of expanding it
// (a change made for the layers' bias additions); autograd's op-table shapes are too small to reach it.
describe('broadcast of a repeated block in binary ops (autograd, used by the bias additions)', () => {
  it('equals the expanded computation, either operand repeated', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 32, max: 70 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        fc.constantFrom('float32', 'float64'),
        (n, rows, lead, swap, dtype) => {
          const full = randn([lead, rows, n], { dtype });
          const block = randn(swap ? [1, n] : [n], { dtype });
          for (const op of [add, sub, mul, div]) {
            const got = swap ? op(block, full) : op(full, block);
            const expanded = broadcastTo(block, full.shape).clone();
            const want = swap ? op(expanded, full) : op(full, expanded);
            expect(got.shape).toEqual(want.shape);
            expectClose(got, want, 0);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('multiOutput', () => {
  it('hands backward each output’s gradient (null where none arrived) and accumulates repeated uses', () => {
    const x = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    let seen: Array<Tensor | null> = [];
    const [a, b] = multiOutput(
      'pair',
      [x],
      [tensor([1, 2, 3], { dtype: 'float64' }), tensor([5], { dtype: 'float64' })],
      (gs) => {
        seen = [...gs];
        return [gs[0] ?? null];
      },
    );
    add(sum(mul(a!, 2)), sum(a!)).backward();
    expect(Array.from(seen[0]!.data)).toEqual([3, 3, 3]);
    expect(seen[1]).toBeNull();
    expect(b!.requiresGrad).toBe(true);
    expect(Array.from(x.grad!.data)).toEqual([3, 3, 3]);
  });
});

describe('RecurrentProduct (the recurrent weight gradient formed once per pass)', () => {
  /** The layers' weights as a plain unrolled loop of lstmStep/gruStep, with no shared product. */
  function unrolled(kind: 'LSTM' | 'GRU', layer: LSTM | GRU, x: Tensor, h0: Tensor, c0: Tensor): Tensor {
    const w = {
      weight_ih: layer.weight_ih_l0!,
      weight_hh: layer.weight_hh_l0!,
      bias_ih: layer.bias_ih_l0!,
      bias_hh: layer.bias_hh_l0!,
    };
    const outs: Tensor[] = [];
    let state: LSTMState = [h0, c0];
    let h = h0;
    for (let t = 0; t < x.shape[0]!; t++) {
      const xt = reshape(narrow(x, 0, t, 1), [x.shape[1]!, x.shape[2]!]);
      if (kind === 'LSTM') {
        state = lstmStep(lstmInput(xt, w), state, w);
        outs.push(state[0]);
      } else {
        h = gruStep(gruInput(xt, w), h, w);
        outs.push(h);
      }
    }
    return stack(outs, 0);
  }

  for (const kind of ['LSTM', 'GRU'] as const) {
    it(`gives ${kind} layers the same gradients as a plain unrolled loop, for any loss`, () => {
      fc.assert(
        fc.property(
          fc.record({
            T: fc.integer({ min: 1, max: 4 }),
            B: fc.integer({ min: 1, max: 3 }),
            H: fc.integer({ min: 1, max: 4 }),
            seed: fc.integer({ min: 0, max: 1000 }),
          }),
          ({ T, B, H, seed }) => {
            manualSeed(seed);
            const options = { inputSize: 2, hiddenSize: H, dtype: 'float64' as const };
            const layer = kind === 'LSTM' ? new LSTM(options) : new GRU(options);
            const x = constant([T, B, 2]);
            const h0 = leaf([B, H]);
            const c0 = leaf([B, H]);
            const u = constant([T, B, H]);
            const params = [...layer.parameters(), h0, c0];
            const gradsOf = (out: Tensor): Tensor[] => {
              for (const p of params) p.grad = null;
              sum(mul(out, u)).backward();
              return params.map((p) => p.grad ?? zeros(p.shape, { dtype: 'float64' }));
            };
            const out =
              layer instanceof LSTM
                ? layer.forward(x, [unsqueeze(h0, 0), unsqueeze(c0, 0)])[0]
                : layer.forward(x, unsqueeze(h0, 0))[0];
            const got = gradsOf(out);
            const want = gradsOf(unrolled(kind, layer, x, h0, c0));
            got.forEach((g, k) => {
              expectClose(g, want[k]!, 1e-12);
            });
          },
        ),
        { numRuns: 25 },
      );
    });

    it(`passes second-order checks through a ${kind} layer`, () => {
      manualSeed(kind === 'LSTM' ? 5 : 6);
      const options = { inputSize: 2, hiddenSize: 2, dtype: 'float64' as const };
      const layer = kind === 'LSTM' ? new LSTM(options) : new GRU(options);
      const x = leaf([3, 2, 2]);
      fastGradcheck(() => layer.forward(x)[0], [x, ...layer.parameters()], 17, true);
    });
  }

  it('does not carry gradients over from a pass that did not reach the weights', () => {
    manualSeed(21);
    const [T, B, n, H] = [4, 2, 2, 3];
    const w = {
      weight_ih: leaf([4 * H, n]),
      weight_hh: leaf([4 * H, H]),
      bias_ih: leaf([4 * H]),
      bias_hh: leaf([4 * H]),
    };
    const x = constant([T, B, n]);
    const c0 = constant([B, H]);
    const h0 = constant([B, H]);
    // The combinators' protocol by hand: project once, then step through views of the projection.
    const run = (h: Tensor): Tensor[] => {
      const cell = lstmCell(w);
      const xs = unbind(reshape(cell.projectInput!(reshape(x, [T * B, n])), [T, B, -1]));
      let state: LSTMState = [h, c0];
      return xs.map((xt) => {
        state = cell.step(xt, state);
        return state[0];
      });
    };
    const params = Object.values(w);
    let hs: Tensor[] = [];
    // A pass for ∂/∂h0 only: every step files its share, but the weights' shared node never runs.
    grad((h: Tensor) => {
      hs = run(h);
      return sum(hs[T - 1]!);
    })(h0);
    // Then a pass through the same graph that reaches step 0 alone.
    for (const p of params) p.grad = null;
    sum(hs[0]!).backward();
    const got = params.map((p) => p.grad!.clone());
    for (const p of params) p.grad = null;
    sum(run(h0)[0]!).backward();
    params.forEach((p, k) => {
      expectClose(got[k]!, p.grad!, 1e-14);
    });
  });

  it('gives the same weight gradient in a second pass through a retained graph', () => {
    manualSeed(22);
    const lstm = new LSTM({ inputSize: 2, hiddenSize: 3, dtype: 'float64' });
    const [out] = lstm.forward(constant([5, 2, 2]));
    const loss = sum(mul(out, out));
    loss.backward(undefined, { retainGraph: true });
    const first = lstm.parameters().map((p) => p.grad!.clone());
    lstm.zeroGrad();
    loss.backward();
    lstm.parameters().forEach((p, k) => {
      expectClose(p.grad!, first[k]!, 0);
    });
  });
});
