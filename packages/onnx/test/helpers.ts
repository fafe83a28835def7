/** Running exported models in ONNX Runtime, and the table of recurrent-layer options the tests export. */
import { manualSeed, randn, type Tensor } from '@tensorloom/autograd';
import { GRU, LSTM, RNN } from '@tensorloom/lstm';
import * as ort from 'onnxruntime-node';

/** A feed: a float tensor, or integer ids / lengths with their ONNX element type. */
export type Feed =
  | Tensor
  | { int64: readonly number[]; dims: number[] }
  | { int32: readonly number[]; dims?: number[] };

function toOrt(feed: Feed): ort.Tensor {
  if ('int64' in feed) return new ort.Tensor('int64', BigInt64Array.from(feed.int64, BigInt), feed.dims);
  if ('int32' in feed)
    return new ort.Tensor('int32', Int32Array.from(feed.int32), feed.dims ?? [feed.int32.length]);
  if (feed.dtype === 'int32') return new ort.Tensor('int32', Int32Array.from(feed.data), [...feed.shape]);
  return new ort.Tensor('float32', Float32Array.from(feed.data), [...feed.shape]);
}

/**
 * Loads the model in ONNX Runtime (which parses it and runs its checker and type/shape inference) and runs
 * it. With graph optimisations off, ORT runs the nodes as exported.
 */
export async function runOrt(
  bytes: Uint8Array,
  feeds: Record<string, Feed>,
  optimize = false,
): Promise<Record<string, { dims: readonly number[]; data: Float32Array }>> {
  const session = await ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: optimize ? 'all' : 'disabled',
  });
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) inputs[k] = toOrt(v);
    const out = await session.run(inputs);
    const result: Record<string, { dims: readonly number[]; data: Float32Array }> = {};
    for (const [k, v] of Object.entries(out)) result[k] = { dims: v.dims, data: v.data as Float32Array };
    return result;
  } finally {
    await session.release();
  }
}

/** Max |a − b| after checking the shapes agree. */
export function maxError(
  expected: Tensor,
  actual: { dims: readonly number[]; data: ArrayLike<number> },
): number {
  if (expected.shape.join(',') !== actual.dims.join(','))
    throw new Error(`shape mismatch: expected [${expected.shape}], got [${actual.dims}]`);
  let e = 0;
  for (let i = 0; i < expected.data.length; i++)
    e = Math.max(e, Math.abs(expected.data[i]! - actual.data[i]!));
  return e;
}

export type Kind = 'LSTM' | 'GRU' | 'RNN-tanh' | 'RNN-relu';

/** One exported layer: its options and the inputs given with it. */
export interface RecurrentCase {
  kind: Kind;
  numLayers: number;
  bidirectional: boolean;
  batchFirst: boolean;
  bias: boolean;
  /** Give h0 (and c0) instead of the zero default. */
  initialState: boolean;
  /** Give per-sequence lengths (packed-sequence semantics, ONNX sequence_lens). */
  lengths: boolean;
  inputSize: number;
  hiddenSize: number;
  /** LSTM only: project h to this many features (0: none); exported as Scan loops. */
  projSize: number;
}

export function caseName(c: RecurrentCase): string {
  const parts = [
    `${c.numLayers} layer${c.numLayers > 1 ? 's' : ''}`,
    c.bidirectional && 'bidirectional',
    c.batchFirst && 'batchFirst',
    !c.bias && 'bias false',
    c.initialState && (c.kind === 'LSTM' ? 'h0, c0' : 'h0'),
    c.lengths && 'lengths',
    c.projSize > 0 && `projSize ${c.projSize}`,
  ].filter(Boolean);
  return `${c.kind} ${parts.join(', ')}`;
}

const BASE = {
  numLayers: 1,
  bidirectional: false,
  batchFirst: false,
  bias: true,
  initialState: false,
  lengths: false,
  projSize: 0,
};
const VARIANTS: Partial<Omit<RecurrentCase, 'kind' | 'projSize'>>[] = [
  {},
  { numLayers: 2 },
  { bidirectional: true },
  { numLayers: 2, bidirectional: true },
  { batchFirst: true },
  { bias: false },
  { initialState: true },
  { lengths: true },
  { lengths: true, bidirectional: true },
  { numLayers: 2, bidirectional: true, batchFirst: true, initialState: true, lengths: true, bias: false },
];

/** Every kind × every option the issue names, alone and all together; and the LSTM's projection. */
export const CASES: RecurrentCase[] = [
  ...(['LSTM', 'GRU', 'RNN-tanh', 'RNN-relu'] as const).flatMap((kind) =>
    VARIANTS.map((v) => ({ kind, ...BASE, inputSize: 5, hiddenSize: 6, ...v })),
  ),
  ...[{}, { bias: false }, ...VARIANTS.slice(1, 4), VARIANTS.at(-1)!].map(
    (v): RecurrentCase => ({ kind: 'LSTM', ...BASE, inputSize: 5, hiddenSize: 6, ...v, projSize: 4 }),
  ),
  { kind: 'LSTM', ...BASE, inputSize: 5, hiddenSize: 6, projSize: 4, lengths: true, bidirectional: true },
  { kind: 'LSTM', ...BASE, inputSize: 5, hiddenSize: 6, projSize: 4, initialState: true },
];

export function makeLayer(c: RecurrentCase): LSTM | GRU | RNN {
  const options = {
    inputSize: c.inputSize,
    hiddenSize: c.hiddenSize,
    numLayers: c.numLayers,
    bidirectional: c.bidirectional,
    batchFirst: c.batchFirst,
    bias: c.bias,
  };
  if (c.kind === 'LSTM') return new LSTM({ ...options, projSize: c.projSize });
  if (c.kind === 'GRU') return new GRU(options);
  return new RNN({ ...options, nonlinearity: c.kind === 'RNN-relu' ? 'relu' : 'tanh' });
}

/** Inputs of a case for T steps and B sequences: x, the initial states and lengths as the case asks. */
export function makeInputs(c: RecurrentCase, T: number, B: number, seed: number) {
  manualSeed(seed);
  const x = randn(c.batchFirst ? [B, T, c.inputSize] : [T, B, c.inputSize]);
  const states = c.numLayers * (c.bidirectional ? 2 : 1);
  const h0 = c.initialState ? randn([states, B, c.projSize || c.hiddenSize]) : null;
  const c0 = c.initialState && c.kind === 'LSTM' ? randn([states, B, c.hiddenSize]) : null;
  // Unsorted lengths from T down to 1, so both ends of the range and an unsorted batch are exercised.
  const lengths = c.lengths ? Array.from({ length: B }, (_, b) => Math.max(1, T - ((b * 3) % T))) : null;
  return { x, h0, c0, lengths };
}

export type CaseInputs = ReturnType<typeof makeInputs>;

/** The layer's forward arguments for those inputs. */
export function forwardArgs(c: RecurrentCase, i: CaseInputs): unknown[] {
  const state = c.kind === 'LSTM' ? (i.h0 ? [i.h0, i.c0] : null) : i.h0;
  return i.lengths ? [i.x, state, { lengths: i.lengths }] : state ? [i.x, state] : [i.x];
}

/** Graph input names in the order exportOnnx finds them: x, h0, c0, lengths (those given). */
export function inputNames(i: CaseInputs): string[] {
  return ['x', i.h0 && 'h0', i.c0 && 'c0', i.lengths && 'lengths'].filter((n): n is string => !!n);
}

export function feeds(i: CaseInputs): Record<string, Feed> {
  const f: Record<string, Feed> = { x: i.x };
  if (i.h0) f.h0 = i.h0;
  if (i.c0) f.c0 = i.c0;
  if (i.lengths) f.lengths = { int32: i.lengths };
  return f;
}

/** TensorLoom's outputs in the exported order: output, hN (, cN). */
export function tensorloomOutputs(layer: LSTM | GRU | RNN, c: RecurrentCase, i: CaseInputs): Tensor[] {
  const args = forwardArgs(c, i);
  const result = (layer.forward as (...a: unknown[]) => [Tensor, Tensor | [Tensor, Tensor]])(...args);
  return [result[0], ...(Array.isArray(result[1]) ? result[1] : [result[1]])];
}

export const OUTPUT_NAMES = ['output', 'h_n', 'c_n'];

/** The declared inputs and outputs of a model as ONNX Runtime reads them: name, type and shape. */
export async function signature(bytes: Uint8Array) {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const describe = (m: readonly ort.InferenceSession.ValueMetadata[]) =>
      m.map((v) => (v.isTensor ? { name: v.name, type: v.type, shape: [...v.shape] } : { name: v.name }));
    return { inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) };
  } finally {
    await session.release();
  }
}
