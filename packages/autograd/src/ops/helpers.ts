/** Small pieces every op family uses: coercing numbers, checking dtypes, allocating results. */
import { allocate, type DType, type TypedArray } from '../dtype.ts';
import { expand } from '../kernels/strided.ts';
import { isFusionEnabled, pendingNode } from '../lazy.ts';
import { fmt, type Shape, shapesEqual, sizeOf } from '../shape.ts';
import { Tensor, type TensorLike } from '../tensor.ts';

/** A fresh tensor of `shape` and `dtype`, zero-filled, for a kernel to write into. */
export function empty(shape: Shape, dtype: DType): Tensor {
  return new Tensor(allocate(dtype, sizeOf(shape)), shape);
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}

/** Throws unless `x` is a Tensor (catches plain arrays passed where tensors are expected). */
export function checkTensor(op: string, x: unknown, what = 'input'): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw new Error(`${op}: ${what} must be a Tensor, got ${describe(x)}`);
}

function describe(x: unknown): string {
  if (Array.isArray(x)) return 'an array (wrap it with tensor())';
  return x === null ? 'null' : typeof x;
}

/**
 * Brings the operands of an op to tensors of one dtype: numbers become scalars of the tensors' dtype,
 * and mixing float32 with float64 is an error (convert explicitly with `.to()`).
 */
export function coerce(op: string, ...xs: TensorLike[]): Tensor[] {
  const first = xs.find(isTensor);
  const dtype = first?.dtype ?? 'float32';
  return xs.map((x, i) => {
    if (typeof x === 'number') {
      const data = allocate(dtype, 1);
      data[0] = x;
      return new Tensor(data, []);
    }
    checkTensor(op, x, `argument ${i}`);
    if (x.dtype !== dtype) {
      throw new Error(
        `${op}: dtype mismatch: ${xs
          .filter(isTensor)
          .map((t) => `${t.dtype} ${fmt(t.shape)}`)
          .join(' vs ')}; convert with .to()`,
      );
    }
    return x;
  });
}

/** The data of `x` laid out at the broadcast shape `shape` (no copy when the shapes already agree). */
export function dataAt(x: Tensor, shape: Shape): TypedArray {
  if (shapesEqual(x.shape, shape)) return x.data;
  const out = allocate(x.dtype, sizeOf(shape));
  expand(x.data, x.shape, shape, out);
  return out;
}

/**
 * An elementwise op's result: pending (fused with its neighbours when it is read, see lazy.ts) while fusion
 * is on, else computed at once by `eager`.
 */
export function elementwise(
  op: string,
  args: readonly Tensor[],
  shape: Shape,
  eager: () => Tensor,
  params: readonly number[] = [],
): Tensor {
  if (!isFusionEnabled()) return eager();
  return new Tensor(null, shape, pendingNode(op, args, params, eager), args[args.length - 1]!.dtype);
}
