/**
 * Where the time of one float32 `gemm` goes, stage by stage, at the shapes of the bench's matmul section.
 * Each column adds one cost to the one before it:
 *   kernel     the wasm micro-kernel on operands already in wasm memory, op(B) already packed
 *   + pack B   the kernel packing op(B) itself (what every non-resident call does)
 *   + copies   `wasmGemm`: A and B copied into wasm memory, C copied out into an existing array
 *   + alloc    the same into a freshly allocated output array, as an op must return new storage
 *   op         the public `gemm(a, b, { transA, transB })`, tensors and checks included
 * The stages are timed in interleaved rounds (wall time), so a slow phase of the machine hits every column
 * alike; medians of the rounds. Not a test: the figures depend on the machine.
 * Run: bench/node_modules/.bin/tsx packages/autograd/scripts/gemm-stages.ts [rounds]
 */
import { tensor } from '../src/index.ts';
import { wasmGemm } from '../src/kernels/wasm/gemm.ts';
import { layout, wasmHeap, wasmKernels } from '../src/kernels/wasm/module.ts';
import { gemm } from '../src/ops/linalg.ts';

const rounds = Number(process.argv[2] ?? 15);
const roundMs = 20;

const shapes: [string, number, number, number, boolean, boolean][] = [
  ['256² NN', 256, 256, 256, false, false],
  ['256² NT', 256, 256, 256, false, true],
  ['256² TN', 256, 256, 256, true, false],
  ['512² NN', 512, 512, 512, false, false],
  ['[32,64]·[512,64]ᵀ', 32, 512, 64, false, true],
  ['[32,128]·[512,128]ᵀ', 32, 512, 128, false, true],
  ['[32,512]·[512,128]', 32, 128, 512, false, false],
  ['[32,512]ᵀ·[32,128]', 512, 128, 32, true, false],
  ['[1600,64]·[512,64]ᵀ', 1600, 512, 64, false, true],
  ['[1600,512]ᵀ·[1600,64]', 512, 64, 1600, true, false],
];

function random(size: number): Float32Array {
  const x = new Float32Array(size);
  for (let i = 0; i < size; i++) x[i] = Math.random() * 2 - 1;
  return x;
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;

const ex = wasmKernels();
if (ex === null) throw new Error('gemm-stages: the WebAssembly backend is not available here');

console.log(
  `${rounds} interleaved rounds of ≥${roundMs} ms per stage; median GFLOP/s (% of the kernel column)`,
);
const columns = ['kernel', '+ pack B', '+ copies', '+ alloc', 'op'];
console.log('shape'.padEnd(26) + columns.map((c) => c.padStart(15)).join(''));
for (const [label, m, n, k, transA, transB] of shapes) {
  const a = random(m * k);
  const b = random(k * n);
  const c = new Float32Array(m * n);
  const ta = tensor(a, { shape: transA ? [k, m] : [m, k] });
  const tb = tensor(b, { shape: transB ? [n, k] : [k, n] });
  const stage = (): Array<() => void> => {
    // Resident copies for the kernel-only columns, laid out where wasmGemm would put its own.
    const [aw, bw, cw, packed, work, end] = layout(m * k, k * n, m * n, ex.packedBBytes(n, k) / 4, 0);
    const heap = wasmHeap(ex, end! + ex.workspaceBytes(m, n, k))!;
    heap.set(a, aw! >>> 2);
    heap.set(b, bw! >>> 2);
    ex.packB(bw!, n, k, +transB, packed!);
    return [
      () => ex.gemm(aw!, bw!, cw!, m, n, k, +transA, +transB, work!, packed!, 0),
      () => ex.gemm(aw!, bw!, cw!, m, n, k, +transA, +transB, work!, 0, 0),
      () => void wasmGemm(a, 0, b, 0, c, 0, m, n, k, transA, transB),
      () => void wasmGemm(a, 0, b, 0, new Float32Array(m * n), 0, m, n, k, transA, transB),
      () => void gemm(ta, tb, { transA, transB }),
    ];
  };
  const reps = (() => {
    const run = stage()[0]!;
    let r = 1;
    for (;;) {
      const t = performance.now();
      for (let i = 0; i < r; i++) run();
      if (performance.now() - t >= roundMs) return r;
      r *= 2;
    }
  })();
  const rates: number[][] = columns.map(() => []);
  for (let round = 0; round < rounds; round++) {
    // The later stages' calls reuse (and may grow) the scratch memory that holds the kernel-only stages'
    // copies, so those are laid out afresh every round.
    const runs = stage();
    runs.forEach((run, s) => {
      run();
      const t = performance.now();
      for (let i = 0; i < reps; i++) run();
      rates[s]!.push((2 * m * n * k * reps) / ((performance.now() - t) / 1000) / 1e9);
    });
  }
  const medians = rates.map(median);
  const kernel = medians[0]!;
  console.log(
    label.padEnd(26) +
      medians.map((r) => `${r.toFixed(1)} (${Math.round((100 * r) / kernel)}%)`.padStart(15)).join(''),
  );
}
