/**
 * The language model: characters → embedding → recurrent layers → linear head → next-character logits,
 * as in examples/char-lm (whose parameter names it shares with the built-in LSTM, so weights move between
 * the Node example and the page). The recurrent layers are the built-in `LSTM` or a `CellStack` of the
 * editor's cell.
 */
import { noGrad, rand, reshape, softmax, type Tensor } from '@tensorloom/autograd';
import { CellStack, LSTM, type RecurrentCell, type RecurrentState } from '@tensorloom/lstm';
import { Embedding, Linear, Module } from '@tensorloom/nn';
import type { CellClass } from './compile.ts';

/** The model's sizes. */
export interface ModelShape {
  vocabSize: number;
  embed: number;
  hidden: number;
  layers: number;
}

/** The recurrent state between calls: the LSTM's [h, c] or one state per layer of a CellStack. */
export type ModelState = unknown;

type Stack = CellStack<RecurrentState>;

/** A character-level language model over the built-in LSTM or a user cell. */
export class CharModel extends Module {
  embed: Embedding;
  lstm: LSTM | Stack;
  head: Linear;

  constructor(
    readonly shape: ModelShape,
    Cell: CellClass | null,
  ) {
    super();
    this.embed = new Embedding(shape.vocabSize, shape.embed);
    this.lstm = Cell
      ? new CellStack(
          ({ inputSize }) => new Cell(inputSize, shape.hidden) as RecurrentCell<RecurrentState> & Module,
          { inputSize: shape.embed, numLayers: shape.layers },
        )
      : new LSTM({ inputSize: shape.embed, hiddenSize: shape.hidden, numLayers: shape.layers });
    this.head = new Linear(shape.hidden, shape.vocabSize);
  }

  /** Time-major ids [T·B] → logits [T·B, vocab] (row t·B + b scores the char after char t of sequence b). */
  forward(ids: Int32Array, seq: number, batch: number, state: ModelState = null): [Tensor, ModelState] {
    const x = reshape(this.embed.forward(ids), [seq, batch, this.shape.embed]);
    const [out, next] =
      this.lstm instanceof LSTM
        ? this.lstm.forward(x, (state as [Tensor, Tensor] | null) ?? null)
        : this.lstm.forward(x, (state as RecurrentState[] | null) ?? null);
    const width = out.shape[2]!;
    return [this.head.forward(reshape(out, [seq * batch, width])), next];
  }

  /** `length` characters after `prime`, each drawn from softmax(logits / temperature) (seeded generator). */
  sample(prime: Int32Array, length: number, temperature: number): Int32Array {
    const wasTraining = this.training;
    this.eval();
    const out = new Int32Array(length);
    noGrad(() => {
      let [logits, state] = this.forward(prime, prime.length, 1);
      let last = logits.narrow(0, prime.length - 1, 1);
      for (let k = 0; k < length; k++) {
        const p = softmax(last.div(temperature), 1).data;
        // Inverse-CDF draw; the last id absorbs rounding when the cumulative sum ends just below 1.
        const u = rand([1]).data[0]!;
        let id = p.length - 1;
        for (let j = 0, acc = 0; j < p.length; j++) {
          acc += p[j]!;
          if (u < acc) {
            id = j;
            break;
          }
        }
        out[k] = id;
        [last, state] = this.forward(Int32Array.of(id), 1, 1, state);
      }
    });
    this.train(wasTraining);
    return out;
  }
}
