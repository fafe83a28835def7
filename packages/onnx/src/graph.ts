/**
 * The graph being exported: values with symbolic shapes, nodes, initializers, and the naming that keeps every
 * value and node name unique. Shapes matter only for the declared graph inputs and outputs, where a dimension
 * is either fixed (a feature size some layer depends on) or dynamic (batch, sequence, any other leading dim).
 */
import type {
  AttributeValue,
  DimValue,
  ElemType,
  GraphValue,
  NodeValue,
  TensorValue,
  ValueInfo,
} from './proto.ts';

/**
 * A dimension of a traced value. Dims that must be equal (an LSTM's input batch and its h0's batch) are
 * united, union-find style; a dim becomes fixed when a layer's weights depend on its size.
 */
export class Dim {
  private parent: Dim | null = null;
  fixed: boolean;
  /** A readable symbol for a dynamic dim ('batch', 'sequence'), set by the first layer that knows its role. */
  label: string | null = null;

  constructor(
    readonly size: number,
    fixed: boolean,
  ) {
    this.fixed = fixed;
  }

  root(): Dim {
    let d: Dim = this;
    while (d.parent) d = d.parent;
    return d;
  }

  /** Marks the dim as one whose size the graph depends on. */
  fix(): void {
    this.root().fixed = true;
  }

  /** Names the dim's role unless it already has one. */
  name(label: string): void {
    const r = this.root();
    r.label ??= label;
  }

  /** Records that two dims are always equal. */
  unite(other: Dim): void {
    const a = this.root();
    const b = other.root();
    if (a === b) return;
    b.parent = a;
    a.fixed ||= b.fixed;
    a.label ??= b.label;
  }
}

/** A value of the graph: its name, element type (null for a graph input no layer has typed yet) and dims. */
export interface Value {
  name: string;
  type: ElemType | null;
  dims: Dim[];
}

/** Attribute shorthands: numbers are ints (use `{ float }` for floats), arrays of numbers are ints. */
export type Attr =
  | number
  | string
  | readonly number[]
  | readonly string[]
  | { float: number }
  | { graph: GraphValue };

function attribute(a: Attr): AttributeValue {
  if (typeof a === 'number') return { kind: 'int', value: a };
  if (typeof a === 'string') return { kind: 'string', value: a };
  if (Array.isArray(a)) {
    return a.every((v) => typeof v === 'number')
      ? { kind: 'ints', value: a as number[] }
      : { kind: 'strings', value: a as string[] };
  }
  const scalar = a as { float: number } | { graph: GraphValue };
  return 'graph' in scalar ? { kind: 'graph', value: scalar.graph } : { kind: 'float', value: scalar.float };
}

export class GraphBuilder {
  readonly nodes: NodeValue[] = [];
  readonly initializers: TensorValue[] = [];
  readonly inputs: Value[] = [];
  private readonly constants = new Map<string, Value>();

  /** Names are shared with subgraphs: ONNX forbids a loop body to reuse a name of its enclosing graph. */
  constructor(private readonly names = new Set<string>()) {}

  /** A builder for a loop body: its own nodes and inputs, names unique across the whole model. */
  subgraph(): GraphBuilder {
    return new GraphBuilder(this.names);
  }

  /** `base`, or `base_1`, `base_2`, … if taken. */
  unique(base: string): string {
    let name = base;
    for (let k = 1; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  fixedDim(size: number): Dim {
    return new Dim(size, true);
  }

  /** A graph input with dynamic dims of the example's sizes; its type is set by the first layer reading it. */
  input(name: string, shape: readonly number[], type: ElemType | null): Value {
    const v: Value = { name: this.unique(name), type, dims: shape.map((n) => new Dim(n, false)) };
    this.inputs.push(v);
    return v;
  }

  /**
   * A constant (initializer). `key` identifies what it holds (e.g. a module path and role), so a module
   * called twice shares its weights instead of storing them again.
   */
  constant(key: string, type: ElemType, dims: readonly number[], values: ArrayLike<number>): Value {
    const known = this.constants.get(key);
    if (known) return known;
    const name = this.unique(key);
    this.initializers.push({ name, type, dims, values });
    const v: Value = { name, type, dims: dims.map((n) => this.fixedDim(n)) };
    this.constants.set(key, v);
    return v;
  }

  /** An int64 vector constant (shapes, split sizes, axes). */
  ints(key: string, values: readonly number[]): Value {
    return this.constant(key, 'int64', [values.length], values);
  }

  /**
   * Adds a node. `outputs` gives each output's base name and dims; `type` the output element type (the
   * float type of the model unless said otherwise). Null inputs are omitted optional inputs.
   */
  node(
    opType: string,
    scope: string,
    inputs: readonly (Value | null)[],
    outputs: readonly { name: string; dims: Dim[]; type?: ElemType }[],
    attributes: Readonly<Record<string, Attr>> = {},
  ): Value[] {
    // Trailing omitted inputs are dropped; inner ones stay as '' (ONNX's way to skip an optional input).
    let n = inputs.length;
    while (n > 0 && inputs[n - 1] === null) n--;
    const outs = outputs.map(
      (o): Value => ({ name: this.unique(`${scope}/${o.name}`), type: o.type ?? 'float', dims: o.dims }),
    );
    const attrs: Record<string, AttributeValue> = {};
    for (const [k, a] of Object.entries(attributes)) attrs[k] = attribute(a);
    this.nodes.push({
      name: this.unique(`${scope}/${opType}`),
      opType,
      inputs: inputs.slice(0, n).map((v) => v?.name ?? ''),
      outputs: outs.map((v) => v.name),
      attributes: attrs,
    });
    return outs;
  }

  /** A node with one output; dims default to the first input's (elementwise ops). */
  op(
    opType: string,
    scope: string,
    inputs: readonly (Value | null)[],
    attributes: Readonly<Record<string, Attr>> = {},
    dims?: Dim[],
  ): Value {
    const first = inputs[0]!;
    return this.node(opType, scope, inputs, [{ name: opType, dims: dims ?? first.dims }], attributes)[0]!;
  }
}

/**
 * ValueInfos for the graph's inputs or outputs: fixed dims as sizes, dynamic ones as symbols. A symbol is
 * the dim's role label ('batch'), else `<value>_dim<k>` after the first value it appears in; two unrelated
 * dims never share a symbol.
 */
export function describe(values: readonly Value[], symbols: Map<Dim, string>): ValueInfo[] {
  const taken = new Set(symbols.values());
  const symbol = (d: Dim, fallback: string): DimValue => {
    const r = d.root();
    if (r.fixed) return r.size;
    let s = symbols.get(r);
    if (s === undefined) {
      const base = r.label ?? fallback;
      s = base;
      for (let k = 2; taken.has(s); k++) s = `${base}_${k}`;
      symbols.set(r, s);
      taken.add(s);
    }
    return s;
  };
  return values.map((v) => ({
    name: v.name,
    type: v.type ?? 'float',
    shape: v.dims.map((d, k) => symbol(d, `${v.name}_dim${k}`)),
  }));
}
