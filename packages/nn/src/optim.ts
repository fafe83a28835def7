/**
 * Optimizers with PyTorch 1.13's exact update rules (the single-tensor, non-foreach code path): `SGD`,
 * `Adam`, `AdamW`, `RMSprop` and `Adagrad`, over parameter groups with their own options.
 *
 * Updates are plain loops over the parameters' typed arrays: they write `param.data` in place (parameters
 * keep their identity, so modules and optimizers stay linked) and allocate nothing per step beyond the
 * state buffers created on a parameter's first update. Arithmetic is in double precision; float32
 * parameters and their state round on store.
 */
import { enableGrad, noGrad, Tensor, type TypedArray } from '@tensorloom/autograd';
import type { StateValue } from './state.ts';

/** Options every optimizer has: the learning rate, which LR schedulers change between steps. */
export interface OptimizerOptions {
  /** Learning rate. */
  lr: number;
}

/** A parameter group as given to a constructor: its parameters plus options overriding the defaults. */
export type ParamGroupInput<O extends OptimizerOptions = OptimizerOptions> = {
  /** The group's parameters. */
  params: Iterable<Tensor>;
  /** The learning rate a scheduler starts from (set by schedulers; restored from a state dict). */
  initialLr?: number;
} & Partial<O>;

/** What an optimizer constructor takes: the parameters (e.g. `module.parameters()`) or parameter groups. */
export type OptimizerParams<O extends OptimizerOptions = OptimizerOptions> =
  | Iterable<Tensor>
  | Iterable<ParamGroupInput<O>>;

/**
 * A live parameter group: its parameters and every option, filled from the defaults. Options may be changed
 * between steps (schedulers set `lr`; `initialLr` is where a scheduler records the starting `lr`).
 */
export type ParamGroup<O extends OptimizerOptions = OptimizerOptions> = O & {
  /** The group's parameters. */
  params: Tensor[];
  /** The learning rate a scheduler started from. */
  initialLr?: number;
};

/** Per-parameter optimizer state: buffers shaped like the parameter (or null), and step counters. */
export type ParamState = Record<string, Tensor | number | null>;

/**
 * A serializable snapshot of an optimizer, shaped like PyTorch's: per-parameter state keyed by the
 * parameter's index (counting through the groups in order) and each group's options with its parameter
 * indices. Tensors are copies, so the snapshot does not change as training continues.
 */
export type OptimizerStateDict = {
  /** Per-parameter state (buffers and counters) by parameter index. */
  state: { [index: string]: { [key: string]: StateValue } };
  /** Each group's options, with `params` as the indices of its parameters. */
  paramGroups: { [key: string]: StateValue }[];
};

/** What a state entry must hold, per key: used to validate `loadStateDict` input. */
type StateSpec = Record<string, 'tensor' | 'tensorOrNull' | 'optionalTensor' | 'count'>;

function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Zero-filled storage matching a parameter's dtype and size. */
function zerosFor(p: Tensor): Tensor {
  const data = p.dtype === 'float64' ? new Float64Array(p.size) : new Float32Array(p.size);
  return new Tensor(data, p.shape);
}

/** Copies `src` into fresh storage of `like`'s dtype (converting float64 ↔ float32 if needed). */
function copyAs(src: Tensor, like: Tensor): Tensor {
  const out = zerosFor(like);
  out.data.set(src.data);
  return out;
}

/**
 * Converts state buffers whose dtype differs from their parameter's (after `module.to()` converted the
 * parameter in place), so the state keeps the parameter's precision as it would have had from the start.
 */
function matchDtype(state: ParamState, p: Tensor): void {
  for (const key in state) {
    const v = state[key];
    if (v instanceof Tensor && v.dtype !== p.dtype) state[key] = copyAs(v, p);
  }
}

/** A short description of a value of the wrong kind, for error messages. */
function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a plain array';
  if (typeof v === 'object') return `a ${v.constructor?.name ?? 'null-prototype object'}`;
  return `a ${typeof v}`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Tensor);
}

/** Copies a JSON-like option value so groups and snapshots never share arrays. */
function copyOption(v: unknown): StateValue {
  return Array.isArray(v) ? v.map(copyOption) : (v as StateValue);
}

/** Same JSON kind (number, boolean, string, array of the same length): used to check loaded options. */
function sameKind(a: unknown, b: unknown): boolean {
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameKind(x, b[i]));
  return typeof a === typeof b;
}

/**
 * The constructor options over the optimizer's defaults. An unknown key is an error rather than ignored:
 * `{ learningRate: 1 }` would otherwise train silently at the default rate.
 */
function withOptions<O extends OptimizerOptions>(
  name: string,
  defaults: { [K in keyof O]: O[K] | undefined },
  options: Partial<O> | undefined,
): Partial<O> {
  if (options === undefined) return defaults as Partial<O>;
  if (!isRecord(options)) {
    throw new Error(`${name}: options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  const accepted = Object.keys(defaults);
  const unknown = Object.keys(options).filter((k) => !accepted.includes(k));
  if (unknown.length > 0) {
    throw new Error(`${name}: unknown option(s) ${unknown.join(', ')} (accepted: ${accepted.join(', ')})`);
  }
  return { ...defaults, ...options } as Partial<O>;
}

/** Base class of the optimizers: parameter groups, the step loop, gradient clearing and state dicts. */
export abstract class Optimizer<
  O extends OptimizerOptions = OptimizerOptions,
  S extends ParamState = ParamState,
> {
  /** The parameter groups, with live options (change `lr` here, or let a scheduler do it). */
  readonly paramGroups: ParamGroup<O>[] = [];
  /** Per-parameter state, created on a parameter's first update. */
  state = new Map<Tensor, S>();
  /** Option values used where a group does not give its own (`lr` may be absent for SGD). */
  readonly defaults: Readonly<Partial<O>>;
  /** The optimizer's name, used in error messages. */
  readonly name: string;

  constructor(name: string, params: OptimizerParams<O>, defaults: Partial<O>) {
    this.name = name;
    this.defaults = Object.freeze({ ...defaults });
    const list: unknown[] =
      params && typeof params === 'object' ? Array.from(params as Iterable<unknown>) : [];
    if (list.length === 0) {
      throw new Error(`${name}: got an empty parameter list (pass module.parameters() or parameter groups)`);
    }
    if (!(list[0] instanceof Tensor) && !isRecord(list[0])) {
      throw new Error(
        `${name}: expected Tensors or parameter groups { params, ...options }, got ${typeof list[0]} at index 0`,
      );
    }
    const groups = list[0] instanceof Tensor ? [{ params: list as Tensor[] }] : list;
    groups.forEach((g) => {
      this.addParamGroup(g as ParamGroupInput<O>);
    });
  }

  /** Checks a group's option values; throws naming the option, its value and the valid range. */
  protected abstract validate(group: ParamGroup<O>): void;
  /** The keys a parameter's state holds under a group's options (for `loadStateDict` validation). */
  protected abstract stateSpec(group: ParamGroup<O>): StateSpec;
  /** Fresh state for a parameter about to receive its first update. */
  protected abstract initState(param: Tensor, group: ParamGroup<O>): S;
  /** Applies one update to `param.data` in place from the gradient's elements. */
  protected abstract update(param: Tensor, grad: TypedArray, state: S, group: ParamGroup<O>): void;

  /** Adds a group of parameters with options overriding the defaults (e.g. a smaller lr for a backbone). */
  addParamGroup(input: ParamGroupInput<O>): void {
    const { name } = this;
    if (!isRecord(input) || input.params === null || typeof input.params !== 'object') {
      throw new Error(`${name}: a parameter group must be an object { params: Tensor[], ...options }`);
    }
    const params: unknown[] = Array.from(input.params as Iterable<unknown>);
    const seen = new Set<Tensor>(this.paramGroups.flatMap((g) => g.params));
    const groupIndex = this.paramGroups.length;
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) {
        throw new Error(`${name}: parameter ${i} of group ${groupIndex} is not a Tensor (got ${typeof p})`);
      }
      if (!p.isLeaf) {
        throw new Error(
          `${name}: parameter ${i} of group ${groupIndex} (shape ${fmtShape(p.shape)}) is not a leaf tensor; ` +
            'optimize the leaves (parameters), not results of ops',
        );
      }
      if (seen.has(p)) {
        throw new Error(
          `${name}: parameter ${i} of group ${groupIndex} (shape ${fmtShape(p.shape)}) appears more than once ` +
            'among the parameter groups',
        );
      }
      seen.add(p);
    });
    const known = new Set([...Object.keys(this.defaults), 'params', 'initialLr']);
    const unknown = Object.keys(input).filter((k) => !known.has(k));
    if (unknown.length > 0) {
      throw new Error(
        `${name}: unknown option(s) ${unknown.join(', ')} in parameter group ${groupIndex} ` +
          `(known: ${[...known].filter((k) => k !== 'params').join(', ')})`,
      );
    }
    const group: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(this.defaults)) {
      const v = Object.hasOwn(input, key) ? (input as Record<string, unknown>)[key] : value;
      if (v === undefined) {
        throw new Error(
          `${name}: option ${key} is required (give it in the options or in every parameter group)`,
        );
      }
      group[key] = copyOption(v);
    }
    if (input.initialLr !== undefined) group.initialLr = input.initialLr;
    group.params = params;
    this.validate(group as unknown as ParamGroup<O>);
    this.paramGroups.push(group as unknown as ParamGroup<O>);
  }

  /**
   * Performs one update of every parameter that has a gradient (parameters whose `grad` is null are
   * skipped, their state untouched). With a closure, first re-evaluates the loss (with gradients enabled)
   * and returns what it returned.
   */
  step<L = undefined>(closure?: () => L): L | undefined {
    const loss = closure ? enableGrad(closure) : undefined;
    noGrad(() => {
      this.paramGroups.forEach((group, gi) => {
        for (const p of group.params) {
          const g: unknown = p.grad;
          if (g === null) continue;
          if (!(g instanceof Tensor)) {
            throw new Error(
              `${this.name}.step: the gradient of parameter ${group.params.indexOf(p)} of group ${gi} ` +
                `(shape ${fmtShape(p.shape)}) is ${describeValue(g)}, expected a Tensor of that shape or null`,
            );
          }
          if (!sameShape(g.shape, p.shape) || g.dtype !== p.dtype) {
            throw new Error(
              `${this.name}.step: gradient of shape ${fmtShape(g.shape)} (${g.dtype}) does not match its ` +
                `parameter of shape ${fmtShape(p.shape)} (${p.dtype}) in group ${gi}`,
            );
          }
          let state = this.state.get(p);
          if (state === undefined) {
            state = this.initState(p, group);
            this.state.set(p, state);
          } else {
            matchDtype(state, p);
          }
          this.update(p, g.data, state, group);
          p.bumpVersion(); // a backward through a graph that read the old values now refuses to run
        }
      });
    });
    return loss;
  }

  /**
   * Clears the gradients of every parameter: sets them to null (the default; the next backward then writes
   * fresh gradients and `step` skips parameters that got none) or, with `setToNone = false`, to zeros.
   */
  zeroGrad(setToNone = true): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) p.grad = setToNone || p.grad === null ? null : zerosFor(p);
    }
  }

  /** A snapshot of the optimizer (see `OptimizerStateDict`) from which `loadStateDict` resumes exactly. */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((group) => {
      const out: { [key: string]: StateValue } = {};
      for (const [key, value] of Object.entries(group)) if (key !== 'params') out[key] = copyOption(value);
      out.params = group.params.map((p) => {
        index.set(p, index.size);
        return index.size - 1;
      });
      return out;
    });
    const state: OptimizerStateDict['state'] = {};
    for (const [p, s] of this.state) {
      const i = index.get(p);
      if (i === undefined) continue;
      const entry: { [key: string]: StateValue } = {};
      for (const [key, value] of Object.entries(s))
        entry[key] = value instanceof Tensor ? copyAs(value, value) : value;
      state[String(i)] = entry;
    }
    return { state, paramGroups };
  }

  /**
   * Restores a snapshot from `stateDict()` (possibly of another optimizer instance over parameters of the
   * same shapes, in the same group layout). Groups take the saved options; state tensors are copied and
   * converted to each parameter's dtype. Everything is validated first, so a bad snapshot changes nothing.
   */
  loadStateDict(stateDict: StateValue): void {
    this.prepareLoadStateDict(stateDict)();
  }

  /**
   * The checking half of `loadStateDict`: validates `stateDict` completely (group layout, options, every
   * state entry against its parameter) and returns a function that installs it and cannot fail, so
   * `restoreCheckpoint` can check every part of a checkpoint before changing any.
   */
  prepareLoadStateDict(stateDict: StateValue): () => void {
    const where = `${this.name}.loadStateDict`;
    if (!isRecord(stateDict) || !isRecord(stateDict.state) || !Array.isArray(stateDict.paramGroups)) {
      throw new Error(`${where}: expected { state: {...}, paramGroups: [...] } as returned by stateDict()`);
    }
    const saved = stateDict.paramGroups;
    if (saved.length !== this.paramGroups.length) {
      throw new Error(
        `${where}: the state dict has ${saved.length} parameter group(s), this optimizer has ${this.paramGroups.length}`,
      );
    }
    const byIndex = new Map<number, { param: Tensor; group: ParamGroup<O> }>();
    const newGroups = saved.map((sg, gi) => {
      const current = this.paramGroups[gi]!;
      if (!isRecord(sg) || !Array.isArray(sg.params)) {
        throw new Error(`${where}: parameter group ${gi} must be an object with a params array of indices`);
      }
      if (sg.params.length !== current.params.length) {
        throw new Error(
          `${where}: parameter group ${gi} has ${sg.params.length} parameter(s) in the state dict, ` +
            `${current.params.length} in this optimizer`,
        );
      }
      const group: Record<string, unknown> = {};
      for (const key of Object.keys(this.defaults)) {
        if (!Object.hasOwn(sg, key))
          throw new Error(`${where}: parameter group ${gi} is missing option ${key}`);
        const expected = current[key as keyof ParamGroup<O>];
        const value = copyOption(sg[key]);
        if (!sameKind(value, expected)) {
          throw new Error(
            `${where}: option ${key} of parameter group ${gi} is ${JSON.stringify(value)}, ` +
              `expected a value like ${JSON.stringify(expected)}`,
          );
        }
        group[key] = value;
      }
      for (const key of Object.keys(sg)) {
        if (key === 'params' || Object.hasOwn(this.defaults, key)) continue;
        if (key !== 'initialLr') throw new Error(`${where}: unknown option ${key} in parameter group ${gi}`);
        if (typeof sg[key] !== 'number')
          throw new Error(`${where}: initialLr of parameter group ${gi} must be a number`);
        group.initialLr = sg[key];
      }
      group.params = current.params;
      const typed = group as unknown as ParamGroup<O>;
      this.validate(typed);
      sg.params.forEach((id, i) => {
        if (typeof id !== 'number' || !Number.isInteger(id) || byIndex.has(id)) {
          throw new Error(
            `${where}: parameter group ${gi} lists an invalid or repeated parameter index ${id}`,
          );
        }
        byIndex.set(id, { param: current.params[i]!, group: typed });
      });
      return typed;
    });
    const newState = new Map<Tensor, S>();
    for (const [key, entry] of Object.entries(stateDict.state)) {
      const target = byIndex.get(Number(key));
      if (target === undefined || String(Number(key)) !== key) {
        throw new Error(
          `${where}: state entry '${key}' names no parameter (indices run 0..${byIndex.size - 1})`,
        );
      }
      const { param, group } = target;
      if (!isRecord(entry)) throw new Error(`${where}: state of parameter ${key} must be an object`);
      newState.set(param, this.checkState(where, key, param, entry, this.stateSpec(group)));
    }
    return () => {
      newGroups.forEach((g, i) => {
        Object.keys(this.paramGroups[i]!).forEach((k) => {
          delete (this.paramGroups[i] as unknown as Record<string, unknown>)[k];
        });
        Object.assign(this.paramGroups[i]!, g);
      });
      this.state = newState;
    };
  }

  /** Validates one saved parameter state against the spec and returns a private copy of it. */
  private checkState(
    where: string,
    key: string,
    param: Tensor,
    entry: Record<string, unknown>,
    spec: StateSpec,
  ): S {
    const out: ParamState = {};
    for (const [name, kind] of Object.entries(spec)) {
      const v = entry[name];
      if (v === undefined && kind === 'optionalTensor') continue;
      if (kind === 'count') {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
          throw new Error(
            `${where}: state ${name} of parameter ${key} must be a non-negative integer, got ${v}`,
          );
        }
        out[name] = v;
      } else if (v === null && kind === 'tensorOrNull') {
        out[name] = null;
      } else if (!(v instanceof Tensor)) {
        throw new Error(
          `${where}: state ${name} of parameter ${key} must be a Tensor, got ${v === null ? 'null' : typeof v}`,
        );
      } else if (!sameShape(v.shape, param.shape)) {
        throw new Error(
          `${where}: state ${name} of parameter ${key} has shape ${fmtShape(v.shape)}, ` +
            `the parameter has shape ${fmtShape(param.shape)}`,
        );
      } else {
        out[name] = copyAs(v, param);
      }
    }
    const extra = Object.keys(entry).filter((k) => !Object.hasOwn(spec, k));
    if (extra.length > 0) {
      throw new Error(
        `${where}: unexpected state key(s) ${extra.join(', ')} for parameter ${key} ` +
          `(a ${this.name} state holds ${Object.keys(spec).join(', ') || 'nothing'})`,
      );
    }
    return out as S;
  }
}

/** Throws unless `value` is a number >= 0 (NaN fails): the common option check. */
function nonNegative(name: string, option: string, value: unknown): void {
  if (typeof value !== 'number' || !(value >= 0)) {
    throw new Error(`${name}: invalid ${option} ${value} (expected a number >= 0)`);
  }
}
function isBoolean(name: string, option: string, value: unknown): void {
  if (typeof value !== 'boolean')
    throw new Error(`${name}: invalid ${option} ${value} (expected true or false)`);
}

// ---------------------------------------------------------------------------------------------------- SGD

/** Options of `SGD` (PyTorch's `torch.optim.SGD`). */
export interface SGDOptions extends OptimizerOptions {
  /** Momentum factor μ: b ← μ·b + (1 − dampening)·g. Default 0 (plain SGD). */
  momentum: number;
  /** Dampening of the gradient added to the momentum buffer. Default 0. */
  dampening: number;
  /** Nesterov momentum: step along g + μ·b instead of b. Default false. */
  nesterov: boolean;
  /** L2 penalty added to the gradient: g ← g + λ·θ. Default 0. */
  weightDecay: number;
  /** Ascend instead of descend. Default false. */
  maximize: boolean;
}

/** State of one SGD parameter: the momentum buffer, null while momentum is 0 (as in PyTorch). */
export type SGDState = {
  /** The momentum buffer b. */
  momentumBuffer: Tensor | null;
};

/**
 * Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2 weight decay:
 *   d = ±g + λ·p;  b = d on the first step, else μ·b + (1−τ)·d;  d = nesterov ? d + μ·b : b;  p ← p − lr·d.
 * `lr` has no default, as in PyTorch.
 */
export class SGD extends Optimizer<SGDOptions, SGDState> {
  constructor(params: OptimizerParams<SGDOptions>, options: Partial<SGDOptions> = {}) {
    super(
      'SGD',
      params,
      withOptions<SGDOptions>(
        'SGD',
        { lr: undefined, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, maximize: false },
        options,
      ),
    );
  }

  protected validate(g: ParamGroup<SGDOptions>): void {
    nonNegative('SGD', 'lr', g.lr);
    nonNegative('SGD', 'momentum', g.momentum);
    if (typeof g.dampening !== 'number' || Number.isNaN(g.dampening)) {
      throw new Error(`SGD: invalid dampening ${g.dampening} (expected a number)`);
    }
    nonNegative('SGD', 'weightDecay', g.weightDecay);
    isBoolean('SGD', 'nesterov', g.nesterov);
    isBoolean('SGD', 'maximize', g.maximize);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
      throw new Error(
        `SGD: nesterov momentum requires momentum > 0 and dampening = 0 (got momentum ${g.momentum}, dampening ${g.dampening})`,
      );
    }
  }
  protected stateSpec(): StateSpec {
    return { momentumBuffer: 'tensorOrNull' };
  }
  protected initState(): SGDState {
    return { momentumBuffer: null };
  }

  protected update(param: Tensor, g: TypedArray, state: SGDState, group: ParamGroup<SGDOptions>): void {
    const { lr, momentum, dampening, nesterov, weightDecay: wd } = group;
    const sign = group.maximize ? -1 : 1;
    const p = param.data;
    const n = p.length;
    if (momentum === 0) {
      for (let i = 0; i < n; i++) {
        let d = sign * g[i]!;
        if (wd !== 0) d += wd * p[i]!;
        p[i] = p[i]! - lr * d;
      }
      return;
    }
    let first = false;
    if (state.momentumBuffer === null) {
      state.momentumBuffer = zerosFor(param);
      first = true;
    }
    const b = state.momentumBuffer.data;
    const keep = 1 - dampening;
    for (let i = 0; i < n; i++) {
      let d = sign * g[i]!;
      if (wd !== 0) d += wd * p[i]!;
      // The first step seeds the buffer with the gradient itself (no dampening), as PyTorch does.
      const bi = first ? d : b[i]! * momentum + keep * d;
      b[i] = bi;
      // Read back the stored buffer so float32 runs round exactly like PyTorch's float32 buffer.
      p[i] = p[i]! - lr * (nesterov ? d + momentum * b[i]! : b[i]!);
    }
  }
}

// ---------------------------------------------------------------------------------------------------- Adam / AdamW

/** Options of `Adam` and `AdamW`. */
export interface AdamOptions extends OptimizerOptions {
  /** Decay rates (β₁, β₂) of the first and second moment averages. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to √v̂ in the denominator, for stability. Default 1e-8. */
  eps: number;
  /** Adam: L2 penalty added to the gradient; AdamW: decoupled decay θ ← θ − lr·λ·θ. Default 0 (AdamW 0.01). */
  weightDecay: number;
  /** Use the running maximum of v̂ (AMSGrad). Default false. */
  amsgrad: boolean;
  /** Ascend instead of descend. Default false. */
  maximize: boolean;
}

/** State of one Adam/AdamW parameter: step count, first and second moments, and the AMSGrad maximum. */
export type AdamState = {
  /** Steps taken, for the bias corrections 1 − βᵗ. */
  step: number;
  /** First moment m (running mean of gradients). */
  expAvg: Tensor;
  /** Second moment v (running mean of squared gradients). */
  expAvgSq: Tensor;
  /** Running maximum of v (AMSGrad only). */
  maxExpAvgSq?: Tensor;
};

function validateAdam(name: string, g: ParamGroup<AdamOptions>): void {
  nonNegative(name, 'lr', g.lr);
  nonNegative(name, 'eps', g.eps);
  nonNegative(name, 'weightDecay', g.weightDecay);
  isBoolean(name, 'amsgrad', g.amsgrad);
  isBoolean(name, 'maximize', g.maximize);
  if (!Array.isArray(g.betas) || g.betas.length !== 2) {
    throw new Error(`${name}: invalid betas ${JSON.stringify(g.betas)} (expected [beta1, beta2])`);
  }
  g.betas.forEach((b, i) => {
    if (typeof b !== 'number' || !(b >= 0 && b < 1)) {
      throw new Error(`${name}: invalid betas[${i}] ${b} (expected 0 <= beta < 1)`);
    }
  });
}

/**
 * The shared Adam/AdamW step (the only difference is where weight decay enters):
 *   m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  v̂ = amsgrad ? (vmax ← max(vmax, v)) : v;
 *   p ← p − (lr / (1−β₁ᵗ)) · m / (√v̂ / √(1−β₂ᵗ) + ε)
 * with g = ±grad (+ λp for Adam's L2 decay), and AdamW first shrinking p ← p·(1 − lr·λ).
 */
function adamUpdate(
  param: Tensor,
  g: TypedArray,
  state: AdamState,
  group: ParamGroup<AdamOptions>,
  decoupled: boolean,
): void {
  const { lr, eps, weightDecay: wd, amsgrad } = group;
  const [beta1, beta2] = group.betas;
  const sign = group.maximize ? -1 : 1;
  state.step += 1;
  const step = state.step;
  const stepSize = lr / (1 - beta1 ** step);
  const bc2Sqrt = Math.sqrt(1 - beta2 ** step);
  const p = param.data;
  const m = state.expAvg.data;
  const v = state.expAvgSq.data;
  if (amsgrad && state.maxExpAvgSq === undefined) state.maxExpAvgSq = zerosFor(param);
  const vmax = amsgrad ? state.maxExpAvgSq!.data : v;
  const l2 = decoupled ? 0 : wd;
  const shrink = decoupled ? 1 - lr * wd : 1;
  const a1 = 1 - beta1;
  const a2 = 1 - beta2;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    if (decoupled) p[i] = p[i]! * shrink;
    let gi = sign * g[i]!;
    if (l2 !== 0) gi += l2 * p[i]!;
    m[i] = m[i]! * beta1 + a1 * gi;
    v[i] = v[i]! * beta2 + a2 * gi * gi;
    // Math.max propagates NaN like torch.maximum.
    if (amsgrad) vmax[i] = Math.max(vmax[i]!, v[i]!);
    const denom = Math.sqrt(vmax[i]!) / bc2Sqrt + eps;
    p[i] = p[i]! - stepSize * (m[i]! / denom);
  }
}

function adamSpec(g: ParamGroup<AdamOptions>): StateSpec {
  return {
    step: 'count',
    expAvg: 'tensor',
    expAvgSq: 'tensor',
    maxExpAvgSq: g.amsgrad ? 'tensor' : 'optionalTensor',
  };
}
function adamState(p: Tensor, g: ParamGroup<AdamOptions>): AdamState {
  const s: AdamState = { step: 0, expAvg: zerosFor(p), expAvgSq: zerosFor(p) };
  if (g.amsgrad) s.maxExpAvgSq = zerosFor(p);
  return s;
}

/** Adam and AdamW share everything but the default decay and where the decay is applied. */
abstract class AdamFamily extends Optimizer<AdamOptions, AdamState> {
  constructor(
    name: string,
    params: OptimizerParams<AdamOptions>,
    options: Partial<AdamOptions>,
    defaultWeightDecay: number,
    /** AdamW decays the weights directly (p ← p·(1 − lr·λ)); Adam adds λ·p to the gradient. */
    private readonly decoupled: boolean,
  ) {
    super(
      name,
      params,
      withOptions<AdamOptions>(
        name,
        {
          lr: 1e-3,
          betas: [0.9, 0.999],
          eps: 1e-8,
          weightDecay: defaultWeightDecay,
          amsgrad: false,
          maximize: false,
        },
        options,
      ),
    );
  }
  protected validate(g: ParamGroup<AdamOptions>): void {
    validateAdam(this.name, g);
  }
  protected stateSpec(g: ParamGroup<AdamOptions>): StateSpec {
    return adamSpec(g);
  }
  protected initState(p: Tensor, g: ParamGroup<AdamOptions>): AdamState {
    return adamState(p, g);
  }
  protected update(p: Tensor, g: TypedArray, s: AdamState, group: ParamGroup<AdamOptions>): void {
    adamUpdate(p, g, s, group, this.decoupled);
  }
}

/** Adam (Kingma & Ba) with L2 weight decay added to the gradient and optional AMSGrad, as `torch.optim.Adam`. */
export class Adam extends AdamFamily {
  constructor(params: OptimizerParams<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super('Adam', params, options, 0, false);
  }
}

/** AdamW (Loshchilov & Hutter): Adam with decoupled weight decay p ← p·(1 − lr·λ), default λ = 1e-2. */
export class AdamW extends AdamFamily {
  constructor(params: OptimizerParams<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super('AdamW', params, options, 1e-2, true);
  }
}

// ---------------------------------------------------------------------------------------------------- RMSprop

/** Options of `RMSprop`. */
export interface RMSpropOptions extends OptimizerOptions {
  /** Smoothing constant of the mean square. Default 0.99. */
  alpha: number;
  /** Added to the root mean square in the denominator. Default 1e-8. */
  eps: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Momentum factor. Default 0. */
  momentum: number;
  /** Divide by the variance estimate (mean square minus squared mean) instead of the mean square. Default false. */
  centered: boolean;
  /** Ascend instead of descend. Default false. */
  maximize: boolean;
}

/** State of one RMSprop parameter: step count, mean square, and the momentum and mean buffers when used. */
export type RMSpropState = {
  /** Steps taken. */
  step: number;
  /** Running mean of squared gradients. */
  squareAvg: Tensor;
  /** Momentum buffer (with momentum > 0). */
  momentumBuffer?: Tensor;
  /** Running mean of gradients (centered only). */
  gradAvg?: Tensor;
};

/**
 * RMSprop as `torch.optim.RMSprop` (ε added outside the square root):
 *   s ← αs + (1−α)g²;  centered: ḡ ← αḡ + (1−α)g, a = √(s − ḡ²) + ε, else a = √s + ε;
 *   momentum: b ← μb + g/a, p ← p − lr·b;  otherwise p ← p − lr·g/a.
 */
export class RMSprop extends Optimizer<RMSpropOptions, RMSpropState> {
  constructor(params: OptimizerParams<RMSpropOptions>, options: Partial<RMSpropOptions> = {}) {
    super(
      'RMSprop',
      params,
      withOptions<RMSpropOptions>(
        'RMSprop',
        { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false },
        options,
      ),
    );
  }
  protected validate(g: ParamGroup<RMSpropOptions>): void {
    nonNegative('RMSprop', 'lr', g.lr);
    nonNegative('RMSprop', 'eps', g.eps);
    nonNegative('RMSprop', 'momentum', g.momentum);
    nonNegative('RMSprop', 'weightDecay', g.weightDecay);
    nonNegative('RMSprop', 'alpha', g.alpha);
    isBoolean('RMSprop', 'centered', g.centered);
    isBoolean('RMSprop', 'maximize', g.maximize);
  }
  protected stateSpec(g: ParamGroup<RMSpropOptions>): StateSpec {
    return {
      step: 'count',
      squareAvg: 'tensor',
      momentumBuffer: g.momentum > 0 ? 'tensor' : 'optionalTensor',
      gradAvg: g.centered ? 'tensor' : 'optionalTensor',
    };
  }
  protected initState(p: Tensor, g: ParamGroup<RMSpropOptions>): RMSpropState {
    const s: RMSpropState = { step: 0, squareAvg: zerosFor(p) };
    if (g.momentum > 0) s.momentumBuffer = zerosFor(p);
    if (g.centered) s.gradAvg = zerosFor(p);
    return s;
  }
  protected update(
    param: Tensor,
    g: TypedArray,
    state: RMSpropState,
    group: ParamGroup<RMSpropOptions>,
  ): void {
    const { lr, alpha, eps, weightDecay: wd, momentum, centered } = group;
    const sign = group.maximize ? -1 : 1;
    state.step += 1;
    // Buffers for options switched on after the first step start at zero, like a fresh state.
    if (momentum > 0 && state.momentumBuffer === undefined) state.momentumBuffer = zerosFor(param);
    if (centered && state.gradAvg === undefined) state.gradAvg = zerosFor(param);
    const p = param.data;
    const sq = state.squareAvg.data;
    const ga = centered ? state.gradAvg!.data : sq;
    const buf = momentum > 0 ? state.momentumBuffer!.data : sq;
    const a = 1 - alpha;
    const n = p.length;
    for (let i = 0; i < n; i++) {
      let gi = sign * g[i]!;
      if (wd !== 0) gi += wd * p[i]!;
      sq[i] = sq[i]! * alpha + a * gi * gi;
      let avg: number;
      if (centered) {
        ga[i] = ga[i]! * alpha + a * gi;
        avg = Math.sqrt(sq[i]! - ga[i]! * ga[i]!) + eps;
      } else {
        avg = Math.sqrt(sq[i]!) + eps;
      }
      if (momentum > 0) {
        buf[i] = buf[i]! * momentum + gi / avg;
        p[i] = p[i]! - lr * buf[i]!;
      } else {
        p[i] = p[i]! - lr * (gi / avg);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------- Adagrad

/** Options of `Adagrad`. */
export interface AdagradOptions extends OptimizerOptions {
  /** Learning-rate decay: step t uses lr / (1 + (t − 1)·lrDecay). Default 0. */
  lrDecay: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Starting value of the sum of squares. Default 0. */
  initialAccumulatorValue: number;
  /** Added to √sum in the denominator. Default 1e-10. */
  eps: number;
  /** Ascend instead of descend. Default false. */
  maximize: boolean;
}

/** State of one Adagrad parameter: step count and the running sum of squared gradients. */
export type AdagradState = {
  /** Steps taken. */
  step: number;
  /** Running sum of squared gradients. */
  sum: Tensor;
};

/**
 * Adagrad as `torch.optim.Adagrad`: lrₜ = lr / (1 + (t−1)·decay);  S ← S + g²;  p ← p − lrₜ·g/(√S + ε),
 * with S starting at `initialAccumulatorValue`.
 */
export class Adagrad extends Optimizer<AdagradOptions, AdagradState> {
  constructor(params: OptimizerParams<AdagradOptions>, options: Partial<AdagradOptions> = {}) {
    super(
      'Adagrad',
      params,
      withOptions<AdagradOptions>(
        'Adagrad',
        { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false },
        options,
      ),
    );
  }
  protected validate(g: ParamGroup<AdagradOptions>): void {
    nonNegative('Adagrad', 'lr', g.lr);
    nonNegative('Adagrad', 'lrDecay', g.lrDecay);
    nonNegative('Adagrad', 'weightDecay', g.weightDecay);
    nonNegative('Adagrad', 'initialAccumulatorValue', g.initialAccumulatorValue);
    nonNegative('Adagrad', 'eps', g.eps);
    isBoolean('Adagrad', 'maximize', g.maximize);
  }
  protected stateSpec(): StateSpec {
    return { step: 'count', sum: 'tensor' };
  }
  protected initState(p: Tensor, g: ParamGroup<AdagradOptions>): AdagradState {
    const sum = zerosFor(p);
    sum.data.fill(g.initialAccumulatorValue);
    return { step: 0, sum };
  }
  protected update(
    param: Tensor,
    g: TypedArray,
    state: AdagradState,
    group: ParamGroup<AdagradOptions>,
  ): void {
    const { lr, lrDecay, weightDecay: wd, eps } = group;
    const sign = group.maximize ? -1 : 1;
    state.step += 1;
    const clr = lr / (1 + (state.step - 1) * lrDecay);
    const p = param.data;
    const s = state.sum.data;
    const n = p.length;
    for (let i = 0; i < n; i++) {
      let gi = sign * g[i]!;
      if (wd !== 0) gi += wd * p[i]!;
      s[i] = s[i]! + gi * gi;
      p[i] = p[i]! - clr * (gi / (Math.sqrt(s[i]!) + eps));
    }
  }
}
