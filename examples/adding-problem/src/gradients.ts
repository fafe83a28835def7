/**
 * The vanishing gradient, measured: how much the loss at the last step depends on the hidden state at each
 * earlier step, ‖∂ℓ/∂h_t‖. The layer's `observe` option hands us every step's h as it is computed; we ask
 * autograd to keep its gradient (`retainGrad`), run one backward pass, and read `h_t.grad`.
 */
import { type Tensor, zeros } from '@tensorloom/autograd';
import { mseLoss } from '@tensorloom/nn';
import type { Regressor } from './model.ts';
import type { AddingBatch } from './task.ts';

/**
 * The mean over the batch of ‖∂ℓ_b/∂h_t‖₂ for t = 0 … T−1, where ℓ_b is sequence b's squared error (so each
 * sequence's gradient is its own, not divided by the batch size). Leaves the model's gradients zeroed.
 */
export function hiddenGradientNorms(model: Regressor, data: AddingBatch): number[] {
  const hs: Tensor[] = [];
  const prediction = model.forward(data.x, (gates, at) => {
    const h = gates.h;
    if (!h) throw new Error(`hiddenGradientNorms: the ${model.kind} layer reported no h`);
    hs[at.t] = h.retainGrad();
  });
  const loss = mseLoss(prediction, data.y, { reduction: 'sum' });
  model.zeroGrad();
  loss.backward();
  model.zeroGrad();
  const [B, H] = [data.y.shape[0]!, model.hidden];
  return hs.map((h) => {
    const g = h.grad ?? zeros([B, H]);
    let total = 0;
    for (let b = 0; b < B; b++) {
      let sq = 0;
      for (let j = 0; j < H; j++) sq += g.data[b * H + j]! ** 2;
      total += Math.sqrt(sq);
    }
    return total / B;
  });
}
