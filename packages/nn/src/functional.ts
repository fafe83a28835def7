/**
 * Stateless building blocks behind the layers (PyTorch's `torch.nn.functional`): dropout, layer norm, GELU and
 * embedding lookup. Each is composed from differentiable autograd ops, so gradients (and gradients of
 * gradients) come for free and no backward is written by hand.
 */
import {
  add,
  div,
  erf,
  indexSelect,
  mean,
  mul,
  rand,
  reshape,
  sqrt,
  sub,
  Tensor,
  tanh,
  where,
} from '@tensorloom/autograd';

const fmtShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

/**
 * Integer ids accepted by `embedding` and the classification losses: a plain array, an Int32Array, or a
 * tensor, int32 (exact for any id) or float holding whole numbers.
 */
export type Ids = readonly number[] | Int32Array | Tensor;

/**
 * Randomly zeroes each element with probability `p` and scales the survivors by 1/(1 − p), so the expected
 * value is unchanged; the identity when not `training` (or p = 0). The mask comes from the seeded generator.
 */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: probability p must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  // The mask holds 0 or 1/(1 − p) in x's dtype; with p = 1 every element is dropped (and nothing scaled).
  const u = rand(x.shape, { dtype: 'float64' }).data;
  const scale = p === 1 ? 0 : 1 / (1 - p);
  const mask = new Tensor(
    x.dtype === 'float64' ? new Float64Array(u.length) : new Float32Array(u.length),
    x.shape,
  );
  const m = mask.data;
  for (let i = 0; i < u.length; i++) m[i] = u[i]! >= p ? scale : 0;
  return mul(x, mask);
}

/**
 * Layer normalisation over the trailing dims given by `normalizedShape`:
 * y = (x − E[x]) / √(Var[x] + eps) · weight + bias, with the biased (population) variance, as PyTorch.
 */
export function layerNorm(
  x: Tensor,
  normalizedShape: number | readonly number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  const shape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  const k = shape.length;
  const tail = x.shape.slice(x.ndim - k);
  if (k === 0 || x.ndim < k || tail.some((n, i) => n !== shape[i])) {
    throw new Error(
      `layerNorm: input ${fmtShape(x.shape)} does not end with normalizedShape ${fmtShape(shape)}`,
    );
  }
  for (const [name, t] of [
    ['weight', weight],
    ['bias', bias],
  ] as const) {
    if (t && fmtShape(t.shape) !== fmtShape(shape)) {
      throw new Error(
        `layerNorm: ${name} ${fmtShape(t.shape)} does not match normalizedShape ${fmtShape(shape)}`,
      );
    }
  }
  const dims = shape.map((_, i) => x.ndim - k + i);
  const centred = sub(x, mean(x, dims, true));
  const variance = mean(mul(centred, centred), dims, true);
  let y = div(centred, sqrt(add(variance, eps)));
  if (weight) y = mul(y, weight);
  if (bias) y = add(y, bias);
  return y;
}

/**
 * GELU, x·Φ(x). Exact by default: ½x(1 + erf(x/√2)), PyTorch's default; with `approximate: 'tanh'`,
 * ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
 */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  if (approximate === 'tanh') {
    const inner = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  }
  if (approximate !== 'none')
    throw new Error(`gelu: approximate must be 'none' or 'tanh', got '${approximate}'`);
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}

/**
 * Looks up rows of `weight` [numEmbeddings, dim] for integer `ids` of any shape: the result has shape
 * ids.shape + [dim]. Positions whose id is `paddingIdx` read that row but send it no gradient (PyTorch).
 */
export function embedding(weight: Tensor, ids: Ids, paddingIdx?: number | null): Tensor {
  if (weight.ndim !== 2)
    throw new Error(`embedding: weight must be [numEmbeddings, embeddingDim], got ${fmtShape(weight.shape)}`);
  const [num, dim] = weight.shape as [number, number];
  const shape = ids instanceof Tensor ? [...ids.shape] : [ids.length];
  const values: ArrayLike<number> = ids instanceof Tensor ? ids.data : ids;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= num) {
      throw new Error(
        `embedding: id ${v} at flat position ${i} of ids ${fmtShape(shape)} is ${Number.isInteger(v) ? 'out of range' : 'not an integer'} for ${num} embeddings (expected an integer in [0, ${num - 1}])`,
      );
    }
  }
  const flat = values instanceof Int32Array ? values : Int32Array.from(values);
  const rows = indexSelect(weight, 0, flat);
  let out = rows;
  // A negative paddingIdx counts from the end, as PyTorch.
  const pad =
    paddingIdx !== undefined && paddingIdx !== null && paddingIdx < 0 ? paddingIdx + num : paddingIdx;
  if (pad !== undefined && pad !== null && weight.requiresGrad) {
    // Same values, but padding positions read the row through a detached copy, so its gradient stays zero.
    const keep = new Tensor(
      weight.dtype === 'float64' ? new Float64Array(flat.length) : new Float32Array(flat.length),
      [flat.length, 1],
    );
    for (let i = 0; i < flat.length; i++) keep.data[i] = flat[i] === pad ? 0 : 1;
    out = where(keep, rows, rows.detach());
  }
  return reshape(out, [...shape, dim]);
}
