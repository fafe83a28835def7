/**
 * The model handed over: Embedding → 2-layer LSTM → Linear, a character-level language model, and the text
 * it learns. Its field names (`embed`, `lstm`, `head`) and the layers' parameter names are PyTorch's, so
 * the state dict is `embed.weight`, `lstm.weight_ih_l0`, …, `head.bias` on both sides (see handover.py).
 */
import { type Tensor, tensor } from '@tensorloom/autograd';
import { LSTM } from '@tensorloom/lstm';
import { crossEntropy, Embedding, Linear, Module } from '@tensorloom/nn';

/** Sizes of the model; handover.py builds the same torch.nn modules from them. */
export interface ModelConfig {
  vocab: number;
  embed: number;
  hidden: number;
  layers: number;
}

export class CharLSTM extends Module {
  embed: Embedding;
  lstm: LSTM;
  head: Linear;
  constructor(readonly config: ModelConfig) {
    super();
    this.embed = new Embedding(config.vocab, config.embed);
    this.lstm = new LSTM({
      inputSize: config.embed,
      hiddenSize: config.hidden,
      numLayers: config.layers,
      batchFirst: true,
    });
    this.head = new Linear(config.hidden, config.vocab);
  }

  /** ids [B, T] → logits [B, T, vocab]. */
  forward(ids: Tensor): Tensor {
    const [h] = this.lstm.forward(this.embed.forward(ids));
    return this.head.forward(h);
  }
}

/** Text written for this example; any text works, this one repeats enough structure to learn quickly. */
export const TEXT = `a model that outgrows a browser tab moves to an engine built for scale.
the weights travel as safetensors, the names stay the names of torch.nn, and the numbers stay the numbers.
onnx runtime serves the model on servers and phones; pytorch keeps training it on many cores and gpus.
the hand-over is checked both ways: the same logits, the same loss, the same next step.
`;

export const VOCAB = [...new Set(TEXT)].sort();

/** Windows of T + 1 characters as ids [count, T + 1], starting at the given offsets. */
export function windows(offsets: readonly number[], T: number): Tensor {
  const ids: number[] = [];
  for (const o of offsets) for (let t = 0; t <= T; t++) ids.push(VOCAB.indexOf(TEXT[(o + t) % TEXT.length]!));
  return tensor(ids).reshape([offsets.length, T + 1]);
}

/** Mean next-character cross-entropy of a batch of windows [B, T + 1]: inputs are [:, :T], targets [:, 1:]. */
export function loss(model: CharLSTM, batch: Tensor): Tensor {
  const [B, T1] = batch.shape as [number, number];
  const T = T1 - 1;
  const inputs = batch.narrow(1, 0, T);
  const targets = batch.narrow(1, 1, T).reshape([B * T]);
  return crossEntropy(model.forward(inputs).reshape([B * T, model.config.vocab]), targets);
}
