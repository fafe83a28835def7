/**
 * The cell interface every combinator accepts. A cell is one step of a recurrence,
 * state' = step(x, state), plus how to start (the zero state) and what to emit (the output). The time loop,
 * layer stacking, bidirectionality, variable lengths and truncated BPTT are written once, against this.
 */
import { type Tensor, where } from '@tensorloom/autograd';

/** A recurrent state: one tensor (GRU, RNN) or a tuple of tensors (LSTM's [h, c]), each [batch, ...]. */
export type RecurrentState = Tensor | readonly Tensor[];

/** Named per-step activations a cell reports (an LSTM reports i, f, g, o, c, h), each [batch, features]. */
export type Gates = Readonly<Record<string, Tensor>>;

/** Receives a cell's gate activations for one step. */
export type GateSink = (gates: Gates) => void;

/** Where a step ran: its time index, its layer, and its direction (0 forward, 1 reverse). */
export interface StepInfo {
  /** The time index of the step (in the input's order, also for the reverse direction). */
  t: number;
  /** The layer, from 0. */
  layer: number;
  /** 0 for the forward direction, 1 for the reverse. */
  direction: 0 | 1;
  /**
   * With variable lengths, [B, 1] of 1 for the sequences this step belongs to and 0 for those it does not
   * (their rows were computed on padding and discarded); null when every row is real.
   */
  mask: Tensor | null;
}

/** Receives every step's gate activations with where they were taken; see `GateRecorder`. */
export type StepObserver = (gates: Gates, at: StepInfo) => void;

/**
 * One step of a recurrence. The combinators call `projectInput` once on all time steps (when defined), then
 * `step` per time step, so the input-to-hidden product of a whole sequence is one matrix product.
 */
export interface RecurrentCell<S extends RecurrentState = RecurrentState> {
  /** Features per step of the input. */
  readonly inputSize: number;
  /** Features per step of `output(state)`. */
  readonly outputSize: number;
  /** The zero state for `batch` sequences (PyTorch's default initial state). */
  initialState(batch: number): S;
  /**
   * Optional hoisting: the part of a step that depends on the input alone, for many steps at once:
   * [N, inputSize] → [N, k]. Must act row by row, so that rows of different steps do not mix.
   */
  projectInput?(x: Tensor): Tensor;
  /** One step: `input` is `projectInput(x_t)` when the cell defines it, else x_t ([batch, inputSize]). */
  step(input: Tensor, state: S, observe?: GateSink): S;
  /** What a step emits, [batch, outputSize] (h for LSTM, GRU and RNN). */
  output(state: S): Tensor;
}

/** The state's tensors as a list. */
export function stateTensors(state: RecurrentState): readonly Tensor[] {
  return Array.isArray(state) ? (state as readonly Tensor[]) : [state as Tensor];
}

/** Applies `fn` to matching tensors of two states of the same structure. */
export function zipStates<S extends RecurrentState>(a: S, b: S, fn: (x: Tensor, y: Tensor) => Tensor): S {
  if (!Array.isArray(a)) return fn(a as Tensor, b as Tensor) as S;
  const bs = b as readonly Tensor[];
  return (a as readonly Tensor[]).map((x, i) => fn(x, bs[i]!)) as unknown as S;
}

/** Applies `fn` to each tensor of a state. */
export function mapState<S extends RecurrentState>(s: S, fn: (x: Tensor) => Tensor): S {
  return zipStates(s, s, (x) => fn(x));
}

/**
 * Rows of `next` where `mask` ([batch, 1] of 0/1) is 1, rows of `prev` elsewhere: how a finished (or not
 * yet started) sequence keeps its state while the rest of the batch steps. Selection, not arithmetic, so
 * the kept rows are bit-identical and get no gradient from the step.
 */
export function selectState<S extends RecurrentState>(mask: Tensor, next: S, prev: S): S {
  return zipStates(next, prev, (n, p) => where(mask, n, p));
}

/** Formats a shape for error messages, `[2,3]`, as autograd does. */
export function fmt(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
