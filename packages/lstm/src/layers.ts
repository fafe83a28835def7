/**
 * Sequence layers with `torch.nn.LSTM/GRU/RNN` semantics: options, shapes, zero default state, dropout
 * between layers, default init U(−1/√H, 1/√H), and the flat parameter names (`weight_ih_l0`,
 * `bias_hh_l1_reverse`, `weight_hr_l0`) in PyTorch's order, so a PyTorch state dict loads key for key.
 * The layers hold the parameters; each forward wraps them in pure cells and runs the `stacked` combinator.
 * `CellStack` does the same for any cell module.
 */
import { type DType, stack, Tensor, transpose, unbind } from '@tensorloom/autograd';
import { Module, type Parameter } from '@tensorloom/nn';
import { fmt, type RecurrentCell, type RecurrentState, type StepObserver, stateTensors } from './cell.ts';
import { checkNonlinearity, checkShape, checkSize } from './cells.ts';
import {
  type CellWeights,
  gruCell,
  type LSTMState,
  type LSTMWeights,
  lstmCell,
  type Nonlinearity,
  rnnCell,
  uniformParameter,
} from './functional.ts';
import { checkNotEmpty, type LengthPlan, type Lengths, planLengths, runStack } from './recurrent.ts';

/** Options shared by `LSTM`, `GRU` and `RNN` (PyTorch's constructor arguments in camelCase). */
export interface RecurrentLayerOptions {
  /** Features of the input. */
  inputSize: number;
  /** Features of the hidden state. */
  hiddenSize: number;
  /** Stacked layers. Default 1. */
  numLayers?: number;
  /** Whether to learn the biases. Default true. */
  bias?: boolean;
  /** Input and output as [B, T, features] instead of [T, B, features] (states stay [L·D, B, H]). Default false. */
  batchFirst?: boolean;
  /** Dropout on the outputs of every layer but the last, in training mode. Default 0. */
  dropout?: number;
  /** Run a second, reverse direction per layer and concatenate. Default false. */
  bidirectional?: boolean;
  /** Parameter dtype. Default 'float32'. */
  dtype?: DType;
}

/** Options of `LSTM`. */
export interface LSTMOptions extends RecurrentLayerOptions {
  /** With P > 0, h is projected to P features: h = (o ⊙ tanh c)·W_hrᵀ (PyTorch `proj_size`). Default 0. */
  projSize?: number;
}

/** Options of `RNN`. */
export interface RNNOptions extends RecurrentLayerOptions {
  /** The activation. Default 'tanh'. */
  nonlinearity?: Nonlinearity;
}

/** Options of a sequence forward pass. */
export interface SequenceOptions {
  /** Per-sequence lengths in [1, T], any order: PyTorch's packed-sequence semantics. */
  lengths?: Lengths | null;
  /** Require lengths sorted in decreasing order (PyTorch `enforce_sorted=True`). Default false. */
  enforceSorted?: boolean;
  /** Receives each step's gate activations (see `GateRecorder`). */
  observe?: StepObserver | null;
}

/** Parameter names in PyTorch's layout: `${kind}_l${layer}` plus `_reverse` for the second direction. */
function suffix(layer: number, direction: number): string {
  return `_l${layer}${direction === 1 ? '_reverse' : ''}`;
}

/**
 * What the three layers share: option checks, parameter creation and naming, input and state validation,
 * and the run through `stacked`.
 */
abstract class RecurrentLayer<S extends RecurrentState> extends Module {
  /** Typed access to the flat parameters, e.g. `lstm.weight_ih_l0` (undefined for names that do not exist). */
  [name: `weight_${string}` | `bias_${string}`]: Parameter | undefined;

  /** Features of the input. */
  readonly inputSize: number;
  /** Features of the hidden state. */
  readonly hiddenSize: number;
  /** Stacked layers. */
  readonly numLayers: number;
  /** Whether the layers learn biases. */
  readonly bias: boolean;
  /** Whether inputs and outputs are [B, T, features]. */
  readonly batchFirst: boolean;
  /** Dropout probability between layers (training mode). */
  readonly dropout: number;
  /** Whether each layer also runs the reverse direction. */
  readonly bidirectional: boolean;
  /** Directions per layer (1 or 2). */
  readonly numDirections: number;

  protected constructor(
    protected readonly op: string,
    options: RecurrentLayerOptions,
    gates: number,
    projSize: number,
  ) {
    super();
    this.inputSize = checkSize(op, 'inputSize', options.inputSize);
    this.hiddenSize = checkSize(op, 'hiddenSize', options.hiddenSize);
    this.numLayers = checkSize(op, 'numLayers', options.numLayers ?? 1);
    this.bias = options.bias ?? true;
    this.batchFirst = options.batchFirst ?? false;
    const p = options.dropout ?? 0;
    if (typeof p !== 'number' || !(p >= 0 && p <= 1))
      throw new Error(`${op}: dropout must be a probability in [0, 1], got ${String(p)}`);
    this.dropout = p;
    this.bidirectional = options.bidirectional ?? false;
    this.numDirections = this.bidirectional ? 2 : 1;
    const dtype = options.dtype ?? 'float32';
    const H = this.hiddenSize;
    const out = projSize > 0 ? projSize : H;
    const init = (shape: number[]) => uniformParameter(shape, 1 / Math.sqrt(H), dtype);
    // Created (and drawn from the generator) in PyTorch's order, which is also the state-dict order.
    const fields = this as unknown as Record<string, Parameter>;
    for (let layer = 0; layer < this.numLayers; layer++) {
      const inputs = layer === 0 ? this.inputSize : out * this.numDirections;
      for (let direction = 0; direction < this.numDirections; direction++) {
        const s = suffix(layer, direction);
        fields[`weight_ih${s}`] = init([gates * H, inputs]);
        fields[`weight_hh${s}`] = init([gates * H, out]);
        if (this.bias) {
          fields[`bias_ih${s}`] = init([gates * H]);
          fields[`bias_hh${s}`] = init([gates * H]);
        }
        if (projSize > 0) fields[`weight_hr${s}`] = init([projSize, H]);
      }
    }
  }

  /** The weights of one layer and direction, by their PyTorch roles. */
  protected weights(layer: number, direction: number): LSTMWeights {
    const s = suffix(layer, direction);
    const fields = this as unknown as Record<string, Parameter | undefined>;
    return {
      weight_ih: fields[`weight_ih${s}`]!,
      weight_hh: fields[`weight_hh${s}`]!,
      bias_ih: fields[`bias_ih${s}`] ?? null,
      bias_hh: fields[`bias_hh${s}`] ?? null,
      weight_hr: fields[`weight_hr${s}`] ?? null,
    };
  }

  /** The pure cell over one layer's and direction's weights. */
  protected abstract cell(weights: LSTMWeights): RecurrentCell<S>;

  /** The parameters' dtype. */
  protected get dtype(): DType {
    return this.weight_ih_l0!.dtype;
  }

  /** Checks the input and lengths; returns the time-major input and the length plan. */
  protected prepare(x: Tensor, options: SequenceOptions): { input: Tensor; plan: LengthPlan } {
    const layout = this.batchFirst ? 'B, T' : 'T, B';
    if (!(x instanceof Tensor) || x.ndim !== 3 || x.shape[2] !== this.inputSize) {
      throw new Error(
        `${this.op}: expected a 3-d input [${layout}, ${this.inputSize}] (inputSize ${this.inputSize}), got ${x instanceof Tensor ? fmt(x.shape) : String(x)}`,
      );
    }
    checkShape(this.op, 'input', x, x.shape, this.dtype);
    const input = this.batchFirst ? transpose(x, 0, 1) : x;
    checkNotEmpty(this.op, input);
    const [T, B] = input.shape as [number, number, number];
    return { input, plan: planLengths(this.op, options.lengths, T, B, options.enforceSorted ?? false) };
  }

  /** Splits a given [L·D, B, n] initial state into per-cell states after checking its shape. */
  protected splitState(what: string, t: Tensor, B: number, n: number): Tensor[] {
    const L = this.numLayers * this.numDirections;
    checkShape(this.op, `${what} [numLayers * numDirections, batch, ${n}]`, t, [L, B, n], this.dtype);
    return unbind(t);
  }

  /** Runs the stack; returns the output in the caller's layout and the final per-cell states. */
  protected run(
    input: Tensor,
    plan: LengthPlan,
    states: S[] | null,
    options: SequenceOptions,
  ): [Tensor, S[]] {
    const layers: RecurrentCell<S>[][] = [];
    for (let layer = 0; layer < this.numLayers; layer++) {
      layers.push(Array.from({ length: this.numDirections }, (_, d) => this.cell(this.weights(layer, d))));
    }
    const [out, finals] = runStack(layers, input, plan, {
      states,
      dropout: this.dropout,
      training: this.training,
      observe: options.observe ?? null,
    });
    return [this.batchFirst ? transpose(out, 0, 1) : out, finals];
  }
}

/**
 * A multi-layer LSTM over sequences, `torch.nn.LSTM`: each layer runs `lstmStep` (see `LSTMCell` for the
 * equations) over time, in one or two directions; layer l + 1 reads layer l's output.
 *
 * forward(x, [h0, c0]?, { lengths }) → [output, [hN, cN]], with x [T, B, in] ([B, T, in] if batchFirst),
 * output [T, B, D·P], h0/hN [L·D, B, P], c0/cN [L·D, B, H], where D = 2 if bidirectional, P = projSize || H.
 */
export class LSTM extends RecurrentLayer<LSTMState> {
  /** Size of the projected hidden state (0: no projection). */
  readonly projSize: number;

  constructor(options: LSTMOptions) {
    const projSize = options.projSize ?? 0;
    if (!Number.isInteger(projSize) || projSize < 0)
      throw new Error(`LSTM: projSize must be an integer >= 0, got ${String(projSize)}`);
    if (projSize > 0 && projSize >= options.hiddenSize)
      throw new Error(`LSTM: projSize (${projSize}) must be smaller than hiddenSize (${options.hiddenSize})`);
    super('LSTM', options, 4, projSize);
    this.projSize = projSize;
  }

  /** Runs the sequence; see the class comment for shapes. States default to zeros. */
  forward(
    x: Tensor,
    state?: readonly [h0: Tensor, c0: Tensor] | null,
    options: SequenceOptions = {},
  ): [output: Tensor, state: [hN: Tensor, cN: Tensor]] {
    const { input, plan } = this.prepare(x, options);
    const B = input.shape[1]!;
    let states: LSTMState[] | null = null;
    if (state) {
      if (!Array.isArray(state) || state.length !== 2)
        throw new Error('LSTM: expected the initial state as [h0, c0]');
      const hs = this.splitState('h0', state[0], B, this.projSize || this.hiddenSize);
      const cs = this.splitState('c0', state[1], B, this.hiddenSize);
      states = hs.map((h, k) => [h, cs[k]!] as const);
    }
    const [out, finals] = this.run(input, plan, states, options);
    return [
      out,
      [
        stack(
          finals.map((s) => s[0]),
          0,
        ),
        stack(
          finals.map((s) => s[1]),
          0,
        ),
      ],
    ];
  }

  protected cell(weights: LSTMWeights): RecurrentCell<LSTMState> {
    return lstmCell(weights);
  }
}

/** The single-state layers' forward: x and h0 [L·D, B, H] to [output, hN]. */
abstract class SingleStateLayer extends RecurrentLayer<Tensor> {
  /** Runs the sequence: x [T, B, in] ([B, T, in] if batchFirst) to output [T, B, D·H] and hN [L·D, B, H]. */
  forward(x: Tensor, h0?: Tensor | null, options: SequenceOptions = {}): [output: Tensor, hN: Tensor] {
    const { input, plan } = this.prepare(x, options);
    const states = h0 ? this.splitState('h0', h0, input.shape[1]!, this.hiddenSize) : null;
    const [out, finals] = this.run(input, plan, states, options);
    return [out, stack(finals, 0)];
  }
}

/** A multi-layer GRU over sequences, `torch.nn.GRU` (see `GRUCell` for the equations). */
export class GRU extends SingleStateLayer {
  constructor(options: RecurrentLayerOptions) {
    super('GRU', options, 3, 0);
  }
  protected cell(weights: CellWeights): RecurrentCell<Tensor> {
    return gruCell(weights);
  }
}

/** A multi-layer Elman RNN over sequences, `torch.nn.RNN`: h' = act(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh). */
export class RNN extends SingleStateLayer {
  /** The activation, 'tanh' or 'relu'. */
  readonly nonlinearity: Nonlinearity;
  constructor(options: RNNOptions) {
    super('RNN', options, 1, 0);
    this.nonlinearity = checkNonlinearity('RNN', options.nonlinearity ?? 'tanh');
  }
  protected cell(weights: CellWeights): RecurrentCell<Tensor> {
    return rnnCell(weights, this.nonlinearity);
  }
}

/** Options of `CellStack`. */
export interface CellStackOptions {
  /** Features of the input. */
  inputSize: number;
  /** Stacked layers. Default 1. */
  numLayers?: number;
  /** Two directions per layer. Default false. */
  bidirectional?: boolean;
  /** Dropout between layers in training mode. Default 0. */
  dropout?: number;
  /** [B, T, features] layout. Default false. */
  batchFirst?: boolean;
}

/** What `CellStack` asks its factory for: a cell reading `inputSize` features, for a layer and direction. */
export interface CellSpec {
  /** Features of the input to this layer. */
  inputSize: number;
  /** The layer, from 0. */
  layer: number;
  /** Whether the cell runs the reverse direction. */
  reverse: boolean;
}

/**
 * Layers, directions, dropout, variable lengths and batchFirst for any cell module: the factory builds one
 * cell per layer and direction, held as submodules `cell_l0`, `cell_l0_reverse`, `cell_l1`, ... (so their
 * parameters are named like `cell_l0.weight_ih`).
 * forward(x, states?, { lengths }) → [output, final states (one per layer and direction, PyTorch's order)].
 */
export class CellStack<S extends RecurrentState> extends Module {
  /** Features of the input. */
  readonly inputSize: number;
  /** Stacked layers. */
  readonly numLayers: number;
  /** Directions per layer (1 or 2). */
  readonly numDirections: number;
  /** Dropout probability between layers (training mode). */
  readonly dropout: number;
  /** Whether inputs and outputs are [B, T, features]. */
  readonly batchFirst: boolean;

  constructor(makeCell: (spec: CellSpec) => RecurrentCell<S> & Module, options: CellStackOptions) {
    super();
    this.inputSize = checkSize('CellStack', 'inputSize', options.inputSize);
    this.numLayers = checkSize('CellStack', 'numLayers', options.numLayers ?? 1);
    this.numDirections = options.bidirectional ? 2 : 1;
    const p = options.dropout ?? 0;
    if (!(p >= 0 && p <= 1)) throw new Error(`CellStack: dropout must be a probability in [0, 1], got ${p}`);
    this.dropout = p;
    this.batchFirst = options.batchFirst ?? false;
    const fields = this as unknown as Record<string, Module>;
    let inputSize = this.inputSize;
    for (let layer = 0; layer < this.numLayers; layer++) {
      let width = 0;
      for (let d = 0; d < this.numDirections; d++) {
        const cell = makeCell({ inputSize, layer, reverse: d === 1 });
        const which = `the cell for layer ${layer}${d ? ' (reverse)' : ''}`;
        if (!(cell instanceof Module)) {
          throw new Error(
            `CellStack: ${which} must be a Module (so that its parameters belong to the stack), got ${describeValue(cell)}`,
          );
        }
        if (cell.inputSize !== inputSize) {
          throw new Error(
            `CellStack: ${which} must read ${inputSize} features, got inputSize ${String(cell.inputSize)}`,
          );
        }
        fields[`cell${suffix(layer, d)}`] = cell;
        width += cell.outputSize;
      }
      inputSize = width;
    }
  }

  /** The cell of a layer and direction. */
  cell(layer: number, reverse = false): RecurrentCell<S> & Module {
    const c = (this as unknown as Record<string, RecurrentCell<S> & Module>)[
      `cell${suffix(layer, reverse ? 1 : 0)}`
    ];
    if (!c) throw new Error(`CellStack: no cell for layer ${layer}${reverse ? ' (reverse)' : ''}`);
    return c;
  }

  /** Runs the sequence; `states` holds one initial state per layer and direction (zeros when omitted). */
  forward(x: Tensor, states?: readonly S[] | null, options: SequenceOptions = {}): [Tensor, S[]] {
    const layout = this.batchFirst ? 'B, T' : 'T, B';
    if (!(x instanceof Tensor) || x.ndim !== 3 || x.shape[2] !== this.inputSize) {
      throw new Error(
        `CellStack: expected a 3-d input [${layout}, ${this.inputSize}], got ${x instanceof Tensor ? fmt(x.shape) : String(x)}`,
      );
    }
    const count = this.numLayers * this.numDirections;
    if (states && states.length !== count) {
      throw new Error(
        `CellStack: expected ${count} initial states (numLayers * numDirections), got ${states.length}`,
      );
    }
    const input = this.batchFirst ? transpose(x, 0, 1) : x;
    checkNotEmpty('CellStack', input);
    const [T, B] = input.shape as [number, number, number];
    states?.forEach((state, k) => {
      const layer = Math.floor(k / this.numDirections);
      const reverse = k % this.numDirections === 1;
      const expected = stateTensors(this.cell(layer, reverse).initialState(B));
      const given = stateTensors(state);
      const where = `initial state ${k} (layer ${layer}${reverse ? ', reverse' : ''})`;
      if (given.length !== expected.length) {
        throw new Error(`CellStack: ${where} has ${given.length} tensors, expected ${expected.length}`);
      }
      given.forEach((t, i) => {
        if (
          !(t instanceof Tensor) ||
          fmt(t.shape) !== fmt(expected[i]!.shape) ||
          t.dtype !== expected[i]!.dtype
        ) {
          throw new Error(
            `CellStack: ${where}, tensor ${i}: expected ${fmt(expected[i]!.shape)} ${expected[i]!.dtype}, got ${t instanceof Tensor ? `${fmt(t.shape)} ${t.dtype}` : describeValue(t)}`,
          );
        }
      });
    });
    const plan = planLengths('CellStack', options.lengths, T, B, options.enforceSorted ?? false);
    const layers = Array.from({ length: this.numLayers }, (_, l) =>
      Array.from({ length: this.numDirections }, (_, d) => this.cell(l, d === 1)),
    );
    const [out, finals] = runStack(layers, input, plan, {
      states: states ?? null,
      dropout: this.dropout,
      training: this.training,
      observe: options.observe ?? null,
    });
    return [this.batchFirst ? transpose(out, 0, 1) : out, finals];
  }
}

/** A short description of a value for error messages. */
function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return typeof v;
}
