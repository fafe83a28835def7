/** Tensor basics: creation, conversion, dtypes, seeded randomness and index arguments. */
import { describe, expect, it } from 'vitest';
import {
  arange,
  eye,
  full,
  fullLike,
  gather,
  getRngState,
  indexSelect,
  linspace,
  manualSeed,
  mul,
  ones,
  onesLike,
  rand,
  randint,
  randLike,
  randn,
  randnLike,
  setRngState,
  sum,
  Tensor,
  tensor,
  zeros,
  zerosLike,
} from '../src/index.ts';

describe('creation', () => {
  it('tensor() from a number, nested arrays, flat data with a shape and typed arrays', () => {
    const s = tensor(2.5);
    expect(s.shape).toEqual([]);
    expect(s.item()).toBe(2.5);
    const m = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(m.shape).toEqual([2, 3]);
    expect(Array.from(m.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(tensor([[[1], [2]]]).shape).toEqual([1, 2, 1]);
    expect(tensor([]).shape).toEqual([0]);
    const f = tensor([1, 2, 3, 4, 5, 6], { shape: [3, 2] });
    expect(f.toArray()).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    const t64 = tensor(new Float64Array([0.1, 0.2]));
    expect(t64.dtype).toBe('float64');
    expect(t64.data[0]).toBe(0.1);
    expect(tensor(new Float32Array([1, 2])).dtype).toBe('float32');
    expect(tensor(Int32Array.from([7, 8])).toArray()).toEqual([7, 8]);
  });

  it('tensor() copies its input', () => {
    const src = new Float64Array([1, 2]);
    const t = tensor(src);
    src[0] = 99;
    expect(t.data[0]).toBe(1);
  });

  it('defaults to float32 and rounds accordingly; float64 on request', () => {
    const x = tensor([0.1]);
    expect(x.dtype).toBe('float32');
    expect(x.data).toBeInstanceOf(Float32Array);
    expect(x.item()).toBe(Math.fround(0.1));
    const y = tensor([0.1], { dtype: 'float64' });
    expect(y.data).toBeInstanceOf(Float64Array);
    expect(y.item()).toBe(0.1);
    expect(zeros([2]).dtype).toBe('float32');
    expect(randn([2]).dtype).toBe('float32');
    expect(x.to('float64').dtype).toBe('float64');
    expect(x.to('float32')).toBe(x);
  });

  it('requiresGrad option and defaults', () => {
    expect(tensor([1]).requiresGrad).toBe(false);
    expect(tensor([1], { requiresGrad: true }).requiresGrad).toBe(true);
    expect(zeros([1], { requiresGrad: true }).requiresGrad).toBe(true);
    const x = tensor([1]);
    expect(x.grad).toBeNull();
    expect(x.isLeaf).toBe(true);
  });

  it('zeros, ones, full, eye, arange, linspace and *Like', () => {
    expect(zeros([2, 2]).toArray()).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect(ones([3]).toArray()).toEqual([1, 1, 1]);
    expect(full([2], 7, { dtype: 'float64' }).toArray()).toEqual([7, 7]);
    expect(eye(2, 3).toArray()).toEqual([
      [1, 0, 0],
      [0, 1, 0],
    ]);
    expect(eye(2).shape).toEqual([2, 2]);
    expect(arange(4).toArray()).toEqual([0, 1, 2, 3]);
    expect(arange(1, 2, 0.25).toArray()).toEqual([1, 1.25, 1.5, 1.75]);
    expect(arange(3, 0, -1).toArray()).toEqual([3, 2, 1]);
    expect(linspace(0, 1, 5).toArray()).toEqual([0, 0.25, 0.5, 0.75, 1]);
    const base = ones([2, 3], { dtype: 'float64' });
    for (const like of [
      zerosLike(base),
      onesLike(base),
      fullLike(base, 3),
      randLike(base),
      randnLike(base),
    ]) {
      expect(like.shape).toEqual([2, 3]);
      expect(like.dtype).toBe('float64');
    }
    expect(Array.from(fullLike(base, 3).data)).toEqual([3, 3, 3, 3, 3, 3]);
    expect(zerosLike(base, { dtype: 'float32' }).dtype).toBe('float32');
  });

  it('toArray, item and size of scalars and empty tensors', () => {
    expect(tensor(3).toArray()).toBe(3);
    expect(zeros([2, 0]).toArray()).toEqual([[], []]);
    expect(zeros([0, 2]).toArray()).toEqual([]);
    expect(tensor([[5]]).item()).toBe(5);
    const t = ones([2, 3, 4]);
    expect(t.size).toBe(24);
    expect(t.ndim).toBe(3);
    expect(Object.isFrozen(t.shape)).toBe(true);
  });

  it('the Tensor constructor checks that the data fills the shape', () => {
    expect(() => new Tensor(new Float32Array(5), [2, 3])).toThrow(
      'Tensor: 5 elements do not fill shape [2,3] (6 needed)',
    );
  });
});

describe('numbers met by ops', () => {
  it('become one scalar tensor per dtype and value, and a −0 keeps its sign', () => {
    const x = tensor([1, -2], { requiresGrad: true });
    const scalarOf = (y: Tensor) => y.gradFn!.inputs[1]!;
    expect(scalarOf(mul(x, 3))).toBe(scalarOf(mul(x, 3)));
    expect(scalarOf(mul(x, 3))).not.toBe(scalarOf(mul(x.to('float64'), 3)));
    expect(Array.from(scalarOf(mul(x, 0)).data)).toEqual([0]);
    expect(Object.is(scalarOf(mul(x, -0)).data[0], -0)).toBe(true);
    expect(Array.from(mul(x, -0).data).map((v) => Object.is(v, -0))).toEqual([true, false]);
    expect(Array.from(mul(x, 0).data).map((v) => Object.is(v, -0))).toEqual([false, true]);
  });
});

describe('seeded randomness', () => {
  it('manualSeed makes every random draw reproducible', () => {
    manualSeed(42);
    const a = [randn([5]), rand([5]), randint(0, 10, [5])].map((t) => Array.from(t.data));
    manualSeed(42);
    const b = [randn([5]), rand([5]), randint(0, 10, [5])].map((t) => Array.from(t.data));
    expect(b).toEqual(a);
    manualSeed(43);
    expect(Array.from(randn([5]).data)).not.toEqual(a[0]);
  });

  it('getRngState / setRngState resume a stream exactly', () => {
    manualSeed(7);
    randn([3]);
    const saved = getRngState();
    const next = Array.from(randn([4], { dtype: 'float64' }).data);
    randn([10]);
    setRngState(saved);
    expect(Array.from(randn([4], { dtype: 'float64' }).data)).toEqual(next);
    // The saved state is a copy: drawing does not change it.
    expect(getRngState()).not.toEqual(saved);
    expect(() => setRngState([1, 2, 3])).toThrow('setRngState: expected the 4 unsigned 32-bit words');
  });

  it('draws from the right distributions', () => {
    manualSeed(0);
    const u = rand([20000], { dtype: 'float64' });
    expect(Math.min(...u.data)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u.data)).toBeLessThan(1);
    expect(sum(u).item() / u.size).toBeCloseTo(0.5, 2);
    const n = randn([20000], { dtype: 'float64' });
    const mean = sum(n).item() / n.size;
    const variance = Array.from(n.data).reduce((s, v) => s + (v - mean) ** 2, 0) / n.size;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
    const k = randint(-2, 3, [5000]);
    const seen = new Set(k.data);
    expect([...seen].sort()).toEqual([-1, -2, 0, 1, 2].sort());
  });
});

describe('index arguments', () => {
  it('indexSelect accepts number[], Int32Array and tensors of whole numbers alike', () => {
    const x = tensor([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    const expected = [
      [5, 6],
      [1, 2],
      [5, 6],
    ];
    expect(indexSelect(x, 0, [2, 0, 2]).toArray()).toEqual(expected);
    expect(indexSelect(x, 0, Int32Array.from([2, 0, 2])).toArray()).toEqual(expected);
    expect(indexSelect(x, 0, tensor([2, 0, 2])).toArray()).toEqual(expected);
    expect(indexSelect(x, -1, [1]).toArray()).toEqual([[2], [4], [6]]);
  });

  it('gather picks along a dim with an index tensor', () => {
    const x = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(
      gather(
        x,
        1,
        tensor([
          [2, 0],
          [1, 1],
        ]),
      ).toArray(),
    ).toEqual([
      [3, 1],
      [5, 5],
    ]);
    expect(gather(x, 0, tensor([[1, 0, 1]])).toArray()).toEqual([[4, 2, 6]]);
  });
});

describe('methods', () => {
  it('delegate to the op functions', () => {
    const x = tensor([
      [1, -2],
      [3, 4],
    ]);
    expect(x.add(1).mul(2).toArray()).toEqual([
      [4, -2],
      [8, 10],
    ]);
    expect(x.relu().sum().item()).toBe(8);
    expect(x.transpose(0, 1).toArray()).toEqual([
      [1, 3],
      [-2, 4],
    ]);
    expect(x.reshape(4).toArray()).toEqual([1, -2, 3, 4]);
    expect(x.reshape([1, 4]).shape).toEqual([1, 4]);
    expect(x.max(1).toArray()).toEqual([1, 4]);
    expect(x.argmax(1).toArray()).toEqual([0, 1]);
    expect(x.matmul(x).toArray()).toEqual([
      [-5, -10],
      [15, 10],
    ]);
  });
});
