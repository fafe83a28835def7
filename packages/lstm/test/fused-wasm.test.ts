/**
 * The WebAssembly SIMD versions of the fused LSTM and GRU cell kernels (autograd's
 * kernels/wasm/cells-source.mjs), which `lstmPointwise`/`gruPointwise` run for float32 when H is a multiple
 * of 4: held to the float64 composed definitions (values), to the JavaScript kernels (gradients, on identical
 * float32 inputs), at the special values of σ and tanh, through whole float32 layers against float64 ones,
 * and for their dispatch (float64, other H and the backend switched off keep the JavaScript kernels).
 */
import {
  add,
  manualSeed,
  mul,
  noGrad,
  randn,
  setWasmEnabled,
  sum,
  type Tensor,
  tensor,
  zeros,
} from '@tensorloom/autograd';
import { wasmCellCallCount } from '@tensorloom/autograd/kernels';
import type { Module } from '@tensorloom/nn';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gruPointwise, gruPointwiseComposed, lstmPointwise, lstmPointwiseComposed } from '../src/fused.ts';
import {
  GRU,
  GRUCell,
  LSTM,
  LSTMCell,
  PeepholeLSTMCell,
  ProjectedLSTMCell,
  RNNCell,
  recurrent,
} from '../src/index.ts';
import { expectClose, maxAbs, maxDiff } from './helpers.ts';

let previous = true;
beforeAll(() => {
  // About the wasm kernels themselves, so they run even when the suite runs with TENSORLOOM_WASM=0.
  previous = setWasmEnabled(true);
});
afterAll(() => {
  setWasmEnabled(previous);
});

/** Runs `fn` with the WebAssembly backend switched as given, restoring this file's setting. */
function withWasm<T>(on: boolean, fn: () => T): T {
  setWasmEnabled(on);
  try {
    return fn();
  } finally {
    setWasmEnabled(true);
  }
}

/** Gate pre-activations from the range of interest, including saturated, clamped and infinite ones. */
const special = [0, -0, 1e-30, -3e-5, 1e-4, -1e-4, 0.5, -3, 15, -15, 44, -60, 87, -87, 89, -104, 130, -200];
const preActivation = fc.oneof(
  fc.double({ min: -30, max: 30, noNaN: true }),
  fc.constantFrom(...special, Infinity, -Infinity),
);

/** One step's inputs: xp [B, 4H] (hh zero, or not), c [B, H], bias [4H] or none; H a multiple of 4. */
const stepArb = fc
  .record({ batch: fc.integer({ min: 1, max: 3 }), quads: fc.integer({ min: 1, max: 5 }) })
  .chain(({ batch, quads }) => {
    const H = 4 * quads;
    return fc.record({
      B: fc.constant(batch),
      H: fc.constant(H),
      xp: fc.array(preActivation, { minLength: batch * 4 * H, maxLength: batch * 4 * H }),
      hh: fc.array(fc.double({ min: -3, max: 3, noNaN: true }), {
        minLength: batch * 4 * H,
        maxLength: batch * 4 * H,
      }),
      c: fc.array(fc.double({ min: -5, max: 5, noNaN: true }), {
        minLength: batch * H,
        maxLength: batch * H,
      }),
      bias: fc.option(
        fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: 4 * H, maxLength: 4 * H }),
      ),
    });
  });

describe('fused LSTM cell on the WebAssembly kernel (float32)', () => {
  it('matches the float64 definition to a few float32 ulps', () => {
    fc.assert(
      fc.property(stepArb, ({ B, H, xp, hh, c, bias }) => {
        const x32 = tensor(xp, { shape: [B, 4 * H] });
        // xp + hh + bias is rounded to float32 before σ/tanh, exactly as the kernel adds them: the reference
        // starts from that float32 sum so only the nonlinearities and the cell update are compared.
        const pre = Float32Array.from(xp, (v, k) =>
          Math.fround(Math.fround(v + (bias?.[k % (4 * H)] ?? 0)) + hh[k]!),
        );
        const c32 = tensor(c, { shape: [B, H] });
        const before = wasmCellCallCount();
        const [h, cNext] = lstmPointwise(
          x32,
          tensor(hh, { shape: [B, 4 * H] }),
          c32,
          bias ? tensor(bias, { shape: [4 * H] }) : null,
        );
        expect(wasmCellCallCount()).toBe(before + 1);
        const ref = lstmPointwiseComposed(
          tensor(Array.from(pre), { shape: [B, 4 * H], dtype: 'float64' }),
          zeros([B, 4 * H], { dtype: 'float64' }),
          c32.to('float64'),
        );
        for (const [got, want] of [
          [h, ref.h],
          [cNext, ref.c],
        ] as const) {
          for (let k = 0; k < got.size; k++) {
            const w = want.data[k]!;
            // σ and tanh are each within 3–4 float32 ulps (≤ 2.5e-7 relative); h' = o·tanh(f·c + i·g) chains
            // three activations, a tanh and three roundings, so up to ~16 ulps (1e-6) of the terms (of size up
            // to |c| + 1 when they cancel). Random steps stay near 3e-7; adversarial ones reach 5e-7.
            expect(Math.abs(got.data[k]! - w)).toBeLessThanOrEqual(
              1e-6 * (Math.max(Math.abs(w), 1e-3) + Math.abs(c32.data[k]!)) + 1e-45,
            );
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('gives the JavaScript kernel’s gradients (the backward is plain float32 arithmetic)', () => {
    fc.assert(
      fc.property(stepArb, fc.integer({ min: 0, max: 2 ** 31 }), ({ B, H, xp, hh, c, bias }, seed) => {
        let s = seed;
        const cotangent = (n: number) =>
          Array.from({ length: n }, () => {
            s = (s * 1103515245 + 12345) % 2 ** 31;
            return s / 2 ** 30 - 1;
          });
        const gh = tensor(cotangent(B * H), { shape: [B, H] });
        const gc = tensor(cotangent(B * H), { shape: [B, H] });
        // Finite pre-activations only: at ±∞ both kernels give σ' = 0 but through different roundings of 0·∞.
        const finite = xp.map((v) => (Number.isFinite(v) ? v : 0));
        const run = (wasm: boolean): Tensor[] =>
          withWasm(wasm, () => {
            const inputs = [
              tensor(finite, { shape: [B, 4 * H], requiresGrad: true }),
              tensor(hh, { shape: [B, 4 * H], requiresGrad: true }),
              tensor(c, { shape: [B, H], requiresGrad: true }),
              ...(bias ? [tensor(bias, { shape: [4 * H], requiresGrad: true })] : []),
            ];
            const [h, cNext] = lstmPointwise(inputs[0]!, inputs[1]!, inputs[2]!, inputs[3] ?? null);
            // The two outputs' cotangents as one scalar, Σ gh·h' + Σ gc·c', through a plain backward (the
            // one that runs the kernel; a recorded one composes the VJP from differentiable ops).
            const before = wasmCellCallCount();
            sum2(h, gh, cNext, gc).backward();
            expect(wasmCellCallCount() - before).toBe(wasm ? 1 : 0);
            return inputs.map((t) => t.grad!);
          });
        const onWasm = run(true);
        const onJs = run(false);
        onWasm.forEach((g, i) => {
          const ref = onJs[i]!;
          // Same formulas; float32 products (wasm) against double products rounded once (JS), from
          // activations that differ by a few ulps. So the gaps are a few ulps of the terms, not of the
          // result (which can cancel, as in ∂a_f ∝ c): terms are cotangents (|g| ≤ 1) times activations
          // (≤ 1) and c (|c| ≤ 5), so up to ~10, on top of the gradient's own scale.
          expectClose(g, ref, 2e-6 * (maxAbs(ref) + 10));
        });
      }),
      { numRuns: 60 },
    );
  });

  it('gives σ and tanh their values at the special points (tails, tiny, infinite, NaN)', () => {
    // H = 4; row [a_i × 4 | a_f × 4 | a_g × 4 | a_o × 4] with c = 0: c' = σ(a_i)·tanh(a_g), h' = σ(a_o)·tanh c'.
    const step = (ai: number, ag: number) => {
      const row = [ai, ai, ai, ai, 0, 0, 0, 0, ag, ag, ag, ag, 0, 0, 0, 0];
      return noGrad(() => lstmPointwise(tensor([row]), zeros([1, 16]), zeros([1, 4])))[1].data[0]!;
    };
    // tanh near 0 keeps full relative precision (a_i = 200 makes σ(a_i) = 1 exactly).
    for (const v of [1e-30, -2e-8, 5e-5, -9.9e-5, 0.3, -2, 8.9, 9.5]) {
      const want = Math.tanh(v);
      expect(Math.abs(step(200, v) - want)).toBeLessThanOrEqual(Math.abs(want) * 2.5e-7);
    }
    // σ in the tail (a_g = 200: tanh = 1), down to where float32 normals end.
    for (const v of [-20, -50, -87]) {
      const want = 1 / (1 + Math.exp(-v));
      expect(Math.abs(step(v, 200) - want) / want).toBeLessThanOrEqual(2.5e-7);
    }
    // Documented: below −87.3, σ is 0 (exactly: below float32's smallest normal, 1.2e-38).
    expect(step(-90, 200)).toBe(0);
    expect(step(-Infinity, 200)).toBe(0);
    expect(step(Infinity, 200)).toBe(1);
    expect(step(200, Infinity)).toBe(1);
    expect(step(200, -Infinity)).toBe(-1);
    expect(Number.isNaN(step(Number.NaN, 1))).toBe(true);
    expect(Number.isNaN(step(200, Number.NaN))).toBe(true);
  });

  it('gives a float32 LSTM layer (wasm products with W_hh resident, wasm cell) the float64 layer’s numbers', () => {
    manualSeed(3);
    const lstm = new LSTM({ inputSize: 6, hiddenSize: 12, numLayers: 2, bidirectional: true });
    const { calls } = expectFloat64Agreement(lstm, randn([9, 4, 6]), (model, x) => {
      const [out, [h, c]] = model.forward(x);
      return [out, h, c];
    });
    expect(calls).toBe(2 * 2 * 9 * 2); // layers · directions · steps · (forward, backward)
  });

  it('gives a float32 LSTM with a projection (W_hr resident too) and lengths the float64 numbers', () => {
    manualSeed(4);
    // B·P·H = 8·8·16 ≥ WASM_MIN_WORK, so the h·W_hrᵀ products run in wasm (with W_hr resident).
    const lstm = new LSTM({ inputSize: 5, hiddenSize: 16, projSize: 8, bidirectional: true });
    const lengths = [8, 5, 2, 8, 1, 7, 3, 6];
    expectFloat64Agreement(lstm, randn([8, 8, 5]), (model, x) => {
      const [out, [h, c]] = model.forward(x, null, { lengths });
      return [out, h, c];
    });
  });

  it('cells name the weights their steps multiply by, and a time loop over a cell module matches float64', () => {
    const opts = { inputSize: 5, hiddenSize: 16 };
    const lstmCell = new LSTMCell(opts);
    const projected = new ProjectedLSTMCell({ ...opts, projSize: 8 });
    expect(lstmCell.stepWeights).toEqual([lstmCell.weight_hh]);
    expect(new GRUCell(opts).stepWeights.length).toBe(1);
    expect(new RNNCell(opts).stepWeights.length).toBe(1);
    expect(new PeepholeLSTMCell(opts).stepWeights.length).toBe(1);
    expect(projected.stepWeights).toEqual([projected.weight_hh, projected.weight_hr]);
    manualSeed(6);
    const { got, want } = expectFloat64Agreement(projected, randn([6, 8, 5]), (cell, x) => {
      const [out, [h, c]] = recurrent(cell, x);
      return [out, h, c];
    });
    expect(maxDiff(got[0]!, want[0]!)).toBeLessThan(2e-6);
  });

  it('runs only for float32 with H a multiple of 4 and the backend on', () => {
    const calls = (fn: () => unknown) => {
      const before = wasmCellCallCount();
      fn();
      return wasmCellCallCount() - before;
    };
    const step = (H: number, dtype: 'float32' | 'float64') => () =>
      noGrad(() =>
        lstmPointwise(zeros([2, 4 * H], { dtype }), zeros([2, 4 * H], { dtype }), zeros([2, H], { dtype })),
      );
    expect(calls(step(8, 'float32'))).toBe(1);
    expect(calls(step(6, 'float32'))).toBe(0);
    expect(calls(step(8, 'float64'))).toBe(0);
    expect(calls(() => withWasm(false, step(8, 'float32')))).toBe(0);
  });
});

/** Σ gh ⊙ h + Σ gc ⊙ c (a scalar whose gradient gives each output its cotangent). */
function sum2(h: Tensor, gh: Tensor, c: Tensor, gc: Tensor): Tensor {
  return h.mul(gh).sum().add(c.mul(gc).sum());
}

describe('fused GRU cell on the WebAssembly kernel (float32)', () => {
  const gruArb = fc
    .record({ B: fc.integer({ min: 1, max: 3 }), H: fc.integer({ min: 1, max: 5 }).map((q) => 4 * q) })
    .chain(({ B, H }) =>
      fc.record({
        B: fc.constant(B),
        H: fc.constant(H),
        xp: fc.array(preActivation, { minLength: B * 3 * H, maxLength: B * 3 * H }),
        hh: fc.array(fc.double({ min: -3, max: 3, noNaN: true }), {
          minLength: B * 3 * H,
          maxLength: B * 3 * H,
        }),
        h: fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: B * H, maxLength: B * H }),
      }),
    );

  it('matches the float64 definition to a few float32 ulps', () => {
    fc.assert(
      fc.property(gruArb, ({ B, H, xp, hh, h }) => {
        const before = wasmCellCallCount();
        const out = noGrad(() =>
          gruPointwise(
            tensor(xp, { shape: [B, 3 * H] }),
            tensor(hh, { shape: [B, 3 * H] }),
            tensor(h, { shape: [B, H] }),
          ),
        );
        expect(wasmCellCallCount()).toBe(before + 1);
        const f64 = (v: number[], shape: number[]) =>
          tensor(Array.from(Float32Array.from(v)), { shape, dtype: 'float64' });
        const ref = gruPointwiseComposed(f64(xp, [B, 3 * H]), f64(hh, [B, 3 * H]), f64(h, [B, H]));
        for (let k = 0; k < out.size; k++) {
          // h' = n + z·(h − n): within a few ulps of its terms (|h| ≤ 1, |n| ≤ 1); the float32 rounding of
          // x_n + r·h_n before tanh is the kernel's own, so the bound also covers tanh' ≤ 1 times that.
          expect(Math.abs(out.data[k]! - ref.h.data[k]!)).toBeLessThanOrEqual(1e-6);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('gives the JavaScript kernel’s gradients', () => {
    fc.assert(
      fc.property(gruArb, ({ B, H, xp, hh, h }) => {
        const finite = xp.map((v) => (Number.isFinite(v) ? v : 0));
        const d = tensor(
          h.map((v, k) => Math.sin(7 * k + v)),
          { shape: [B, H] },
        );
        const run = (wasm: boolean): Tensor[] =>
          withWasm(wasm, () => {
            const inputs = [
              tensor(finite, { shape: [B, 3 * H], requiresGrad: true }),
              tensor(hh, { shape: [B, 3 * H], requiresGrad: true }),
              tensor(h, { shape: [B, H], requiresGrad: true }),
            ];
            const out = gruPointwise(inputs[0]!, inputs[1]!, inputs[2]!);
            const before = wasmCellCallCount();
            out.mul(d).sum().backward();
            expect(wasmCellCallCount() - before).toBe(wasm ? 1 : 0);
            return inputs.map((t) => t.grad!);
          });
        const onWasm = run(true);
        const onJs = run(false);
        onWasm.forEach((g, i) => {
          // As for the LSTM: a few ulps of the terms (cotangent |d| ≤ 1 times h, n, r, z, h_n, all ≤ 3), which
          // h − n can cancel, on top of the gradient's own scale.
          expectClose(g, onJs[i]!, 2e-6 * (maxAbs(onJs[i]!) + 3));
        });
      }),
      { numRuns: 60 },
    );
  });

  it('gives a float32 GRU layer the float64 layer’s numbers', () => {
    manualSeed(5);
    const gru = new GRU({ inputSize: 5, hiddenSize: 8, numLayers: 2, bidirectional: true });
    const { calls } = expectFloat64Agreement(gru, randn([7, 3, 5]), (model, x) => model.forward(x));
    expect(calls).toBe(2 * 2 * 7 * 2);
  });
});

/**
 * Runs `forward` on a float32 module, then on its float64 copy (`double()`, in place) from the same input,
 * with one random cotangent per output shared by both runs, and expects every output and parameter gradient
 * to agree to float32 accuracy: 2e-6 of the tensor's scale, plus 1e-7. Returns both runs' tensors (outputs,
 * then gradients) and how many wasm cell kernels the float32 run used.
 */
function expectFloat64Agreement<M extends Module>(
  model: M,
  x: Tensor,
  forward: (model: M, input: Tensor) => Tensor[],
): { calls: number; got: Tensor[]; want: Tensor[] } {
  let cotangents: Tensor[] | null = null;
  const run = (input: Tensor): Tensor[] => {
    model.zeroGrad();
    const outs = forward(model, input);
    cotangents ??= outs.map((o) => randn(o.shape, { dtype: 'float64' }));
    const terms = outs.map((o, i) => sum(mul(o, cotangents![i]!.to(o.dtype))));
    terms.reduce((a, b) => add(a, b)).backward();
    return [...outs, ...model.parameters().map((p) => p.grad!)];
  };
  const before = wasmCellCallCount();
  const got = run(x);
  const calls = wasmCellCallCount() - before;
  model.double();
  const want = run(x.to('float64'));
  got.forEach((g, i) => {
    expectClose(g, want[i]!, 2e-6 * maxAbs(want[i]!) + 1e-7);
  });
  return { calls, got, want };
}
