/**
 * The language model: characters → embedding → stacked LSTM → linear head → logits of the next character.
 * Trained with cross-entropy; its bits per character (bpc) is that loss in base 2.
 */
import { noGrad, rand, reshape, softmax, type Tensor } from '@tensorloom/autograd';
import { LSTM } from '@tensorloom/lstm';
import { Embedding, Linear, Module } from '@tensorloom/nn';

/** The model's shape. */
export interface CharLMConfig {
  vocabSize: number;
  embed: number;
  hidden: number;
  layers: number;
  /** Dropout between LSTM layers. Default 0. */
  dropout?: number;
}

/** An LSTM state [h, c], each [layers, batch, hidden]. */
export type LSTMState = readonly [Tensor, Tensor];

/** A character-level LSTM language model. */
export class CharLM extends Module {
  embed: Embedding;
  lstm: LSTM;
  head: Linear;
  readonly config: CharLMConfig;

  constructor(config: CharLMConfig) {
    super();
    this.config = config;
    this.embed = new Embedding(config.vocabSize, config.embed);
    this.lstm = new LSTM({
      inputSize: config.embed,
      hiddenSize: config.hidden,
      numLayers: config.layers,
      dropout: config.dropout ?? 0,
    });
    this.head = new Linear(config.hidden, config.vocabSize);
  }

  /**
   * Time-major ids [T·B] (char t of sequence b at t·B + b) → logits [T·B, vocab] and the final state.
   * Row t·B + b of the logits scores the character after char t of sequence b.
   */
  forward(ids: Int32Array, seq: number, batch: number, state?: LSTMState | null): [Tensor, LSTMState] {
    const x = reshape(this.embed.forward(ids), [seq, batch, this.config.embed]);
    const [out, next] = this.lstm.forward(x, state ?? null);
    const logits = this.head.forward(reshape(out, [seq * batch, this.config.hidden]));
    return [logits, next];
  }

  /**
   * Generates `length` characters after the ids of `prime`, drawing each from softmax(logits / temperature)
   * with the seeded generator (lower temperature: safer, more repetitive text).
   */
  sample(prime: Int32Array, length: number, temperature: number): Int32Array {
    if (prime.length === 0) throw new Error('CharLM.sample: the prime text must not be empty');
    if (!(temperature > 0)) throw new Error(`CharLM.sample: temperature must be > 0, got ${temperature}`);
    const wasTraining = this.training;
    this.eval();
    const out = new Int32Array(length);
    noGrad(() => {
      let [logits, state] = this.forward(prime, prime.length, 1);
      // The prediction after the last prime char is the last row.
      let last = logits.narrow(0, prime.length - 1, 1);
      for (let k = 0; k < length; k++) {
        const p = softmax(last.div(temperature), 1).data;
        const u = rand([1]).data[0]!;
        let id = p.length - 1;
        let acc = 0;
        for (let j = 0; j < p.length; j++) {
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
