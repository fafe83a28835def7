/**
 * A sequence task that needs both directions: inputs u_t ~ U(−1, 1), and at every step the target
 * y_t = (u_{t−k} + u_{t+k}) / 2 (zero outside the sequence). A forward-only model has seen u_{t−k} but not
 * u_{t+k}, so the best it can do leaves the variance of u_{t+k}/2: MSE ≈ (1/3)/4 ≈ 0.083 (a little less,
 * counting the last k steps, whose future term is zero). A bidirectional model can reach 0.
 */
import { rand, type Tensor, tensor } from '@tensorloom/autograd';

/** A batch: inputs [T, B, 1] and per-step targets [T, B, 1] (time-major). */
export interface EchoBatch {
  x: Tensor;
  y: Tensor;
}

/** The forward-only floor: the unpredictable part Var(u_{t+k}/2) = 1/12, averaged over the T steps. */
export function forwardOnlyFloor(T: number, k: number): number {
  return ((T - k) / T) * (1 / 12);
}

/** Draws `batch` sequences of `T` steps with offset `k` from the seeded global generator. */
export function echoBatch(T: number, batch: number, k: number): EchoBatch {
  const u = rand([T, batch]).data;
  const x = new Float32Array(T * batch);
  const y = new Float32Array(T * batch);
  for (let i = 0; i < T * batch; i++) x[i] = 2 * u[i]! - 1;
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < batch; b++) {
      const past = t - k >= 0 ? x[(t - k) * batch + b]! : 0;
      const future = t + k < T ? x[(t + k) * batch + b]! : 0;
      y[t * batch + b] = (past + future) / 2;
    }
  }
  return { x: tensor(x, { shape: [T, batch, 1] }), y: tensor(y, { shape: [T, batch, 1] }) };
}
