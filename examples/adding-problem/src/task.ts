/**
 * The adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015): each of T steps
 * carries a pair (value ~ U(0, 1), marker ∈ {0, 1}); exactly two markers are set, one in the first half and
 * one in the second. The target is the sum of the two marked values. It is only solvable by carrying the
 * first marked value across ~T/2 steps. Always predicting the mean, 1, gives MSE = Var(u₁ + u₂) = 2/12 ≈ 0.167.
 */
import { rand, randint, type Tensor, tensor } from '@tensorloom/autograd';

/** MSE of the best constant prediction: Var(u₁ + u₂) for independent U(0, 1). */
export const BASELINE_MSE = 2 / 12;

/** A batch: inputs [T, B, 2] (time-major) and targets [B, 1]. */
export interface AddingBatch {
  x: Tensor;
  y: Tensor;
}

/** Draws `batch` sequences of `T` steps from the seeded global generator. */
export function addingBatch(T: number, batch: number): AddingBatch {
  if (!(Number.isInteger(T) && T >= 2)) throw new Error(`addingBatch: T must be an integer >= 2, got ${T}`);
  const half = Math.floor(T / 2);
  const values = rand([T, batch]).data;
  const first = randint(0, half, [batch]).data;
  const second = randint(half, T, [batch]).data;
  const x = new Float32Array(T * batch * 2);
  const y = new Float32Array(batch);
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < batch; b++) x[(t * batch + b) * 2] = values[t * batch + b]!;
  }
  for (let b = 0; b < batch; b++) {
    const i = first[b]!;
    const j = second[b]!;
    x[(i * batch + b) * 2 + 1] = 1;
    x[(j * batch + b) * 2 + 1] = 1;
    y[b] = values[i * batch + b]! + values[j * batch + b]!;
  }
  return { x: tensor(x, { shape: [T, batch, 2] }), y: tensor(y, { shape: [batch, 1] }) };
}
