/**
 * The Tensor: contiguous row-major storage, a shape, and its place in the autograd graph.
 * Methods are thin delegates to the op functions (one implementation per op, in `ops/`).
 */
import { type DType, dtypeOf, type TypedArray } from './dtype.ts';
import { type BackwardOptions, type GradHook, type Node, runBackward } from './engine.ts';
import { forgetOutput } from './kernels/wasm/module.ts';
import { type Pending, realize } from './lazy.ts';
import * as ops from './ops/index.ts';
import { fmt, type Shape, sizeOf } from './shape.ts';

/**
 * A tensor or a plain number; numbers take the dtype of the tensor they meet (a non-integral number meeting
 * an int32 tensor makes the op float32, see `promoteScalar`).
 */
export type TensorLike = Tensor | number;

/** Nested arrays of numbers, as produced by `toArray()`. */
export type NestedArray = number | NestedArray[];

/** The hooks of a tensor that has none (shared: hooks are replaced, never edited in place). */
const NO_HOOKS: readonly GradHook[] = Object.freeze([]);

/** An n-d array of float32, float64 or int32 values in row-major order, and its place in the autograd graph. */
export class Tensor {
  private storage: TypedArray | null;
  /** What will compute this tensor's elements, while they are not computed yet (see lazy.ts). */
  pending: Pending | null;
  /** Sizes of the dimensions (frozen); `[]` for a scalar. */
  readonly shape: readonly number[];
  /** Element type, from the storage: `'float32'`, `'float64'` or `'int32'`. */
  readonly dtype: DType;
  /** Number of elements. */
  readonly size: number;
  private requires = false;
  /** The accumulated gradient, written by `backward()` on leaves and on tensors that `retainGrad()`. */
  grad: Tensor | null = null;
  /** The op that produced this tensor (null for leaves). */
  gradFn: Node | null = null;
  /** Which of `gradFn`'s outputs this tensor is (ops such as `split` have several). */
  outputIndex = 0;
  /** Set by `retainGrad()`: a non-leaf that keeps its gradient in `.grad`. */
  retainsGrad = false;
  /** Gradient hooks, run in order when this tensor's gradient is computed (replaced, never edited). */
  hooks: readonly GradHook[] = NO_HOOKS;
  /** In-place changes counted here, until this tensor shares its storage's counter (see `version`). */
  private ownVersion = 0;
  /** The counter of the storage this tensor shares with others (`shareVersion`), and its value at joining. */
  private shared: { count: number } | null = null;
  private joinedAt = 0;

  constructor(data: TypedArray, shape: Shape);
  /** A tensor whose elements `pending` computes when they are first read (see lazy.ts). */
  constructor(data: null, shape: Shape, pending: Pending, dtype: DType);
  constructor(data: TypedArray | null, shape: Shape, pending: Pending | null = null, dtype?: DType) {
    if (!validShape(shape)) {
      throw new Error(`Tensor: invalid shape ${JSON.stringify(shape)} (dimensions must be integers >= 0)`);
    }
    if (
      data !== null &&
      !(data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array)
    ) {
      throw new Error(
        `Tensor: storage must be a Float32Array, Float64Array or Int32Array, got ${(data as object)?.constructor?.name ?? typeof data}`,
      );
    }
    const size = sizeOf(shape);
    if (data !== null && data.length !== size) {
      throw new Error(`Tensor: ${data.length} elements do not fill shape ${fmt(shape)} (${size} needed)`);
    }
    this.storage = data;
    this.pending = data === null ? pending : null;
    this.shape = Object.isFrozen(shape) ? shape : Object.freeze([...shape]);
    this.dtype = data === null ? dtype! : dtypeOf(data);
    this.size = size;
  }

  /**
   * Whether gradients flow to this tensor. Set on leaves you want gradients for; only float tensors can
   * (as in PyTorch: an index has no gradient).
   */
  get requiresGrad(): boolean {
    return this.requires;
  }
  /** Asks for gradients (true) or stops asking (false); an int32 tensor refuses true. */
  set requiresGrad(requires: boolean) {
    if (requires && this.dtype === 'int32') {
      throw new Error(
        `requiresGrad: only floating point tensors can require gradients, and this one of shape ${fmt(this.shape)} is int32; convert it with .to('float32') first`,
      );
    }
    this.requires = requires;
  }

  /** Contiguous row-major elements (computed on first read when the tensor is pending). */
  get data(): TypedArray {
    if (this.storage === null) realize(this);
    return this.storage!;
  }

  /**
   * Declares that the elements were changed in place. Optimizers, `loadStateDict`, `Module.to` and the
   * initialisers call it; code writing `.data` directly should too, or backward cannot tell.
   */
  bumpVersion(): void {
    if (this.shared) this.shared.count++;
    else this.ownVersion++;
    if (this.storage !== null) forgetOutput(this.storage);
  }

  /**
   * Counts in-place changes of the elements (`bumpVersion`): backward and pending computations that read
   * this tensor before a change refuse to run after it, rather than use the new values silently. Tensors
   * that share storage (a reshape, rows, `detach`) share the count, as PyTorch's views share their base's:
   * a change declared on any of them is a change of all.
   */
  get version(): number {
    return this.shared ? this.ownVersion + this.shared.count - this.joinedAt : this.ownVersion;
  }

  /**
   * Declares that this tensor reads the storage of `base` (or a part of it): from now on they count their
   * in-place changes together. Each keeps the version it had, so nothing recorded before reads as changed.
   */
  shareVersion(base: Tensor): this {
    if (base.shared === null) {
      base.shared = { count: 0 };
      base.joinedAt = 0;
    }
    this.ownVersion = this.version;
    this.shared = base.shared;
    this.joinedAt = base.shared.count;
    return this;
  }

  /** Whether the elements are computed (false while pending). */
  get isRealized(): boolean {
    return this.storage !== null;
  }

  /**
   * Points this tensor at `data` (its shape's size; the dtype follows the array): how a pending tensor gets
   * its computed elements, and how `Module.to()` converts a parameter in place, keeping the object.
   */
  setStorage(data: TypedArray): void {
    if (data.length !== this.size) {
      throw new Error(
        `setStorage: ${data.length} elements do not fill shape ${fmt(this.shape)} (${this.size} needed)`,
      );
    }
    if (this.requires && data instanceof Int32Array) {
      throw new Error(
        `setStorage: a tensor of shape ${fmt(this.shape)} that requires grad cannot hold int32 storage`,
      );
    }
    if (this.storage !== null) {
      // New elements for a computed tensor: an in-place change of this one, which shares nothing any more.
      this.ownVersion = this.version + 1;
      this.shared = null;
    }
    this.storage = data;
    this.pending = null;
    (this as { dtype: DType }).dtype = dtypeOf(data);
  }

  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }
  /** True for tensors no op produced (parameters, inputs). */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  /** Sets `requiresGrad` in place and returns this tensor (chainable, like PyTorch's `requires_grad_`). */
  requiresGrad_(requires = true): this {
    if (!this.isLeaf && !requires) {
      throw new Error(
        `requiresGrad_: cannot turn off requiresGrad on a non-leaf tensor of shape ${fmt(this.shape)}; use detach()`,
      );
    }
    this.requiresGrad = requires;
    return this;
  }
  /** The single value of a one-element tensor. */
  item(): number {
    if (this.data.length !== 1)
      throw new Error(
        `item: tensor of shape ${fmt(this.shape)} has ${this.data.length} elements, expected 1`,
      );
    return this.data[0]!;
  }
  /** The elements as nested arrays (a number for a scalar). */
  toArray(): NestedArray {
    const build = (dim: number, offset: number, stride: number): NestedArray => {
      if (dim === this.shape.length) return this.data[offset]!;
      const n = this.shape[dim]!;
      const inner = stride / Math.max(n, 1);
      return Array.from({ length: n }, (_, i) => build(dim + 1, offset + i * inner, inner));
    };
    return build(0, 0, this.data.length);
  }
  /** A readable form: values, shape, dtype and whether it requires grad. */
  toString(): string {
    return `Tensor(${JSON.stringify(this.toArray())}, shape=${fmt(this.shape)}, dtype=${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  /**
   * Backpropagates from this tensor, accumulating into the `.grad` of leaves. `grad` defaults to 1 and may
   * be omitted only for one-element tensors.
   */
  backward(grad?: TensorLike, options: BackwardOptions = {}): void {
    if (!this.requiresGrad) {
      throw new Error(
        `backward: tensor of shape ${fmt(this.shape)} does not require grad (no input it depends on has requiresGrad)`,
      );
    }
    let seed: Tensor;
    if (grad === undefined) {
      if (this.size !== 1) {
        throw new Error(
          `backward: a gradient can be implied only for one-element outputs; pass one of shape ${fmt(this.shape)}`,
        );
      }
      seed = ops.onesLike(this);
    } else {
      if (typeof grad !== 'number' && !(grad instanceof Tensor)) {
        throw new Error(
          `backward: the gradient must be a Tensor or a number, got ${Array.isArray(grad) ? 'an array (wrap it with tensor())' : typeof grad}`,
        );
      }
      seed = typeof grad === 'number' ? ops.fullLike(this, grad) : grad;
      if (seed.dtype !== this.dtype) {
        throw new Error(
          `backward: gradient of dtype ${seed.dtype} for an output of dtype ${this.dtype}; convert with .to()`,
        );
      }
      if (!ops.sameShape(seed, this)) {
        throw new Error(
          `backward: gradient of shape ${fmt(seed.shape)} does not match output shape ${fmt(this.shape)}`,
        );
      }
    }
    runBackward([this], [seed], options);
  }
  /** Keeps this non-leaf tensor's gradient in `.grad` after backward. */
  retainGrad(): this {
    this.retainsGrad = true;
    return this;
  }
  /** Registers a hook called with this tensor's gradient during backward; it may return a replacement. */
  registerHook(hook: GradHook): {
    /** Unregisters the hook. */
    remove(): void;
  } {
    if (typeof hook !== 'function') {
      throw new Error(`registerHook: expected a function (grad) => Tensor | undefined, got ${typeof hook}`);
    }
    this.hooks = [...this.hooks, hook];
    return {
      remove: () => {
        this.hooks = this.hooks.filter((h) => h !== hook);
      },
    };
  }

  detach(): Tensor {
    return ops.detach(this);
  }
  clone(): Tensor {
    return ops.clone(this);
  }
  to(dtype: DType): Tensor {
    return ops.cast(this, dtype);
  }

  add(other: TensorLike): Tensor {
    return ops.add(this, other);
  }
  sub(other: TensorLike): Tensor {
    return ops.sub(this, other);
  }
  mul(other: TensorLike): Tensor {
    return ops.mul(this, other);
  }
  div(other: TensorLike): Tensor {
    return ops.div(this, other);
  }
  pow(exponent: TensorLike): Tensor {
    return ops.pow(this, exponent);
  }
  maximum(other: TensorLike): Tensor {
    return ops.maximum(this, other);
  }
  minimum(other: TensorLike): Tensor {
    return ops.minimum(this, other);
  }
  gt(other: TensorLike): Tensor {
    return ops.gt(this, other);
  }
  lt(other: TensorLike): Tensor {
    return ops.lt(this, other);
  }
  ge(other: TensorLike): Tensor {
    return ops.ge(this, other);
  }
  le(other: TensorLike): Tensor {
    return ops.le(this, other);
  }
  eq(other: TensorLike): Tensor {
    return ops.eq(this, other);
  }
  ne(other: TensorLike): Tensor {
    return ops.ne(this, other);
  }

  neg(): Tensor {
    return ops.neg(this);
  }
  exp(): Tensor {
    return ops.exp(this);
  }
  log(): Tensor {
    return ops.log(this);
  }
  sqrt(): Tensor {
    return ops.sqrt(this);
  }
  abs(): Tensor {
    return ops.abs(this);
  }
  tanh(): Tensor {
    return ops.tanh(this);
  }
  sigmoid(): Tensor {
    return ops.sigmoid(this);
  }
  relu(): Tensor {
    return ops.relu(this);
  }
  clamp(min?: number, max?: number): Tensor {
    return ops.clamp(this, min, max);
  }

  sum(dim?: number | number[], keepdim = false): Tensor {
    return ops.sum(this, dim, keepdim);
  }
  mean(dim?: number | number[], keepdim = false): Tensor {
    return ops.mean(this, dim, keepdim);
  }
  max(dim?: number | number[], keepdim = false): Tensor {
    return ops.max(this, dim, keepdim);
  }
  min(dim?: number | number[], keepdim = false): Tensor {
    return ops.min(this, dim, keepdim);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return ops.argmax(this, dim, keepdim);
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return ops.argmin(this, dim, keepdim);
  }
  logsumexp(dim?: number | number[], keepdim = false): Tensor {
    return ops.logsumexp(this, dim, keepdim);
  }
  var(dim?: number | number[], options: ops.VarOptions = {}): Tensor {
    return ops.variance(this, dim, options);
  }
  softmax(dim: number): Tensor {
    return ops.softmax(this, dim);
  }
  logSoftmax(dim: number): Tensor {
    return ops.logSoftmax(this, dim);
  }

  reshape(...shape: number[] | [number[]]): Tensor {
    return ops.reshape(this, shape.flat());
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return ops.flatten(this, startDim, endDim);
  }
  transpose(dim0: number, dim1: number): Tensor {
    return ops.transpose(this, dim0, dim1);
  }
  permute(...dims: number[] | [number[]]): Tensor {
    return ops.permute(this, dims.flat());
  }
  squeeze(dim?: number): Tensor {
    return ops.squeeze(this, dim);
  }
  unsqueeze(dim: number): Tensor {
    return ops.unsqueeze(this, dim);
  }
  broadcastTo(shape: Shape): Tensor {
    return ops.broadcastTo(this, shape);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return ops.narrow(this, dim, start, length);
  }
  slice(dim: number, start?: number, end?: number): Tensor {
    return ops.slice(this, dim, start, end);
  }
  split(splitSize: number | number[], dim = 0): Tensor[] {
    return ops.split(this, splitSize, dim);
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return ops.chunk(this, chunks, dim);
  }
  indexSelect(dim: number, index: ops.IndexLike): Tensor {
    return ops.indexSelect(this, dim, index);
  }
  gather(dim: number, index: Tensor): Tensor {
    return ops.gather(this, dim, index);
  }
  matmul(other: Tensor): Tensor {
    return ops.matmul(this, other);
  }
}

function validShape(shape: Shape): boolean {
  if (!Array.isArray(shape)) return false;
  for (let i = 0; i < shape.length; i++) if (!Number.isInteger(shape[i]) || shape[i]! < 0) return false;
  return true;
}
