/**
 * The AssemblyScript source of the whole WebAssembly kernel module: the generated GEMM and the axis sum,
 * one module so that they share one memory (module.ts). scripts/build-wasm.mjs compiles it; a test
 * checks the committed module was built from exactly this text.
 */

import { generateGemmSource } from './generate-gemm.mjs';
import { reduceKernelSource } from './reduce-source.mjs';

export function wasmModuleSource() {
  return generateGemmSource() + reduceKernelSource;
}
