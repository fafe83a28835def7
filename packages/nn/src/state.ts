/**
 * Training state in one safetensors file, browser-safe: the tensors of a state tree become safetensors
 * entries named by their tree path (`model.weight_ih_l0`, `optimizer.state.0.exp_avg`), and the rest of the
 * tree (numbers, strings, nesting) is a JSON skeleton in the `__metadata__` entry `tensorloom.state`. So a
 * module state dict, an optimizer state dict and a scheduler state (plus the RNG state) fit in one file that
 * any safetensors reader can still open.
 *
 * Skeleton encoding: JSON, except that a tensor is `{"$t": entryName}` and a number JSON cannot carry
 * (NaN, ±Infinity, −0: a scheduler's "best so far" starts at Infinity) is `{"$n": "NaN" | "Infinity" |
 * "-Infinity" | "-0"}`. Object keys beginning with `$` get one more `$` in front, so user keys can never be
 * mistaken for these tags.
 */
import { getRngState, setRngState, Tensor } from '@tensorloom/autograd';
import { readSafetensors, saveSafetensors } from './safetensors.ts';

/**
 * A training state as a tree: tensors plus JSON values. Module, optimizer and scheduler state dicts are
 * all of this form, so one serializer (safetensors for the tensors, JSON metadata for the rest) saves them all.
 */
export type StateValue =
  | Tensor
  | number
  | string
  | boolean
  | null
  | StateValue[]
  | { [key: string]: StateValue };

/** The `__metadata__` key holding the JSON skeleton of a serialized state tree. */
export const STATE_METADATA_KEY = 'tensorloom.state';

const FORMAT_VERSION = 1;
/** Deep enough for any real state (an optimizer state nests ~5 levels); shallow enough to never blow the stack. */
const MAX_DEPTH = 512;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = readonly (string | number)[];

function showPath(path: Path): string {
  return path.length === 0 ? '(root)' : path.join('.');
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function kindOf(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'object' && v !== null) return `a ${v.constructor?.name ?? 'non-plain object'}`;
  return `a ${typeof v}`;
}

/**
 * Serializes a state tree (tensors and JSON values, nested in plain objects and arrays) to safetensors bytes,
 * with optional extra string metadata. Throws on values that are not part of `StateValue` (undefined,
 * functions, class instances other than Tensor, typed arrays, cycles), naming their path.
 */
export function serializeState(tree: StateValue, metadata?: Record<string, string>): Uint8Array {
  const fail = (message: string): never => {
    throw new Error(`serializeState: ${message}`);
  };
  const tensors: Record<string, Tensor> = Object.create(null);
  const ancestors = new Set<object>();

  const entryName = (path: Path): string => {
    // Dotted paths can collide ({"a.b": x} and {a: {b: y}}) and may hit the reserved names; the skeleton holds
    // the real path, so a numbered suffix is enough to keep entry names unique.
    const base = path.join('.');
    let name = base;
    for (let k = 2; Object.hasOwn(tensors, name) || name === '__metadata__' || name === '__proto__'; k++) {
      name = `${base}#${k}`;
    }
    return name;
  };

  const encode = (value: unknown, path: (string | number)[]): Json => {
    if (value instanceof Tensor) {
      const name = entryName(path);
      tensors[name] = value;
      return { $t: name };
    }
    switch (typeof value) {
      case 'number':
        if (Number.isNaN(value)) return { $n: 'NaN' };
        if (value === Infinity) return { $n: 'Infinity' };
        if (value === -Infinity) return { $n: '-Infinity' };
        if (Object.is(value, -0)) return { $n: '-0' };
        return value;
      case 'string':
      case 'boolean':
        return value;
      case 'object':
        break;
      default:
        return fail(`cannot store ${kindOf(value)} at ${showPath(path)} (expected a Tensor or a JSON value)`);
    }
    if (value === null) return null;
    if (ancestors.has(value)) fail(`the tree contains a cycle at ${showPath(path)}`);
    if (path.length >= MAX_DEPTH) fail(`the tree nests deeper than ${MAX_DEPTH} levels at ${showPath(path)}`);
    ancestors.add(value);
    let out: Json;
    if (Array.isArray(value)) {
      const arr: Json[] = [];
      for (let i = 0; i < value.length; i++) {
        if (!(i in value)) fail(`the array at ${showPath(path)} has a hole at index ${i}`);
        path.push(i);
        arr.push(encode(value[i], path));
        path.pop();
      }
      out = arr;
    } else if (isPlainObject(value)) {
      const obj: { [key: string]: Json } = {};
      for (const key of Object.keys(value)) {
        if (key === '__proto__') fail(`the key "__proto__" at ${showPath(path)} is not allowed`);
        path.push(key);
        const encoded = encode((value as Record<string, unknown>)[key], path);
        path.pop();
        // Own data property even for keys like "constructor"; '$'-keys escaped (see the module comment).
        Object.defineProperty(obj, key.startsWith('$') ? `$${key}` : key, {
          value: encoded,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      out = obj;
    } else {
      const hint = ArrayBuffer.isView(value) ? ' (wrap typed arrays in a Tensor)' : '';
      out = fail(`cannot store ${kindOf(value)} at ${showPath(path)}${hint}`);
    }
    ancestors.delete(value);
    return out;
  };

  const skeleton = encode(tree, []);
  const meta: Record<string, string> = {};
  if (metadata !== undefined) {
    for (const key of Object.keys(metadata)) {
      if (key === STATE_METADATA_KEY) fail(`metadata key ${JSON.stringify(STATE_METADATA_KEY)} is reserved`);
      meta[key] = metadata[key]!;
    }
  }
  meta[STATE_METADATA_KEY] = JSON.stringify({ version: FORMAT_VERSION, tree: skeleton });
  return saveSafetensors(tensors, meta);
}

/** A state tree read back by `readState`, with the file's other metadata. */
export interface StateContents {
  /** The state tree, tensors in place. */
  state: StateValue;
  /** The extra metadata passed to `serializeState` (without the reserved skeleton entry). */
  metadata: Record<string, string>;
}

/**
 * Reads bytes written by `serializeState`: rebuilds the tree with its tensors in place, and validates it
 * (every tag well formed, every tensor entry referenced exactly once, no `__proto__` keys).
 */
export function readState(bytes: Uint8Array): StateContents {
  const fail = (message: string): never => {
    throw new Error(`deserializeState: ${message}`);
  };
  const { tensors, metadata } = readSafetensors(bytes);
  const text = metadata[STATE_METADATA_KEY];
  if (text === undefined) {
    fail(`no ${JSON.stringify(STATE_METADATA_KEY)} metadata entry: not a file written by serializeState`);
  }
  let envelope: unknown;
  try {
    envelope = JSON.parse(text!);
  } catch (err) {
    fail(`the ${STATE_METADATA_KEY} metadata is not valid JSON (${(err as Error).message})`);
  }
  if (typeof envelope !== 'object' || envelope === null || Array.isArray(envelope)) {
    fail(`the ${STATE_METADATA_KEY} metadata must be a JSON object {version, tree}`);
  }
  const { version, tree } = envelope as { version?: unknown; tree?: unknown };
  if (version !== FORMAT_VERSION) {
    fail(`unsupported state format version ${JSON.stringify(version)} (this reader knows ${FORMAT_VERSION})`);
  }
  if (tree === undefined) fail(`the ${STATE_METADATA_KEY} metadata has no tree`);

  const used = new Set<string>();
  const decode = (node: unknown, path: (string | number)[]): StateValue => {
    if (node === null || typeof node === 'string' || typeof node === 'boolean' || typeof node === 'number') {
      return node;
    }
    if (path.length >= MAX_DEPTH) fail(`the tree nests deeper than ${MAX_DEPTH} levels at ${showPath(path)}`);
    if (Array.isArray(node)) {
      return node.map((item, i) => {
        path.push(i);
        const v = decode(item, path);
        path.pop();
        return v;
      });
    }
    const obj = node as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (keys.length === 1 && keys[0] === '$t') {
      const name = obj.$t;
      if (typeof name !== 'string' || !Object.hasOwn(tensors, name)) {
        fail(`${showPath(path)} refers to tensor ${JSON.stringify(name)}, which the file does not hold`);
      }
      if (used.has(name as string)) fail(`tensor ${JSON.stringify(name)} is referenced twice`);
      used.add(name as string);
      return tensors[name as string]!;
    }
    if (keys.length === 1 && keys[0] === '$n') {
      const special: Record<string, number> = { NaN: Number.NaN, Infinity, '-Infinity': -Infinity, '-0': -0 };
      const tag = obj.$n;
      if (typeof tag !== 'string' || !Object.hasOwn(special, tag)) {
        fail(`${showPath(path)} holds an unknown number tag ${JSON.stringify(tag)}`);
      }
      return special[tag as string]!;
    }
    const out: { [key: string]: StateValue } = {};
    for (const stored of keys) {
      if (stored.startsWith('$') && !stored.startsWith('$$')) {
        fail(`${showPath(path)} has the reserved key ${JSON.stringify(stored)}`);
      }
      const key = stored.startsWith('$') ? stored.slice(1) : stored;
      // Assigning "__proto__" would set the prototype of `out`; nothing legitimate is stored under that name.
      if (key === '__proto__') fail(`the key "__proto__" at ${showPath(path)} is not allowed`);
      path.push(key);
      out[key] = decode(obj[stored], path);
      path.pop();
    }
    return out;
  };
  const state = decode(tree, []);
  for (const name of Object.keys(tensors)) {
    if (!used.has(name)) fail(`tensor entry ${JSON.stringify(name)} is not referenced by the state tree`);
  }
  const rest: Record<string, string> = Object.create(null);
  for (const key of Object.keys(metadata)) if (key !== STATE_METADATA_KEY) rest[key] = metadata[key]!;
  return { state, metadata: rest };
}

/** Reads a state tree written by `serializeState` (see `readState` for its extra metadata too). */
export function deserializeState(bytes: Uint8Array): StateValue {
  return readState(bytes).state;
}

// ---------------------------------------------------------------------------------------------------------
// Training checkpoints (bytes here; `@tensorloom/nn/node` adds atomic files)
// ---------------------------------------------------------------------------------------------------------

/**
 * Anything that can save and restore its state as a `StateValue` tree: modules, optimizers, LR schedulers.
 * The parameter type is `never` so that every concrete `loadStateDict` signature fits; the tree passed at
 * run time is the one its own `stateDict()` produced.
 */
export interface Stateful {
  /** The object's state as a tree of tensors and JSON values. */
  stateDict(): unknown;
  /** Restores a state produced by `stateDict()`. */
  loadStateDict(state: never, options?: never): unknown;
  /**
   * Optional, and present on `Module`, the optimizers and the schedulers: validates a state as
   * `loadStateDict` would and returns a function that applies it without further checks, so
   * `restoreCheckpoint` can check every part before it changes any.
   */
  prepareLoadStateDict?(state: never, options?: never): () => unknown;
}

/** What a training checkpoint holds: the model, optionally optimizer and scheduler, the step, extra data. */
export interface Checkpoint {
  /** The model whose `stateDict()` is saved. */
  model: Stateful;
  /** The optimizer whose state (moments, step counts) is saved. */
  optimizer?: Stateful;
  /** The LR scheduler whose state is saved. */
  scheduler?: Stateful;
  /** The training step (or epoch) reached. */
  step: number;
  /** Any other tensors and JSON values to keep (best loss, config, data-loader position). */
  extra?: StateValue;
}

/** Where `restoreCheckpoint` loads the saved state into. */
export interface CheckpointTargets {
  /** Receives the saved model state. */
  model: Stateful;
  /** Receives the saved optimizer state (the checkpoint must hold one). */
  optimizer?: Stateful;
  /** Receives the saved scheduler state (the checkpoint must hold one). */
  scheduler?: Stateful;
  /** Passed to the model's `loadStateDict` (default true: missing or unexpected keys are an error). */
  strict?: boolean;
  /** Restore the global RNG state saved with the checkpoint (default true), so random draws resume exactly. */
  restoreRng?: boolean;
}

/** What `restoreCheckpoint` hands back besides loading the state into its targets. */
export interface RestoredCheckpoint {
  /** The step saved with the checkpoint. */
  step: number;
  /** The extra values saved with it, if any. */
  extra: StateValue | undefined;
}

const CHECKPOINT_FORMAT = 'tensorloom.checkpoint';

/**
 * Serializes a training checkpoint: model, optimizer and scheduler state dicts, step, extra values, and the
 * global RNG state (`getRngState`), in one safetensors file.
 */
export function serializeCheckpoint(checkpoint: Checkpoint): Uint8Array {
  const { model, optimizer, scheduler, step, extra } = checkpoint;
  if (typeof step !== 'number' || !Number.isFinite(step)) {
    throw new Error(`serializeCheckpoint: step must be a finite number, got ${String(step)}`);
  }
  const tree: { [key: string]: StateValue } = {
    format: CHECKPOINT_FORMAT,
    version: FORMAT_VERSION,
    step,
    rng: getRngState(),
    model: model.stateDict() as StateValue,
  };
  if (optimizer) tree.optimizer = optimizer.stateDict() as StateValue;
  if (scheduler) tree.scheduler = scheduler.stateDict() as StateValue;
  if (extra !== undefined) tree.extra = extra;
  return serializeState(tree);
}

/**
 * Loads a checkpoint written by `serializeCheckpoint` into `targets` (model, optimizer, scheduler, RNG) and
 * returns its step and extra values. All or nothing: the file is parsed, and every part (its format, step,
 * RNG state and extra values, and the model, optimizer and scheduler states against their targets, through
 * their `prepareLoadStateDict`) is checked before any target changes; a mismatch anywhere (SGD state for an
 * Adam optimizer, two parameter groups for one) throws and leaves every target as it was.
 * A custom target without `prepareLoadStateDict` is loaded after all checks passed and before the others;
 * if it throws, nothing else has changed (but two such targets can only be loaded one after the other).
 */
export function restoreCheckpoint(bytes: Uint8Array, targets: CheckpointTargets): RestoredCheckpoint {
  const fail = (message: string): never => {
    throw new Error(`restoreCheckpoint: ${message}`);
  };
  const tree = deserializeState(bytes);
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree) || tree instanceof Tensor) {
    return fail('not a checkpoint (the state tree is not an object)');
  }
  if (tree.format !== CHECKPOINT_FORMAT) fail(`not a checkpoint (format ${JSON.stringify(tree.format)})`);
  if (tree.version !== FORMAT_VERSION) fail(`unsupported checkpoint version ${JSON.stringify(tree.version)}`);
  const step = tree.step;
  if (typeof step !== 'number' || !Number.isFinite(step)) fail('the checkpoint has no valid step');
  const rng = tree.rng;
  if (
    !Array.isArray(rng) ||
    rng.length !== 4 ||
    rng.some((w) => !Number.isInteger(w) || (w as number) < 0 || (w as number) > 0xffffffff)
  ) {
    fail('the checkpoint has no valid RNG state (expected 4 unsigned 32-bit words)');
  }
  if (!Object.hasOwn(tree, 'model')) fail('the checkpoint holds no model state');
  if (targets.optimizer && !Object.hasOwn(tree, 'optimizer'))
    fail('an optimizer was given but the checkpoint holds no optimizer state');
  if (targets.scheduler && !Object.hasOwn(tree, 'scheduler'))
    fail('a scheduler was given but the checkpoint holds no scheduler state');

  type Load = (state: StateValue, options?: { strict?: boolean }) => unknown;
  type Prepare = (state: StateValue, options?: { strict?: boolean }) => () => unknown;
  const parts: [Stateful, StateValue, { strict?: boolean } | undefined][] = [
    [targets.model, tree.model!, { strict: targets.strict ?? true }],
  ];
  if (targets.optimizer) parts.push([targets.optimizer, tree.optimizer!, undefined]);
  if (targets.scheduler) parts.push([targets.scheduler, tree.scheduler!, undefined]);
  // Phase 1 checks every part and changes nothing; phase 2 applies them and cannot fail, except for custom
  // targets that offer no separate check, which therefore go first.
  const unchecked: (() => unknown)[] = [];
  const commits: (() => unknown)[] = [];
  for (const [target, state, options] of parts) {
    const prepare = target.prepareLoadStateDict as Prepare | undefined;
    if (typeof prepare === 'function') commits.push(prepare.call(target, state, options));
    else unchecked.push(() => (target.loadStateDict as Load).call(target, state, options));
  }
  for (const load of unchecked) load();
  for (const commit of commits) commit();
  if (targets.restoreRng ?? true) setRngState(rng as number[]);
  return { step: step as number, extra: tree.extra };
}
