#!/usr/bin/env node
/**
 * Tuning aid for the wasm GEMM's generator parameters: compiles the kernel for each parameter set given and
 * times it on data already resident in wasm memory (no copies), so only the kernel is measured. Timing is in
 * process CPU time; median GFLOP/s of several samples. Not a test.
 * Usage: node scripts/tune-gemm.mjs '{"unroll":1}' '{"unroll":2,"kc":128}' ...
 * (each argument overrides some of defaultGemmParams, or asc's optimizeLevel; none measures the defaults).
 */
import asc from 'assemblyscript/asc';
import { defaultGemmParams, generateGemmSource } from '../src/kernels/wasm/generate-gemm.mjs';

const shapes = [
  [128, 128, 128],
  [256, 256, 256],
  [512, 512, 512],
  [32, 512, 128],
  [32, 128, 512],
  [128, 512, 32],
  [512, 64, 1600],
  [512, 128, 1600],
  [1600, 512, 64],
];

async function compile({ optimizeLevel = 3, ...params }) {
  const result = await asc.compileString(
    { 'gemm.ts': generateGemmSource(params) },
    { optimizeLevel, shrinkLevel: 0, runtime: 'stub', enable: ['simd'], noAssert: true, use: ['abort='] },
  );
  if (result.error) throw new Error(`${result.error}\n${result.stderr}`);
  return result.binary;
}

function cpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function measure(ex, m, n, k, transA, transB) {
  const base = Math.ceil(ex.heapBase() / 64) * 64;
  const a = base;
  const b = a + Math.ceil((m * k * 4) / 64) * 64;
  const c = b + Math.ceil((k * n * 4) / 64) * 64;
  const work = c + Math.ceil((m * n * 4) / 64) * 64;
  const end = work + ex.workspaceBytes(m, n, k);
  if (end > ex.memory.buffer.byteLength)
    ex.memory.grow(Math.ceil((end - ex.memory.buffer.byteLength) / 65536));
  const heap = new Float32Array(ex.memory.buffer);
  for (let i = a >> 2; i < c >> 2; i++) heap[i] = Math.random() - 0.5;
  const run = () => ex.gemm(a, b, c, m, n, k, transA, transB, work, 0, 0);
  for (let i = 0; i < 20; i++) run();
  let reps = 1;
  for (;;) {
    const t = cpuMs();
    for (let i = 0; i < reps; i++) run();
    if (cpuMs() - t > 15) break;
    reps *= 2;
  }
  reps *= 4;
  const rates = [];
  for (let s = 0; s < 5; s++) {
    const t = cpuMs();
    for (let i = 0; i < reps; i++) run();
    rates.push((2 * m * n * k * reps) / ((cpuMs() - t) / 1000) / 1e9);
  }
  rates.sort((x, y) => x - y);
  return rates[2];
}

const sets = process.argv.slice(2).map((s) => JSON.parse(s));
if (sets.length === 0) sets.push({});
for (const override of sets) {
  const params = { ...defaultGemmParams, ...override };
  const binary = await compile(params);
  const { instance } = await WebAssembly.instantiate(binary, {});
  const ex = instance.exports;
  const cells = [];
  for (const [m, n, k] of shapes) {
    const rates = [0, 1, 2, 3].map((f) => measure(ex, m, n, k, f & 1, f >> 1).toFixed(1));
    cells.push(`${m}x${n}x${k}: ${rates.join('/')}`);
  }
  console.log(`${JSON.stringify(params)} ${binary.length} B\n  ${cells.join('\n  ')}`);
}
