/**
 * `Module`, the base of every layer: parameters and submodules are found by walking the object's own
 * fields in definition order (no manual registration), and named with PyTorch's dotted paths
 * (`encoder.0.weight`), so state dicts line up key for key with PyTorch's.
 */
import { cast, type DType, noGrad, Tensor, type TypedArray } from '@tensorloom/autograd';

/**
 * Points a parameter at the storage of `value` (same shape, possibly another dtype), keeping the object: what
 * PyTorch's `Module._apply` does with `param.data = fn(param.data)`.
 */
function setStorage(p: Parameter, value: Tensor): void {
  p.setStorage(value.data);
}

/**
 * A tensor that is a learnable parameter of a module: a leaf with `requiresGrad` set. It shares the storage
 * of `value` (and so its count of in-place changes), as `torch.nn.Parameter` does.
 */
export class Parameter extends Tensor {
  constructor(value: Tensor, requiresGrad = true) {
    super(value.data, value.shape);
    this.shareVersion(value);
    if (requiresGrad && this.dtype === 'int32') {
      throw new Error(
        `Parameter: an int32 tensor of shape [${value.shape}] cannot be trained (only floating point tensors can require gradients); convert it with .to('float32'), or pass requiresGrad false`,
      );
    }
    this.requiresGrad = requiresGrad;
  }
}

/** What `loadStateDict` did not match; with `strict` (the default) any entry here is an error instead. */
export interface LoadResult {
  /** Keys of this module's state that the given state dict lacks. */
  missingKeys: string[];
  /** Keys of the given state dict that this module does not have. */
  unexpectedKeys: string[];
}

const BUFFERS = Symbol('buffers');

/**
 * The base of layers and models, as PyTorch's `nn.Module`: parameters are the `Parameter` fields and
 * submodules the `Module` fields (found by walking the fields, no registration), named by field path;
 * `stateDict`/`loadStateDict` save and restore them under those names.
 */
export abstract class Module {
  /** Training mode (dropout active). Toggle with `train()` / `eval()`. */
  training = true;
  private [BUFFERS] = new Set<string>();

  /** Marks field `name` (holding a tensor or null) as a buffer: saved in the state dict, not trained. */
  protected registerBuffer(name: string, value: Tensor | null): void {
    (this as unknown as Record<string, unknown>)[name] = value;
    this[BUFFERS].add(name);
  }

  /** Direct submodules with their field names, in definition order. */
  *namedChildren(): Generator<[string, Module]> {
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Module) yield [key, value];
    }
  }
  /** Direct submodules, in definition order. */
  *children(): Generator<Module> {
    for (const [, m] of this.namedChildren()) yield m;
  }
  /** This module and every descendant, depth first, with dotted names ('' for this one). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [key, child] of this.namedChildren())
      yield* child.namedModules(prefix ? `${prefix}.${key}` : key);
  }
  /** This module and every descendant, depth first. */
  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }

  /** Own parameters (fields holding a `Parameter`) with their field names. */
  private *ownParameters(): Generator<[string, Parameter]> {
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Parameter) yield [key, value];
    }
  }
  /** Every parameter with its dotted name, each tensor once. */
  *namedParameters(prefix = '', recurse = true): Generator<[string, Parameter]> {
    const seen = new Set<Tensor>();
    const modules: Iterable<[string, Module]> = recurse ? this.namedModules(prefix) : [[prefix, this]];
    for (const [path, m] of modules) {
      for (const [key, p] of m.ownParameters()) {
        if (seen.has(p)) continue;
        seen.add(p);
        yield [path ? `${path}.${key}` : key, p];
      }
    }
  }
  /** Every parameter, each once (pass to an optimizer). */
  parameters(recurse = true): Parameter[] {
    return Array.from(this.namedParameters('', recurse), ([, p]) => p);
  }
  /** Registered buffers (e.g. running statistics) with dotted names. */
  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    for (const [path, m] of this.namedModules(prefix)) {
      for (const key of m[BUFFERS]) {
        const value = (m as unknown as Record<string, unknown>)[key];
        if (value instanceof Tensor) yield [path ? `${path}.${key}` : key, value];
      }
    }
  }

  /** Sets training mode here and in every submodule. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  /** Evaluation mode: `train(false)`. */
  eval(): this {
    return this.train(false);
  }
  /** Clears every parameter's gradient (sets it to null). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }
  /** Calls fn on this module and every descendant. */
  apply(fn: (module: Module) => void): this {
    for (const m of this.modules()) fn(m);
    return this;
  }

  /** Parameters and buffers by PyTorch key name. The tensors share storage with the module. */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = Object.create(null);
    for (const [name, p] of this.namedParameters()) out[name] = p.detach();
    for (const [name, b] of this.namedBuffers()) out[name] = b.detach();
    return out;
  }

  /**
   * Copies values from `stateDict` into this module's parameters and buffers in place (so optimizers keep
   * their references), converting dtype if needed. With `strict` (default), missing or unexpected keys are
   * an error; a shape mismatch is always an error. Nothing is written unless every check passes.
   */
  loadStateDict(stateDict: Readonly<Record<string, Tensor>>, options: { strict?: boolean } = {}): LoadResult {
    return this.prepareLoadStateDict(stateDict, options)();
  }

  /**
   * The checking half of `loadStateDict`: validates `stateDict` completely and returns a function that
   * writes it (and cannot fail), so a caller restoring several objects (`restoreCheckpoint`) can check them
   * all before changing any. Each entry is read exactly once, so an object whose getters answer differently
   * on a second read cannot slip past the checks. A subclass that customises loading overrides this method.
   */
  prepareLoadStateDict(
    stateDict: Readonly<Record<string, Tensor>>,
    options: { strict?: boolean } = {},
  ): () => LoadResult {
    const where = `loadStateDict (${this.constructor.name})`;
    if (typeof stateDict !== 'object' || stateDict === null || Array.isArray(stateDict)) {
      const got = stateDict === null ? 'null' : Array.isArray(stateDict) ? 'an array' : typeof stateDict;
      throw new Error(`${where}: expected an object of Tensors by key (as stateDict() returns), got ${got}`);
    }
    const { strict = true } = options ?? {};
    const own = new Map<string, Tensor>([...this.namedParameters(), ...this.namedBuffers()]);
    const keys = Object.keys(stateDict);
    const missingKeys = [...own.keys()].filter((k) => !Object.hasOwn(stateDict, k));
    const unexpectedKeys = keys.filter((k) => !own.has(k));
    const problems: string[] = [];
    // The storage to copy from, per target, captured during validation and used unchanged by the write.
    const writes: [Tensor, TypedArray][] = [];
    for (const key of keys) {
      const target = own.get(key);
      if (!target) continue;
      const value: unknown = stateDict[key];
      if (!(value instanceof Tensor)) {
        problems.push(`${key}: expected a Tensor, got ${value === null ? 'null' : typeof value}`);
        continue;
      }
      const data = value.data;
      if (value.shape.join() !== target.shape.join()) {
        problems.push(`${key}: shape [${value.shape}] in the state dict, [${target.shape}] in the module`);
      } else if (data.length !== target.size) {
        problems.push(`${key}: ${data.length} elements in the state dict, ${target.size} in the module`);
      } else {
        writes.push([target, data]);
      }
    }
    if (strict && missingKeys.length > 0) problems.push(`missing keys: ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length > 0) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    if (problems.length > 0) throw new Error(`${where}: ${problems.join('; ')}`);
    return () => {
      for (const [target, data] of writes) {
        target.data.set(data);
        target.bumpVersion();
      }
      return { missingKeys, unexpectedKeys };
    };
  }

  /**
   * Converts every floating parameter and buffer to `dtype`; int32 ones (indices, counts) keep their dtype,
   * as PyTorch converts only floating tensors. Parameters are converted in place: each keeps its identity (and
   * `requiresGrad`), so an optimizer built before the call goes on training the same objects; a gradient is
   * converted with its parameter. Buffers are replaced by converted copies, as in PyTorch.
   * Convert before building a graph: a graph recorded earlier still refers to the old values.
   */
  to(dtype: DType): this {
    if (dtype !== 'float32' && dtype !== 'float64') {
      throw new Error(
        `${this.constructor.name}.to: unknown dtype ${JSON.stringify(dtype)} (expected 'float32' or 'float64')`,
      );
    }
    noGrad(() => {
      // A parameter shared by several modules (tied weights) is converted once; the dtype check skips it after.
      for (const p of this.parameters()) {
        if (p.dtype === dtype || p.dtype === 'int32') continue;
        setStorage(p, cast(p, dtype));
        if (p.grad !== null && p.grad.dtype !== dtype) p.grad = cast(p.grad, dtype);
      }
      for (const m of this.modules()) {
        const fields = m as unknown as Record<string, unknown>;
        for (const key of m[BUFFERS]) {
          const value = fields[key];
          if (value instanceof Tensor && value.dtype !== dtype && value.dtype !== 'int32') {
            fields[key] = cast(value, dtype);
          }
        }
      }
    });
    return this;
  }
  /** `to('float64')`. */
  double(): this {
    return this.to('float64');
  }
  /** `to('float32')`. */
  float(): this {
    return this.to('float32');
  }

  /** Total number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }
}
