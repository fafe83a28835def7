/** An LSTM encoder reads the context; a linear head maps its last hidden state to all forecast steps at once. */
import type { Tensor } from '@tensorloom/autograd';
import { LSTM } from '@tensorloom/lstm';
import { Linear, Module } from '@tensorloom/nn';

/** x [context, B, 1] → LSTM → h at the last step [B, hidden] → Linear → [B, horizon] (direct multi-step). */
export class Forecaster extends Module {
  encoder: LSTM;
  head: Linear;

  constructor(
    readonly hidden: number,
    readonly horizon: number,
    layers = 1,
  ) {
    super();
    this.encoder = new LSTM({ inputSize: 1, hiddenSize: hidden, numLayers: layers });
    this.head = new Linear(hidden, horizon);
  }

  forward(x: Tensor): Tensor {
    const [, [hN]] = this.encoder.forward(x);
    // hN is [layers, B, hidden]: the top layer's final state summarises the context.
    const top = hN.narrow(0, hN.shape[0]! - 1, 1).reshape([-1, this.hidden]);
    return this.head.forward(top);
  }
}
