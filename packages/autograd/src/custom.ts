/**
 * User-defined differentiable ops, the public face of the mechanism every built-in primitive uses:
 * a forward computed without recording, and a VJP recorded beside it (like `torch.autograd.Function`).
 */
import { noGrad, record } from './engine.ts';
import { Tensor } from './tensor.ts';

export interface CustomOpDefinition {
  /** Computes the output. Runs without recording, so it may use any ops (or raw `data` loops). */
  forward(...inputs: Tensor[]): Tensor;
  /**
   * Returns ∂L/∂input for each input (null for none), given g = ∂L/∂output. Written with tensor ops, it
   * is differentiable itself and the op supports higher-order gradients.
   */
  backward(grad: Tensor, inputs: readonly Tensor[], output: Tensor): ReadonlyArray<Tensor | null>;
}

/** Makes a differentiable op from a forward and its VJP. The engine checks each gradient's shape. */
export function customOp(name: string, definition: CustomOpDefinition): (...inputs: Tensor[]) => Tensor {
  return (...inputs) => {
    inputs.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw new Error(`${name}: input ${i} must be a Tensor`);
    });
    const raw = noGrad(() => definition.forward(...inputs));
    if (!(raw instanceof Tensor)) throw new Error(`${name}: forward must return a Tensor`);
    // A fresh tensor, so that recording never rewires an input the forward returned unchanged.
    const output = new Tensor(raw.data, raw.shape).shareVersion(raw);
    // An int32 result is not differentiable (as PyTorch marks integer outputs of a Function).
    if (output.dtype === 'int32') return output;
    return record(name, inputs, output, (g) => definition.backward(g, inputs, output));
  };
}
