/**
 * @tensorloom/lstm: LSTM, GRU and RNN composed from autograd primitives (no hand-written backward), with
 * combinators that give any recurrent cell layers, directions, variable lengths and truncated BPTT.
 *
 * - Cells: `LSTMCell`, `GRUCell`, `RNNCell` (PyTorch names, shapes and init), and the pure `lstmCell`,
 *   `gruCell`, `rnnCell` over given weights.
 * - Combinators over the `RecurrentCell` interface: `recurrent` (time loop), `bidirectional`, `stacked`,
 *   and the `CellStack` module.
 * - Sequence layers with `torch.nn.LSTM/GRU/RNN` semantics: `LSTM`, `GRU`, `RNN`.
 * - Variants: `PeepholeLSTMCell`, `CoupledLSTMCell`, `LayerNormLSTMCell`, `ProjectedLSTMCell`.
 * - Gate introspection: the `observe` option and `GateRecorder`.
 *
 * Nothing here is a kernel: every cell is its equations in autograd primitives, and the engine fuses each
 * step's elementwise ops into one kernel, so a user's cell runs the way the built-in ones do.
 */
export {
  type GateSink,
  type Gates,
  mapState,
  type RecurrentCell,
  type RecurrentState,
  type StepInfo,
  type StepObserver,
  selectState,
  stateTensors,
  zipStates,
} from './cell.ts';
export {
  type CellOptions,
  GRUCell,
  LSTMCell,
  RNNCell,
  type RNNCellOptions,
  type StepOptions,
} from './cells.ts';
export {
  type CellWeights,
  gruCell,
  gruInput,
  gruStep,
  type LSTMState,
  type LSTMWeights,
  lstmCell,
  lstmInput,
  lstmStep,
  type Nonlinearity,
  rnnCell,
  rnnInput,
  rnnStep,
  uniformParameter,
} from './functional.ts';
export { GateRecorder, type RecordedStep } from './gates.ts';
export {
  type CellSpec,
  CellStack,
  type CellStackOptions,
  GRU,
  LSTM,
  type LSTMOptions,
  type RecurrentLayerOptions,
  RNN,
  type RNNOptions,
  type SequenceOptions,
} from './layers.ts';
export {
  bidirectional,
  type LengthPlan,
  type Lengths,
  planLengths,
  type RecurrentOptions,
  recurrent,
  type StackedOptions,
  stacked,
} from './recurrent.ts';
export {
  CoupledLSTMCell,
  LayerNormLSTMCell,
  LSTMVariantCell,
  PeepholeLSTMCell,
  ProjectedLSTMCell,
} from './variants.ts';
