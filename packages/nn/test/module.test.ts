import { manualSeed, mul, noGrad, randn, sum, type Tensor, tensor, zeros } from '@tensorloom/autograd';
import { describe, expect, it } from 'vitest';
import {
  Adam,
  Dropout,
  Embedding,
  LayerNorm,
  Linear,
  Module,
  ModuleList,
  Parameter,
  ReLU,
  Sequential,
  SGD,
  Tanh,
} from '../src/index.ts';

/** An encoder/head model like a user would write: fields only, no registration calls. */
class Model extends Module {
  encoder = new Sequential(new Linear(3, 4), new Tanh(), new Linear(4, 4));
  norm = new LayerNorm(4);
  head = new Linear(4, 2, { bias: false });

  forward(x: Tensor): Tensor {
    return this.head.forward(this.norm.forward(this.encoder.forward(x)));
  }
}

/** Parameters declared out of alphabetical order, plus a buffer and a non-tensor field. */
class Ordered extends Module {
  zeta = new Parameter(zeros([2]));
  alpha = new Parameter(zeros([3]));
  name = 'not a parameter';
  constructor() {
    super();
    this.registerBuffer('runningMean', zeros([3]));
  }
}

const names = (m: Module): string[] => Array.from(m.namedParameters(), ([n]) => n);

describe('Module: parameter discovery and names', () => {
  it('names Sequential children 0, 1, … and skips parameter-free layers', () => {
    const seq = new Sequential(new Linear(2, 3), new ReLU(), new Linear(3, 1));
    expect(names(seq)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    expect(Array.from(seq.namedChildren(), ([n]) => n)).toEqual(['0', '1', '2']);
  });

  it('gives nested modules PyTorch dotted names in definition order', () => {
    const m = new Model();
    expect(names(m)).toEqual([
      'encoder.0.weight',
      'encoder.0.bias',
      'encoder.2.weight',
      'encoder.2.bias',
      'norm.weight',
      'norm.bias',
      'head.weight',
    ]);
    expect(Array.from(m.namedModules(), ([n]) => n)).toEqual([
      '',
      'encoder',
      'encoder.0',
      'encoder.1',
      'encoder.2',
      'norm',
      'head',
    ]);
    expect(m.numParameters()).toBe(3 * 4 + 4 + 4 * 4 + 4 + 4 + 4 + 4 * 2);
  });

  it('keeps definition order (not alphabetical) and ignores non-parameter fields', () => {
    const m = new Ordered();
    expect(names(m)).toEqual(['zeta', 'alpha']);
    expect(Array.from(m.namedBuffers(), ([n]) => n)).toEqual(['runningMean']);
  });

  it('orders more than ten Sequential children numerically', () => {
    const seq = new Sequential(...Array.from({ length: 12 }, () => new Linear(2, 2)));
    expect(names(seq).filter((n) => n.endsWith('weight'))).toEqual(
      Array.from({ length: 12 }, (_, i) => `${i}.weight`),
    );
  });

  it('lists a parameter shared by two layers once', () => {
    const a = new Linear(2, 2);
    const b = new Linear(2, 2);
    b.weight = a.weight;
    const seq = new Sequential(a, b);
    expect(names(seq)).toEqual(['0.weight', '0.bias', '1.bias']);
    expect(seq.parameters()).toHaveLength(3);
  });

  it('names ModuleList entries by position, including pushed ones', () => {
    class Stack extends Module {
      layers = new ModuleList([new Linear(2, 2)]);
    }
    const s = new Stack();
    s.layers.push(new Linear(2, 3, { bias: false }));
    expect(names(s)).toEqual(['layers.0.weight', 'layers.0.bias', 'layers.1.weight']);
    expect(s.layers.length).toBe(2);
    expect(s.layers.at(-1)).toBe(s.layers[1]);
    expect([...s.layers]).toEqual([s.layers[0], s.layers[1]]);
  });
});

describe('Module: state dicts', () => {
  it('holds every parameter and buffer under its PyTorch key, sharing storage', () => {
    const m = new Model();
    const sd = m.stateDict();
    expect(Object.keys(sd)).toEqual(names(m));
    expect(sd['encoder.0.weight']!.data).toBe(m.encoder.at(0).parameters()[0]!.data);
    const o = new Ordered();
    expect(Object.keys(o.stateDict())).toEqual(['zeta', 'alpha', 'runningMean']);
  });

  it('round-trips: loading the state dict of one model into another gives identical outputs', () => {
    manualSeed(1);
    const a = new Model();
    const b = new Model();
    const x = randn([5, 3]);
    expect(Array.from(b.forward(x).data)).not.toEqual(Array.from(a.forward(x).data));
    const result = b.loadStateDict(a.stateDict());
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(Array.from(b.forward(x).data)).toEqual(Array.from(a.forward(x).data));
  });

  it('loads in place, so references held by optimizers stay valid', () => {
    const m = new Linear(2, 2);
    const weight = m.weight;
    m.loadStateDict({ weight: tensor([1, 2, 3, 4], { shape: [2, 2] }), bias: tensor([5, 6]) });
    expect(m.weight).toBe(weight);
    expect(Array.from(weight.data)).toEqual([1, 2, 3, 4]);
  });

  it('strict loading lists missing and unexpected keys, and writes nothing', () => {
    const m = new Model();
    const before = Float32Array.from(m.head.weight.data);
    const sd = m.stateDict();
    const { 'norm.bias': _dropped, ...rest } = sd;
    const bad = { ...rest, 'head.weight': zeros([2, 4]), 'head.bias': zeros([2]) };
    expect(() => m.loadStateDict(bad)).toThrow(/missing keys: norm\.bias.*unexpected keys: head\.bias/);
    expect(Array.from(m.head.weight.data)).toEqual(Array.from(before));
    const result = m.loadStateDict(bad, { strict: false });
    expect(result).toEqual({ missingKeys: ['norm.bias'], unexpectedKeys: ['head.bias'] });
    expect(Array.from(m.head.weight.data)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('rejects a shape mismatch, naming the key and both shapes, even when not strict', () => {
    const m = new Linear(3, 2);
    const sd = { weight: zeros([3, 2]), bias: zeros([2]) };
    expect(() => m.loadStateDict(sd)).toThrow(
      /weight: shape \[3,2\] in the state dict, \[2,3\] in the module/,
    );
    expect(() => m.loadStateDict(sd, { strict: false })).toThrow(/weight: shape \[3,2\]/);
  });

  it('reads each entry once: a getter answering differently the second time changes nothing', () => {
    const m = new Linear(2, 1);
    const before = Array.from(m.weight.data);
    let reads = 0;
    const sd = { bias: tensor([0.5]) } as Record<string, Tensor>;
    Object.defineProperty(sd, 'weight', {
      enumerable: true,
      get: () => {
        reads += 1;
        // Valid on the first read, a wrong shape on any later one.
        return reads === 1 ? tensor([[1, 2]]) : tensor([[9, 9, 9]]);
      },
    });
    m.loadStateDict(sd);
    expect(reads).toBe(1);
    expect(Array.from(m.weight.data)).toEqual([1, 2]);
    // The reverse: invalid first, then valid. It throws and writes nothing.
    reads = 0;
    const m2 = new Linear(2, 1);
    const w2 = Array.from(m2.weight.data);
    const sd2 = { bias: tensor([0.5]) } as Record<string, Tensor>;
    Object.defineProperty(sd2, 'weight', {
      enumerable: true,
      get: () => {
        reads += 1;
        return reads === 1 ? tensor([[9, 9, 9]]) : tensor([[1, 2]]);
      },
    });
    expect(() => m2.loadStateDict(sd2)).toThrow(/weight: shape \[1,3\] in the state dict, \[1,2\]/);
    expect(reads).toBe(1);
    expect(Array.from(m2.weight.data)).toEqual(w2);
    expect(before).toHaveLength(2);
  });

  it('refuses a state dict that is not an object, naming what it got', () => {
    const m = new Linear(2, 1);
    for (const [value, got] of [
      [null, 'null'],
      [undefined, 'undefined'],
      [[tensor([1])], 'an array'],
      ['weights.safetensors', 'string'],
    ] as const) {
      expect(() => m.loadStateDict(value as never)).toThrow(
        new RegExp(`^loadStateDict \\(Linear\\): expected an object of Tensors by key .*, got ${got}$`),
      );
    }
  });

  it('a Tensor whose storage does not fill its shape is refused, not half-copied', () => {
    const m = new Linear(2, 1);
    const bad = tensor([[1, 2]]);
    Object.defineProperty(bad, 'data', { value: new Float32Array(1) });
    expect(() => m.loadStateDict({ weight: bad, bias: tensor([0]) })).toThrow(
      /weight: 1 elements in the state dict, 2 in the module/,
    );
  });

  it('converts dtype while loading (a float64 state dict into a float32 module)', () => {
    const m = new Linear(1, 1);
    m.loadStateDict({
      weight: tensor([[0.1]], { dtype: 'float64' }),
      bias: tensor([0.2], { dtype: 'float64' }),
    });
    expect(m.weight.dtype).toBe('float32');
    expect(m.weight.data[0]).toBe(Math.fround(0.1));
  });
});

describe('Module: modes, dtype and gradients', () => {
  it('train() and eval() propagate to every submodule, and eval disables dropout', () => {
    const seq = new Sequential(new Linear(4, 4), new Dropout(0.5));
    const x = randn([3, 4]);
    seq.eval();
    expect(Array.from(seq.modules(), (m) => m.training)).toEqual([false, false, false]);
    const y1 = seq.forward(x);
    const y2 = seq.forward(x);
    expect(Array.from(y1.data)).toEqual(Array.from(y2.data));
    seq.train();
    expect(Array.from(seq.modules(), (m) => m.training)).toEqual([true, true, true]);
    seq.at(1).train(false);
    expect(seq.training).toBe(true);
    expect(seq.at(1).training).toBe(false);
  });

  it("to('float64') converts every parameter and buffer, keeping values", () => {
    const m = new Model();
    const o = new Ordered();
    const before = Float64Array.from(m.encoder.at(0).parameters()[0]!.data);
    m.to('float64');
    o.double();
    expect(
      m.parameters().every((p) => p.dtype === 'float64' && p instanceof Parameter && p.requiresGrad),
    ).toBe(true);
    expect(Array.from(m.encoder.at(0).parameters()[0]!.data)).toEqual(Array.from(before));
    expect(Array.from(o.namedBuffers(), ([, b]) => b.dtype)).toEqual(['float64']);
    expect(m.forward(randn([2, 3], { dtype: 'float64' })).dtype).toBe('float64');
    m.float();
    expect(m.parameters().every((p) => p.dtype === 'float32')).toBe(true);
  });

  it('to() converts parameters in place: same objects, so an optimizer built before keeps training them', () => {
    manualSeed(1);
    const m = new Model();
    const before = m.parameters();
    const values = before.map((p) => Array.from(p.data));
    const opt = new SGD(m.parameters(), { lr: 0.1 });
    m.forward(randn([2, 3]))
      .sum()
      .backward();
    m.double();
    // Identity, dtype, values and the pending gradient all carried over.
    expect(m.parameters()).toHaveLength(before.length);
    m.parameters().forEach((p, i) => {
      expect(p).toBe(before[i]);
      expect(p.dtype).toBe('float64');
      expect(p.data).toBeInstanceOf(Float64Array);
      expect(Array.from(p.data)).toEqual(values[i]);
      expect(p.grad!.dtype).toBe('float64');
    });
    expect(opt.paramGroups[0]!.params.every((p, i) => p === before[i])).toBe(true);
    // The optimizer's step now moves the module's (float64) weights.
    const w = m.head.weight;
    const expected = Array.from(w.data, (v, i) => v - 0.1 * w.grad!.data[i]!);
    opt.step();
    expect(Array.from(w.data)).toEqual(expected);
    // And a fresh float64 forward/backward reaches the same objects.
    opt.zeroGrad();
    m.forward(randn([2, 3], { dtype: 'float64' }))
      .sum()
      .backward();
    expect(before.every((p) => p.grad !== null && p.grad.dtype === 'float64')).toBe(true);
    m.float();
    expect(m.parameters().every((p, i) => p === before[i] && p.data instanceof Float32Array)).toBe(true);
  });

  it('to() converts a parameter shared by two modules once, and refuses unknown dtypes', () => {
    const a = new Linear(2, 2);
    const tied = new Sequential(a, new Linear(2, 2));
    (tied.at(1) as Linear).weight = a.weight;
    const w = a.weight;
    tied.double();
    expect(a.weight).toBe(w);
    expect((tied.at(1) as Linear).weight).toBe(w);
    expect(w.dtype).toBe('float64');
    expect(() => tied.to('int8' as never)).toThrow(
      /Sequential.to: unknown dtype "int8" \(expected 'float32' or 'float64'\)/,
    );
  });

  it('an optimizer whose state predates to() keeps its state, converted to the new dtype', () => {
    manualSeed(2);
    const m = new Linear(3, 2);
    const opt = new Adam(m.parameters(), { lr: 0.01 });
    m.forward(randn([4, 3]))
      .sum()
      .backward();
    opt.step();
    m.double();
    m.zeroGrad();
    m.forward(randn([4, 3], { dtype: 'float64' }))
      .sum()
      .backward();
    opt.step();
    const state = opt.state.get(m.weight)!;
    expect(state.step).toBe(2);
    expect(state.expAvg.dtype).toBe('float64');
    expect(state.expAvgSq.dtype).toBe('float64');
  });

  it('zeroGrad clears the gradients that backward wrote', () => {
    const m = new Model();
    m.forward(randn([2, 3]))
      .sum()
      .backward();
    expect(m.parameters().every((p) => p.grad !== null)).toBe(true);
    m.zeroGrad();
    expect(m.parameters().every((p) => p.grad === null)).toBe(true);
  });

  it('apply visits every module (e.g. a custom re-initialisation)', () => {
    const m = new Model();
    const seen: string[] = [];
    m.apply((mod) => {
      seen.push(mod.constructor.name);
      if (mod instanceof Linear) noGrad(() => mod.weight.data.fill(0.5));
    });
    expect(seen).toEqual(['Model', 'Sequential', 'Linear', 'Tanh', 'Linear', 'LayerNorm', 'Linear']);
    expect(Array.from(m.head.weight.data).every((v) => v === 0.5)).toBe(true);
  });

  it('counts Embedding parameters', () => {
    expect(new Embedding(10, 3).numParameters()).toBe(30);
  });
});

describe('Parameter', () => {
  it('shares the storage of its value and its count of in-place changes', () => {
    const value = tensor([1, 2]);
    const p = new Parameter(value);
    expect(p.data).toBe(value.data);
    const w = tensor([3, 4], { requiresGrad: true });
    const y = sum(mul(value, w)); // saves value for ∂w
    noGrad(() => {
      p.data[0] = 5;
      p.bumpVersion(); // an optimizer step on the parameter changes what y read
    });
    expect(() => y.backward()).toThrow(/was modified in place/);
  });
});
