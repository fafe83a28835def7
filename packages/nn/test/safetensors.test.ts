import { readFileSync } from 'node:fs';
import { Tensor, tensor } from '@tensorloom/autograd';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  halfBitsToFloatBits,
  loadSafetensors,
  readSafetensors,
  SAFETENSORS_MAX_ENTRIES,
  SAFETENSORS_MAX_HEADER_BYTES,
  saveSafetensors,
} from '../src/safetensors.ts';

const FIXTURES = new URL('../fixtures/', import.meta.url);

type Expected = {
  torch_version: string;
  files: Record<
    string,
    {
      metadata: Record<string, string>;
      tensors: Record<string, { dtype: string; shape: number[]; values: (number | string)[] }>;
    }
  >;
};
const expected: Expected = JSON.parse(readFileSync(new URL('safetensors_expected.json', FIXTURES), 'utf8'));

/** A JSON fixture value back to a number ("NaN"/"Infinity"/"-Infinity" are stored as strings). */
function num(v: number | string): number {
  return typeof v === 'number' ? v : Number(v);
}

/** The raw bytes of a tensor's storage, for bit-exact comparisons (NaN payloads, signed zeros). */
function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

const enc = new TextEncoder();

/** A safetensors file from a header (object or raw JSON text) and a data block, with a correct length. */
function build(header: unknown, data: Uint8Array | number = 0, headerLength?: number): Uint8Array {
  const json = enc.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

/** The header of a safetensors file as parsed JSON. */
function headerOf(bytes: Uint8Array): { length: number; text: string; json: Record<string, unknown> } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + length));
  return { length, text, json: JSON.parse(text) };
}

function expectLoadError(bytes: Uint8Array, message: RegExp): void {
  let error: unknown;
  try {
    loadSafetensors(bytes);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).message).toMatch(/^loadSafetensors: /);
  expect((error as Error).message).toMatch(message);
}

const f32 = (values: number[], shape = [values.length]) => tensor(values, { shape, dtype: 'float32' });
const f64 = (values: number[], shape = [values.length]) => tensor(values, { shape, dtype: 'float64' });

describe('saveSafetensors / loadSafetensors round trip', () => {
  it('keeps float32, float64 and int32 bit for bit, incl. scalars, empty tensors and non-finite values', () => {
    const tensors = {
      w: f32([1.5, -0, Number.NaN, Infinity, -Infinity, 1e-45], [2, 3]),
      scalar: f64([Math.PI], []),
      empty: f32([], [0, 3]),
      empty64: f64([], [2, 0, 1]),
      big: f64([Number.MAX_VALUE, Number.MIN_VALUE, -0]),
      ids: new Tensor(Int32Array.from([0, -1, 2 ** 24 + 1, 2 ** 31 - 1, -(2 ** 31)]), [5]),
      noIds: new Tensor(new Int32Array(0), [0]),
    };
    const { tensors: back, metadata } = readSafetensors(
      saveSafetensors(tensors, { format: 'pt', note: 'hé' }),
    );
    expect(Object.keys(back).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const b = back[name]!;
      expect(b).toBeInstanceOf(Tensor);
      expect(b.dtype).toBe(t.dtype);
      expect(b.shape).toEqual(t.shape);
      expect(bytesOf(b)).toEqual(bytesOf(t));
    }
    expect({ ...metadata }).toEqual({ format: 'pt', note: 'hé' });
  });

  it('copies: loaded tensors own their storage, independent of the input bytes', () => {
    const bytes = saveSafetensors({ a: f32([1, 2, 3]) });
    const a = loadSafetensors(bytes).a!;
    bytes.fill(0);
    expect(Array.from(a.data)).toEqual([1, 2, 3]);
  });

  it('reads from a view at an odd byte offset inside a larger buffer (as Node Buffers can be)', () => {
    const bytes = saveSafetensors({ x: f64([1, 2]), y: f32([3]) });
    const big = new Uint8Array(bytes.length + 5);
    big.set(bytes, 3);
    const back = loadSafetensors(big.subarray(3, 3 + bytes.length));
    expect(Array.from(back.x!.data)).toEqual([1, 2]);
    expect(Array.from(back.y!.data)).toEqual([3]);
  });

  it('lays the file out as the reference writer: padded compact header, F64 before F32, names in order', () => {
    const bytes = saveSafetensors({ b: f32([1]), a: f32([2, 3]), z: f64([4]) }, { k: 'v' });
    const { length, text } = headerOf(bytes);
    const json =
      '{"__metadata__":{"k":"v"},' +
      '"z":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},' +
      '"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},' +
      '"b":{"dtype":"F32","shape":[1],"data_offsets":[16,20]}}';
    expect(length % 8).toBe(0);
    expect(text.trimEnd()).toBe(json);
    expect(text).toBe(json.padEnd(length, ' '));
    expect(bytes.length).toBe(8 + length + 20);
    const data = new DataView(bytes.buffer, 8 + length);
    expect(data.getFloat64(0, true)).toBe(4);
    expect(data.getFloat32(8, true)).toBe(2);
    expect(data.getFloat32(16, true)).toBe(1);
  });

  it('orders names by code point (UTF-8 bytes), not UTF-16 units', () => {
    // U+FF5E is one UTF-16 unit above the surrogates of U+1F600, but below it as a code point.
    const bytes = saveSafetensors({ '\u{1F600}': f32([1]), '\uFF5E': f32([2]), a: f32([3]) });
    const keys = Object.keys(headerOf(bytes).json);
    expect(keys).toEqual(['a', '\uFF5E', '\u{1F600}']);
  });

  it('lists integer-like names in data order too (not the order JS objects enumerate them in)', () => {
    const bytes = saveSafetensors({ '10': f32([1]), '2': f32([2]), a: f32([3]) }, { '9': 'x', b: 'y' });
    const { text } = headerOf(bytes);
    expect(text.trimEnd()).toBe(
      '{"__metadata__":{"9":"x","b":"y"},' +
        '"10":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
        '"2":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},' +
        '"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}',
    );
    expect(Array.from(loadSafetensors(bytes)['2']!.data)).toEqual([2]);
  });

  it('writes no __metadata__ entry without metadata, and an empty file for no tensors', () => {
    const bytes = saveSafetensors({});
    expect(headerOf(bytes).text.trimEnd()).toBe('{}');
    const back = readSafetensors(bytes);
    expect(Object.keys(back.tensors)).toEqual([]);
    expect(Object.keys(back.metadata)).toEqual([]);
  });

  it('stores names such as "constructor" and "prototype" as plain entries, returned in null-prototype objects', () => {
    const names = ['constructor', 'prototype', 'toString'];
    const input: Record<string, Tensor> = Object.create(null);
    names.forEach((name, i) => {
      input[name] = f32([i]);
    });
    const back = loadSafetensors(saveSafetensors(input));
    expect(Object.getPrototypeOf(back)).toBeNull();
    names.forEach((name, i) => {
      expect(Array.from(back[name]!.data)).toEqual([i]);
    });
    expect(({} as Record<string, unknown>).prototype).toBeUndefined();
  });

  it('rejects what it cannot write, naming the problem', () => {
    expect(() => saveSafetensors({ __metadata__: f32([1]) })).toThrow(
      /^saveSafetensors: "__metadata__" is reserved/,
    );
    const proto = JSON.parse('{"__proto__": 1}');
    expect(() => saveSafetensors(proto)).toThrow(/^saveSafetensors: .*"__proto__"/);
    expect(() => saveSafetensors({ a: [1, 2] as unknown as Tensor })).toThrow(
      /^saveSafetensors: value for "a" is not a Tensor/,
    );
    expect(() => saveSafetensors({}, { k: 1 as unknown as string })).toThrow(
      /^saveSafetensors: metadata value for "k" must be a string, got number/,
    );
  });

  it('round-trips random tensor dicts and metadata exactly (property)', () => {
    const name = fc
      .string({ unit: 'binary', maxLength: 6 })
      .filter((s) => s !== '__metadata__' && s !== '__proto__');
    const shape = fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 });
    const tensorArb = fc.oneof(
      shape.chain((s) =>
        fc
          .array(fc.double(), {
            minLength: s.reduce((a, b) => a * b, 1),
            maxLength: s.reduce((a, b) => a * b, 1),
          })
          .map((v) => f64(v, s)),
      ),
      shape.chain((s) =>
        fc
          .array(fc.float(), {
            minLength: s.reduce((a, b) => a * b, 1),
            maxLength: s.reduce((a, b) => a * b, 1),
          })
          .map((v) => f32(v, s)),
      ),
      shape.chain((s) =>
        fc
          .array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), {
            minLength: s.reduce((a, b) => a * b, 1),
            maxLength: s.reduce((a, b) => a * b, 1),
          })
          .map((v) => new Tensor(Int32Array.from(v), s)),
      ),
    );
    const metaArb = fc.option(
      fc.dictionary(name, fc.string({ unit: 'binary', maxLength: 8 }), { maxKeys: 3, noNullPrototype: true }),
      { nil: undefined },
    );
    fc.assert(
      fc.property(
        fc.dictionary(name, tensorArb, { maxKeys: 5, noNullPrototype: true }),
        metaArb,
        (dict, meta) => {
          const bytes = saveSafetensors(dict, meta);
          const { length } = headerOf(bytes);
          expect(length % 8).toBe(0);
          const back = readSafetensors(bytes);
          expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(dict).sort());
          for (const [k, t] of Object.entries(dict)) {
            const b = back.tensors[k]!;
            expect(b.dtype).toBe(t.dtype);
            expect(b.shape).toEqual(t.shape);
            expect(bytesOf(b)).toEqual(bytesOf(t));
          }
          expect({ ...back.metadata }).toEqual(meta ?? {});
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('half precision conversion', () => {
  /** binary16 by arithmetic, independent of the bit manipulation under test. */
  function halfByFormula(h: number): number {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) return sign * mant * 2 ** -24;
    if (exp === 31) return mant === 0 ? sign * Infinity : Number.NaN;
    return sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }

  it('converts all 65536 F16 bit patterns exactly (signed zeros, subnormals, inf, NaN with payload)', () => {
    const out = new Float32Array(1);
    const bits = new Uint32Array(out.buffer);
    let mismatches = 0;
    for (let h = 0; h < 0x10000; h++) {
      bits[0] = halfBitsToFloatBits(h);
      const want = halfByFormula(h);
      if (!Object.is(out[0], want)) mismatches++;
      // NaN payloads: the 10 mantissa bits land in the top of the float32 mantissa, quiet bit included.
      if (Number.isNaN(want) && (bits[0]! & 0x7fffff) >>> 13 !== (h & 0x3ff)) mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(halfBitsToFloatBits(0x0001)).toBe(0x33800000); // 2^-24
    expect(halfBitsToFloatBits(0x7bff)).toBe(0x477fe000); // 65504
    expect(halfBitsToFloatBits(0xfc00)).toBe(0xff800000); // -inf
    expect(halfBitsToFloatBits(0x8000)).toBe(0x80000000); // -0
  });

  it('loads F16 and BF16 data to float32 through the file reader', () => {
    // F16: 1.0 (0x3c00), -2 (0xc000), 2^-24 (0x0001), NaN (0x7e00); BF16: 1.0 (0x3f80), -inf (0xff80)
    const data = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7e, 0x80, 0x3f, 0x80, 0xff]);
    const bytes = build(
      {
        h: { dtype: 'F16', shape: [2, 2], data_offsets: [0, 8] },
        b: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] },
      },
      data,
    );
    const { h, b } = loadSafetensors(bytes);
    expect(h!.dtype).toBe('float32');
    expect(h!.shape).toEqual([2, 2]);
    expect(Array.from(h!.data)).toEqual([1, -2, 2 ** -24, Number.NaN]);
    expect(b!.dtype).toBe('float32');
    expect(Array.from(b!.data)).toEqual([1, -Infinity]);
  });
});

describe('files written from PyTorch tensors', () => {
  const files = Object.keys(expected.files);

  it('has the fixtures and records the torch version', () => {
    expect(files.sort()).toEqual([
      'torch_dtypes.safetensors',
      'torch_int32.safetensors',
      'torch_lstm.safetensors',
      'torch_mixed.safetensors',
    ]);
    expect(expected.torch_version).toMatch(/^\d+\.\d+/);
  });

  for (const file of files) {
    it(`${file}: every tensor has the dtype, shape and values PyTorch wrote`, () => {
      const want = expected.files[file]!;
      const { tensors, metadata } = readSafetensors(readFileSync(new URL(file, FIXTURES)));
      expect({ ...metadata }).toEqual(want.metadata);
      expect(Object.keys(tensors).sort()).toEqual(Object.keys(want.tensors).sort());
      for (const [name, w] of Object.entries(want.tensors)) {
        const t = tensors[name]!;
        expect(t.dtype, name).toBe(w.dtype === 'F64' ? 'float64' : w.dtype === 'I32' ? 'int32' : 'float32');
        expect(t.shape, name).toEqual(w.shape);
        // Object.is: NaN equals NaN, but 0 and -0 differ.
        const bad = w.values.map(num).filter((v, i) => !Object.is(t.data[i], v));
        expect(bad, name).toEqual([]);
        expect(t.data.length, name).toBe(w.values.length);
      }
    });
  }

  it('covers every dtype, a scalar and an empty tensor of each, and the LSTM parameter names', () => {
    const dtypes = expected.files['torch_dtypes.safetensors']!.tensors;
    for (const d of ['F32', 'F64', 'F16', 'BF16']) {
      const ofType = Object.values(dtypes).filter((t) => t.dtype === d);
      expect(ofType.some((t) => t.shape.length === 0)).toBe(true);
      expect(ofType.some((t) => t.shape.includes(0))).toBe(true);
    }
    const int32 = Object.values(expected.files['torch_int32.safetensors']!.tensors).filter(
      (t) => t.dtype === 'I32',
    );
    expect(int32.some((t) => t.shape.length === 0)).toBe(true);
    expect(int32.some((t) => t.shape.includes(0))).toBe(true);
    // The extremes, and an id float32 would round to its neighbour.
    expect(int32.flatMap((t) => t.values)).toEqual(
      expect.arrayContaining([2 ** 31 - 1, -(2 ** 31), 2 ** 24 + 1]),
    );
    const lstm = loadSafetensors(readFileSync(new URL('torch_lstm.safetensors', FIXTURES)));
    expect(lstm.weight_ih_l0!.shape).toEqual([16, 3]);
    expect(lstm.weight_hh_l1_reverse!.shape).toEqual([16, 4]);
    expect(lstm.bias_ih_l1!.shape).toEqual([16]);
  });

  for (const file of ['torch_mixed.safetensors', 'torch_int32.safetensors', 'torch_lstm.safetensors']) {
    it(`${file}: our writer reproduces the file byte for byte`, () => {
      const bytes = new Uint8Array(readFileSync(new URL(file, FIXTURES)));
      const { tensors, metadata } = readSafetensors(bytes);
      expect(saveSafetensors(tensors, { ...metadata })).toEqual(bytes);
    });
  }
});

describe('untrusted input: every malformed file throws a clear loadSafetensors error', () => {
  const good = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };

  it('non-bytes input', () => {
    expectLoadError('abc' as unknown as Uint8Array, /expected the file's bytes as a Uint8Array, got string/);
    expectLoadError(null as unknown as Uint8Array, /got null/);
  });

  it('truncated before the header length', () => {
    expectLoadError(new Uint8Array(5), /file is 5 bytes, too short to hold the 8-byte header length/);
  });

  it('a header length past the end, and a truncated file', () => {
    expectLoadError(build({ a: good }, 8, 1000), /header length 1000 runs past the end of the file/);
    const whole = saveSafetensors({ a: f32([1, 2, 3]) });
    expectLoadError(
      whole.subarray(0, whole.length - 1),
      /tensors cover 12 bytes of data but the file holds 11|outside/,
    );
    expectLoadError(whole.subarray(0, 20), /runs past the end/);
  });

  it('an absurd header length is refused before any allocation', () => {
    const bytes = new Uint8Array(16);
    const view = new DataView(bytes.buffer);
    view.setBigUint64(0, 2n ** 63n + 5n, true);
    expectLoadError(bytes, /header length 9223372036854775813 exceeds the limit of 100000000 bytes/);
    view.setBigUint64(0, BigInt(SAFETENSORS_MAX_HEADER_BYTES + 1), true);
    expectLoadError(bytes, /exceeds the limit/);
  });

  it('an empty header, invalid UTF-8, a byte-order mark', () => {
    expectLoadError(build('', 0), /header is empty/);
    const bad = build('{"a" }', 0);
    bad[9] = 0xff;
    expectLoadError(bad, /header is not valid UTF-8/);
    expectLoadError(build('\uFEFF{}', 0), /not valid JSON/);
  });

  it('invalid JSON of several kinds', () => {
    expectLoadError(build('{"a": ', 0), /header is not valid JSON: unexpected end/);
    expectLoadError(build('{"a": 1,}', 0), /not valid JSON: expected a string key/);
    expectLoadError(build("{'a': 1}", 0), /not valid JSON/);
    expectLoadError(build('{} x', 0), /not valid JSON: unexpected content after the JSON value/);
    expectLoadError(build('{"a": NaN}', 0), /not valid JSON: bad number/);
    expectLoadError(build('{"a\u0001": 1}', 0), /unescaped control character/);
    expectLoadError(build('{"a": "\\x"}', 0), /bad escape/);
    expectLoadError(build('{"a": [01]}', 0), /not valid JSON/);
  });

  it('nesting deep enough to overflow a recursive parser is refused quickly', () => {
    expectLoadError(build(`${'['.repeat(200_000)}${']'.repeat(200_000)}`, 0), /nests deeper than 16 levels/);
  });

  it('a header that is not an object', () => {
    expectLoadError(build('[]', 0), /header must be a JSON object, got an array/);
    expectLoadError(build('42   ', 0), /header must be a JSON object, got number 42/);
  });

  it('duplicate keys (which JSON.parse would silently collapse)', () => {
    const text = `{"a":${JSON.stringify(good)},"a":${JSON.stringify(good)}}`;
    expectLoadError(build(text, 8), /header has the key "a" twice/);
  });

  it('bad metadata', () => {
    expectLoadError(build({ __metadata__: [] }), /__metadata__ must be an object of strings, got an array/);
    expectLoadError(
      build({ __metadata__: { n: 1 } }),
      /metadata value for "n" must be a string, got number 1/,
    );
    expectLoadError(build('{"__metadata__": {"__proto__": "x"}}'), /metadata key "__proto__" is not allowed/);
  });

  it('a "__proto__" tensor name is refused, and nothing reaches Object.prototype', () => {
    const text = `{"__proto__":${JSON.stringify(good)}}`;
    expectLoadError(build(text, 8), /tensor name "__proto__" is not allowed/);
    const sneaky = `{"constructor":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"polluted":true}}`;
    const back = loadSafetensors(build(sneaky));
    expect(Object.keys(back)).toEqual(['constructor']);
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).dtype).toBeUndefined();
  });

  it('a tensor entry of the wrong kind, or missing fields', () => {
    expectLoadError(
      build({ a: 3 }),
      /tensor "a": expected an object \{dtype, shape, data_offsets\}, got number 3/,
    );
    expectLoadError(
      build({ a: { shape: [2], data_offsets: [0, 8] } }, 8),
      /tensor "a": dtype must be a string, got nothing/,
    );
  });

  it('unknown and unsupported dtypes', () => {
    expectLoadError(build({ a: { ...good, dtype: 'F99' } }, 8), /tensor "a" has unknown dtype "F99"/);
    expectLoadError(build({ a: { ...good, dtype: 'f32' } }, 8), /unknown dtype "f32"/);
    expectLoadError(
      build({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, 8),
      /tensor "a" has dtype I64, which TensorLoom does not load \(supported: F16, BF16, F32, F64, I32\)/,
    );
  });

  it('bad shapes: not an array, negative, fractional, unsafe, not numbers', () => {
    expectLoadError(
      build({ a: { ...good, shape: 2 } }, 8),
      /tensor "a": shape must be an array, got number 2/,
    );
    expectLoadError(
      build({ a: { ...good, shape: [-2] } }, 8),
      /shape entries must be non-negative integers, got number -2/,
    );
    expectLoadError(build({ a: { ...good, shape: [1.5] } }, 8), /non-negative integers, got number 1.5/);
    expectLoadError(
      build({ a: { ...good, shape: [2 ** 53] } }, 8),
      /non-negative integers, got number 9007199254740992/,
    );
    expectLoadError(build({ a: { ...good, shape: ['2'] } }, 8), /non-negative integers, got string "2"/);
  });

  it('a shape that disagrees with the byte length, including huge shapes over no data', () => {
    expectLoadError(
      build({ a: { ...good, shape: [3] } }, 8),
      /tensor "a": shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] hold 8/,
    );
    const huge = 2 ** 52;
    expectLoadError(
      build({ a: { dtype: 'F64', shape: [huge, huge], data_offsets: [0, 0] } }),
      /shape \[.*\] of F64 needs/,
    );
    // zero-size dimensions make any other dimension legal, with no data
    const t = loadSafetensors(build({ a: { dtype: 'F64', shape: [0, huge], data_offsets: [0, 0] } })).a!;
    expect(t.shape).toEqual([0, huge]);
    expect(t.size).toBe(0);
  });

  it('bad data_offsets: wrong arity, negative, fractional, reversed', () => {
    expectLoadError(
      build({ a: { ...good, data_offsets: [0] } }, 8),
      /data_offsets must be an array \[begin, end\], got an array/,
    );
    expectLoadError(
      build({ a: { ...good, data_offsets: [-8, 0] } }, 8),
      /data_offsets must be non-negative integers, got number -8/,
    );
    expectLoadError(build({ a: { ...good, data_offsets: [0, 8.5] } }, 8), /got number 8.5/);
    expectLoadError(
      build({ a: { ...good, shape: [0], data_offsets: [8, 0] } }, 8),
      /data_offsets \[8, 0\] end before they begin/,
    );
  });

  it('offsets outside the data, overlapping, leaving gaps, or not reaching the end', () => {
    expectLoadError(
      build({ a: { ...good, data_offsets: [8, 16] } }, 8),
      /tensor "a": data_offsets \[8, 16\] lie outside the 8-byte data block/,
    );
    expectLoadError(
      build({ a: good, b: { ...good, data_offsets: [4, 12] } }, 12),
      /tensor "b": data_offsets \[4, 12\] overlap tensor "a" \[0, 8\]/,
    );
    expectLoadError(
      build({ a: good, b: good }, 8),
      /overlap tensor "a" \[0, 8\]|overlap tensor "b" \[0, 8\]/,
    );
    expectLoadError(
      build({ a: good, b: { ...good, data_offsets: [12, 20] } }, 20),
      /tensor "b": data_offsets \[12, 20\] leave the bytes \[8, 12\) unused/,
    );
    expectLoadError(build({ a: { ...good, data_offsets: [4, 12] } }, 12), /leave the bytes \[0, 4\) unused/);
    expectLoadError(
      build({ a: good }, 9),
      /tensors cover 8 bytes of data but the file holds 9 after the header/,
    );
  });

  /** `count` empty-tensor entries as header JSON members (what a 95 MB header of 1.7 M of them is made of). */
  const emptyEntries = (count: number, from = 0): string =>
    Array.from(
      { length: count },
      (_, i) => `"${from + i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`,
    ).join(',');

  it('a huge header of empty tensors is refused once past the entry limit, without parsing the rest', () => {
    // Past the limit, 90 MB of junk: were the parser to read on, it would fail on the junk instead (or take
    // seconds); the refusal names the limit, so parsing stopped at entry SAFETENSORS_MAX_ENTRIES + 1.
    const head = `{${emptyEntries(SAFETENSORS_MAX_ENTRIES + 1)},`;
    const text = `${head}${'"x":'.padEnd(90_000_000, ' ')}!`;
    expect(text.length).toBeLessThan(SAFETENSORS_MAX_HEADER_BYTES);
    expectLoadError(
      build(text, 0),
      new RegExp(`header lists more than ${SAFETENSORS_MAX_ENTRIES} tensors and metadata entries`),
    );
  });

  it('maxEntries counts tensors and metadata entries; exactly the limit loads', () => {
    const header = (tensors: number, meta: number) =>
      `{"__metadata__":{${Array.from({ length: meta }, (_, i) => `"m${i}":"v"`).join(',')}},${emptyEntries(tensors)}}`;
    expect(Object.keys(loadSafetensors(build(header(900, 100), 0), { maxEntries: 1000 }))).toHaveLength(900);
    expect(() => loadSafetensors(build(header(901, 100), 0), { maxEntries: 1000 })).toThrow(
      /^loadSafetensors: header lists more than 1000 tensors and metadata entries/,
    );
    expect(() => loadSafetensors(build(header(1, 1001), 0), { maxEntries: 1000 })).toThrow(
      /more than 1000 tensors and metadata entries/,
    );
    // The writer refuses to write what readers would refuse by default.
    const empty = f32([]);
    const many: Record<string, Tensor> = {};
    for (let i = 0; i < SAFETENSORS_MAX_ENTRIES; i++) many[`t${i}`] = empty;
    expect(() => saveSafetensors(many, { format: 'pt' })).toThrow(
      `saveSafetensors: ${SAFETENSORS_MAX_ENTRIES + 1} tensors and metadata entries exceed SAFETENSORS_MAX_ENTRIES`,
    );
    expect(() => loadSafetensors(build('{}', 0), { maxEntries: -1 })).toThrow(
      /^loadSafetensors: maxEntries must be a non-negative integer, got -1/,
    );
  });

  it('bounds what any header shape can cost: JSON values per entry, keys per object', () => {
    // A shape of 100,000 dimensions in the one tensor allowed: more values than 80 per allowed entry.
    const longShape = `{"a":{"dtype":"F32","shape":[${'1,'.repeat(100_000)}1],"data_offsets":[0,4]}}`;
    expect(() => loadSafetensors(build(longShape, 4), { maxEntries: 1 })).toThrow(
      /^loadSafetensors: header holds more than 160 JSON values \(80 per allowed entry/,
    );
    // An entry with 65 extra fields (a tensor entry has 3).
    const fields = Array.from({ length: 65 }, (_, i) => `"x${i}":0`).join(',');
    expectLoadError(
      build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0],${fields}}}`, 0),
      /header has an object with more than 64 keys \(a tensor entry has 3\)/,
    );
    // Up to 64 dimensions in every entry stay within the budget.
    const deep = `[${Array(64).fill(1).join(',')}]`;
    const ok = `{${Array.from({ length: 10 }, (_, i) => `"t${i}":{"dtype":"F32","shape":${deep},"data_offsets":[${4 * i},${4 * i + 4}]}`).join(',')}}`;
    expect(Object.keys(loadSafetensors(build(ok, 40), { maxEntries: 10 }))).toHaveLength(10);
  });

  it('overlong names are cut short in messages', () => {
    const name = 'n'.repeat(100_000);
    let message = '';
    try {
      loadSafetensors(build({ [name]: { ...good, dtype: 'F99' } }, 8));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^loadSafetensors: tensor "n+\.\.\." has unknown dtype/);
    expect(message.length).toBeLessThan(200);
  });
});

describe('untrusted input: property tests on corrupted files', () => {
  /** Valid returns must be sane tensors; failures must be loadSafetensors Errors. Nothing else may happen. */
  function loadsOrThrowsCleanly(bytes: Uint8Array): boolean {
    let result: Record<string, Tensor>;
    try {
      result = loadSafetensors(bytes);
    } catch (e) {
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).message).toMatch(/^loadSafetensors: /);
      return false;
    }
    expect(Object.getPrototypeOf(result)).toBeNull();
    let total = 0;
    for (const name of Object.keys(result)) {
      expect(name).not.toBe('__proto__');
      const t = result[name]!;
      expect(t).toBeInstanceOf(Tensor);
      expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
      total += t.data.byteLength;
    }
    // F16/BF16 double in size as float32; nothing can cost more than twice the file.
    expect(total).toBeLessThanOrEqual(2 * bytes.length);
    return true;
  }

  const base = fc
    .dictionary(
      fc.constantFrom('a', 'b', 'w.0', 'bias', 'constructor'),
      fc
        .tuple(
          fc.constantFrom('float32', 'float64', 'int32') as fc.Arbitrary<'float32' | 'float64' | 'int32'>,
          fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
        )
        .map(([dtype, shape]) => {
          const n = shape.reduce((a, b) => a * b, 1);
          return tensor(
            Array.from({ length: n }, (_, i) => (dtype === 'int32' ? i - 1 : i - 1.5)),
            { shape, dtype },
          );
        }),
      { minKeys: 1, maxKeys: 4, noNullPrototype: true },
    )
    .map((d) => saveSafetensors(d, { format: 'pt' }));

  it('random byte flips', () => {
    const outcomes = { loaded: 0, refused: 0 };
    fc.assert(
      fc.property(
        base,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }),
        (bytes, flips) => {
          const b = bytes.slice();
          for (const [i, x] of flips) b[i % b.length]! ^= x;
          outcomes[loadsOrThrowsCleanly(b) ? 'loaded' : 'refused']++;
        },
      ),
      { numRuns: 400 },
    );
    // Both paths are exercised: flips in the data block still load, flips in the header mostly do not.
    expect(outcomes.loaded).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
  });

  it('flips in the header length field', () => {
    fc.assert(
      fc.property(base, fc.integer({ min: 0, max: 7 }), fc.integer({ min: 1, max: 255 }), (bytes, i, x) => {
        const b = bytes.slice();
        b[i]! ^= x;
        loadsOrThrowsCleanly(b);
      }),
      { numRuns: 200 },
    );
  });

  it('truncations and appended bytes', () => {
    fc.assert(
      fc.property(base, fc.nat(), fc.uint8Array({ maxLength: 16 }), (bytes, cut, tail) => {
        const truncated = bytes.subarray(0, cut % bytes.length);
        expect(() => loadSafetensors(truncated)).toThrow(/^loadSafetensors: /);
        const longer = new Uint8Array(bytes.length + tail.length);
        longer.set(bytes);
        longer.set(tail, bytes.length);
        if (tail.length > 0) expect(() => loadSafetensors(longer)).toThrow(/^loadSafetensors: /);
      }),
      { numRuns: 300 },
    );
  });

  it('random mutations of the header JSON (fields, keys, offsets), re-framed with a correct length', () => {
    const outcomes = { loaded: 0, refused: 0 };
    const weird = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom(
        -1,
        1.5,
        2 ** 53,
        1e300,
        'F16',
        'BF16',
        'F64',
        'I64',
        '',
        [],
        [0],
        [0, 0],
        [1, 0],
        [0, 2 ** 60],
        null,
      ),
    );
    const mutation = fc.oneof(
      fc.record({
        kind: fc.constant('set' as const),
        field: fc.constantFrom('dtype', 'shape', 'data_offsets', 'extra'),
        value: weird,
      }),
      fc.record({
        kind: fc.constant('delete' as const),
        field: fc.constantFrom('dtype', 'shape', 'data_offsets'),
      }),
      fc.record({
        kind: fc.constant('rename' as const),
        to: fc.constantFrom('__proto__', '__metadata__', 'prototype', 'a'),
      }),
      fc.record({ kind: fc.constant('add' as const), value: weird }),
      fc.record({
        kind: fc.constant('offset' as const),
        which: fc.integer({ min: 0, max: 1 }),
        delta: fc.integer({ min: -16, max: 16 }),
      }),
    );
    fc.assert(
      fc.property(
        base,
        fc.array(fc.tuple(mutation, fc.nat()), { minLength: 1, maxLength: 3 }),
        (bytes, mutations) => {
          const { length, json } = headerOf(bytes);
          const data = bytes.subarray(8 + length);
          const entries = Object.entries(json);
          for (const [m, pick] of mutations) {
            const at = pick % entries.length;
            const [name, info] = entries[at]!;
            const obj = (typeof info === 'object' && info !== null ? info : {}) as Record<string, unknown>;
            if (m.kind === 'set') entries[at] = [name, { ...obj, [m.field]: m.value }];
            else if (m.kind === 'delete') {
              const copy = { ...obj };
              delete copy[m.field];
              entries[at] = [name, copy];
            } else if (m.kind === 'rename') entries[at] = [m.to, info];
            else if (m.kind === 'add') entries.push([`x${pick}`, m.value]);
            else {
              const offsets = Array.isArray(obj.data_offsets) ? [...obj.data_offsets] : [0, 0];
              offsets[m.which] = (offsets[m.which] as number) + m.delta;
              entries[at] = [name, { ...obj, data_offsets: offsets }];
            }
          }
          // Serialize by hand so repeated names become real duplicate keys, as a hostile file could hold.
          const text = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`;
          outcomes[loadsOrThrowsCleanly(build(text, data)) ? 'loaded' : 'refused']++;
        },
      ),
      { numRuns: 400 },
    );
    expect(outcomes.loaded).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
  });
});
