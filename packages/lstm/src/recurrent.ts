/**
 * The combinators: a time loop (`recurrent`), two directions (`bidirectional`) and layer stacking
 * (`stacked`), written once against `RecurrentCell`, so any cell gets them, with variable lengths, gate
 * observation and truncated BPTT (pass a detached final state back in as the next initial state).
 *
 * Variable lengths follow PyTorch's packed sequences: with lengths ℓ_b, sequence b is x_b[0 .. ℓ_b − 1].
 * Its final state is the state after its own last step, its outputs at t ≥ ℓ_b are zero, and the reverse
 * direction starts at t = ℓ_b − 1 from the initial state. Implemented by masking: at a step where some
 * sequence is not active, its rows of the state are kept (selected, not recomputed arithmetic), which gives
 * exactly the packed result. Steps at t ≥ max ℓ are not computed at all.
 */
import {
  carry,
  cat,
  narrow,
  reshape,
  split,
  stack,
  Tensor,
  unbind,
  where,
  withResidentWeights,
  zeroPad,
  zeros,
} from '@tensorloom/autograd';
import { dropout } from '@tensorloom/nn';
import {
  fmt,
  type Gates,
  type RecurrentCell,
  type RecurrentState,
  type StepObserver,
  selectState,
  stateTensors,
} from './cell.ts';

/**
 * Sequence lengths, one per batch entry, each in [1, T]; any order (like `enforce_sorted=False`). A tensor may
 * be int32 or float holding whole numbers.
 */
export type Lengths = readonly number[] | Int32Array | Tensor;

/** Options of the time loop. */
export interface RecurrentOptions<S extends RecurrentState> {
  /** Initial state; the cell's zero state when omitted. */
  state?: S | null;
  /** Per-sequence lengths; every step is real when omitted. */
  lengths?: Lengths | null;
  /** Run from the last step to the first (each sequence from its own last step). */
  reverse?: boolean;
  /** Receives each step's gate activations. */
  observe?: StepObserver | null;
  /** The layer index reported to `observe`. Default 0. */
  layer?: number;
}

/** Options of `stacked` and `bidirectional`. */
export interface StackedOptions<S extends RecurrentState> {
  /** Initial states, one per layer and direction in PyTorch's order (layer-major, forward before reverse). */
  states?: readonly S[] | null;
  /** Per-sequence lengths. */
  lengths?: Lengths | null;
  /** Dropout probability on the outputs of every layer but the last (applied only when `training`). */
  dropout?: number;
  /** Whether dropout is active. Default false. */
  training?: boolean;
  /** Receives each step's gate activations. */
  observe?: StepObserver | null;
}

/** Validated lengths: null when every sequence spans all T steps. */
export interface LengthPlan {
  /** The lengths, checked; null when every sequence runs all T steps. */
  lengths: Int32Array | null;
  /** Steps actually computed: max ℓ. */
  steps: number;
  /** Below this step every sequence is active, so no masking is needed. */
  allActive: number;
}

/**
 * Checks `lengths` against an input of `T` steps and `B` sequences; `op` names the caller in errors.
 * With `enforceSorted`, lengths must be non-increasing (PyTorch's `enforce_sorted=True`).
 */
export function planLengths(
  op: string,
  lengths: Lengths | null | undefined,
  T: number,
  B: number,
  enforceSorted = false,
): LengthPlan {
  if (lengths === null || lengths === undefined) return { lengths: null, steps: T, allActive: T };
  let values: ArrayLike<number>;
  if (lengths instanceof Tensor) {
    if (lengths.ndim !== 1)
      throw new Error(`${op}: lengths must be a 1-d tensor of ${B} entries, got shape ${fmt(lengths.shape)}`);
    values = lengths.data;
  } else values = lengths;
  if (values.length !== B) {
    throw new Error(`${op}: lengths has ${values.length} entries but the batch has ${B} sequences`);
  }
  const out = new Int32Array(B);
  let max = 0;
  let min = T;
  for (let b = 0; b < B; b++) {
    const v = values[b]!;
    if (!Number.isInteger(v) || v < 1 || v > T) {
      throw new Error(
        `${op}: lengths[${b}] = ${v} is ${Number.isInteger(v) ? 'out of range' : 'not an integer'}: expected an integer in [1, ${T}] for an input of ${T} steps`,
      );
    }
    if (enforceSorted && b > 0 && v > out[b - 1]!) {
      throw new Error(
        `${op}: lengths must be sorted in decreasing order when enforceSorted is set, got [${Array.from(values)}]`,
      );
    }
    out[b] = v;
    max = Math.max(max, v);
    min = Math.min(min, v);
  }
  if (min === T) return { lengths: null, steps: T, allActive: T };
  return { lengths: out, steps: max, allActive: min };
}

function checkSequence(op: string, input: Tensor, inputSize: number): void {
  if (!(input instanceof Tensor)) throw new Error(`${op}: input must be a Tensor`);
  if (input.ndim !== 3 || input.shape[2] !== inputSize) {
    throw new Error(
      `${op}: expected input of shape [T, B, ${inputSize}] (time, batch, inputSize), got ${fmt(input.shape)}`,
    );
  }
  checkNotEmpty(op, input);
}

/** Throws unless there is at least one step and one sequence (PyTorch rejects empty sequences too). */
export function checkNotEmpty(op: string, input: Tensor): void {
  if (input.shape[0] === 0 || input.shape[1] === 0) {
    throw new Error(
      `${op}: expected at least one time step and one sequence, got input of shape ${fmt(input.shape)}`,
    );
  }
}

/** [L, B, 1] of 1 where sequence b is active at step t (t < ℓ_b), else 0. */
function validSteps(lengths: Int32Array, L: number, dtype: Tensor['dtype']): Tensor {
  const B = lengths.length;
  const mask = zeros([L, B, 1], { dtype });
  for (let t = 0; t < L; t++) for (let b = 0; b < B; b++) mask.data[t * B + b] = t < lengths[b]! ? 1 : 0;
  return mask;
}

/**
 * Runs one direction of `cell` over a time-major input [T, B, inputSize] under an already validated plan;
 * returns the outputs [T, B, outputSize] and the final state.
 */
function runDirection<S extends RecurrentState>(
  cell: RecurrentCell<S>,
  input: Tensor,
  state: S,
  plan: LengthPlan,
  reverse: boolean,
  observe: StepObserver | null | undefined,
  layer: number,
): [Tensor, S] {
  const [T, B] = input.shape as [number, number, number];
  const L = plan.steps;
  // Padding (t ≥ ℓ_b) is replaced by zeros before any step reads it: the steps computed there are discarded
  // by selection, but their gradients are multiplied by what they computed, and 0·NaN would leak into the
  // weights' gradients. Zeros keep those products finite, so padding influences no value and no gradient.
  const kept = L < T ? narrow(input, 0, 0, L) : input;
  const valid = plan.lengths ? validSteps(plan.lengths, L, input.dtype) : null;
  const xs = valid ? where(valid, kept, 0) : kept;
  // Step t's [B, 1] slice of the same mask selects which rows of the state the step may change.
  const masks = valid ? unbind(valid) : null;
  // One product for the input part of every step, then cut per step (blocks of B rows) with an O(T·B·k)
  // backward. Elementwise ops after the product (a layer norm of it) stay pending, computed in each step's
  // kernel rather than stored for the whole sequence.
  const steps = cell.projectInput
    ? split(cell.projectInput(reshape(xs, [L * B, input.shape[2]!])), B, 0)
    : unbind(xs);
  const outputs = new Array<Tensor>(L);
  const direction = reverse ? 1 : 0;
  let computeRead = carry(stateTensors(state));
  withResidentWeights(() => {
    for (let k = 0; k < L; k++) {
      const t = reverse ? L - 1 - k : k;
      const mask = masks && t >= plan.allActive ? masks[t]! : null;
      const sink = observe ? (gates: Gates) => observe(gates, { t, layer, direction, mask }) : undefined;
      const next = cell.step(steps[t]!, state, sink);
      if (mask) {
        outputs[t] = where(mask, cell.output(next), 0);
        state = selectState(mask, next, state);
      } else {
        outputs[t] = cell.output(next);
        state = next;
      }
      // The state this step read is computed now, as one fused kernel: the previous step's elementwise ops
      // (a state read by a product, an LSTM's h, was computed there already, with the rest of its step).
      computeRead();
      computeRead = carry(stateTensors(state));
    }
  });
  const out = stack(outputs, 0);
  return [L < T ? zeroPad(out, 0, 0, T - L) : out, state];
}

/**
 * The time loop: runs `cell` over a time-major input [T, B, inputSize] and returns the outputs
 * [T, B, outputSize] (zero past each sequence's length) and the final state.
 */
export function recurrent<S extends RecurrentState>(
  cell: RecurrentCell<S>,
  input: Tensor,
  options: RecurrentOptions<S> = {},
): [Tensor, S] {
  checkSequence('recurrent', input, cell.inputSize);
  const [T, B] = input.shape as [number, number, number];
  const plan = planLengths('recurrent', options.lengths, T, B);
  const state = options.state ?? cell.initialState(B);
  return runDirection(
    cell,
    input,
    state,
    plan,
    options.reverse ?? false,
    options.observe,
    options.layer ?? 0,
  );
}

/**
 * Layers of cells, each layer one cell (unidirectional) or two (forward, reverse; their outputs are
 * concatenated along features). Layer l + 1 reads layer l's output, with dropout in between when training.
 * Returns the last layer's output [T, B, D·outputSize] and the final states in PyTorch's order.
 */
export function stacked<S extends RecurrentState>(
  layers: ReadonlyArray<ReadonlyArray<RecurrentCell<S>>>,
  input: Tensor,
  options: StackedOptions<S> = {},
): [Tensor, S[]] {
  if (layers.length === 0) throw new Error('stacked: expected at least one layer');
  const first = layers[0]![0];
  if (!first) throw new Error('stacked: every layer needs one or two cells');
  checkSequence('stacked', input, first.inputSize);
  const [T, B] = input.shape as [number, number, number];
  const plan = planLengths('stacked', options.lengths, T, B);
  return runStack(layers, input, plan, options);
}

/** `stacked` after validation (the layers validate their own arguments with their own names). */
export function runStack<S extends RecurrentState>(
  layers: ReadonlyArray<ReadonlyArray<RecurrentCell<S>>>,
  input: Tensor,
  plan: LengthPlan,
  options: StackedOptions<S> = {},
): [Tensor, S[]] {
  const B = input.shape[1]!;
  const { states, dropout: p = 0, training = false, observe } = options;
  const finals: S[] = [];
  let x = input;
  layers.forEach((cells, layer) => {
    if (cells.length !== 1 && cells.length !== 2) {
      throw new Error(
        `stacked: layer ${layer} has ${cells.length} cells, expected 1 or 2 (forward, reverse)`,
      );
    }
    const width = cells.reduce((n, c) => n + c.outputSize, 0);
    if (x.shape[2] !== cells[0]!.inputSize || cells.some((c) => c.inputSize !== cells[0]!.inputSize)) {
      throw new Error(
        `stacked: layer ${layer} reads ${x.shape[2]} features but its cells expect ${cells.map((c) => c.inputSize).join(', ')}`,
      );
    }
    const outs = cells.map((cell, direction) => {
      const given = states?.[layer * cells.length + direction];
      const [out, final] = runDirection(
        cell,
        x,
        given ?? cell.initialState(B),
        plan,
        direction === 1,
        observe,
        layer,
      );
      finals.push(final);
      return out;
    });
    x = outs.length === 1 ? outs[0]! : cat(outs, 2);
    if (x.shape[2] !== width)
      throw new Error(`stacked: layer ${layer} produced ${x.shape[2]} features, expected ${width}`);
    if (layer < layers.length - 1) x = dropout(x, p, training);
  });
  return [x, finals];
}

/**
 * Both directions of one layer: `forward` from the first step, `backward` from each sequence's last, outputs
 * concatenated along features: [T, B, forward.outputSize + backward.outputSize].
 */
export function bidirectional<S extends RecurrentState>(
  forward: RecurrentCell<S>,
  backward: RecurrentCell<S>,
  input: Tensor,
  options: Omit<StackedOptions<S>, 'dropout' | 'training'> = {},
): [Tensor, [S, S]] {
  const [out, finals] = stacked([[forward, backward]], input, options);
  return [out, [finals[0]!, finals[1]!]];
}
