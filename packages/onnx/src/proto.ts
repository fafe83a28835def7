/**
 * A protobuf writer for the part of `onnx.proto` (proto2, field numbers from the ONNX specification) that an
 * exported model uses: ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto.
 *
 * Why not a library (protobufjs, @bufbuild/protobuf): writing is the easy half of protobuf (three wire types
 * here: varint, length-delimited, fixed32), the subset is about twenty fields, and a writer of our own keeps
 * the package free of runtime dependencies and of generated code from a schema compiler, in Node and browsers. Decoding is left to the engines that read the
 * files (the tests load every exported model in ONNX Runtime, which parses and checks it).
 */

/** Growable byte buffer with protobuf's field encodings. */
class Writer {
  private buf = new Uint8Array(256);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  /**
   * A base-128 varint. Negative int64 values are written as their 64-bit two's complement (ten bytes), as
   * protobuf requires for `int64` fields, hence BigInt for them.
   */
  private varint(value: number): void {
    if (!Number.isSafeInteger(value)) throw new Error(`onnx proto: ${value} is not a safe integer`);
    if (value < 0) {
      let v = BigInt.asUintN(64, BigInt(value));
      while (v >= 0x80n) {
        this.byte(Number(v & 0x7fn) | 0x80);
        v >>= 7n;
      }
      this.byte(Number(v));
      return;
    }
    while (value >= 0x80) {
      this.byte((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    this.byte(value);
  }

  /** The tag: field number and wire type (0 varint, 2 length-delimited, 5 fixed32). */
  private tag(field: number, wire: 0 | 2 | 5): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, value: number): this {
    this.tag(field, 0);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    this.reserve(4);
    new DataView(this.buf.buffer).setFloat32(this.len, value, true);
    this.len += 4;
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varint(value.length);
    this.reserve(value.length);
    this.buf.set(value, this.len);
    this.len += value.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** An embedded message, written by `write` into a writer of its own. */
  message(field: number, write: (w: Writer) => void): this {
    const inner = new Writer();
    write(inner);
    return this.bytes(field, inner.finish());
  }

  /** A packed repeated int64 field. */
  packedInts(field: number, values: readonly number[]): this {
    const inner = new Writer();
    for (const v of values) inner.varint(v);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** ONNX element types used here (TensorProto.DataType). */
export type ElemType = 'float' | 'int32' | 'int64' | 'bool';
const DATA_TYPE: Record<ElemType, number> = { float: 1, int32: 6, int64: 7, bool: 9 };

/** A constant tensor (an initializer). */
export interface TensorValue {
  name: string;
  type: ElemType;
  dims: readonly number[];
  /** Row-major values; int64 values must be safe integers. */
  values: ArrayLike<number>;
}

/** A dimension: a fixed size or a symbolic name (dynamic). */
export type DimValue = number | string;

/** A graph input or output: name, element type and shape (null: unknown, as for a loop body's values). */
export interface ValueInfo {
  name: string;
  type: ElemType;
  shape: readonly DimValue[] | null;
}

/** An attribute value; arrays of numbers are INTS (ints only), arrays of strings STRINGS. */
export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'strings'; value: readonly string[] }
  | { kind: 'graph'; value: GraphValue };

export interface NodeValue {
  name: string;
  opType: string;
  /** Input value names; '' marks an omitted optional input. */
  inputs: readonly string[];
  outputs: readonly string[];
  attributes: Readonly<Record<string, AttributeValue>>;
}

/** A graph: the model's, or a loop body (which may read the enclosing graph's values by name). */
export interface GraphValue {
  name: string;
  nodes: readonly NodeValue[];
  initializers: readonly TensorValue[];
  inputs: readonly ValueInfo[];
  outputs: readonly ValueInfo[];
}

export interface ModelValue {
  irVersion: number;
  opsetVersion: number;
  producerName: string;
  producerVersion: string;
  docString: string;
  graph: GraphValue;
}

/** Raw little-endian bytes of a tensor's values, as TensorProto.raw_data stores them. */
function rawData(t: TensorValue): Uint8Array {
  const width = { float: 4, int32: 4, int64: 8, bool: 1 }[t.type];
  const out = new Uint8Array(t.values.length * width);
  const view = new DataView(out.buffer);
  for (let i = 0; i < t.values.length; i++) {
    const v = t.values[i]!;
    if (t.type === 'float') view.setFloat32(i * 4, v, true);
    else if (t.type === 'int32') view.setInt32(i * 4, v, true);
    else if (t.type === 'int64') view.setBigInt64(i * 8, BigInt(v), true);
    else view.setUint8(i, v ? 1 : 0);
  }
  return out;
}

// Field numbers below are those of onnx.proto.
function writeTensor(w: Writer, t: TensorValue): void {
  w.packedInts(1, t.dims).int(2, DATA_TYPE[t.type]).string(8, t.name).bytes(9, rawData(t));
}

function writeValueInfo(w: Writer, v: ValueInfo): void {
  w.string(1, v.name).message(2, (type) =>
    // TypeProto.tensor_type = 1 → { elem_type = 1, shape = 2 → { dim = 1 → { dim_value = 1 | dim_param = 2 } } }
    type.message(1, (tensor) => {
      tensor.int(1, DATA_TYPE[v.type]);
      const dims = v.shape;
      if (dims === null) return;
      tensor.message(2, (shape) => {
        for (const d of dims)
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}

/** AttributeProto.AttributeType values. */
const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, graph: 5, ints: 7, strings: 8 } as const;

function writeAttribute(w: Writer, name: string, a: AttributeValue): void {
  w.string(1, name).int(20, ATTRIBUTE_TYPE[a.kind]);
  switch (a.kind) {
    case 'float':
      w.float(2, a.value);
      break;
    case 'int':
      w.int(3, a.value);
      break;
    case 'string':
      w.string(4, a.value);
      break;
    case 'ints':
      w.packedInts(8, a.value);
      break;
    case 'strings':
      for (const s of a.value) w.string(9, s);
      break;
    case 'graph':
      w.message(6, (g) => writeGraph(g, a.value));
      break;
  }
}

function writeNode(w: Writer, n: NodeValue): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name).string(4, n.opType);
  for (const [name, a] of Object.entries(n.attributes)) w.message(5, (m) => writeAttribute(m, name, a));
}

function writeGraph(g: Writer, graph: GraphValue): void {
  for (const n of graph.nodes) g.message(1, (m) => writeNode(m, n));
  g.string(2, graph.name);
  for (const t of graph.initializers) g.message(5, (m) => writeTensor(m, t));
  for (const v of graph.inputs) g.message(11, (m) => writeValueInfo(m, v));
  for (const v of graph.outputs) g.message(12, (m) => writeValueInfo(m, v));
}

/** Serialises a model to the bytes of an `.onnx` file. */
export function encodeModel(model: ModelValue): Uint8Array {
  const w = new Writer();
  w.int(1, model.irVersion)
    .string(2, model.producerName)
    .string(3, model.producerVersion)
    .string(6, model.docString)
    .message(7, (g) => writeGraph(g, model.graph))
    // The default (ONNX) operator set: domain '' (omitted), version.
    .message(8, (o) => o.int(2, model.opsetVersion));
  return w.finish();
}
