/** Bad input gets a clear error naming the op and the shapes or values, never a wrong answer. */
import { describe, expect, it } from 'vitest';
import {
  add,
  broadcastTo,
  cat,
  gather,
  gemm,
  indexAdd,
  indexSelect,
  linear,
  log,
  log1p,
  matmul,
  mul,
  narrow,
  ones,
  permute,
  randn,
  reshape,
  slice,
  softmax,
  split,
  sqrt,
  stack,
  sub,
  sum,
  Tensor,
  tensor,
  transpose,
  where,
  zeros,
} from '../src/index.ts';

const z = (...shape: number[]) => zeros(shape);

describe('shape mismatches', () => {
  it('add of shapes that do not broadcast', () => {
    expect(() => add(z(2, 3), z(4, 3))).toThrow(
      'add: shapes [2,3] and [4,3] cannot be broadcast together (dimension 1 from the end: 2 vs 4)',
    );
  });

  it('matmul with mismatched inner dimensions', () => {
    expect(() => matmul(z(2, 3), z(4, 5))).toThrow(
      'matmul: cannot multiply [2,3] by [4,5] (inner dimensions 3 != 4)',
    );
    expect(() => matmul(z(3), z(4))).toThrow('matmul: cannot multiply [3] by [4]');
    expect(() => matmul(z(2, 2, 3), z(5, 3, 1))).toThrow(
      /matmul: shapes \[2\] and \[5\] cannot be broadcast together/,
    );
  });

  it('gemm with mismatched inner dimensions or batches', () => {
    expect(() => gemm(z(2, 3), z(2, 3), { transB: false })).toThrow(
      'gemm: cannot multiply [2,3] by [2,3] (inner dimensions 3 != 2)',
    );
    expect(() => gemm(z(2, 2, 3), z(3, 3, 4))).toThrow(
      /gemm: expected two matrices or two equal batches.*\[2,2,3\] and \[3,3,4\]/,
    );
  });

  it('linear with a weight that does not fit', () => {
    expect(() => linear(z(5, 3), z(4, 2))).toThrow(
      'linear: input [5,3] does not match weight [4,2] (expected input [..., 2])',
    );
    expect(() => linear(z(5, 3), z(4, 3), z(3))).toThrow(
      'linear: bias [3] does not match weight [4,3] (expected [4])',
    );
  });

  it('cat of mismatched shapes', () => {
    expect(() => cat([z(2, 3), z(2, 4)], 0)).toThrow(
      'cat: tensors must agree except in dim 0: got [2,3] float32, [2,4] float32',
    );
    expect(() => stack([z(2, 3), z(3, 2)])).toThrow(
      'stack: all tensors must have one shape, got [2,3], [3,2]',
    );
  });

  it('reshape to an incompatible size', () => {
    expect(() => reshape(z(2, 3), [4, 2])).toThrow(
      'reshape: cannot reshape [2,3] (6 elements) to [4,2] (8 elements)',
    );
    expect(() => reshape(z(2, 3), [4, -1])).toThrow('reshape: cannot reshape [2,3] (6 elements) to [4,-1]');
  });

  it('broadcastTo a shape that is not a broadcast of the input', () => {
    expect(() => broadcastTo(z(2, 3), [3, 3])).toThrow(
      /broadcastTo: shapes \[2,3\] and \[3,3\] cannot be broadcast/,
    );
    expect(() => broadcastTo(z(3), [3, 1])).toThrow('broadcastTo: cannot broadcast [3] to [3,1]');
  });

  it('split sizes that do not add up', () => {
    expect(() => split(z(5, 2), [2, 2])).toThrow(
      'split: sizes [2,2] do not add up to 5, the size of dim 0 of [5,2]',
    );
  });

  it('narrow past the end', () => {
    expect(() => narrow(z(2, 3), 1, 2, 2)).toThrow(
      'narrow: start 2 and length 2 exceed dim 1 of size 3 in shape [2,3]',
    );
  });
});

describe('bad dims', () => {
  it('a dim out of range', () => {
    expect(() => sum(z(2, 3), 2)).toThrow(
      'sum: dim 2 is out of range for a tensor of rank 2 (expected an integer in [-2, 1])',
    );
    expect(() => softmax(z(2, 3), -3)).toThrow('softmax: dim -3 is out of range for a tensor of rank 2');
    expect(() => transpose(z(2, 3), 0, 5)).toThrow('transpose: dim 5 is out of range for a tensor of rank 2');
  });

  it('a dim listed twice', () => {
    expect(() => sum(z(2, 3), [0, -2])).toThrow('sum: dim 0 appears more than once in [0,0]');
    expect(() => permute(z(2, 3), [1, 1])).toThrow(
      'permute: [1,1] is not a permutation of the 2 dims of [2,3]',
    );
    expect(() => permute(z(2, 3), [1])).toThrow('permute: [1] is not a permutation of the 2 dims of [2,3]');
  });
});

describe('indices out of range', () => {
  it('indexSelect', () => {
    expect(() => indexSelect(z(3, 2), 0, [0, 5])).toThrow(
      'indexSelect: index 5 at position 1 is out of range for a dimension of size 3 (expected an integer in [0, 2])',
    );
    expect(() => indexSelect(z(3, 2), 0, Int32Array.from([-1]))).toThrow(
      'indexSelect: index -1 at position 0',
    );
    expect(() => indexSelect(z(3, 2), 0, [1.5])).toThrow('indexSelect: index 1.5 at position 0');
  });

  it('gather', () => {
    const index = tensor([[0, 3]]);
    expect(() => gather(z(2, 3), 1, index)).toThrow(
      'gather: index 3 at position 1 is out of range for a dimension of size 3 (expected an integer in [0, 2])',
    );
    expect(() => gather(z(2, 3), 1, tensor([0, 1]))).toThrow(
      'gather: index of shape [2] does not fit input [2,3] along dim 1',
    );
  });

  it('indexAdd with a source of the wrong shape', () => {
    expect(() => indexAdd(z(3, 2), 0, [0, 1], z(3, 2))).toThrow(
      'indexAdd: src has shape [3,2] (float32), expected [2,2] (float32)',
    );
  });
});

describe('dtypes', () => {
  it('mixed float32 and float64 operands', () => {
    const a = ones([2]);
    const b = ones([2], { dtype: 'float64' });
    expect(() => add(a, b)).toThrow('add: dtype mismatch: float32 [2] vs float64 [2]; convert with .to()');
    expect(() => mul(b, a)).toThrow('mul: dtype mismatch: float64 [2] vs float32 [2]');
    expect(() => matmul(ones([2, 2]), ones([2, 2], { dtype: 'float64' }))).toThrow(
      'matmul: dtype mismatch: float32 [2,2] vs float64 [2,2]',
    );
    expect(() => linear(ones([1, 2]), ones([3, 2]), ones([3], { dtype: 'float64' }))).toThrow(
      'linear: dtype mismatch: float32 [1,2] vs float32 [3,2] vs float64 [3]',
    );
    expect(() => where(tensor([1, 0]), a, b)).toThrow('where: dtype mismatch');
    expect(() => cat([a, b])).toThrow(
      'cat: tensors must agree except in dim 0: got [2] float32, [2] float64',
    );
  });

  it('an unknown dtype', () => {
    expect(() => zeros([2], { dtype: 'int64' as never })).toThrow(
      `full: unknown dtype "int64" (expected 'float32', 'float64', 'int32')`,
    );
    expect(() => randn([2], { dtype: 'int32' })).toThrow(
      `randn: unsupported dtype "int32" (expected 'float32', 'float64')`,
    );
  });

  it('a plain array where a tensor is expected', () => {
    expect(() => add([1, 2] as never, 1)).toThrow(
      'add: argument 0 must be a Tensor, got an array (wrap it with tensor())',
    );
  });
});

describe('backward misuse', () => {
  it('backward on a non-scalar without a gradient', () => {
    const x = ones([2, 3], { requiresGrad: true });
    expect(() => mul(x, 2).backward()).toThrow(
      'backward: a gradient can be implied only for one-element outputs; pass one of shape [2,3]',
    );
    expect(() => mul(x, 2).backward(ones([3]))).toThrow(
      'backward: gradient of shape [3] does not match output shape [2,3]',
    );
  });

  it('backward on a tensor that does not require grad', () => {
    expect(() => sum(ones([2])).backward()).toThrow(
      'backward: tensor of shape [] does not require grad (no input it depends on has requiresGrad)',
    );
  });
});

describe('domains', () => {
  it('log, log1p and sqrt outside their domain give NaN, as in PyTorch (and read no value while pending)', () => {
    expect(Array.from(log(tensor([1, -1])).data)).toEqual([0, Number.NaN]);
    expect(Array.from(sqrt(tensor([[4, 0, -0.5]])).data)).toEqual([2, 0, Number.NaN]);
    expect(Array.from(log1p(tensor([-2])).data)).toEqual([Number.NaN]);
    const pending = sub(tensor([1, 2]), 3);
    const root = sqrt(pending);
    expect(pending.isRealized || root.isRealized).toBe(false);
    expect(Array.from(root.data)).toEqual([Number.NaN, Number.NaN]);
  });

  it('and the boundary gives its limit (log 0 = -∞, log1p(−1) = −∞, √0 = 0)', () => {
    expect(log(tensor([0])).item()).toBe(Number.NEGATIVE_INFINITY);
    expect(log1p(tensor([-1])).item()).toBe(Number.NEGATIVE_INFINITY);
    expect(sqrt(tensor([0])).item()).toBe(0);
  });
});

describe('creation', () => {
  it('tensor() from ragged arrays', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(
      'tensor: ragged nested array (expected 2 entries at depth 1, shape [2,2])',
    );
    expect(() => tensor([[1, 2], 3] as never)).toThrow(
      'tensor: ragged nested array (expected 2 entries at depth 1, shape [2,2])',
    );
    expect(() => tensor([1, [2, 3]] as never)).toThrow(
      'tensor: ragged nested array (expected a number at depth 1, shape [2])',
    );
  });

  it('tensor() with data that does not fill the shape', () => {
    expect(() => tensor([1, 2, 3], { shape: [2, 2] })).toThrow(
      'tensor: 3 values do not fill shape [2,2] (4 needed)',
    );
    expect(() => zeros([2, -1])).toThrow('full: invalid shape [2,-1] (dimensions must be integers >= 0)');
  });

  it('item() of a tensor with several elements', () => {
    expect(() => ones([2, 2]).item()).toThrow('item: tensor of shape [2,2] has 4 elements, expected 1');
  });
});

describe('tensor construction', () => {
  it('refuses invalid shapes, foreign storage and sizes past what the runtime can allocate, by name', () => {
    expect(() => new Tensor(new Float32Array(2), [-1, -2])).toThrow(
      'Tensor: invalid shape [-1,-2] (dimensions must be integers >= 0)',
    );
    expect(() => new Tensor(new Float32Array(3), [1.5, 2])).toThrow('Tensor: invalid shape [1.5,2]');
    expect(() => new Tensor(new Uint32Array(2) as unknown as Float32Array, [2])).toThrow(
      'Tensor: storage must be a Float32Array, Float64Array or Int32Array, got Uint32Array',
    );
    expect(() => new Tensor([1, 2] as unknown as Float32Array, [2])).toThrow(
      'Tensor: storage must be a Float32Array, Float64Array or Int32Array, got Array',
    );
    expect(() => new Tensor(new Float32Array(3), [2])).toThrow(
      'Tensor: 3 elements do not fill shape [2] (2 needed)',
    );
    expect(() => zeros([1e6, 1e6])).toThrow(/^allocate: cannot allocate 1000000000000 float32 elements/);
  });
});

describe('misuse of backward, hooks and slice', () => {
  it('names the call and what it expected', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = mul(x, 2);
    expect(() => y.backward([1, 1] as unknown as Tensor)).toThrow(
      'backward: the gradient must be a Tensor or a number, got an array (wrap it with tensor())',
    );
    expect(() => y.backward(tensor([1, 1], { dtype: 'float64' }))).toThrow(
      'backward: gradient of dtype float64 for an output of dtype float32; convert with .to()',
    );
    expect(() => y.registerHook(42 as unknown as () => undefined)).toThrow(
      'registerHook: expected a function (grad) => Tensor | undefined, got number',
    );
    const z = mul(x, 3);
    z.registerHook(() => 5 as unknown as Tensor);
    expect(() => sum(z).backward()).toThrow(
      'backward: a hook on a tensor of shape [2] returned number; a hook returns a Tensor or nothing',
    );
    expect(() => slice(tensor([1, 2, 3]), 0, 0.5)).toThrow(
      'slice: start and end must be integers, got start=0.5',
    );
  });
});
