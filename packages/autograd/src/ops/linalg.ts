/**
 * Matrix products. `gemm` is the primitive: op(A)·op(B) over matrices or equal-size batches of them, with
 * transpose flags so that no gradient ever materialises a transpose. `matmul` adds NumPy semantics
 * (1-d operands, broadcast batch dims) on top by composition; `linear` is x·Wᵀ + b, one node that adds b
 * into the product's own storage.
 */
import { deferredProduct } from '../deferred.ts';
import { isGradEnabled, record } from '../engine.ts';
import { matmul as matmulKernel } from '../kernels/matmul.ts';
import { keepResident, withResidentScope } from '../kernels/wasm/module.ts';
import { broadcastShapes, fmt, sizeOf } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { checkFloatOperands, checkTensor, empty } from './helpers.ts';
import { broadcastTo, reshape, squeeze, unsqueeze } from './movement.ts';
import { sum } from './reduce.ts';

/** Options of `gemm`: which operands to use transposed. */
export interface GemmOptions {
  /** Use `aᵀ`. Default false. */
  transA?: boolean;
  /** Use `bᵀ`. Default false. */
  transB?: boolean;
}

/**
 * C = op(A)·op(B) for 2-d A, B or 3-d batches of equal size, op = transpose when its flag is set.
 * VJP (with G = ∂L/∂C): ∂A = G·op(B)ᵀ (or its transpose when transA), ∂B = op(A)ᵀ·G (or its transpose when
 * transB); each is again one gemm with flags, reading G, A and B in place.
 */
export function gemm(a: Tensor, b: Tensor, options: GemmOptions = {}): Tensor {
  const { transA = false, transB = false } = options;
  checkTensor('gemm', a);
  checkTensor('gemm', b);
  checkFloatOperands('gemm', a, b);
  const rank = a.ndim;
  if ((rank !== 2 && rank !== 3) || b.ndim !== rank || (rank === 3 && a.shape[0] !== b.shape[0])) {
    throw new Error(
      `gemm: expected two matrices or two equal batches of matrices, got ${fmt(a.shape)} and ${fmt(b.shape)}`,
    );
  }
  const batch = rank === 3 ? a.shape[0]! : 1;
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const [m, k] = transA ? [ac, ar] : [ar, ac];
  const [k2, n] = transB ? [bc, br] : [br, bc];
  if (k !== k2) {
    throw new Error(
      `gemm: cannot multiply ${fmt(a.shape)}${transA ? 'ᵀ' : ''} by ${fmt(b.shape)}${transB ? 'ᵀ' : ''} (inner dimensions ${k} != ${k2})`,
    );
  }
  const y = empty(rank === 3 ? [batch, m, n] : [m, n], a.dtype);
  // A parameter (a weight) stays resident for the rest of an open scope (see withResidentWeights).
  if (b.isLeaf && b.requiresGrad) keepResident(b.data);
  for (let i = 0; i < batch; i++) {
    matmulKernel(a.data, i * m * k, b.data, i * k * n, y.data, i * m * n, m, n, k, transA, transB);
  }
  return record('gemm', [a, b], y, (g) => {
    // ∂B of an untransposed A is a product Xᵀ·Y over the rows of A: deferred, so the terms B receives from
    // every step of a loop become one product (deferred.ts). Recorded passes keep plain gemm nodes.
    const deferB = rank === 2 && !transA && !isGradEnabled();
    return [
      a.requiresGrad
        ? transA
          ? gemm(b, g, { transA: transB, transB: true })
          : gemm(g, b, { transB: !transB })
        : null,
      b.requiresGrad
        ? transB
          ? deferB
            ? deferredProduct(g, a)
            : gemm(g, a, { transA: true, transB: transA })
          : deferB
            ? deferredProduct(a, g)
            : gemm(a, g, { transA: !transA })
        : null,
    ];
  });
}

/**
 * Matrix product with NumPy/PyTorch semantics: 1-d·1-d is a dot product, a 1-d operand is treated as a
 * row (left) or column (right) vector and that dim removed, and leading batch dims broadcast.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkTensor('matmul', a);
  checkTensor('matmul', b);
  checkFloatOperands('matmul', a, b); // mixed dtypes are reported as matmul's, not as the gemm inside it
  if (a.ndim === 0 || b.ndim === 0)
    throw new Error(
      `matmul: both arguments need at least 1 dimension, got ${fmt(a.shape)} and ${fmt(b.shape)}`,
    );
  const ka = a.shape[a.ndim - 1]!;
  const kb = b.ndim === 1 ? b.shape[0]! : b.shape[b.ndim - 2]!;
  if (ka !== kb)
    throw new Error(
      `matmul: cannot multiply ${fmt(a.shape)} by ${fmt(b.shape)} (inner dimensions ${ka} != ${kb})`,
    );
  // 1-d·1-d is the dot product: [1,k]·[k,1] → [1,1] → [] (squeezing one dim at a time would fail on [1]).
  if (a.ndim === 1 && b.ndim === 1) return reshape(gemm(unsqueeze(a, 0), unsqueeze(b, 1)), []);
  if (a.ndim === 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.ndim === 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  if (a.ndim === 2 && b.ndim === 2) return gemm(a, b);
  // Broadcast the batch dims, flatten them into one, multiply, and restore them.
  const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const m = a.shape[a.ndim - 2]!;
  const n = b.shape[b.ndim - 1]!;
  const a3 = reshape(broadcastTo(a, [...batch, m, ka]), [sizeOf(batch), m, ka]);
  const b3 = reshape(broadcastTo(b, [...batch, ka, n]), [sizeOf(batch), ka, n]);
  return reshape(gemm(a3, b3), [...batch, m, n]);
}

/** x·Wᵀ + b for x of shape [..., in], W [out, in], b [out]; W is read transposed in place. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  checkTensor('linear', x);
  checkTensor('linear', weight, 'weight');
  if (bias) checkFloatOperands('linear', x, weight, bias);
  else checkFloatOperands('linear', x, weight);
  if (weight.ndim !== 2 || x.ndim === 0 || x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw new Error(
      `linear: input ${fmt(x.shape)} does not match weight ${fmt(weight.shape)} (expected input [..., ${weight.shape[1]}])`,
    );
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new Error(
      `linear: bias ${fmt(bias.shape)} does not match weight ${fmt(weight.shape)} (expected [${weight.shape[0]}])`,
    );
  }
  const rows = reshape(x, [-1, weight.shape[1]!]);
  const y = bias ? affine(rows, weight, bias) : gemm(rows, weight, { transB: true });
  return reshape(y, [...x.shape.slice(0, -1), weight.shape[0]!]);
}

/**
 * Y = X·Wᵀ + b for X [n, in], W [out, in], b [out], as one node: the product kernel adds b to each row
 * (PyTorch's addmm; the wasm kernel accumulates onto C filled with b), where gemm then a broadcast add
 * would allocate and fill a second [n, out] array. VJP (G = ∂L/∂Y): ∂X = G·W, ∂W = Gᵀ·X, ∂b = Σ_rows G.
 */
function affine(rows: Tensor, weight: Tensor, bias: Tensor): Tensor {
  const [n, k] = rows.shape as [number, number];
  const width = weight.shape[0]!;
  const y = empty([n, width], rows.dtype);
  matmulKernel(rows.data, 0, weight.data, 0, y.data, 0, n, width, k, false, true, bias.data);
  return record('linear', [rows, weight, bias], y, (g) => [
    rows.requiresGrad ? gemm(g, weight) : null,
    weight.requiresGrad
      ? isGradEnabled()
        ? gemm(g, rows, { transA: true })
        : deferredProduct(g, rows)
      : null,
    bias.requiresGrad ? sum(g, 0) : null,
  ]);
}

/**
 * Runs `fn` as a scope in which the parameters that products read (leaf tensors that require grad, such as a
 * recurrent weight read at every step) stay packed in the WebAssembly kernels' memory after their first
 * use, instead of being copied in at every product (float32; elsewhere just `fn()`). `fn` must not write
 * them. The time loops run in one, and so does every backward pass (the engine's).
 */
export function withResidentWeights<T>(fn: () => T): T {
  return withResidentScope(fn);
}
