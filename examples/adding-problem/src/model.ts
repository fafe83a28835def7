/** A recurrent layer (LSTM, GRU or tanh RNN) read out at the last step by a linear head. */
import type { Tensor } from '@tensorloom/autograd';
import { GRU, LSTM, RNN, type StepObserver } from '@tensorloom/lstm';
import { Linear, Module } from '@tensorloom/nn';

/** The recurrent layers compared. */
export type Kind = 'lstm' | 'gru' | 'rnn';

/** Display names. */
export const KIND_NAMES: Record<Kind, string> = { lstm: 'LSTM', gru: 'GRU', rnn: 'tanh RNN' };

/** x [T, B, 2] → the recurrent layer → its output at the last step → Linear → [B, 1]. */
export class Regressor extends Module {
  rnn: LSTM | GRU | RNN;
  head: Linear;
  readonly kind: Kind;
  readonly hidden: number;

  constructor(kind: Kind, hidden: number) {
    super();
    this.kind = kind;
    this.hidden = hidden;
    const options = { inputSize: 2, hiddenSize: hidden };
    this.rnn =
      kind === 'lstm'
        ? new LSTM(options)
        : kind === 'gru'
          ? new GRU(options)
          : new RNN({ ...options, nonlinearity: 'tanh' });
    this.head = new Linear(hidden, 1);
  }

  /** Predictions [B, 1]; `observe` sees every step's activations (used to retain ∂L/∂h_t). */
  forward(x: Tensor, observe?: StepObserver): Tensor {
    const T = x.shape[0]!;
    const [out] = this.rnn.forward(x, null, { observe: observe ?? null });
    return this.head.forward(out.narrow(0, T - 1, 1).reshape([-1, this.hidden]));
  }
}
