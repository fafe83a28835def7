/**
 * `@tensorloom/autograd/kernels`: kernel-level entry points for packages that build fused ops on autograd
 * (as `@tensorloom/lstm` does): typed arrays in, typed arrays out, no graph. Each WebAssembly kernel returns
 * false when it cannot run (backend off or not ready, unsupported size), and the caller then runs its own
 * JavaScript kernel, which stays the reference the tests hold the WebAssembly one to. Residency scopes
 * (`withResidentOperands`, `keepResident`) let a loop keep the weights every iteration multiplies by in
 * WebAssembly memory, copied and packed once; `@tensorloom/lstm`'s time loop uses them for W_hh.
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
