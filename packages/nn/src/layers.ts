/**
 * Layers with PyTorch's constructors, parameter names (`weight`, `bias`), shapes and default
 * initialisations, so a PyTorch state dict loads key for key. Each layer holds its parameters as `Parameter`
 * fields (found by `Module`) and computes with the composed functions of `functional.ts`.
 */
import {
  type DType,
  getRngState,
  linear,
  ones,
  relu,
  setRngState,
  sigmoid,
  type Tensor,
  tanh,
  zeros,
} from '@tensorloom/autograd';
import { dropout, embedding, gelu, type Ids, layerNorm } from './functional.ts';
import { kaimingUniform_, normal_, uniform_ } from './init.ts';
import { Module, Parameter } from './module.ts';

const fmtShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

function checkSize(op: string, name: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new Error(`${op}: ${name} must be an integer >= 0, got ${n}`);
}

/** A module that maps one tensor to one tensor: what `Sequential` chains. */
export type Layer = Module & {
  /** The layer applied to a tensor. */
  forward(input: Tensor): Tensor;
};

/** Options of `Linear`. */
export interface LinearOptions {
  /** Learn an additive bias. Default true. */
  bias?: boolean;
  /** Default 'float32'. */
  dtype?: DType;
}

/**
 * y = x·Wᵀ + b over the last dim: x [..., inFeatures] → y [..., outFeatures], weight [outFeatures, inFeatures].
 * Initialised like PyTorch: kaimingUniform_(a = √5) on the weight, which is U(−1/√in, 1/√in), and the bias
 * from the same interval.
 */
export class Linear extends Module {
  /** Features of the input's last dimension. */
  readonly inFeatures: number;
  /** Features of the output's last dimension. */
  readonly outFeatures: number;
  /** W [outFeatures, inFeatures], drawn from U(−1/√in, 1/√in). */
  weight: Parameter;
  /** b [outFeatures] (U(−1/√in, 1/√in)), or null without bias. */
  bias: Parameter | null;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    super();
    const { bias = true, dtype = 'float32' } = options;
    checkSize('Linear', 'inFeatures', inFeatures);
    checkSize('Linear', 'outFeatures', outFeatures);
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.weight = new Parameter(zeros([outFeatures, inFeatures], { dtype }));
    this.bias = bias ? new Parameter(zeros([outFeatures], { dtype })) : null;
    this.resetParameters();
  }

  /** Redraws the parameters with PyTorch's default initialisation. */
  resetParameters(): void {
    // gain = √(2/(1 + a²)) = √(1/3) with a = √5, so bound = √3·gain/√in = 1/√in.
    kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const bound = this.inFeatures > 0 ? 1 / Math.sqrt(this.inFeatures) : 0;
      uniform_(this.bias, -bound, bound);
    }
  }

  /** x [..., inFeatures] → [..., outFeatures]. */
  forward(x: Tensor): Tensor {
    if (x.ndim === 0 || x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new Error(
        `Linear(${this.inFeatures}, ${this.outFeatures}): input ${fmtShape(x.shape)} must have last dim ${this.inFeatures}`,
      );
    }
    return linear(x, this.weight, this.bias);
  }
}

/** Options of `Embedding`. */
export interface EmbeddingOptions {
  /** A row that is zero-initialised and receives no gradient (negative counts from the end). */
  paddingIdx?: number | null;
  /** Default 'float32'. */
  dtype?: DType;
}

/**
 * A lookup table of `numEmbeddings` vectors of size `embeddingDim`: ids of any shape → ids.shape + [embeddingDim].
 * Weight initialised N(0, 1), with the padding row (if any) zeroed, as PyTorch.
 */
export class Embedding extends Module {
  /** Rows of the table (the vocabulary size). */
  readonly numEmbeddings: number;
  /** Size of each vector. */
  readonly embeddingDim: number;
  /** The id whose vector stays zero and gets no gradient, or null. */
  readonly paddingIdx: number | null;
  /** The table [numEmbeddings, embeddingDim], drawn from N(0, 1) (the padding row zero). */
  weight: Parameter;

  constructor(numEmbeddings: number, embeddingDim: number, options: EmbeddingOptions = {}) {
    super();
    const { paddingIdx = null, dtype = 'float32' } = options;
    checkSize('Embedding', 'numEmbeddings', numEmbeddings);
    checkSize('Embedding', 'embeddingDim', embeddingDim);
    if (
      paddingIdx !== null &&
      !(Number.isInteger(paddingIdx) && paddingIdx >= -numEmbeddings && paddingIdx < numEmbeddings)
    ) {
      throw new Error(
        `Embedding: paddingIdx ${paddingIdx} must be an integer in [${-numEmbeddings}, ${numEmbeddings - 1}]`,
      );
    }
    this.numEmbeddings = numEmbeddings;
    this.embeddingDim = embeddingDim;
    this.paddingIdx = paddingIdx !== null && paddingIdx < 0 ? paddingIdx + numEmbeddings : paddingIdx;
    this.weight = new Parameter(zeros([numEmbeddings, embeddingDim], { dtype }));
    this.resetParameters();
  }

  /**
   * An embedding holding a copy of `embeddings` [num, dim]; frozen (no gradient) unless `freeze` is false,
   * like PyTorch's `Embedding.from_pretrained`.
   */
  static fromPretrained(
    embeddings: Tensor,
    options: { freeze?: boolean; paddingIdx?: number | null } = {},
  ): Embedding {
    const { freeze = true, paddingIdx = null } = options;
    if (embeddings.ndim !== 2)
      throw new Error(`Embedding.fromPretrained: expected a 2-d tensor, got ${fmtShape(embeddings.shape)}`);
    const [num, dim] = embeddings.shape as [number, number];
    // Constructing draws a random table that is overwritten at once; restoring the generator keeps later
    // draws where they would be without this call (PyTorch's from_pretrained draws nothing either).
    const rng = getRngState();
    const e = new Embedding(num, dim, { paddingIdx, dtype: embeddings.dtype });
    setRngState(rng);
    e.weight.data.set(embeddings.data);
    e.weight.bumpVersion();
    e.weight.requiresGrad = !freeze;
    return e;
  }

  /** Redraws the weight from N(0, 1) and zeroes the padding row. */
  resetParameters(): void {
    normal_(this.weight);
    if (this.paddingIdx !== null) {
      const d = this.embeddingDim;
      this.weight.data.fill(0, this.paddingIdx * d, (this.paddingIdx + 1) * d);
    }
  }

  /** Integer ids of any shape (array, Int32Array or tensor) → ids.shape + [embeddingDim]. */
  forward(ids: Ids): Tensor {
    return embedding(this.weight, ids, this.paddingIdx);
  }
}

/**
 * Zeroes each element with probability p during training and scales the rest by 1/(1 − p); the identity in
 * eval mode.
 */
export class Dropout extends Module {
  /** Probability of zeroing an element (in training mode). */
  readonly p: number;

  constructor(p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout: probability p must be in [0, 1], got ${p}`);
    this.p = p;
  }

  /** x with each element zeroed with probability p and the rest scaled by 1/(1 − p) in training mode; x itself in eval mode. */
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
}

/** Options of `LayerNorm`. */
export interface LayerNormOptions {
  /** Added to the variance. Default 1e-5. */
  eps?: number;
  /** Learn a per-element scale (`weight`, ones) and shift (`bias`, zeros). Default true. */
  elementwiseAffine?: boolean;
  /** Learn the shift `bias` when elementwiseAffine (PyTorch ≥ 2.1 option). Default true. */
  bias?: boolean;
  /** Default 'float32'. */
  dtype?: DType;
}

/** Normalises over the trailing `normalizedShape` dims, then scales and shifts elementwise (see `layerNorm`). */
export class LayerNorm extends Module {
  /** The trailing dimensions normalised over. */
  readonly normalizedShape: readonly number[];
  /** Added to the variance before the square root. */
  readonly eps: number;
  /** Whether the layer learns a scale (weight) and, by default, a shift (bias). */
  readonly elementwiseAffine: boolean;
  /** The scale γ over normalizedShape (ones at first), or null without elementwiseAffine. */
  weight: Parameter | null;
  /** The shift β over normalizedShape (zeros at first), or null. */
  bias: Parameter | null;

  constructor(normalizedShape: number | readonly number[], options: LayerNormOptions = {}) {
    super();
    const { eps = 1e-5, elementwiseAffine = true, bias = true, dtype = 'float32' } = options;
    const shape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    shape.forEach((n) => {
      checkSize('LayerNorm', 'normalizedShape', n);
    });
    this.normalizedShape = Object.freeze(shape);
    this.eps = eps;
    this.elementwiseAffine = elementwiseAffine;
    this.weight = elementwiseAffine ? new Parameter(ones(shape, { dtype })) : null;
    this.bias = elementwiseAffine && bias ? new Parameter(zeros(shape, { dtype })) : null;
  }

  /** (x − mean) / √(var + eps) over the trailing normalizedShape dims, then · γ + β. */
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
}

/** Sets numbered fields '0', '1', … on a container so `Module` names its children like PyTorch. */
function setChild(container: Module, index: number, module: Module, op: string): void {
  if (!(module instanceof Module)) throw new Error(`${op}: item ${index} is not a Module`);
  (container as unknown as Record<string, Module>)[String(index)] = module;
}

/** Chains layers: forward(x) = mₙ(…m₁(m₀(x))). Children are named '0', '1', … (so keys read `0.weight`). */
export class Sequential extends Module {
  readonly [index: number]: Layer;
  #length = 0;

  constructor(...modules: Layer[]) {
    super();
    modules.forEach((m, i) => {
      setChild(this, i, m, 'Sequential');
    });
    this.#length = modules.length;
  }

  /** Number of layers. */
  get length(): number {
    return this.#length;
  }

  /** The layer at `index` (negative counts from the end). */
  at(index: number): Layer {
    const i = index < 0 ? index + this.#length : index;
    const m = this[i];
    if (!Number.isInteger(i) || !m)
      throw new Error(`Sequential: index ${index} is out of range for ${this.#length} layers`);
    return m;
  }

  /** The layers, in order. */
  *[Symbol.iterator](): Iterator<Layer> {
    for (let i = 0; i < this.#length; i++) yield this[i]!;
  }

  /** The layers applied in order. */
  forward(x: Tensor): Tensor {
    for (const m of this) x = m.forward(x);
    return x;
  }
}

/** A list of modules whose parameters are registered under '0', '1', … (PyTorch's `ModuleList`). */
export class ModuleList<T extends Module = Module> extends Module {
  readonly [index: number]: T;
  #length = 0;

  constructor(modules: Iterable<T> = []) {
    super();
    for (const m of modules) this.push(m);
  }

  /** Number of modules. */
  get length(): number {
    return this.#length;
  }

  /** Appends modules (named by their position) and returns this list. */
  push(...modules: T[]): this {
    for (const m of modules) setChild(this, this.#length++, m, 'ModuleList');
    return this;
  }

  /** The module at `index` (negative counts from the end). */
  at(index: number): T {
    const i = index < 0 ? index + this.#length : index;
    const m = this[i];
    if (!Number.isInteger(i) || !m)
      throw new Error(`ModuleList: index ${index} is out of range for ${this.#length} modules`);
    return m;
  }

  /** The modules, in order. */
  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.#length; i++) yield this[i]!;
  }
}

/** tanh, elementwise. */
export class Tanh extends Module {
  /** tanh(x), elementwise. */
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/** The logistic sigmoid 1/(1 + e⁻ˣ), elementwise. */
export class Sigmoid extends Module {
  /** σ(x) = 1 / (1 + e^(−x)), elementwise. */
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

/** max(x, 0), elementwise. */
export class ReLU extends Module {
  /** max(x, 0), elementwise. */
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** GELU x·Φ(x): exact (erf) by default, or the tanh approximation (see `gelu`). */
export class GELU extends Module {
  /** 'none': x·Φ(x) exactly; 'tanh': the tanh approximation. */
  readonly approximate: 'none' | 'tanh';

  constructor(options: { approximate?: 'none' | 'tanh' } = {}) {
    super();
    this.approximate = options.approximate ?? 'none';
  }

  /** x·Φ(x) (or its tanh approximation), elementwise. */
  forward(x: Tensor): Tensor {
    return gelu(x, this.approximate);
  }
}

/** Returns its input unchanged (a placeholder layer). */
export class Identity extends Module {
  /** x unchanged. */
  forward(x: Tensor): Tensor {
    return x;
  }
}
