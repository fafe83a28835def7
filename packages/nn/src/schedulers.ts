/**
 * Learning-rate schedulers with PyTorch 1.13's semantics: call `step()` once per epoch, after
 * `optimizer.step()`. Like PyTorch, `step()` uses each scheduler's *chainable* form (the new lr is computed
 * from the group's current lr), so several schedulers may drive one optimizer (e.g. `LinearLR` warm-up
 * with `CosineAnnealingLR`) and compose exactly as in PyTorch; `step(epoch)` jumps to an epoch with the
 * closed form. Constructing a scheduler performs its epoch-0 step, recording `initialLr` in each group.
 */
import { Tensor } from '@tensorloom/autograd';
import type { Optimizer, ParamGroup } from './optim.ts';
import type { StateValue } from './state.ts';

/** A scheduler snapshot: counters, learning rates and the scheduler's options. */
export type SchedulerStateDict = { [key: string]: StateValue };

/** Any optimizer, as seen by a scheduler (only `paramGroups` with their `lr` is used). */
type AnyOptimizer = Optimizer<{ lr: number }, Record<string, Tensor | number | null>>;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Tensor);
}
function isNumberArray(v: unknown, length: number): v is number[] {
  return Array.isArray(v) && v.length === length && v.every((x) => typeof x === 'number');
}
function positiveInteger(name: string, option: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`${name}: invalid ${option} ${v} (expected a positive integer)`);
  }
}
function finiteNumber(name: string, option: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new Error(`${name}: invalid ${option} ${v} (expected a finite number)`);
  }
}

/**
 * Returns a constructor's options after checking that each key is one the scheduler knows: a misspelt option
 * (`{ step_size: 2 }`) would otherwise fall back to its default without a word.
 */
function knownOptions<T extends object>(
  name: string,
  options: T,
  accepted: readonly (keyof T & string)[],
): T {
  if (!isRecord(options)) {
    throw new Error(`${name}: options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  const unknown = Object.keys(options).filter((k) => !accepted.includes(k as keyof T & string));
  if (unknown.length > 0) {
    throw new Error(`${name}: unknown option(s) ${unknown.join(', ')} (accepted: ${accepted.join(', ')})`);
  }
  return options;
}

/**
 * Checks a loaded `options` object against the live one: same keys, values of the same JSON kind (so a
 * snapshot of one scheduler type or configuration shape cannot silently load into another).
 */
function checkOptions(
  where: string,
  saved: unknown,
  current: Record<string, unknown>,
): Record<string, unknown> {
  if (!isRecord(saved)) throw new Error(`${where}: options must be an object`);
  const want = Object.keys(current).sort().join(', ');
  const got = Object.keys(saved).sort().join(', ');
  if (want !== got) throw new Error(`${where}: options have keys {${got}}, expected {${want}}`);
  for (const key of Object.keys(current)) {
    const a = saved[key];
    const b = current[key];
    const kind = (x: unknown) => (Array.isArray(x) ? 'array' : x === null ? 'null' : typeof x);
    if (kind(a) !== kind(b))
      throw new Error(`${where}: option ${key} is ${JSON.stringify(a)}, expected a ${kind(b)}`);
  }
  return saved;
}

/** Base of the epoch-indexed schedulers (everything except `ReduceLROnPlateau`). */
export abstract class LRScheduler {
  /** The optimizer whose groups' `lr` this scheduler sets. */
  readonly optimizer: AnyOptimizer;
  /** Each group's `initialLr` when the scheduler was created: the lr at epoch 0 of the schedule. */
  baseLrs: number[] = [];
  /** The epoch the current lrs belong to: 0 after construction, +1 per `step()`. */
  lastEpoch = -1;
  /** Number of `step()` calls, including the one construction makes. */
  protected stepCount = 0;
  /** The lrs set by the latest step. */
  protected lastLr: number[] = [];
  /** The scheduler's name, used in error messages. */
  readonly name: string;

  constructor(name: string, optimizer: AnyOptimizer) {
    if (!optimizer || !Array.isArray(optimizer.paramGroups)) {
      throw new Error(`${name}: expected an Optimizer, got ${typeof optimizer}`);
    }
    this.name = name;
    this.optimizer = optimizer;
  }

  /** The new lr of every group from the current ones (PyTorch's chainable `get_lr`). */
  protected abstract chainedLr(groups: readonly ParamGroup[]): number[];
  /** The lr of every group at `lastEpoch` from `baseLrs` alone, where a closed form exists. */
  protected closedFormLr(): number[] | null {
    return null;
  }
  /** The scheduler's options, as saved in the state dict. */
  protected abstract options(): Record<string, StateValue>;
  /** Throws unless loaded options (already of the right keys and kinds) hold valid values. */
  protected abstract validateOptions(options: Record<string, unknown>): void;
  /** Restores options that passed `validateOptions`. */
  protected abstract setOptions(options: Record<string, unknown>): void;

  /** Runs the epoch-0 step; subclasses call this at the end of their constructor, once their options are set. */
  protected initialStep(): void {
    // Like PyTorch's setdefault: a second scheduler on the same optimizer keeps the first one's initialLr.
    for (const group of this.optimizer.paramGroups)
      if (group.initialLr === undefined) group.initialLr = group.lr;
    this.baseLrs = this.optimizer.paramGroups.map((g) => g.initialLr!);
    this.step();
  }

  /**
   * Advances one epoch and sets every group's lr. With `epoch` (deprecated in PyTorch), jumps to that
   * epoch using the closed form instead.
   */
  step(epoch?: number): void {
    this.stepCount += 1;
    let values: number[];
    if (epoch === undefined) {
      this.lastEpoch += 1;
      values = this.chainedLr(this.optimizer.paramGroups);
    } else {
      if (typeof epoch !== 'number' || !Number.isInteger(epoch) || epoch < 0) {
        throw new Error(`${this.name}.step: epoch must be a non-negative integer, got ${epoch}`);
      }
      this.lastEpoch = epoch;
      values = this.closedFormLr() ?? this.chainedLr(this.optimizer.paramGroups);
    }
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = values[i]!;
    });
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The lr of every group as set by the latest step. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** A snapshot of the scheduler (not of the optimizer: save that too). */
  stateDict(): SchedulerStateDict {
    return {
      lastEpoch: this.lastEpoch,
      stepCount: this.stepCount,
      baseLrs: [...this.baseLrs],
      lastLr: [...this.lastLr],
      options: this.options(),
    };
  }

  /** Restores a snapshot from `stateDict()`; validates it first, so a bad snapshot changes nothing. */
  loadStateDict(stateDict: StateValue): void {
    this.prepareLoadStateDict(stateDict)();
  }

  /** The checking half of `loadStateDict`: validates, and returns a function that installs the state. */
  prepareLoadStateDict(stateDict: StateValue): () => void {
    const where = `${this.name}.loadStateDict`;
    const n = this.optimizer.paramGroups.length;
    if (!isRecord(stateDict)) throw new Error(`${where}: expected an object as returned by stateDict()`);
    const { lastEpoch, stepCount, baseLrs, lastLr } = stateDict;
    if (typeof lastEpoch !== 'number' || !Number.isInteger(lastEpoch) || lastEpoch < -1) {
      throw new Error(`${where}: lastEpoch must be an integer >= -1, got ${lastEpoch}`);
    }
    if (typeof stepCount !== 'number' || !Number.isInteger(stepCount) || stepCount < 0) {
      throw new Error(`${where}: stepCount must be a non-negative integer, got ${stepCount}`);
    }
    if (!isNumberArray(baseLrs, n))
      throw new Error(`${where}: baseLrs must be ${n} number(s), one per group`);
    if (!isNumberArray(lastLr, n)) throw new Error(`${where}: lastLr must be ${n} number(s), one per group`);
    const options = checkOptions(where, stateDict.options, this.options());
    this.validateOptions(options);
    return () => {
      this.setOptions(options);
      this.lastEpoch = lastEpoch;
      this.stepCount = stepCount;
      this.baseLrs = [...baseLrs];
      this.lastLr = [...lastLr];
    };
  }
}

/** Options of `StepLR`. */
export interface StepLROptions {
  /** Epochs between reductions. */
  stepSize: number;
  /** Multiplier per reduction. Default 0.1. */
  gamma?: number;
}

/** Multiplies the lr by `gamma` every `stepSize` epochs: lr = base · γ^⌊epoch / stepSize⌋. */
export class StepLR extends LRScheduler {
  /** Epochs between reductions. */
  stepSize: number;
  /** Multiplier per reduction. */
  gamma: number;
  constructor(optimizer: AnyOptimizer, options: StepLROptions) {
    super('StepLR', optimizer);
    const { stepSize, gamma = 0.1 } = knownOptions('StepLR', options, ['stepSize', 'gamma']);
    positiveInteger('StepLR', 'stepSize', stepSize);
    finiteNumber('StepLR', 'gamma', gamma);
    this.stepSize = stepSize;
    this.gamma = gamma;
    this.initialStep();
  }
  protected chainedLr(groups: readonly ParamGroup[]): number[] {
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return groups.map((g) => g.lr);
    return groups.map((g) => g.lr * this.gamma);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }
  protected options(): Record<string, StateValue> {
    return { stepSize: this.stepSize, gamma: this.gamma };
  }
  protected validateOptions(o: Record<string, unknown>): void {
    positiveInteger('StepLR', 'stepSize', o.stepSize);
    finiteNumber('StepLR', 'gamma', o.gamma);
  }
  protected setOptions(o: Record<string, unknown>): void {
    this.stepSize = o.stepSize as number;
    this.gamma = o.gamma as number;
  }
}

/** Options of `MultiStepLR`. */
export interface MultiStepLROptions {
  /** Epochs at which the lr is multiplied by gamma. */
  milestones: number[];
  /** Multiplier per milestone. Default 0.1. */
  gamma?: number;
}

/** Multiplies the lr by `gamma` at each milestone epoch (a milestone listed k times multiplies by γᵏ). */
export class MultiStepLR extends LRScheduler {
  /** Epochs at which the lr is multiplied by gamma (sorted). */
  milestones: number[];
  /** Multiplier per milestone. */
  gamma: number;
  constructor(optimizer: AnyOptimizer, options: MultiStepLROptions) {
    super('MultiStepLR', optimizer);
    const { milestones, gamma = 0.1 } = knownOptions('MultiStepLR', options, ['milestones', 'gamma']);
    this.milestones = MultiStepLR.check(milestones);
    finiteNumber('MultiStepLR', 'gamma', gamma);
    this.gamma = gamma;
    this.initialStep();
  }
  private static check(milestones: unknown): number[] {
    if (
      !Array.isArray(milestones) ||
      !milestones.every((m) => typeof m === 'number' && Number.isInteger(m))
    ) {
      throw new Error(
        `MultiStepLR: milestones must be an array of integers, got ${JSON.stringify(milestones)}`,
      );
    }
    return [...milestones].sort((a, b) => a - b);
  }
  protected chainedLr(groups: readonly ParamGroup[]): number[] {
    const hits = this.milestones.filter((m) => m === this.lastEpoch).length;
    if (hits === 0) return groups.map((g) => g.lr);
    return groups.map((g) => g.lr * this.gamma ** hits);
  }
  protected override closedFormLr(): number[] {
    const passed = this.milestones.filter((m) => m <= this.lastEpoch).length;
    return this.baseLrs.map((b) => b * this.gamma ** passed);
  }
  protected options(): Record<string, StateValue> {
    return { milestones: [...this.milestones], gamma: this.gamma };
  }
  protected validateOptions(o: Record<string, unknown>): void {
    finiteNumber('MultiStepLR', 'gamma', o.gamma);
    MultiStepLR.check(o.milestones);
  }
  protected setOptions(o: Record<string, unknown>): void {
    this.milestones = MultiStepLR.check(o.milestones);
    this.gamma = o.gamma as number;
  }
}

/** Options of `ExponentialLR`. */
export interface ExponentialLROptions {
  /** Multiplier per epoch. */
  gamma: number;
}

/** Multiplies the lr by `gamma` every epoch: lr = base · γ^epoch. */
export class ExponentialLR extends LRScheduler {
  /** Multiplier per epoch. */
  gamma: number;
  constructor(optimizer: AnyOptimizer, options: ExponentialLROptions) {
    super('ExponentialLR', optimizer);
    const { gamma } = knownOptions('ExponentialLR', options, ['gamma']);
    finiteNumber('ExponentialLR', 'gamma', gamma);
    this.gamma = gamma;
    this.initialStep();
  }
  protected chainedLr(groups: readonly ParamGroup[]): number[] {
    if (this.lastEpoch === 0) return groups.map((g) => g.lr);
    return groups.map((g) => g.lr * this.gamma);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** this.lastEpoch);
  }
  protected options(): Record<string, StateValue> {
    return { gamma: this.gamma };
  }
  protected validateOptions(o: Record<string, unknown>): void {
    finiteNumber('ExponentialLR', 'gamma', o.gamma);
  }
  protected setOptions(o: Record<string, unknown>): void {
    this.gamma = o.gamma as number;
  }
}

/** Options of `CosineAnnealingLR`. */
export interface CosineAnnealingLROptions {
  /** Epochs of a half cosine period (from the base lr to etaMin). */
  tMax: number;
  /** The lowest lr. Default 0. */
  etaMin?: number;
}

/**
 * Cosine annealing from the base lr down to `etaMin` over `tMax` epochs:
 *   lr = η_min + (base − η_min)(1 + cos(π·epoch/tMax))/2,
 * continuing as a cosine wave past `tMax` (no restarts), as in PyTorch. Stepped in the recursive form
 *   lrₜ = η_min + (lrₜ₋₁ − η_min)·(1 + cos(πt/T))/(1 + cos(π(t−1)/T)),
 * with PyTorch's additive form at the troughs t = (2k+1)T + 1, where that ratio would divide by zero.
 */
export class CosineAnnealingLR extends LRScheduler {
  /** Epochs of a half cosine period. */
  tMax: number;
  /** The lowest lr. */
  etaMin: number;
  constructor(optimizer: AnyOptimizer, options: CosineAnnealingLROptions) {
    super('CosineAnnealingLR', optimizer);
    const { tMax, etaMin = 0 } = knownOptions('CosineAnnealingLR', options, ['tMax', 'etaMin']);
    positiveInteger('CosineAnnealingLR', 'tMax', tMax);
    finiteNumber('CosineAnnealingLR', 'etaMin', etaMin);
    this.tMax = tMax;
    this.etaMin = etaMin;
    this.initialStep();
  }
  protected chainedLr(groups: readonly ParamGroup[]): number[] {
    const { lastEpoch: t, tMax: T, etaMin } = this;
    if (t === 0) return groups.map((g) => g.lr);
    if ((t - 1 - T) % (2 * T) === 0) {
      return groups.map((g, i) => g.lr + ((this.baseLrs[i]! - etaMin) * (1 - Math.cos(Math.PI / T))) / 2);
    }
    const ratio = (1 + Math.cos((Math.PI * t) / T)) / (1 + Math.cos((Math.PI * (t - 1)) / T));
    return groups.map((g) => ratio * (g.lr - etaMin) + etaMin);
  }
  protected override closedFormLr(): number[] {
    const c = 1 + Math.cos((Math.PI * this.lastEpoch) / this.tMax);
    return this.baseLrs.map((b) => this.etaMin + ((b - this.etaMin) * c) / 2);
  }
  protected options(): Record<string, StateValue> {
    return { tMax: this.tMax, etaMin: this.etaMin };
  }
  protected validateOptions(o: Record<string, unknown>): void {
    positiveInteger('CosineAnnealingLR', 'tMax', o.tMax);
    finiteNumber('CosineAnnealingLR', 'etaMin', o.etaMin);
  }
  protected setOptions(o: Record<string, unknown>): void {
    this.tMax = o.tMax as number;
    this.etaMin = o.etaMin as number;
  }
}

/** Options of `LinearLR`. */
export interface LinearLROptions {
  /** Factor of the base lr at epoch 0. Default 1/3. */
  startFactor?: number;
  /** Factor of the base lr from `totalIters` on. Default 1. */
  endFactor?: number;
  /** Epochs of the linear ramp. Default 5. */
  totalIters?: number;
}

/**
 * Linear warm-up (or decay): the lr factor moves linearly from `startFactor` to `endFactor` over
 * `totalIters` epochs, then stays: lr = base · (s + (e − s)·min(epoch, N)/N).
 */
export class LinearLR extends LRScheduler {
  /** Factor of the base lr at epoch 0. */
  startFactor: number;
  /** Factor of the base lr from `totalIters` on. */
  endFactor: number;
  /** Epochs of the linear ramp. */
  totalIters: number;
  constructor(optimizer: AnyOptimizer, options: LinearLROptions = {}) {
    super('LinearLR', optimizer);
    const {
      startFactor = 1 / 3,
      endFactor = 1,
      totalIters = 5,
    } = knownOptions('LinearLR', options, ['startFactor', 'endFactor', 'totalIters']);
    LinearLR.check(startFactor, endFactor, totalIters);
    this.startFactor = startFactor;
    this.endFactor = endFactor;
    this.totalIters = totalIters;
    this.initialStep();
  }
  private static check(start: unknown, end: unknown, total: unknown): void {
    // A zero start factor would make the chainable ratio divide by zero at epoch 1.
    if (typeof start !== 'number' || !(start > 0 && start <= 1)) {
      throw new Error(`LinearLR: invalid startFactor ${start} (expected 0 < startFactor <= 1)`);
    }
    if (typeof end !== 'number' || !(end >= 0 && end <= 1)) {
      throw new Error(`LinearLR: invalid endFactor ${end} (expected 0 <= endFactor <= 1)`);
    }
    positiveInteger('LinearLR', 'totalIters', total);
  }
  protected chainedLr(groups: readonly ParamGroup[]): number[] {
    const { lastEpoch: t, startFactor: s, endFactor: e, totalIters: n } = this;
    if (t === 0) return groups.map((g) => g.lr * s);
    if (t > n) return groups.map((g) => g.lr);
    // factor(t)/factor(t−1) with factor(t) = s + (e − s)·t/n, rearranged as PyTorch does.
    const ratio = 1 + (e - s) / (n * s + (t - 1) * (e - s));
    return groups.map((g) => g.lr * ratio);
  }
  protected override closedFormLr(): number[] {
    const { startFactor: s, endFactor: e, totalIters: n } = this;
    return this.baseLrs.map((b) => b * (s + ((e - s) * Math.min(n, this.lastEpoch)) / n));
  }
  protected options(): Record<string, StateValue> {
    return { startFactor: this.startFactor, endFactor: this.endFactor, totalIters: this.totalIters };
  }
  protected validateOptions(o: Record<string, unknown>): void {
    LinearLR.check(o.startFactor, o.endFactor, o.totalIters);
  }
  protected setOptions(o: Record<string, unknown>): void {
    this.startFactor = o.startFactor as number;
    this.endFactor = o.endFactor as number;
    this.totalIters = o.totalIters as number;
  }
}

/** A function from the epoch to a multiplicative factor of the base lr. */
export type LrLambda = (epoch: number) => number;

/**
 * lr = base · λ(epoch), with one function for all groups or one per group. The functions are not part of
 * the state dict (pass the same ones when resuming).
 */
export class LambdaLR extends LRScheduler {
  /** The factor functions, one per parameter group. */
  readonly lrLambdas: LrLambda[];
  constructor(optimizer: AnyOptimizer, lrLambda: LrLambda | LrLambda[]) {
    super('LambdaLR', optimizer);
    const n = optimizer.paramGroups.length;
    const fns = Array.isArray(lrLambda) ? [...lrLambda] : Array.from({ length: n }, () => lrLambda);
    if (fns.length !== n)
      throw new Error(`LambdaLR: expected ${n} lr lambda(s), one per group, got ${fns.length}`);
    if (!fns.every((f) => typeof f === 'function'))
      throw new Error('LambdaLR: lrLambda must be a function or functions');
    this.lrLambdas = fns;
    this.initialStep();
  }
  protected chainedLr(): number[] {
    return this.baseLrs.map((b, i) => b * this.lrLambdas[i]!(this.lastEpoch));
  }
  protected options(): Record<string, StateValue> {
    return {};
  }
  protected validateOptions(): void {}
  protected setOptions(): void {}
}

/** Options of `ReduceLROnPlateau`; defaults as in PyTorch. */
export interface ReduceLROnPlateauOptions {
  /** 'min': lower metric is better (a loss); 'max': higher is better (an accuracy). */
  mode?: 'min' | 'max';
  /** Multiplier applied to the lr on a plateau (new lr = lr · factor), in [0, 1). */
  factor?: number;
  /** Epochs without improvement tolerated before reducing. */
  patience?: number;
  /** Minimum change that counts as an improvement (relative or absolute, see `thresholdMode`). */
  threshold?: number;
  /** 'rel': better than best·(1 ∓ threshold); 'abs': better than best ∓ threshold. */
  thresholdMode?: 'rel' | 'abs';
  /** Epochs to wait after a reduction before counting bad epochs again. */
  cooldown?: number;
  /** Lower bound on the lr, for all groups or one per group. */
  minLr?: number | number[];
  /** Reductions smaller than this are skipped. */
  eps?: number;
}

/**
 * Reduces the lr by `factor` when a metric has stopped improving for more than `patience` epochs, as
 * PyTorch's `ReduceLROnPlateau`. Call `step(metric)` once per epoch with the validation metric.
 */
export class ReduceLROnPlateau {
  /** The optimizer whose groups' `lr` this scheduler sets. */
  readonly optimizer: AnyOptimizer;
  /** 'min': lower metric is better; 'max': higher is better. */
  mode: 'min' | 'max';
  /** Multiplier applied to the lr on a plateau. */
  factor: number;
  /** Epochs without improvement tolerated before reducing. */
  patience: number;
  /** Minimum change that counts as an improvement. */
  threshold: number;
  /** Whether `threshold` is relative to the best value or absolute. */
  thresholdMode: 'rel' | 'abs';
  /** Epochs to wait after a reduction before counting bad epochs again. */
  cooldown: number;
  /** Lower bound on each group's lr. */
  minLrs: number[];
  /** Reductions smaller than this are skipped. */
  eps: number;
  /** Best metric seen (±Infinity before the first step). */
  best: number;
  /** Consecutive epochs without improvement. */
  numBadEpochs = 0;
  /** Epochs of cooldown left. */
  cooldownCounter = 0;
  /** Number of `step` calls. */
  lastEpoch = 0;
  private lastLr: number[];

  constructor(optimizer: AnyOptimizer, options: ReduceLROnPlateauOptions = {}) {
    if (!optimizer || !Array.isArray(optimizer.paramGroups)) {
      throw new Error(`ReduceLROnPlateau: expected an Optimizer, got ${typeof optimizer}`);
    }
    this.optimizer = optimizer;
    const {
      mode = 'min',
      factor = 0.1,
      patience = 10,
      threshold = 1e-4,
      thresholdMode = 'rel',
      cooldown = 0,
      minLr = 0,
      eps = 1e-8,
    } = knownOptions('ReduceLROnPlateau', options, [
      'mode',
      'factor',
      'patience',
      'threshold',
      'thresholdMode',
      'cooldown',
      'minLr',
      'eps',
    ]);
    const n = optimizer.paramGroups.length;
    const minLrs = Array.isArray(minLr) ? [...minLr] : Array.from({ length: n }, () => minLr);
    ReduceLROnPlateau.check({ mode, factor, patience, threshold, thresholdMode, cooldown, minLrs, eps }, n);
    this.mode = mode;
    this.factor = factor;
    this.patience = patience;
    this.threshold = threshold;
    this.thresholdMode = thresholdMode;
    this.cooldown = cooldown;
    this.minLrs = minLrs;
    this.eps = eps;
    this.best = this.worst();
    this.lastLr = optimizer.paramGroups.map((g) => g.lr);
  }

  private static check(o: Record<string, unknown>, groups: number): void {
    const name = 'ReduceLROnPlateau';
    if (o.mode !== 'min' && o.mode !== 'max')
      throw new Error(`${name}: mode ${o.mode} is unknown (expected 'min' or 'max')`);
    if (o.thresholdMode !== 'rel' && o.thresholdMode !== 'abs') {
      throw new Error(`${name}: thresholdMode ${o.thresholdMode} is unknown (expected 'rel' or 'abs')`);
    }
    if (typeof o.factor !== 'number' || !(o.factor >= 0 && o.factor < 1)) {
      throw new Error(`${name}: invalid factor ${o.factor} (expected 0 <= factor < 1)`);
    }
    for (const key of ['patience', 'cooldown']) {
      const v = o[key];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
        throw new Error(`${name}: invalid ${key} ${v} (expected a non-negative integer)`);
      }
    }
    for (const key of ['threshold', 'eps']) {
      const v = o[key];
      if (typeof v !== 'number' || !(v >= 0))
        throw new Error(`${name}: invalid ${key} ${v} (expected a number >= 0)`);
    }
    if (!isNumberArray(o.minLrs, groups) || !o.minLrs.every((m) => m >= 0)) {
      throw new Error(
        `${name}: minLr must be a number >= 0 or ${groups} such number(s), one per group; got ${JSON.stringify(o.minLrs)}`,
      );
    }
  }

  private worst(): number {
    return this.mode === 'min' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  }

  private isBetter(a: number, best: number): boolean {
    if (this.mode === 'min') {
      return this.thresholdMode === 'rel' ? a < best * (1 - this.threshold) : a < best - this.threshold;
    }
    return this.thresholdMode === 'rel' ? a > best * (this.threshold + 1) : a > best + this.threshold;
  }

  /** Records this epoch's metric (a number or one-element tensor) and reduces the lr on a plateau. */
  step(metric: number | Tensor): void {
    const current = metric instanceof Tensor ? metric.item() : metric;
    if (typeof current !== 'number') {
      throw new Error(
        `ReduceLROnPlateau.step: metric must be a number or a one-element Tensor, got ${typeof metric}`,
      );
    }
    this.lastEpoch += 1;
    // NaN is never better, so it counts as a bad epoch (as in PyTorch).
    if (this.isBetter(current, this.best)) {
      this.best = current;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs += 1;
    }
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      this.optimizer.paramGroups.forEach((g, i) => {
        const next = Math.max(g.lr * this.factor, this.minLrs[i]!);
        if (g.lr - next > this.eps) g.lr = next;
      });
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The lr of every group after the latest step (the optimizer's lrs before the first). */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /**
   * A snapshot of the scheduler. `best` is null until a finite metric has been seen (so the snapshot is
   * plain JSON); `loadStateDict` maps null back to the mode's worst value.
   */
  stateDict(): SchedulerStateDict {
    return {
      best: Number.isFinite(this.best) ? this.best : null,
      numBadEpochs: this.numBadEpochs,
      cooldownCounter: this.cooldownCounter,
      lastEpoch: this.lastEpoch,
      lastLr: [...this.lastLr],
      options: {
        mode: this.mode,
        factor: this.factor,
        patience: this.patience,
        threshold: this.threshold,
        thresholdMode: this.thresholdMode,
        cooldown: this.cooldown,
        minLrs: [...this.minLrs],
        eps: this.eps,
      },
    };
  }

  /** Restores a snapshot from `stateDict()`; validates it first, so a bad snapshot changes nothing. */
  loadStateDict(stateDict: StateValue): void {
    this.prepareLoadStateDict(stateDict)();
  }

  /** The checking half of `loadStateDict`: validates, and returns a function that installs the state. */
  prepareLoadStateDict(stateDict: StateValue): () => void {
    const where = 'ReduceLROnPlateau.loadStateDict';
    const n = this.optimizer.paramGroups.length;
    if (!isRecord(stateDict)) throw new Error(`${where}: expected an object as returned by stateDict()`);
    const { best, numBadEpochs, cooldownCounter, lastEpoch, lastLr } = stateDict;
    if (best !== null && typeof best !== 'number') throw new Error(`${where}: best must be a number or null`);
    for (const [key, v] of Object.entries({ numBadEpochs, cooldownCounter, lastEpoch })) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
        throw new Error(`${where}: ${key} must be a non-negative integer, got ${v}`);
      }
    }
    if (!isNumberArray(lastLr, n)) throw new Error(`${where}: lastLr must be ${n} number(s), one per group`);
    const o = checkOptions(where, stateDict.options, this.stateDict().options as Record<string, unknown>);
    ReduceLROnPlateau.check(o, n);
    return () => {
      Object.assign(this, {
        mode: o.mode,
        factor: o.factor,
        patience: o.patience,
        threshold: o.threshold,
        thresholdMode: o.thresholdMode,
        cooldown: o.cooldown,
        minLrs: [...(o.minLrs as number[])],
        eps: o.eps,
        numBadEpochs,
        cooldownCounter,
        lastEpoch,
      });
      this.best = best === null ? this.worst() : best;
      this.lastLr = [...lastLr];
    };
  }
}
