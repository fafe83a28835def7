/**
 * Elementwise binary ops with NumPy broadcasting, and `where`. Broadcasting is handled once, in `binary`:
 * operands are read at the output's shape, and each operand's gradient is summed back to its own shape
 * with `sumTo` (the VJP of broadcasting), so the per-op rules below are written as if shapes agreed.
 * Operands are brought to one dtype by `coerce` (PyTorch's type promotion); int32 results wrap like
 * Int32Array, `div` of integers is true division (float32), and integer `pow` is refused.
 */
import { isGradEnabled, record, type Vjp } from '../engine.ts';
import * as k from '../kernels/elementwise.ts';
import { type Eager, markSaved } from '../lazy.ts';
import { broadcastShapes, fmt, repeatsAlongLeadingDims, shapesEqual } from '../shape.ts';
import type { Tensor, TensorLike } from '../tensor.ts';
import { zerosLike } from './creation.ts';
import { coerce, dataAt, elementwise, empty, floatOperand, onePer } from './helpers.ts';
import { sumTo } from './movement.ts';
import { abs, log } from './unary.ts';

type Rule = (g: Tensor, a: Tensor, b: Tensor, y: Tensor) => [Tensor | null, Tensor | null];

/** int32 kernels where the float kernel's double arithmetic would not wrap exactly (a product past 2^53). */
const INT32_KERNELS: Readonly<Record<string, k.BinaryKernel>> = { mul: k.imul };

/** Ops whose result is not an integer: int32 operands are computed in float32 (PyTorch's true division). */
const FLOAT_RESULT = new Set(['div']);

/**
 * The operands as tensors of one dtype (`coerce`), int32 ones in float32 for an op whose result is not an
 * integer: a new array, which the result's pending node and graph node keep.
 */
function operands(op: string, a: TensorLike, b: TensorLike): Tensor[] {
  const args = coerce(op, a, b);
  const [ta, tb] = args as [Tensor, Tensor];
  if (ta.dtype !== 'int32') return args;
  if (FLOAT_RESULT.has(op)) return [floatOperand(ta), floatOperand(tb)];
  if (op === 'pow') {
    throw new Error(
      `pow: integer powers of int32 tensors are not supported (shapes ${fmt(ta.shape)} and ${fmt(tb.shape)}); convert with .to('float32')`,
    );
  }
  return args;
}

/** The op over its operands (from `operands`): pending while fusion is on. */
function result(op: string, args: Tensor[], kernel: k.BinaryKernel): Tensor {
  const [ta, tb] = args as [Tensor, Tensor];
  if (ta.dtype === 'int32') kernel = INT32_KERNELS[op] ?? kernel;
  // The output's shape: an operand's own (frozen) shape when the other is a scalar or of that shape.
  const shape =
    tb.ndim === 0 || shapesEqual(ta.shape, tb.shape)
      ? ta.shape
      : ta.ndim === 0
        ? tb.shape
        : broadcastShapes(op, ta.shape, tb.shape);
  return elementwise(op, args, shape, onePer(EAGER, kernel, kernel, eagerOf));
}

/** Each kernel's unfused op (see `Eager`). */
const EAGER = new Map<k.BinaryKernel, Eager>();

function eagerOf(kernel: k.BinaryKernel): Eager {
  return (args, shape) => eager(args[0]!, args[1]!, shape, kernel);
}

/** The unfused kernel: operands read at the output's shape. */
function eager(ta: Tensor, tb: Tensor, shape: readonly number[], kernel: k.BinaryKernel): Tensor {
  const y = empty(shape, ta.dtype);
  const n = y.size;
  // A full-size operand with a block repeated along leading dims (a bias row): the kernel runs block by
  // block on views, instead of first expanding the block to a full-size copy.
  if (ta.size === n && tb.size < n && tb.size >= MIN_BLOCK && repeatsAlongLeadingDims(tb.shape, shape)) {
    const m = tb.size;
    for (let o = 0; o < n; o += m) kernel(ta.data.subarray(o, o + m), tb.data, y.data.subarray(o, o + m));
  } else if (
    tb.size === n &&
    ta.size < n &&
    ta.size >= MIN_BLOCK &&
    repeatsAlongLeadingDims(ta.shape, shape)
  ) {
    const m = ta.size;
    for (let o = 0; o < n; o += m) kernel(ta.data, tb.data.subarray(o, o + m), y.data.subarray(o, o + m));
  } else kernel(dataAt(ta, shape), dataAt(tb, shape), y.data);
  return y;
}

/** Below this block size the per-block views cost more than expanding the operand. */
const MIN_BLOCK = 32;

/**
 * `reads`: which of a, b and the output y the rule reads (kept for backward rather than recomputed). The
 * rule is made into the op's VJP once, on its first call (`onePer`): it must read nothing but its arguments.
 */
function binary(
  op: string,
  a: TensorLike,
  b: TensorLike,
  kernel: k.BinaryKernel,
  rule: Rule,
  reads: ReadonlyArray<'a' | 'b' | 'y'> = [],
): Tensor {
  const args = operands(op, a, b);
  const y = result(op, args, kernel);
  const [ta, tb] = args as [Tensor, Tensor];
  if (reads.length > 0 && isGradEnabled() && (ta.requiresGrad || tb.requiresGrad)) {
    for (const r of reads) markSaved(r === 'a' ? ta : r === 'b' ? tb : y);
  }
  return record(op, args, y, onePer(VJPS, op, rule, vjpOf));
}

/** Each op's VJP (see `onePer`). */
const VJPS = new Map<string, Vjp>();

/** The VJP of a rule: operands and output read from the node, each gradient summed back to its operand's shape. */
function vjpOf(rule: Rule): Vjp {
  return (g, node) => {
    const [ta, tb] = node.inputs as [Tensor, Tensor];
    const [ga, gb] = rule(g, ta, tb, node.output!);
    return [
      ga && ta.requiresGrad ? sumTo(ga, ta.shape) : null,
      gb && tb.requiresGrad ? sumTo(gb, tb.shape) : null,
    ];
  };
}

/**
 * A comparison: 1 where it holds, else 0, in the operands' common dtype (PyTorch gives bool; int32 inputs
 * give int32); not differentiable.
 */
function comparison(op: string, a: TensorLike, b: TensorLike, kernel: k.BinaryKernel): Tensor {
  return result(op, operands(op, a, b), kernel);
}

/** a + b.  ∂/∂a = 1, ∂/∂b = 1 */
export function add(a: TensorLike, b: TensorLike): Tensor {
  return binary('add', a, b, k.add, (g) => [g, g]);
}

/** a − b.  ∂/∂a = 1, ∂/∂b = −1 */
export function sub(a: TensorLike, b: TensorLike): Tensor {
  return binary('sub', a, b, k.sub, (g, _a, b) => [g, b.requiresGrad ? mul(g, -1) : null]);
}

/** a ⊙ b.  ∂/∂a = b, ∂/∂b = a */
export function mul(a: TensorLike, b: TensorLike): Tensor {
  return binary(
    'mul',
    a,
    b,
    k.mul,
    (g, a, b) => [a.requiresGrad ? mul(g, b) : null, b.requiresGrad ? mul(g, a) : null],
    ['a', 'b'],
  );
}

/** a / b.  ∂/∂a = 1/b, ∂/∂b = −a/b² = −y/b */
export function div(a: TensorLike, b: TensorLike): Tensor {
  return binary(
    'div',
    a,
    b,
    k.div,
    (g, a, b, y) => [a.requiresGrad ? div(g, b) : null, b.requiresGrad ? mul(g, div(y, b)).mul(-1) : null],
    ['b', 'y'],
  );
}

/**
 * aᵇ.  ∂/∂a = b·aᵇ⁻¹, which is 0 at b = 0 (a⁰ is constant; as PyTorch). See `powBaseDerivative` for
 * the entries where that product would be 0·∞.
 * ∂/∂b = aᵇ·ln a. The exponent's gradient is taken as 0 where a ≤ 0 (ln a is undefined there; PyTorch
 * gives 0 at a = 0 and NaN for a < 0).
 */
export function pow(a: TensorLike, b: TensorLike): Tensor {
  return binary(
    'pow',
    a,
    b,
    k.pow,
    (g, a, b, y) => [
      a.requiresGrad ? mul(g, powBaseDerivative(a, b)) : null,
      b.requiresGrad ? mul(g, mul(y, log(where(gt(a, 0), a, 1)))) : null,
    ],
    ['a', 'b', 'y'],
  );
}

/**
 * b·aᵇ⁻¹. At b = 0 it is 0, but where a⁻¹ overflows (a = 0, or subnormal) the product is 0·∞ = NaN: those
 * entries alone are masked to 0 (elsewhere the product keeps its derivative ∂/∂b = aᵇ⁻¹, needed for second
 * order), and they read a = 1 inside, so the unused branch stays finite and its zero gradient does not turn
 * into 0·∞ in second derivatives.
 */
function powBaseDerivative(a: Tensor, b: Tensor): Tensor {
  const overflow = eq(abs(pow(a.detach(), sub(b.detach(), 1))), Number.POSITIVE_INFINITY);
  const masked = mul(eq(b, 0), overflow);
  return where(masked, 0, mul(b, pow(where(masked, 1, a), sub(b, 1))));
}

/**
 * Elementwise max.  The gradient goes to the larger operand; at ties it is split evenly (½ each), as
 * PyTorch does, so the result stays a valid subgradient and symmetric.
 */
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  return binary(
    'maximum',
    a,
    b,
    k.maximum,
    (g, a, b) => {
      const half = mul(eq(a, b), 0.5);
      return [mul(g, add(gt(a, b), half)), mul(g, add(lt(a, b), half))];
    },
    ['a', 'b'],
  );
}

/** Elementwise min; gradient to the smaller operand, split evenly at ties. */
export function minimum(a: TensorLike, b: TensorLike): Tensor {
  return binary(
    'minimum',
    a,
    b,
    k.minimum,
    (g, a, b) => {
      const half = mul(eq(a, b), 0.5);
      return [mul(g, add(lt(a, b), half)), mul(g, add(gt(a, b), half))];
    },
    ['a', 'b'],
  );
}

/** 1 where a > b, else 0. */
export function gt(a: TensorLike, b: TensorLike): Tensor {
  return comparison('gt', a, b, k.gt);
}
/** 1 where a < b, else 0. */
export function lt(a: TensorLike, b: TensorLike): Tensor {
  return comparison('lt', a, b, k.lt);
}
/** 1 where a ≥ b, else 0. */
export function ge(a: TensorLike, b: TensorLike): Tensor {
  return comparison('ge', a, b, k.ge);
}
/** 1 where a ≤ b, else 0. */
export function le(a: TensorLike, b: TensorLike): Tensor {
  return comparison('le', a, b, k.le);
}
/** 1 where a = b, else 0. */
export function eq(a: TensorLike, b: TensorLike): Tensor {
  return comparison('eq', a, b, k.eq);
}
/** 1 where a ≠ b, else 0. */
export function ne(a: TensorLike, b: TensorLike): Tensor {
  return comparison('ne', a, b, k.ne);
}

/** `where` over computed arguments: each read at the output's shape. */
const eagerWhere: Eager = ([tc, ta, tb], shape) => {
  const out = empty(shape, ta!.dtype);
  k.where(dataAt(tc!, shape), dataAt(ta!, shape), dataAt(tb!, shape), out.data);
  return out;
};

/**
 * Picks a where `condition` is non-zero, else b, broadcasting all three.
 * ∂/∂a = condition, ∂/∂b = 1 − condition (the condition itself gets no gradient).
 */
export function where(condition: TensorLike, a: TensorLike, b: TensorLike): Tensor {
  const [ta, tb] = coerce('where', a, b) as [Tensor, Tensor];
  // The condition is only read, so its dtype need not match. Into int32 it goes as 0/1, since casting a
  // float condition such as 0.5 would truncate it to 0.
  let cond = condition;
  if (typeof cond !== 'number' && ta.dtype === 'int32' && cond.dtype !== 'int32') cond = ne(cond, 0);
  const [tc] = coerce('where', typeof cond === 'number' ? cond : cond.to(ta.dtype)) as [Tensor];
  const shape = broadcastShapes('where', tc.shape, ta.shape, tb.shape);
  const y = elementwise('where', [tc, ta, tb], shape, eagerWhere);
  if (isGradEnabled() && (ta.requiresGrad || tb.requiresGrad)) markSaved(tc);
  return record('where', [ta, tb], y, (g) => {
    const zero = zerosLike(g);
    return [
      ta.requiresGrad ? sumTo(where(tc, g, zero), ta.shape) : null,
      tb.requiresGrad ? sumTo(where(tc, zero, g), tb.shape) : null,
    ];
  });
}
