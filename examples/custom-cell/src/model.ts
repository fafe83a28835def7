/** Stacked (and optionally bidirectional) MGU cells via `CellStack`, with a per-step linear read-out. */
import type { Tensor } from '@tensorloom/autograd';
import { CellStack } from '@tensorloom/lstm';
import { Linear, Module } from '@tensorloom/nn';
import { MGUCell } from './mgu.ts';

/** Options of `Tagger`. */
export interface TaggerOptions {
  hidden: number;
  layers: number;
  bidirectional: boolean;
}

/** x [T, B, 1] → CellStack of MGU cells → Linear per step → [T, B, 1]. */
export class Tagger extends Module {
  rnn: CellStack<Tensor>;
  head: Linear;

  constructor({ hidden, layers, bidirectional }: TaggerOptions) {
    super();
    // The factory is called once per layer and direction with the input size that layer reads.
    this.rnn = new CellStack(({ inputSize }) => new MGUCell(inputSize, hidden), {
      inputSize: 1,
      numLayers: layers,
      bidirectional,
    });
    this.head = new Linear(hidden * (bidirectional ? 2 : 1), 1);
  }

  forward(x: Tensor): Tensor {
    const [T, B] = x.shape as [number, number, number];
    const [out] = this.rnn.forward(x);
    return this.head.forward(out.reshape([T * B, -1])).reshape([T, B, 1]);
  }
}
