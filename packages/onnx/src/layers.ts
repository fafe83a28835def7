/**
 * How each supported module becomes ONNX nodes. An exporter receives the values of the call's arguments and
 * returns values shaped like the module's result (a tensor, or nested arrays of them, e.g. an LSTM's
 * [output, [hN, cN]]), so the tracer can pair each result tensor with its graph value.
 */
import { GRU, LSTM, RNN } from '@tensorloom/lstm';
import {
  Dropout,
  Embedding,
  GELU,
  Identity,
  LayerNorm,
  Linear,
  type Module,
  type Parameter,
  ReLU,
  Sigmoid,
  Tanh,
} from '@tensorloom/nn';
import type { Dim, GraphBuilder, Value } from './graph.ts';
import { LogSoftmax, Softmax } from './modules.ts';
import { projectedLSTM } from './projected.ts';
import type { ElemType } from './proto.ts';

/** Graph values shaped like a module's result. */
export type ValueTree = Value | readonly ValueTree[];

/** What an exporter may use while turning one module call into nodes. */
export interface CallContext {
  g: GraphBuilder;
  /** Prefix of the call's node, value and initializer names: the module's path, e.g. `encoder.lstm`. */
  scope: string;
  /** Element type of embedding ids read from graph inputs. */
  indexType: 'int64' | 'int32';
  /** The graph value of argument `arg` (described as `what` in errors). */
  value(arg: unknown, what: string): Value;
  /** Like `value`, with null for a null or absent argument. */
  optional(arg: unknown, what: string): Value | null;
  /**
   * Declares that `v` must have element type `type`: types a graph input no layer has typed yet, and fails
   * naming the module and `what` when `v` already has another type.
   */
  require(v: Value, types: readonly ElemType[], what: string): void;
}

type Exporter<M extends Module> = (ctx: CallContext, module: M, args: readonly unknown[]) => ValueTree;

/** A parameter's values as an initializer keyed by the module path, e.g. `head.weight`. */
function parameter(ctx: CallContext, name: string, p: Parameter): Value {
  return ctx.g.constant(`${ctx.scope}.${name}`, 'float', p.shape, p.data);
}

function scalar(ctx: CallContext, value: number): Value {
  return ctx.g.constant(`const_${value}`, 'float', [], [value]);
}

/** A float input of the layer: its feature dims (the trailing `fixed` ones) become fixed. */
function floatInput(ctx: CallContext, arg: unknown, what: string, fixed = 0): Value {
  const v = ctx.value(arg, what);
  ctx.require(v, ['float'], what);
  for (let k = v.dims.length - fixed; k < v.dims.length; k++) v.dims[k]!.fix();
  return v;
}

const unary =
  (opType: string): Exporter<Module> =>
  (ctx, _m, [x]) =>
    ctx.g.op(opType, ctx.scope, [floatInput(ctx, x, 'input')]);

/** y = x·Wᵀ + b for x [..., in]: MatMul broadcasts over the leading dims, which Gemm (2-d only) would not. */
const linear: Exporter<Linear> = (ctx, m, [x]) => {
  const { g, scope } = ctx;
  const input = floatInput(ctx, x, 'input', 1);
  const weight = parameter(ctx, 'weight', m.weight);
  const wT = g.op('Transpose', scope, [weight], { perm: [1, 0] }, [...weight.dims].reverse());
  const dims = [...input.dims.slice(0, -1), g.fixedDim(m.outFeatures)];
  const y = g.op('MatMul', scope, [input, wT], {}, dims);
  return m.bias ? g.op('Add', scope, [y, parameter(ctx, 'bias', m.bias)]) : y;
};

/** Gather rows of the table: ids of any shape → ids.shape + [dim]. */
const embedding: Exporter<Embedding> = (ctx, m, [ids]) => {
  const { g, scope } = ctx;
  const index = ctx.value(ids, 'ids');
  if (index.type === null) index.type = ctx.indexType;
  ctx.require(index, ['int64', 'int32'], 'ids');
  const dims = [...index.dims, g.fixedDim(m.embeddingDim)];
  return g.op('Gather', scope, [parameter(ctx, 'weight', m.weight), index], { axis: 0 }, dims);
};

/** LayerNormalization over the trailing normalizedShape; ONNX requires a scale, so no affine means ones. */
const layerNorm: Exporter<LayerNorm> = (ctx, m, [x]) => {
  const k = m.normalizedShape.length;
  const input = floatInput(ctx, x, 'input', k);
  const size = m.normalizedShape.reduce((a, b) => a * b, 1);
  const scale = m.weight
    ? parameter(ctx, 'weight', m.weight)
    : ctx.g.constant(`${ctx.scope}.ones`, 'float', m.normalizedShape, new Float32Array(size).fill(1));
  const bias = m.bias ? parameter(ctx, 'bias', m.bias) : null;
  return ctx.g.op('LayerNormalization', ctx.scope, [input, scale, bias], {
    axis: -k,
    epsilon: { float: m.eps },
  });
};

/** GELU from its definition: ½x(1 + erf(x/√2)), or ½x(1 + tanh(√(2/π)(x + 0.044715x³))). */
const gelu: Exporter<GELU> = (ctx, m, [x]) => {
  const { g, scope } = ctx;
  const input = floatInput(ctx, x, 'input');
  let inner: Value;
  if (m.approximate === 'tanh') {
    const cube = g.op('Mul', scope, [g.op('Mul', scope, [input, input]), input]);
    const sum = g.op('Add', scope, [input, g.op('Mul', scope, [cube, scalar(ctx, 0.044715)])]);
    inner = g.op('Tanh', scope, [g.op('Mul', scope, [sum, scalar(ctx, Math.sqrt(2 / Math.PI))])]);
  } else {
    inner = g.op('Erf', scope, [g.op('Mul', scope, [input, scalar(ctx, Math.SQRT1_2)])]);
  }
  const half = g.op('Mul', scope, [input, scalar(ctx, 0.5)]);
  return g.op('Mul', scope, [half, g.op('Add', scope, [inner, scalar(ctx, 1)])]);
};

const softmaxLike =
  (opType: 'Softmax' | 'LogSoftmax'): Exporter<Softmax | LogSoftmax> =>
  (ctx, m, [x]) =>
    ctx.g.op(opType, ctx.scope, [floatInput(ctx, x, 'input')], { axis: m.dim });

/**
 * Gate blocks of PyTorch's stacked weights in ONNX's order. LSTM: PyTorch i,f,g,o → ONNX i,o,f,c
 * (c is PyTorch's g); GRU: PyTorch r,z,n → ONNX z,r,h.
 */
const GATE_ORDER = { LSTM: [0, 3, 1, 2], GRU: [1, 0, 2], RNN: [0] } as const;

type RecurrentKind = keyof typeof GATE_ORDER;
type RecurrentModule = LSTM | GRU | RNN;

/** The PyTorch-named parameter of a layer and direction, e.g. `weight_ih_l1_reverse`. */
function flat(m: RecurrentModule, role: string, layer: number, direction: number): Parameter | undefined {
  return m[`${role}_l${layer}${direction === 1 ? '_reverse' : ''}` as `weight_${string}`];
}

/**
 * ONNX's per-layer weights from PyTorch's: W [D, G·H, in], R [D, G·H, H] and B [D, 2·G·H] (input biases,
 * then recurrent biases), every gate block moved to ONNX's order.
 */
function packWeights(kind: RecurrentKind, m: RecurrentModule, layer: number) {
  const order = GATE_ORDER[kind];
  const H = m.hiddenSize;
  const D = m.numDirections;
  const G = order.length;
  /** Concatenates, per direction, the gate blocks of `role` in ONNX order; `width` values per gate row. */
  const pack = (roles: string[], width: number): Float32Array => {
    const out = new Float32Array(D * roles.length * G * H * width);
    let offset = 0;
    for (let d = 0; d < D; d++) {
      for (const role of roles) {
        const data = flat(m, role, layer, d)!.data;
        for (const gate of order) {
          out.set(data.subarray(gate * H * width, (gate + 1) * H * width), offset);
          offset += H * width;
        }
      }
    }
    return out;
  };
  const inputs = flat(m, 'weight_ih', layer, 0)!.shape[1]!;
  return {
    W: { dims: [D, G * H, inputs], data: pack(['weight_ih'], inputs) },
    R: { dims: [D, G * H, H], data: pack(['weight_hh'], H) },
    B: m.bias ? { dims: [D, 2 * G * H], data: pack(['bias_ih', 'bias_hh'], 1) } : null,
  };
}

/**
 * A stacked LSTM, GRU or RNN. `lengths` become `sequence_lens` (int32 [B]) with PyTorch's packed-sequence
 * meaning: steps past a sequence's length give zeros, and its final state is the one at its last step.
 * batchFirst is a transpose on either side, since ONNX Runtime's CPU kernels take the time-major layout only.
 * An LSTM with projSize has no ONNX operator and is decomposed into Scan loops (see `projected.ts`).
 */
function recurrent(kind: RecurrentKind): Exporter<RecurrentModule> {
  return (ctx, m, args) => {
    const { g, scope } = ctx;
    const H = m.hiddenSize;
    const P = m instanceof LSTM && m.projSize > 0 ? m.projSize : H;
    const [x, state, options] = args as [unknown, unknown, { lengths?: unknown } | undefined];
    let input = floatInput(ctx, x, 'input', 1);
    const [t, b, f] = input.dims as [Dim, Dim, Dim];
    const [T, B] = m.batchFirst ? [b, t] : [t, b];
    T.name('sequence');
    B.name('batch');
    if (m.batchFirst) input = g.op('Transpose', scope, [input], { perm: [1, 0, 2] }, [T, B, f]);

    /** A given initial state [L·D, B, n]: its batch is the input's, the rest fixed. */
    const initial = (arg: unknown, what: string): Value | null => {
      const v = ctx.optional(arg, what);
      if (!v) return null;
      ctx.require(v, ['float'], what);
      v.dims[0]!.fix();
      v.dims[2]!.fix();
      v.dims[1]!.unite(B);
      return v;
    };
    const [h0, c0] = m instanceof LSTM ? ((state ?? [null, null]) as [unknown, unknown]) : [state, null];
    const states = { h0: initial(h0, 'h0'), c0: initial(c0, 'c0') };

    let lens: Value | null = null;
    if (options?.lengths !== undefined && options.lengths !== null) {
      lens = ctx.value(options.lengths, 'lengths');
      if (lens.type === null) lens.type = 'int32';
      ctx.require(lens, ['int32'], 'lengths (ONNX sequence_lens is int32)');
      lens.dims[0]!.unite(B);
    }

    const layers =
      m instanceof LSTM && m.projSize > 0
        ? projectedLSTM(g, scope, m, input, states, lens)
        : operatorLayers(kind, ctx, m, input, states, lens);
    const [output, hN, cN] = layers as [Value, Value, Value?];
    const outputBatchFirst = m.batchFirst
      ? g.op('Transpose', scope, [output], { perm: [1, 0, 2] }, [B, T, g.fixedDim(m.numDirections * P)])
      : output;
    return cN ? [outputBatchFirst, [hN, cN]] : [outputBatchFirst, hN];
  };
}

/**
 * One ONNX LSTM/GRU/RNN operator per layer. Each layer's Y [T, D, B, H] becomes the next layer's input
 * [T, B, D·H] (Transpose, then Reshape with 0 = "keep this dim", so T and B stay dynamic); h0/c0 [L·D, B, H]
 * are split per layer and the layers' Y_h/Y_c concatenated back.
 * Returns the time-major output and the final states (hN, and cN for an LSTM).
 */
function operatorLayers(
  kind: RecurrentKind,
  ctx: CallContext,
  m: RecurrentModule,
  x: Value,
  states: { h0: Value | null; c0: Value | null },
  lens: Value | null,
): Value[] {
  const { g, scope } = ctx;
  const H = m.hiddenSize;
  const D = m.numDirections;
  const L = m.numLayers;
  const [T, B] = x.dims as [Dim, Dim];
  const perLayer = (v: Value | null, what: string): (Value | null)[] => {
    if (!v || L === 1) return Array.from({ length: L }, () => v);
    const sizes = g.ints(
      `${scope}.state_split`,
      Array.from({ length: L }, () => D),
    );
    const outputs = Array.from({ length: L }, (_, l) => ({
      name: `${what}_l${l}`,
      dims: [g.fixedDim(D), B, g.fixedDim(H)],
    }));
    return g.node('Split', scope, [v, sizes], outputs, { axis: 0 });
  };
  const hs = perLayer(states.h0, 'h0');
  const cs = perLayer(states.c0, 'c0');

  const attributes: Record<string, number | string | string[]> = {
    hidden_size: H,
    direction: D === 2 ? 'bidirectional' : 'forward',
  };
  // PyTorch's GRU applies the reset gate after the recurrent product: r ⊙ (h·W_hnᵀ + b_hn).
  if (m instanceof GRU) attributes.linear_before_reset = 1;
  if (m instanceof RNN) {
    const act = m.nonlinearity === 'relu' ? 'Relu' : 'Tanh';
    attributes.activations = Array.from({ length: D }, () => act);
  }

  let input = x;
  const finalH: Value[] = [];
  const finalC: Value[] = [];
  for (let l = 0; l < L; l++) {
    const w = packWeights(kind, m, l);
    const W = g.constant(`${scope}.W_l${l}`, 'float', w.W.dims, w.W.data);
    const R = g.constant(`${scope}.R_l${l}`, 'float', w.R.dims, w.R.data);
    const Bias = w.B ? g.constant(`${scope}.B_l${l}`, 'float', w.B.dims, w.B.data) : null;
    const stateDims = () => [g.fixedDim(D), B, g.fixedDim(H)];
    const outputs = [
      { name: `Y_l${l}`, dims: [T, g.fixedDim(D), B, g.fixedDim(H)] },
      { name: `Y_h_l${l}`, dims: stateDims() },
      ...(kind === 'LSTM' ? [{ name: `Y_c_l${l}`, dims: stateDims() }] : []),
    ];
    const inputs = [input, W, R, Bias, lens, hs[l]!, ...(kind === 'LSTM' ? [cs[l]!] : [])];
    const [Y, Yh, Yc] = g.node(kind, scope, inputs, outputs, attributes) as [Value, Value, Value?];
    finalH.push(Yh);
    if (Yc) finalC.push(Yc);
    // [T, D, B, H] → [T, B, D, H] → [T, B, D·H]
    const moved = g.op('Transpose', scope, [Y], { perm: [0, 2, 1, 3] }, [T, B, g.fixedDim(D), g.fixedDim(H)]);
    input = g.op('Reshape', scope, [moved, g.ints('shape_keep2_merge', [0, 0, -1])], {}, [
      T,
      B,
      g.fixedDim(D * H),
    ]);
  }
  const joined = (parts: Value[]): Value =>
    parts.length === 1
      ? parts[0]!
      : g.op('Concat', scope, parts, { axis: 0 }, [g.fixedDim(L * D), B, g.fixedDim(H)]);
  return kind === 'LSTM' ? [input, joined(finalH), joined(finalC)] : [input, joined(finalH)];
}

/**
 * The exporters by module class. Matched on the exact class: a subclass may change `forward`, and the
 * exporter would then describe a different function.
 */
export const EXPORTERS = new Map<abstract new (...args: never[]) => Module, Exporter<never>>([
  [Linear, linear],
  [Embedding, embedding],
  [LayerNorm, layerNorm],
  // Dropout exports as in evaluation mode (the exporter switches the model to eval while tracing).
  [Dropout, unary('Identity')],
  [Identity, unary('Identity')],
  [Tanh, unary('Tanh')],
  [Sigmoid, unary('Sigmoid')],
  [ReLU, unary('Relu')],
  [GELU, gelu],
  [Softmax, softmaxLike('Softmax')],
  [LogSoftmax, softmaxLike('LogSoftmax')],
  [LSTM, recurrent('LSTM')],
  [GRU, recurrent('GRU')],
  [RNN, recurrent('RNN')],
] as [abstract new (...args: never[]) => Module, Exporter<never>][]);
