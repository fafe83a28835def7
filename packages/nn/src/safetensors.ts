/**
 * safetensors, the weight format PyTorch users share: an 8-byte little-endian u64 header length N, N bytes
 * of UTF-8 JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`, then the
 * raw little-endian tensor bytes, with offsets relative to the start of that data block.
 *
 * The loader treats every file as untrusted: each check below runs before any tensor memory is allocated,
 * so a hostile file's tensors cost at most a copy of its own size, and every failure is an `Error` whose
 * message starts with `loadSafetensors:` and says what is wrong. The header's own cost is bounded too: at
 * most `maxEntries` tensors and metadata entries (`SAFETENSORS_MAX_ENTRIES` by default), a fixed budget of
 * JSON values per entry, and objects of at most 64 keys, all counted while parsing, so an oversized header
 * is refused after parsing no more than the allowed part.
 */
import { Tensor, type TypedArray } from '@tensorloom/autograd';

/** The element types a safetensors file may declare that TensorLoom reads (F16/BF16 load as float32). */
export type SafetensorsDtype = 'F16' | 'BF16' | 'F32' | 'F64' | 'I32';

/** A safetensors file's tensors together with its `__metadata__` string map. */
export interface SafetensorsContents {
  /** Tensors by name, in a null-prototype object (so no name can reach `Object.prototype`). */
  tensors: Record<string, Tensor>;
  /** The `__metadata__` map (empty when the file has none), also null-prototype. */
  metadata: Record<string, string>;
}

/** The largest header the loader accepts, as the reference implementation does: 100 MB of JSON. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/**
 * The most tensors plus metadata entries a file may hold unless the reader is given another `maxEntries`
 * (and the most `saveSafetensors` writes). Each entry costs a few hundred bytes as objects however little
 * header text it takes (an empty tensor is ~50 bytes of JSON), so without a cap a 100 MB header of 1.7 M
 * empty tensors would cost ~2 GB and ~20 s. Real files hold thousands of tensors; a training checkpoint a
 * few per parameter.
 */
export const SAFETENSORS_MAX_ENTRIES = 100_000;

/**
 * JSON values (scalars, arrays, objects, keys) the header may hold per allowed entry. A tensor entry is
 * about 10 plus one per dimension, so 80 admits tensors of up to 64 dimensions (numpy's limit) in every
 * entry, while bounding what any header, however shaped, can make the parser allocate.
 */
const JSON_VALUES_PER_ENTRY = 80;

/** Keys of an object inside the header other than the metadata (a tensor entry has 3; extras are ignored). */
const MAX_JSON_MEMBERS = 64;

/** Options of `readSafetensors`. */
export interface ReadSafetensorsOptions {
  /** The most tensors plus metadata entries to accept (default `SAFETENSORS_MAX_ENTRIES`). */
  maxEntries?: number;
}

/** Bytes per element of the dtypes we read. */
const ITEM_SIZE: Record<SafetensorsDtype, number> = { F16: 2, BF16: 2, F32: 4, F64: 8, I32: 4 };

/** The dtypes we write, in the order the reference writer lays them out (its Dtype enum, descending). */
const WRITE_ORDER = { F64: 0, F32: 1, I32: 2 } as const;
const WRITTEN_AS = { float64: 'F64', float32: 'F32', int32: 'I32' } as const;

/** Dtypes the format defines that TensorLoom does not load; named so the error can say "unsupported", not "unknown". */
const OTHER_DTYPES = new Set([
  'BOOL',
  'U8',
  'I8',
  'U16',
  'I16',
  'U32',
  'U64',
  'I64',
  'F8_E4M3',
  'F8_E5M2',
  'F8_E8M0',
  'F6_E2M3',
  'F6_E3M2',
  'F4',
  'C64',
]);

/**
 * The one name refused outright: our results are null-prototype objects, but a caller copying them into an
 * ordinary object (`Object.assign({}, tensors)`) would have `__proto__` replace that object's prototype.
 */
const FORBIDDEN_NAME = '__proto__';

/** True on little-endian hosts, where typed arrays already hold the file's byte order. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const HEADER_KEY = '__metadata__';

function fail(message: string): never {
  throw new Error(`loadSafetensors: ${message}`);
}

/** Renders a name for an error message, quoted and cut short so a hostile 1 MB name cannot flood logs. */
function q(name: string): string {
  const s = JSON.stringify(name);
  return s.length > 80 ? `${s.slice(0, 77)}..."` : s;
}

// ---------------------------------------------------------------------------------------------------------
// Header JSON. A small strict RFC 8259 parser instead of JSON.parse, because the loader must (a) notice
// duplicate keys, which JSON.parse silently collapses to the last one, and (b) build null-prototype objects
// so no key, `__proto__` included, can reach a prototype. Depth is capped: a valid header nests 3 deep, so a
// deep `[[[[...` can neither overflow the stack nor cost more than a quick error.
// ---------------------------------------------------------------------------------------------------------

const MAX_JSON_DEPTH = 16;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function parseHeaderJson(text: string, maxEntries: number): Json {
  let pos = 0;
  const n = text.length;
  // Both budgets are checked as the parser goes, so a header over either stops after parsing that much.
  let entries = 0;
  let values = 0;
  const maxValues = JSON_VALUES_PER_ENTRY * maxEntries + JSON_VALUES_PER_ENTRY;
  const countEntry = (): void => {
    if (++entries > maxEntries) {
      fail(
        `header lists more than ${maxEntries} tensors and metadata entries (the limit; ` +
          'pass a larger maxEntries to read such a file)',
      );
    }
  };

  const jsonError = (what: string): never => {
    const near = pos < n ? `${JSON.stringify(text.slice(pos, pos + 12))}` : 'the end of the header';
    return fail(`header is not valid JSON: ${what} at character ${pos} (near ${near})`);
  };
  const skipWhitespace = (): void => {
    while (pos < n) {
      const c = text.charCodeAt(pos);
      // JSON whitespace is exactly space, tab, line feed and carriage return.
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) pos++;
      else break;
    }
  };
  const parseString = (): string => {
    pos++; // opening quote
    let out = '';
    let start = pos;
    while (true) {
      if (pos >= n) jsonError('unterminated string');
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(start, pos);
        pos++;
        return out;
      }
      if (c < 0x20) jsonError('unescaped control character in a string');
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += text.slice(start, pos);
      const e = text[pos + 1];
      pos += 2;
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const hex = text.slice(pos, pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) jsonError('bad \\u escape');
          out += String.fromCharCode(Number.parseInt(hex, 16));
          pos += 4;
          break;
        }
        default:
          pos -= 2;
          jsonError('bad escape');
      }
      start = pos;
    }
  };
  const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  const parseNumber = (): number => {
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (!m) return jsonError('bad number');
    pos += m[0].length;
    return Number(m[0]);
  };
  const literal = (word: string, value: Json): Json => {
    if (text.startsWith(word, pos)) {
      pos += word.length;
      return value;
    }
    return jsonError('unexpected token');
  };
  const parseValue = (depth: number, isMetadata = false): Json => {
    if (++values > maxValues) {
      fail(
        `header holds more than ${maxValues} JSON values (${JSON_VALUES_PER_ENTRY} per allowed entry; ` +
          'pass a larger maxEntries to read such a file)',
      );
    }
    skipWhitespace();
    if (pos >= n) jsonError('unexpected end');
    const c = text[pos];
    if (c === '{' || c === '[') {
      if (depth >= MAX_JSON_DEPTH) fail(`header JSON nests deeper than ${MAX_JSON_DEPTH} levels`);
      return c === '{' ? parseObject(depth + 1, isMetadata) : parseArray(depth + 1);
    }
    if (c === '"') return parseString();
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    return parseNumber();
  };
  /** `depth` 1 is the header itself: its keys are entries, and so are those of its `__metadata__` object. */
  const parseObject = (depth: number, isMetadata: boolean): Json => {
    pos++;
    const obj: { [key: string]: Json } = Object.create(null);
    let members = 0;
    skipWhitespace();
    if (text[pos] === '}') {
      pos++;
      return obj;
    }
    while (true) {
      skipWhitespace();
      if (text[pos] !== '"') jsonError('expected a string key');
      const key = parseString();
      if (Object.hasOwn(obj, key)) fail(`header has the key ${q(key)} twice`);
      members++;
      if ((depth === 1 && key !== HEADER_KEY) || isMetadata) countEntry();
      else if (depth > 1 && members > MAX_JSON_MEMBERS) {
        fail(`header has an object with more than ${MAX_JSON_MEMBERS} keys (a tensor entry has 3)`);
      }
      skipWhitespace();
      if (text[pos] !== ':') jsonError("expected ':'");
      pos++;
      obj[key] = parseValue(depth, depth === 1 && key === HEADER_KEY);
      skipWhitespace();
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      if (text[pos] === '}') {
        pos++;
        return obj;
      }
      jsonError("expected ',' or '}'");
    }
  };
  const parseArray = (depth: number): Json => {
    pos++;
    const arr: Json[] = [];
    skipWhitespace();
    if (text[pos] === ']') {
      pos++;
      return arr;
    }
    while (true) {
      arr.push(parseValue(depth));
      skipWhitespace();
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      if (text[pos] === ']') {
        pos++;
        return arr;
      }
      jsonError("expected ',' or ']'");
    }
  };

  const value = parseValue(0);
  skipWhitespace(); // the reference writer pads the header with spaces to a multiple of 8 bytes
  if (pos !== n) jsonError('unexpected content after the JSON value');
  return value;
}

function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: Json | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  const s = JSON.stringify(v);
  return `${typeof v} ${s.length > 40 ? `${s.slice(0, 37)}...` : s}`;
}

// ---------------------------------------------------------------------------------------------------------
// Half-precision conversions, done on bit patterns so every value (signed zeros, subnormals, infinities and
// NaN payloads) maps exactly; float32 holds every F16 and BF16 value.
// ---------------------------------------------------------------------------------------------------------

/**
 * IEEE binary16 bits → binary32 bits. binary16 is 1 sign, 5 exponent (bias 15), 10 mantissa bits; binary32
 * is 1, 8 (bias 127), 23. A normal value keeps its mantissa (shifted up 13) and rebiases its exponent by
 * 127 − 15 = 112; exponent 31 is inf/NaN (mantissa kept, so NaN payloads survive); exponent 0 with a nonzero
 * mantissa is subnormal, m·2⁻²⁴, which is normal in binary32: shift m up until its leading 1 reaches bit 10,
 * lowering the exponent from 2⁻¹⁴ (biased 113) once per shift.
 */
export function halfBitsToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** Decodes `count` little-endian elements of `dtype` from `src` into fresh (owned, aligned) storage. */
function decode(dtype: SafetensorsDtype, src: Uint8Array, count: number): TypedArray {
  if (dtype === 'F64' || dtype === 'F32' || dtype === 'I32') {
    const out =
      dtype === 'F64'
        ? new Float64Array(count)
        : dtype === 'I32'
          ? new Int32Array(count)
          : new Float32Array(count);
    if (LITTLE_ENDIAN) {
      new Uint8Array(out.buffer).set(src);
    } else {
      const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
      if (out instanceof Float64Array) for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
      else if (out instanceof Int32Array) for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true);
      else for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
    }
    return out;
  }
  const out = new Float32Array(count);
  // Write bit patterns through a Uint32 view of the float32 storage: host order on both sides, so exact.
  const bits = new Uint32Array(out.buffer);
  if (dtype === 'BF16') {
    // bfloat16 is the top half of a binary32: same sign, exponent and leading 7 mantissa bits.
    for (let i = 0; i < count; i++) bits[i] = ((src[2 * i]! | (src[2 * i + 1]! << 8)) << 16) >>> 0;
  } else {
    for (let i = 0; i < count; i++) bits[i] = halfBitsToFloatBits(src[2 * i]! | (src[2 * i + 1]! << 8));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------------------

interface Entry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

function checkEntry(name: string, info: Json | undefined): Entry {
  if (name === FORBIDDEN_NAME) fail(`tensor name "__proto__" is not allowed`);
  if (!isObject(info))
    fail(`tensor ${q(name)}: expected an object {dtype, shape, data_offsets}, got ${describe(info)}`);
  const { dtype, shape, data_offsets: offsets } = info;
  if (typeof dtype !== 'string') fail(`tensor ${q(name)}: dtype must be a string, got ${describe(dtype)}`);
  if (!Object.hasOwn(ITEM_SIZE, dtype)) {
    if (OTHER_DTYPES.has(dtype))
      fail(
        `tensor ${q(name)} has dtype ${dtype}, which TensorLoom does not load (supported: F16, BF16, F32, F64, I32)`,
      );
    fail(`tensor ${q(name)} has unknown dtype ${q(dtype)} (supported: F16, BF16, F32, F64, I32)`);
  }
  if (!Array.isArray(shape)) fail(`tensor ${q(name)}: shape must be an array, got ${describe(shape)}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      fail(`tensor ${q(name)}: shape entries must be non-negative integers, got ${describe(d)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2)
    fail(`tensor ${q(name)}: data_offsets must be an array [begin, end], got ${describe(offsets)}`);
  const [begin, end] = offsets;
  for (const o of offsets) {
    if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0)
      fail(`tensor ${q(name)}: data_offsets must be non-negative integers, got ${describe(o)}`);
  }
  const b = begin as number;
  const e = end as number;
  if (e < b) fail(`tensor ${q(name)}: data_offsets [${b}, ${e}] end before they begin`);
  const dims = shape as number[];
  // A float product is exact while it stays below 2^53; past that it cannot match any real byte count.
  const elements = dims.reduce((p, d) => p * d, 1);
  const size = ITEM_SIZE[dtype as SafetensorsDtype];
  if (elements * size !== e - b) {
    fail(
      `tensor ${q(name)}: shape [${dims.join(', ')}] of ${dtype} needs ${elements * size} bytes ` +
        `but data_offsets [${b}, ${e}] hold ${e - b}`,
    );
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: dims, begin: b, end: e };
}

/**
 * Reads a safetensors file: its tensors and its `__metadata__`. F32, F64 and I32 keep their dtype (float32,
 * float64, int32); F16 and BF16 are converted exactly to float32. Throws an `Error` starting with `loadSafetensors:` on any malformed input.
 */
export function readSafetensors(
  bytes: Uint8Array,
  options: ReadSafetensorsOptions = {},
): SafetensorsContents {
  const maxEntries = options?.maxEntries ?? SAFETENSORS_MAX_ENTRIES;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) {
    fail(`maxEntries must be a non-negative integer, got ${String(maxEntries)}`);
  }
  if (!(bytes instanceof Uint8Array)) {
    fail(`expected the file's bytes as a Uint8Array, got ${bytes === null ? 'null' : typeof bytes}`);
  }
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, too short to hold the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) {
    fail(`header length ${headerLength} exceeds the limit of ${SAFETENSORS_MAX_HEADER_BYTES} bytes`);
  }
  const n = Number(headerLength);
  if (8 + n > bytes.length) {
    fail(
      `header length ${n} runs past the end of the file (${bytes.length} bytes, ${bytes.length - 8} after the length)`,
    );
  }
  if (n === 0) fail('header is empty (expected a JSON object)');
  let text: string;
  try {
    // ignoreBOM keeps a byte-order mark in the text, so the parser rejects it as the reference loader does.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail('header is not valid UTF-8');
  }
  const header = parseHeaderJson(text, maxEntries);
  if (!isObject(header)) fail(`header must be a JSON object, got ${describe(header)}`);

  const metadata: Record<string, string> = Object.create(null);
  const entries: Entry[] = [];
  for (const key of Object.keys(header)) {
    const value = header[key];
    if (key === HEADER_KEY) {
      if (!isObject(value)) fail(`__metadata__ must be an object of strings, got ${describe(value)}`);
      for (const mk of Object.keys(value)) {
        if (mk === FORBIDDEN_NAME) fail(`metadata key "__proto__" is not allowed`);
        const mv = value[mk];
        if (typeof mv !== 'string') fail(`metadata value for ${q(mk)} must be a string, got ${describe(mv)}`);
        metadata[mk] = mv;
      }
      continue;
    }
    entries.push(checkEntry(key, value));
  }

  // The spec requires the tensors to tile the data block exactly: sorted by offset, each one starts where the
  // previous ended, the first at 0 and the last at the end of the file. No gaps, no overlaps, no trailing bytes.
  const dataLength = bytes.length - 8 - n;
  for (const e of entries) {
    if (e.end > dataLength) {
      fail(
        `tensor ${q(e.name)}: data_offsets [${e.begin}, ${e.end}] lie outside the ${dataLength}-byte data block`,
      );
    }
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  let previous: Entry | undefined;
  for (const e of entries) {
    if (e.begin < expected) {
      fail(
        `tensor ${q(e.name)}: data_offsets [${e.begin}, ${e.end}] overlap tensor ${q(previous!.name)} ` +
          `[${previous!.begin}, ${previous!.end}]`,
      );
    }
    if (e.begin > expected) {
      fail(
        `tensor ${q(e.name)}: data_offsets [${e.begin}, ${e.end}] leave the bytes [${expected}, ${e.begin}) ` +
          'unused (tensors must tile the data block without gaps)',
      );
    }
    expected = e.end;
    previous = e;
  }
  if (expected !== dataLength) {
    fail(`tensors cover ${expected} bytes of data but the file holds ${dataLength} after the header`);
  }

  const tensors: Record<string, Tensor> = Object.create(null);
  const base = 8 + n;
  for (const e of entries) {
    const src = bytes.subarray(base + e.begin, base + e.end);
    tensors[e.name] = new Tensor(decode(e.dtype, src, (e.end - e.begin) / ITEM_SIZE[e.dtype]), e.shape);
  }
  return { tensors, metadata };
}

/** Reads the tensors of a safetensors file (see `readSafetensors` for the metadata too). */
export function loadSafetensors(bytes: Uint8Array, options?: ReadSafetensorsOptions): Record<string, Tensor> {
  return readSafetensors(bytes, options).tensors;
}

// ---------------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------------

/** Code-point (= UTF-8 byte) order, which the reference writer uses; UTF-16 order differs past U+D7FF. */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Move surrogates (U+D800–DFFF, the halves of code points ≥ U+10000) above U+E000–FFFF.
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

function saveFail(message: string): never {
  throw new Error(`saveSafetensors: ${message}`);
}

/**
 * Serializes tensors (float32 as F32, float64 as F64, int32 as I32) and optional string metadata to
 * safetensors bytes, laid out as the reference writer does: tensors by dtype (F64, F32, I32: descending size,
 * so every tensor is aligned to its element size) then by name, compact JSON header padded with spaces to a multiple of 8 bytes.
 */
export function saveSafetensors(
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  if (typeof tensors !== 'object' || tensors === null)
    saveFail(`expected an object of tensors, got ${tensors}`);
  const names = Object.keys(tensors);
  const entries =
    names.length + (typeof metadata === 'object' && metadata !== null ? Object.keys(metadata).length : 0);
  if (entries > SAFETENSORS_MAX_ENTRIES) {
    saveFail(
      `${entries} tensors and metadata entries exceed SAFETENSORS_MAX_ENTRIES (${SAFETENSORS_MAX_ENTRIES}), ` +
        'more than readers accept by default',
    );
  }
  const items: { name: string; tensor: Tensor; dtype: keyof typeof WRITE_ORDER }[] = [];
  for (const name of names) {
    if (name === HEADER_KEY) saveFail('"__metadata__" is reserved and cannot name a tensor');
    if (name === FORBIDDEN_NAME) saveFail('tensor name "__proto__" is not allowed');
    const tensor = tensors[name];
    if (!(tensor instanceof Tensor)) saveFail(`value for ${q(name)} is not a Tensor`);
    items.push({ name, tensor, dtype: WRITTEN_AS[tensor.dtype] });
  }
  items.sort((a, b) => WRITE_ORDER[a.dtype] - WRITE_ORDER[b.dtype] || compareCodePoints(a.name, b.name));

  // The header JSON is assembled by hand: JSON.stringify of an object would list integer-like names ("0",
  // "10") first, while the reference writer lists the entries in data order.
  const parts: string[] = [];
  if (metadata !== undefined) {
    if (typeof metadata !== 'object' || metadata === null) saveFail(`metadata must be an object of strings`);
    const meta: string[] = [];
    for (const key of Object.keys(metadata).sort(compareCodePoints)) {
      if (key === FORBIDDEN_NAME) saveFail('metadata key "__proto__" is not allowed');
      const value = metadata[key];
      if (typeof value !== 'string')
        saveFail(`metadata value for ${q(key)} must be a string, got ${typeof value}`);
      meta.push(`${JSON.stringify(key)}:${JSON.stringify(value)}`);
    }
    parts.push(`"${HEADER_KEY}":{${meta.join(',')}}`);
  }
  let offset = 0;
  for (const { name, tensor, dtype } of items) {
    const size = tensor.data.byteLength;
    const info = { dtype, shape: [...tensor.shape], data_offsets: [offset, offset + size] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset += size;
  }

  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const { tensor } of items) {
    const data = tensor.data;
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    } else if (data instanceof Float64Array) {
      for (let i = 0; i < data.length; i++) view.setFloat64(at + 8 * i, data[i]!, true);
    } else if (data instanceof Int32Array) {
      for (let i = 0; i < data.length; i++) view.setInt32(at + 4 * i, data[i]!, true);
    } else {
      for (let i = 0; i < data.length; i++) view.setFloat32(at + 4 * i, data[i]!, true);
    }
    at += data.byteLength;
  }
  return out;
}
