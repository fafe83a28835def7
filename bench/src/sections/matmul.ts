/**
 * Section "matmul": float32 GFLOP/s of C = op(A)·op(B) (op transposes when its flag is set), for square
 * sizes and for the products one LSTM training step performs (batch 32, input 64, hidden 128, 4 gates).
 */
import { gemm, tensor } from '@tensorloom/autograd';
import { withResidentOperands } from '@tensorloom/autograd/kernels';
import type { BenchCase, Section } from '../harness.ts';
import { normal } from '../inputs.ts';
import { tf } from '../systems.ts';

/** One product: A is [M,K] ([K,M] when transA), B is [K,N] ([N,K] when transB). */
interface Product {
  name: string;
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  quick?: boolean;
  /**
   * Run as a time loop: this many products with the same B (a recurrent weight) and one A, as an LSTM's
   * steps do; TensorLoom's loop keeps B resident in wasm memory (copied and packed once), as its layers do.
   */
  steps?: number;
}

const flag = (t: boolean | undefined) => (t ? 'T' : 'N');

/** A square product of size n with the given transpose flags. */
const square = (n: number, transA = false, transB = false, quick = true): Product => ({
  name: `${n}² ${flag(transA)}${flag(transB)}`,
  m: n,
  n,
  k: n,
  transA,
  transB,
  quick,
});

// The LSTM step (PyTorch layout: W_ih is [4H, I], W_hh is [4H, H]; batch B = 32, I = 64, H = 128, T = 50):
// forward gates x·W_ihᵀ and h·W_hhᵀ (NT), backward dh = dG·W_hh (NN) and dW_hh = dGᵀ·h (TN), and the
// input projection of all T steps hoisted into one product, forward (NT) and its weight gradient (TN).
const PRODUCTS: Product[] = [
  square(64),
  square(128),
  square(256),
  square(512, false, false, false),
  square(256, false, true),
  square(256, true, false),
  square(256, true, true, false),
  { name: 'LSTM [32,64]·[64,512]', m: 32, n: 512, k: 64 },
  { name: 'LSTM [32,128]·[128,512]', m: 32, n: 512, k: 128 },
  { name: 'LSTM x·W_ihᵀ [32,64]·[512,64]ᵀ', m: 32, n: 512, k: 64, transB: true },
  { name: 'LSTM h·W_hhᵀ [32,128]·[512,128]ᵀ', m: 32, n: 512, k: 128, transB: true },
  { name: 'LSTM dG·W_hh [32,512]·[512,128]', m: 32, n: 128, k: 512 },
  { name: 'LSTM dGᵀ·h [32,512]ᵀ·[32,128]', m: 512, n: 128, k: 32, transA: true },
  { name: 'LSTM X·W_ihᵀ, 50 steps [1600,64]·[512,64]ᵀ', m: 1600, n: 512, k: 64, transB: true, quick: false },
  { name: 'LSTM dGᵀ·X, 50 steps [1600,512]ᵀ·[1600,64]', m: 512, n: 64, k: 1600, transA: true, quick: false },
  // The per-step products as the layers run them: 50 in one loop over a resident W_hh.
  { name: 'LSTM h·W_hhᵀ, time loop of 50 (W_hh resident)', m: 32, n: 512, k: 128, transB: true, steps: 50 },
  { name: 'LSTM dG·W_hh, time loop of 50 (W_hh resident)', m: 32, n: 128, k: 512, steps: 50 },
];

/** The benchmark case of one product: the same A and B for every system. */
function productCase(p: Product): BenchCase {
  const { m, n, k, transA = false, transB = false, steps } = p;
  const aShape = transA ? [k, m] : [m, k];
  const bShape = transB ? [n, k] : [k, n];
  // Scaled so entries of C are O(1) whatever K is, keeping the output check's relative error meaningful.
  const aData = normal(aShape, 1 / Math.sqrt(k));
  const bData = normal(bShape);
  const ours = () => {
    const a = tensor(aData, { shape: aShape });
    const b = tensor(bData, { shape: bShape });
    const options = { transA, transB };
    if (steps !== undefined) {
      const loop = () =>
        withResidentOperands([b.data as Float32Array], () => {
          let c = gemm(a, b, options);
          for (let t = 1; t < steps; t++) c = gemm(a, b, options);
          return c;
        });
      return { run: () => void loop(), output: () => loop().data };
    }
    return {
      // Eager: the product is computed in full by the time gemm returns.
      run: () => void gemm(a, b, options),
      output: () => gemm(a, b, options).data,
    };
  };
  const theirs = () => {
    const t = tf();
    const a = t.tensor(aData, aShape);
    const b = t.tensor(bData, bShape);
    if (steps !== undefined) {
      // Both backends compute each product when it is called; the last one is read back.
      const loop = () =>
        t.tidy(() => {
          let c = t.matMul(a, b, transA, transB);
          for (let s = 1; s < steps; s++) c = t.matMul(a, b, transA, transB);
          return Float32Array.from(c.dataSync());
        });
      return { run: () => void loop(), output: loop, dispose: () => t.dispose([a, b]) };
    }
    return {
      // dataSync makes sure the product is computed and read back, as a caller would need it.
      run: () => t.tidy(() => void t.matMul(a, b, transA, transB).dataSync()),
      output: () => t.tidy(() => Float32Array.from(t.matMul(a, b, transA, transB).dataSync())),
      dispose: () => t.dispose([a, b]),
    };
  };
  return {
    name: p.name,
    work: 2 * m * n * k * (steps ?? 1),
    quick: p.quick ?? true,
    systems: { tensorloom: ours, 'tfjs-cpu': theirs, 'tfjs-wasm': theirs },
  };
}

/** Matrix products, squares and LSTM shapes, in every transpose combination the LSTM needs. */
export const matmulSection: Section = {
  id: 'matmul',
  title: 'matmul (float32)',
  description:
    'C = op(A)·op(B), 2·M·N·K flops per product; N/T: operand as stored / transposed (TensorLoom ' +
    '`gemm(a, b, { transA, transB })`, tfjs `tf.matMul(a, b, transposeA, transposeB)` + `dataSync()`).',
  metric: { kind: 'rate', label: 'GFLOP/s', scale: 1e9 },
  // The slow products (512², the 50-step ones) take 0.1–0.3 s per call in plain JS: cap their budget.
  timing: { warmupMs: 40, warmupCalls: 1, samples: 5, maxMs: 400 },
  cases: () => PRODUCTS.map(productCase),
};
