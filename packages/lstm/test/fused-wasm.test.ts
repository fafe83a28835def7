/**
 * The WebAssembly SIMD version of the fused LSTM cell kernels (autograd's kernels/wasm/lstm-source.mjs),
 * which `lstmPointwise` runs for float32 when H is a multiple of 4: held to the float64 composed definition
 * (values), to the JavaScript kernel (gradients, on identical float32 inputs), at the special values of σ
 * and tanh, and for its dispatch (float64, other H and the backend switched off keep the JavaScript kernel).
 */
import { manualSeed, noGrad, randn, setWasmEnabled, type Tensor, tensor, zeros } from '@tensorloom/autograd';
import { wasmLstmCallCount } from '@tensorloom/autograd/kernels';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lstmPointwise, lstmPointwiseComposed } from '../src/fused.ts';
import { LSTM } from '../src/index.ts';

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
        const before = wasmLstmCallCount();
        const [h, cNext] = lstmPointwise(
          x32,
          tensor(hh, { shape: [B, 4 * H] }),
          c32,
          bias ? tensor(bias, { shape: [4 * H] }) : null,
        );
        expect(wasmLstmCallCount()).toBe(before + 1);
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
            // σ and tanh are within 4 float32 ulps (2.5e-7 relative); c' = f·c + i·g and h' = o·tanh c' add
            // a few roundings, relative to the terms (up to |c| + 1) when they cancel. Measured worst case
            // over 3,000 random steps: 3.2e-7 of this scale.
            expect(Math.abs(got.data[k]! - w)).toBeLessThanOrEqual(
              5e-7 * (Math.max(Math.abs(w), 1e-3) + Math.abs(c32.data[k]!)) + 1e-45,
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
            const before = wasmLstmCallCount();
            sum2(h, gh, cNext, gc).backward();
            expect(wasmLstmCallCount() - before).toBe(wasm ? 1 : 0);
            return inputs.map((t) => t.grad!);
          });
        const onWasm = run(true);
        const onJs = run(false);
        onWasm.forEach((g, i) => {
          const ref = onJs[i]!;
          // Same formulas; float32 products (wasm) against double products rounded once (JS), and the
          // forward's activations differ by a few ulps: relative to the gradient's scale.
          let scale = 0;
          for (const v of ref.data) scale = Math.max(scale, Math.abs(v));
          for (let k = 0; k < g.size; k++) {
            expect(Math.abs(g.data[k]! - ref.data[k]!)).toBeLessThanOrEqual(2e-6 * scale + 1e-30);
          }
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
    const x = randn([9, 4, 6]);
    const run = (model: LSTM, input: Tensor) => {
      model.zeroGrad();
      const [out, [h, c]] = model.forward(input);
      out.mul(out).sum().add(h.sum()).add(c.sum()).backward();
      return [out, ...model.parameters().map((p) => p.grad!)];
    };
    const before = wasmLstmCallCount();
    const got = run(lstm, x);
    expect(wasmLstmCallCount() - before).toBe(2 * 2 * 9 * 2); // layers · directions · steps · (forward, backward)
    const want = run(lstm.double(), x.to('float64'));
    got.forEach((g, i) => {
      let scale = 0;
      for (const v of want[i]!.data) scale = Math.max(scale, Math.abs(v));
      for (let k = 0; k < g.size; k++) {
        expect(Math.abs(g.data[k]! - want[i]!.data[k]!)).toBeLessThanOrEqual(2e-6 * scale + 1e-7);
      }
    });
  });

  it('runs only for float32 with H a multiple of 4 and the backend on', () => {
    const calls = (fn: () => unknown) => {
      const before = wasmLstmCallCount();
      fn();
      return wasmLstmCallCount() - before;
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
