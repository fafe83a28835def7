/**
 * `@tensorloom/autograd/kernels`: the WebAssembly backend's switches and residency scopes, on typed arrays.
 * Residency scopes (`withResidentOperands`, `keepResident`) let a loop keep the operands every iteration
 * multiplies by in WebAssembly memory, copied and packed once; tensor code uses `withResidentWeights`.
 */

export { wasmFusedKernelCount } from './wasm/fused.ts';
export {
  isWasmEnabled,
  keepResident,
  setWasmEnabled,
  wasmStatus,
  withResidentOperands,
  withResidentScope,
} from './wasm/module.ts';
