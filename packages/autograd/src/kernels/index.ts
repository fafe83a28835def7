/**
 * `@tensorloom/autograd/kernels`: kernel-level entry points for packages that build fused ops on autograd
 * (as `@tensorloom/lstm` does): typed arrays in, typed arrays out, no graph. Each WebAssembly kernel returns
 * false when it cannot run (backend off or not ready, unsupported size), and the caller then runs its own
 * JavaScript kernel, which stays the reference the tests hold the WebAssembly one to.
 */
export {
  wasmCellCallCount,
  wasmGruBackward,
  wasmGruForward,
  wasmLstmBackward,
  wasmLstmForward,
} from './wasm/cells.ts';
export {
  isWasmEnabled,
  keepResident,
  setWasmEnabled,
  wasmStatus,
  withResidentOperands,
  withResidentScope,
} from './wasm/module.ts';
