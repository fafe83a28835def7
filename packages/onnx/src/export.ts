/**
 * `exportOnnx`: runs the model once on example inputs and records every call of a module it knows (Linear,
 * LSTM, ...); the data flow between those calls is read from tensor identity: the tensor a call returned is
 * the very object the next call received. Container modules (`Sequential`, a user's module whose forward
 * only calls its submodules) are traced through. Anything the tracer cannot see (a tensor op between module
 * calls, a module with its own parameters used by its own forward, a custom cell) makes the export fail with
 * an error naming it, rather than write a model that computes something else.
 */
import { noGrad, Tensor } from '@tensorloom/autograd';
import {
  CellStack,
  CoupledLSTMCell,
  GRUCell,
  LayerNormLSTMCell,
  LSTMCell,
  PeepholeLSTMCell,
  ProjectedLSTMCell,
  RNNCell,
} from '@tensorloom/lstm';
import { Module } from '@tensorloom/nn';
import { type Dim, describe, GraphBuilder, type Value } from './graph.ts';
import { type CallContext, EXPORTERS, type ValueTree } from './layers.ts';
import { type ElemType, encodeModel } from './proto.ts';

/** Options of `exportOnnx`. */
export interface ExportOptions {
  /**
   * Names of the graph inputs, one per tensor or integer array found in `exampleInputs` (depth first, in
   * order). Default: `input` for one, else `input_0`, `input_1`, ...
   */
  inputNames?: readonly string[];
  /** Names of the graph outputs, one per tensor of the result (depth first). Default: `output` or `output_0`, ... */
  outputNames?: readonly string[];
  /** ONNX operator set, 17 to 21. Default 17 (the first with LayerNormalization). */
  opsetVersion?: number;
  /** Element type of embedding ids that are graph inputs. Default 'int64' (PyTorch's). */
  indexType?: 'int64' | 'int32';
  /** Written into the model's doc_string. */
  docString?: string;
}

/** IR version of each opset (the oldest IR that carries it), from ONNX's versioning table. */
const IR_VERSION: Record<number, number> = { 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };

const SUPPORTED = [...EXPORTERS.keys()].map((c) => c.name).join(', ');

/** Modules that are known not to export, with why. */
const UNSUPPORTED: [abstract new (...args: never[]) => Module, string][] = [
  [
    CellStack,
    'a CellStack runs custom cells, which have no ONNX operator (only the built-in LSTM, GRU and RNN layers export)',
  ],
  [
    PeepholeLSTMCell,
    'LSTM variant cells have no ONNX operator equivalent with PyTorch semantics (only the LSTM, GRU and RNN layers export)',
  ],
  [CoupledLSTMCell, 'LSTM variant cells have no ONNX operator (only the LSTM, GRU and RNN layers export)'],
  [LayerNormLSTMCell, 'LSTM variant cells have no ONNX operator (only the LSTM, GRU and RNN layers export)'],
  [ProjectedLSTMCell, 'LSTM variant cells have no ONNX operator (only the LSTM, GRU and RNN layers export)'],
  [LSTMCell, 'single-step cells are not exported; run the sequence through an LSTM layer instead'],
  [GRUCell, 'single-step cells are not exported; run the sequence through a GRU layer instead'],
  [RNNCell, 'single-step cells are not exported; run the sequence through an RNN layer instead'],
];

/** Why a module cannot be a leaf or a traced-through container, or null if it can be one of them. */
function unsupportedReason(m: Module): string | null {
  for (const [cls, reason] of UNSUPPORTED) if (m instanceof cls) return reason;
  for (const cls of EXPORTERS.keys()) {
    if (m instanceof cls) {
      return `it is a subclass of ${cls.name}, whose forward may differ from ${cls.name}'s, so it is not exported as one`;
    }
  }
  if (m.parameters(false).length > 0 || [...m.namedBuffers()].some(([k]) => !k.includes('.'))) {
    return 'its forward uses its own parameters or buffers through tensor ops, which the exporter does not trace (only calls of supported modules are traced)';
  }
  return null;
}

interface Call {
  module: Module;
  args: unknown[];
  result: unknown;
}

type Forward = (...args: unknown[]) => unknown;

/**
 * Runs `module.forward(...exampleInputs)` in evaluation mode without recording gradients, with every
 * supported module's forward wrapped to record its calls; restores the module (methods, training flags).
 */
function trace(module: Module, exampleInputs: readonly unknown[], paths: Map<Module, string>) {
  const calls: Call[] = [];
  const patched: Module[] = [];
  const training = new Map<Module, boolean>();
  // Calls inside a recorded call (a layer's own submodules) belong to it and are not recorded.
  let depth = 0;
  try {
    for (const m of paths.keys()) {
      training.set(m, m.training);
      const original = (m as unknown as { forward?: Forward }).forward;
      if (typeof original !== 'function') continue;
      const exact = EXPORTERS.has(m.constructor as never);
      const reason = exact ? null : unsupportedReason(m);
      if (!exact && reason === null) continue; // a container: its calls of submodules are what we record
      const path = paths.get(m)!;
      const wrapper = function (this: Module, ...args: unknown[]) {
        if (depth > 0) return original.apply(this, args);
        if (reason !== null) {
          throw new Error(
            `exportOnnx: cannot export ${path || 'the model'} (${m.constructor.name}): ${reason}. Supported modules: ${SUPPORTED}, and containers (Sequential, or a module whose forward only calls those)`,
          );
        }
        depth++;
        let result: unknown;
        try {
          result = original.apply(this, args);
        } finally {
          depth--;
        }
        calls.push({ module: m, args, result });
        return result;
      };
      Object.defineProperty(m, 'forward', { value: wrapper, configurable: true, writable: true });
      patched.push(m);
    }
    module.eval();
    const forward = (module as unknown as { forward?: Forward }).forward;
    if (typeof forward !== 'function')
      throw new Error(`exportOnnx: ${module.constructor.name} has no forward method`);
    const result = noGrad(() => forward.apply(module, [...exampleInputs]));
    return { calls, result };
  } finally {
    for (const m of patched) delete (m as unknown as { forward?: Forward }).forward;
    for (const [m, mode] of training) m.training = mode;
  }
}

/** A graph input found in the example inputs: a tensor, or integer ids / lengths as an array. */
type Leaf = Tensor | Int32Array | readonly number[];

function isIntegerArray(x: unknown): x is Int32Array | readonly number[] {
  return (
    x instanceof Int32Array ||
    (Array.isArray(x) && x.length > 0 && x.every((v) => typeof v === 'number' && Number.isInteger(v)))
  );
}

/** The tensors and integer arrays in `x`, depth first through arrays and plain objects, each once. */
function leaves(x: unknown, out: Leaf[], seen: Set<unknown>): Leaf[] {
  if (x === null || typeof x !== 'object' || seen.has(x)) return out;
  seen.add(x);
  if (x instanceof Tensor || isIntegerArray(x)) out.push(x);
  else if (Array.isArray(x)) for (const item of x) leaves(item, out, seen);
  else if (Object.getPrototypeOf(x) === Object.prototype)
    for (const v of Object.values(x)) leaves(v, out, seen);
  return out;
}

function checkNames(what: string, names: readonly string[] | undefined, count: number): string[] {
  if (names === undefined)
    return count === 1 ? [what] : Array.from({ length: count }, (_, i) => `${what}_${i}`);
  if (names.length !== count || names.some((n) => typeof n !== 'string' || n === '')) {
    throw new Error(
      `exportOnnx: ${what}Names must hold ${count} non-empty names (one per ${what === 'input' ? 'tensor or integer array of exampleInputs' : 'tensor of the result'}), got ${JSON.stringify(names)}`,
    );
  }
  return [...names];
}

/**
 * Exports `module` to ONNX: the bytes of a `.onnx` model computing `module.forward(...exampleInputs)` in
 * evaluation mode, with the parameters as initializers. Graph inputs are the tensors and integer arrays of
 * `exampleInputs` (embedding ids, `lengths`; an int32 tensor is an INT32 input); batch, sequence and other
 * non-feature dims are dynamic.
 *
 * Exports `Linear`, `Embedding`, `LayerNorm`, `Dropout` (identity), `Identity`, `Tanh`, `Sigmoid`, `ReLU`,
 * `GELU`, `Softmax`, `LogSoftmax`, and `LSTM`, `GRU`, `RNN` with every option (an LSTM's `projSize` as Scan
 * loops, since ONNX's LSTM has no projection), combined by
 * `Sequential` or by modules whose forward only calls these. Throws, naming the module, for anything else.
 */
export function exportOnnx(
  module: Module,
  exampleInputs: readonly unknown[],
  options: ExportOptions = {},
): Uint8Array {
  if (!(module instanceof Module)) throw new Error(`exportOnnx: expected a Module, got ${String(module)}`);
  if (!Array.isArray(exampleInputs))
    throw new Error('exportOnnx: exampleInputs must be an array of the arguments of forward');
  const opset = options.opsetVersion ?? 17;
  if (!(opset in IR_VERSION))
    throw new Error(`exportOnnx: opsetVersion must be an integer from 17 to 21, got ${String(opset)}`);
  const indexType = options.indexType ?? 'int64';
  if (indexType !== 'int64' && indexType !== 'int32')
    throw new Error(`exportOnnx: indexType must be 'int64' or 'int32', got ${String(indexType)}`);

  const paths = new Map<Module, string>();
  for (const [path, m] of module.namedModules()) if (!paths.has(m)) paths.set(m, path);
  for (const [name, p] of module.namedParameters()) {
    if (p.dtype !== 'float32')
      throw new Error(`exportOnnx: parameter ${name} is ${p.dtype}; only float32 models export`);
  }

  const g = new GraphBuilder();
  // The arguments themselves are walked, never taken as one integer array.
  const seen = new Set<unknown>();
  const inputLeaves: Leaf[] = [];
  for (const arg of exampleInputs) leaves(arg, inputLeaves, seen);
  const inputNames = checkNames('input', options.inputNames, inputLeaves.length);
  const values = new Map<unknown, Value>();
  /** Graph inputs typed by no layer: float for tensors, the index type for integer arrays. */
  const defaults = new Map<Value, ElemType>();
  inputLeaves.forEach((leaf, i) => {
    if (leaf instanceof Tensor && leaf.dtype === 'float64')
      throw new Error(
        `exportOnnx: input ${inputNames[i]} is float64; only float32 inputs (and int32 ids and lengths) export`,
      );
    const shape = leaf instanceof Tensor ? leaf.shape : [leaf.length];
    // An int32 tensor (ids, lengths) is an INT32 input whatever indexType says: it is its own dtype.
    const v = g.input(
      inputNames[i]!,
      shape,
      leaf instanceof Tensor && leaf.dtype === 'int32' ? 'int32' : null,
    );
    if (v.name !== inputNames[i]) throw new Error(`exportOnnx: input name ${inputNames[i]} is given twice`);
    defaults.set(v, leaf instanceof Tensor ? 'float' : indexType);
    values.set(leaf, v);
  });

  const { calls, result } = trace(module, exampleInputs, paths);

  for (const call of calls) {
    const scope = paths.get(call.module) || call.module.constructor.name;
    const label = `${scope} (${call.module.constructor.name})`;
    const ctx: CallContext = {
      g,
      scope,
      indexType,
      value(arg, what) {
        const v = values.get(arg);
        if (v) return v;
        throw new Error(
          `exportOnnx: the ${what} of ${label} was not produced by an exported module nor given in exampleInputs. The exporter follows module calls only, so a tensor op between modules (in a forward method) cannot be exported: move it into a module the exporter supports, or out of the exported model`,
        );
      },
      optional(arg, what) {
        return arg === null || arg === undefined ? null : ctx.value(arg, what);
      },
      require(v, types, what) {
        if (v.type === null && defaults.has(v)) v.type = types[0]!;
        if (!types.includes(v.type ?? 'float')) {
          throw new Error(`exportOnnx: the ${what} of ${label} must be ${types.join(' or ')}, got ${v.type}`);
        }
      },
    };
    const exporter = EXPORTERS.get(call.module.constructor as never)!;
    pair(exporter(ctx, call.module as never, call.args), call.result, values, label);
  }

  const outputLeaves: Tensor[] = [];
  collectOutputs(result, outputLeaves, 'result');
  const outputNames = checkNames('output', options.outputNames, outputLeaves.length);
  const outputs = outputLeaves.map((t, i) => {
    const v = values.get(t);
    if (!v) {
      throw new Error(
        `exportOnnx: output ${i} of ${module.constructor.name}.forward (shape [${t.shape.join(',')}]) was not produced by an exported module nor given in exampleInputs. The exporter follows module calls only, so a tensor op in a forward method cannot be exported: move it into a supported module, or apply it after running the exported model`,
      );
    }
    const name = g.unique(outputNames[i]!);
    if (name !== outputNames[i])
      throw new Error(
        `exportOnnx: output name ${outputNames[i]} is already used by an input or another output`,
      );
    // Each output gets a node of its own, so an output may repeat another or be a graph input.
    g.nodes.push({
      name: `${name}/Identity`,
      opType: 'Identity',
      inputs: [v.name],
      outputs: [name],
      attributes: {},
    });
    return { ...v, name };
  });
  for (const [v, type] of defaults) v.type ??= type;

  const symbols = new Map<Dim, string>();
  return encodeModel({
    irVersion: IR_VERSION[opset]!,
    opsetVersion: opset,
    producerName: 'tensorloom',
    producerVersion: '0.1.0',
    docString: options.docString ?? '',
    graph: {
      name: module.constructor.name,
      nodes: g.nodes,
      initializers: g.initializers,
      inputs: describe(g.inputs, symbols),
      outputs: describe(outputs, symbols),
    },
  });
}

/** Records the graph value of every tensor of a call's result (both trees have the result's shape). */
function pair(tree: ValueTree, result: unknown, values: Map<unknown, Value>, label: string): void {
  if (!Array.isArray(tree)) {
    if (!(result instanceof Tensor))
      throw new Error(`exportOnnx: ${label} returned ${String(result)}, not a tensor`);
    values.set(result, tree as Value);
    return;
  }
  if (!Array.isArray(result) || result.length !== tree.length)
    throw new Error(`exportOnnx: ${label} returned a result of an unexpected structure`);
  tree.forEach((t, i) => {
    pair(t, result[i], values, label);
  });
}

function collectOutputs(x: unknown, out: Tensor[], where: string): void {
  if (x instanceof Tensor) out.push(x);
  else if (Array.isArray(x))
    x.forEach((item, i) => {
      collectOutputs(item, out, `${where}[${i}]`);
    });
  else
    throw new Error(
      `exportOnnx: ${where} of forward is ${String(x)}; results must be tensors or arrays of them`,
    );
}
