/**
 * Quick float32 GEMM benchmark: the JavaScript kernel against the WebAssembly SIMD kernel (including its
 * copies in and out), for every transpose combination, at squares and at the LSTM's shapes. Prints GFLOP/s
 * (2·M·N·K per product), the median of several timed samples. Samples are timed in process CPU time
 * (process.cpuUsage), not wall time, so that time-slicing on a shared machine does not count against a
 * kernel; cache interference from other processes still does. Not a test: numbers depend on the machine. Run: bench/node_modules/.bin/tsx packages/autograd/scripts/bench-gemm.ts [--quick] [--no-js]
 */
import { matmulJs } from '../src/kernels/matmul.ts';
import { wasmGemm } from '../src/kernels/wasm/gemm.ts';
import { wasmStatus } from '../src/kernels/wasm/module.ts';

type Kernel = (
  a: Float32Array,
  ao: number,
  b: Float32Array,
  bo: number,
  c: Float32Array,
  co: number,
  m: number,
  n: number,
  k: number,
  tA: boolean,
  tB: boolean,
) => unknown;

const quick = process.argv.includes('--quick');
const skipJs = process.argv.includes('--no-js');
const samples = quick ? 3 : 7;
const sampleMs = quick ? 30 : 80;

function random(size: number): Float32Array {
  const x = new Float32Array(size);
  for (let i = 0; i < size; i++) x[i] = Math.random() * 2 - 1;
  return x;
}

/** Milliseconds of CPU time this process has used. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Median GFLOP/s over `samples` samples, each repeating the product for at least `sampleMs`. */
function measure(kernel: Kernel, m: number, n: number, k: number, tA: boolean, tB: boolean): number {
  const a = random(m * k);
  const b = random(k * n);
  const c = new Float32Array(m * n);
  const run = () => kernel(a, 0, b, 0, c, 0, m, n, k, tA, tB);
  for (let i = 0; i < 3; i++) run();
  let reps = 1;
  for (;;) {
    const t = cpuMs();
    for (let i = 0; i < reps; i++) run();
    if (cpuMs() - t >= sampleMs / 4) break;
    reps *= 2;
  }
  reps *= 4;
  const rates: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t = cpuMs();
    for (let i = 0; i < reps; i++) run();
    const seconds = (cpuMs() - t) / 1000;
    rates.push((2 * m * n * k * reps) / seconds / 1e9);
  }
  rates.sort((x, y) => x - y);
  return rates[rates.length >> 1]!;
}

const shapes: [string, number, number, number][] = [
  ['64³', 64, 64, 64],
  ['128³', 128, 128, 128],
  ['256³', 256, 256, 256],
  ['384³', 384, 384, 384],
  ['512³', 512, 512, 512],
  ['LSTM x·W [32,64]x[64,512]', 32, 512, 64],
  ['LSTM x·W [32,128]x[128,512]', 32, 512, 128],
  ['LSTM dX [32,512]x[512,128]', 32, 128, 512],
  ['LSTM dW [128,32]x[32,512]', 128, 512, 32],
  ['LSTM dX [32,512]x[512,64]', 32, 64, 512],
  ['LSTM dW [64,32]x[32,512]', 64, 512, 32],
];

console.log(`wasm backend: ${wasmStatus()}; ${samples} samples of ≥${sampleMs} ms each, median GFLOP/s`);
console.log(
  'shape (M,N,K)'.padEnd(40) +
    ['NN', 'TN', 'NT', 'TT'].map((f) => `${f} js`.padStart(9) + `${f} wasm`.padStart(10)).join(''),
);
for (const [label, m, n, k] of shapes) {
  let line = `${label} (${m},${n},${k})`.padEnd(40);
  for (const [tA, tB] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    const js = skipJs ? '—' : measure(matmulJs, m, n, k, tA, tB).toFixed(1);
    const wasm = measure(wasmGemm, m, n, k, tA, tB);
    line += js.padStart(9) + wasm.toFixed(1).padStart(10);
  }
  console.log(line);
}
