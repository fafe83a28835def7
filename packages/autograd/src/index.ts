/**
 * @tensorloom/autograd: n-d tensors, broadcasting, differentiable primitives with their VJPs, reverse-mode
 * backward, higher-order gradients, functional transforms and gradient checking.
 */
export { type CustomOpDefinition, customOp } from './custom.ts';
export type { DType, FloatArray, FloatDType, TypedArray } from './dtype.ts';
export {
  type BackwardOptions,
  enableGrad,
  type GradHook,
  isGradEnabled,
  Node,
  noGrad,
  type Vjp,
} from './engine.ts';
export { grad, grads, valueAndGrad, valueAndGrads, vjp } from './functional.ts';
export { type CheckedFn, type GradcheckOptions, gradcheck, gradgradcheck } from './gradcheck.ts';
export { fusedKernelCount, fusedKernelRunCount } from './kernels/fused.ts';
export { isWasmEnabled, setWasmEnabled } from './kernels/wasm/module.ts';
export { carry, isFusionEnabled, realize, setFusionEnabled, withFusion } from './lazy.ts';
export * from './ops/index.ts';
export { getRngState, manualSeed, setRngState } from './random.ts';
export { broadcastShapes, type Shape } from './shape.ts';
export { type NestedArray, Tensor, type TensorLike } from './tensor.ts';
