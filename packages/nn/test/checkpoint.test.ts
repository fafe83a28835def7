import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRngState, linear, manualSeed, mul, randn, sum, Tensor, tensor } from '@tensorloom/autograd';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Module, Parameter } from '../src/module.ts';
import { loadCheckpoint, loadModule, saveCheckpoint, saveModule, writeFileAtomic } from '../src/node.ts';
import { Adam, type Optimizer, SGD } from '../src/optim.ts';
import { loadSafetensors, readSafetensors, saveSafetensors } from '../src/safetensors.ts';
import { CosineAnnealingLR, StepLR } from '../src/schedulers.ts';
import {
  deserializeState,
  readState,
  restoreCheckpoint,
  STATE_METADATA_KEY,
  type StateValue,
  serializeCheckpoint,
  serializeState,
} from '../src/state.ts';

// Fault injection for the atomicity tests: when `failAfter` is set, the next file write stores that many
// bytes and then throws, as a full disk or an I/O error would.
const faults = vi.hoisted(() => ({ failAfter: null as number | null }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof actual.open = async (...args) => {
    const handle = await actual.open(...args);
    const write = handle.write.bind(handle) as (
      b: Uint8Array,
      o: number,
      l: number,
    ) => Promise<{ bytesWritten: number }>;
    (handle as unknown as { write: typeof write }).write = async (buffer, offset, length) => {
      if (faults.failAfter === null) return write(buffer, offset, length);
      const partial = Math.min(faults.failAfter, length);
      faults.failAfter = null;
      await write(buffer, offset, partial);
      throw new Error('injected write failure (ENOSPC)');
    };
    return handle;
  };
  return { ...actual, open };
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tensorloom-checkpoint-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The raw bytes of a tensor's storage. */
function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Deep equality for state trees: tensors by dtype, shape and bits; numbers with Object.is (NaN, -0). */
function sameState(a: StateValue, b: StateValue): boolean {
  if (a instanceof Tensor || b instanceof Tensor) {
    return (
      a instanceof Tensor &&
      b instanceof Tensor &&
      a.dtype === b.dtype &&
      a.shape.join() === b.shape.join() &&
      bytesOf(a).every((x, i) => x === bytesOf(b)[i])
    );
  }
  if (typeof a === 'number' || typeof b === 'number') return Object.is(a, b);
  if (a === null || typeof a !== 'object' || b === null || typeof b !== 'object') return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every(
    (k) =>
      Object.hasOwn(b, k) &&
      sameState((a as Record<string, StateValue>)[k]!, (b as Record<string, StateValue>)[k]!),
  );
}

class Inner extends Module {
  weight = new Parameter(randn([3, 2]));
  bias = new Parameter(randn([3]));
}
class Net extends Module {
  scale = new Parameter(randn([2]));
  inner = new Inner();
  constructor() {
    super();
    this.registerBuffer('runningMean', randn([3]));
  }
}

/** A stand-in optimizer: a PyTorch-shaped state dict of tensors and JSON values, and a strict loader. */
class FakeOptimizer {
  state: { step: number; expAvg: Tensor; betas: number[] } = {
    step: 0,
    expAvg: tensor([0, 0], { dtype: 'float64' }),
    betas: [0.9, 0.999],
  };
  stateDict(): StateValue {
    return {
      state: { 0: { step: this.state.step, exp_avg: this.state.expAvg } },
      param_groups: [{ lr: 0.1, betas: this.state.betas, params: [0] }],
    };
  }
  loadStateDict(sd: StateValue): void {
    const s = (sd as { state: Record<string, { step: number; exp_avg: Tensor }> }).state['0']!;
    if (!(s.exp_avg instanceof Tensor))
      throw new Error('FakeOptimizer.loadStateDict: exp_avg is not a Tensor');
    this.state = {
      step: s.step,
      expAvg: s.exp_avg,
      betas: (sd as { param_groups: { betas: number[] }[] }).param_groups[0]!.betas,
    };
  }
}
/** A stand-in scheduler whose state holds a non-finite number (ReduceLROnPlateau's best starts at inf). */
class FakeScheduler {
  best = Infinity;
  lastEpoch = -1;
  stateDict(): StateValue {
    return { best: this.best, last_epoch: this.lastEpoch };
  }
  loadStateDict(sd: { best: number; last_epoch: number }): void {
    this.best = sd.best;
    this.lastEpoch = sd.last_epoch;
  }
}

function paramsOf(m: Module): Record<string, number[]> {
  return Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, Array.from(t.data)]));
}

describe('serializeState / deserializeState', () => {
  it('round-trips a tree of tensors and JSON values, incl. values JSON cannot hold', () => {
    const tree: StateValue = {
      model: { 'layer.0.weight': randn([2, 2]), bias: tensor([1, 2], { dtype: 'float64' }) },
      optimizer: {
        state: { 0: { step: 3, exp_avg: randn([2]) } },
        param_groups: [{ lr: 1e-3, betas: [0.9, 0.999] }],
      },
      scheduler: { best: Infinity, worst: -Infinity, unknown: Number.NaN, zero: -0, last_epoch: -1 },
      flags: [true, false, null, 'text', ''],
      $t: 'a user key that looks like a tag',
      $$n: { $n: 'x' },
      constructor: 'a plain key',
      empty: {},
      none: [],
    };
    const back = deserializeState(serializeState(tree));
    expect(sameState(back, tree)).toBe(true);
    const scheduler = (back as Record<string, Record<string, number>>).scheduler!;
    expect(scheduler.best).toBe(Infinity);
    expect(Object.is(scheduler.zero, -0)).toBe(true);
    expect(Number.isNaN(scheduler.unknown)).toBe(true);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
  });

  it('stores tensors as ordinary safetensors entries named by their tree path', () => {
    const w = randn([2, 3]);
    const bytes = serializeState({ model: { encoder: [{ weight: w }] }, step: 7 });
    const { tensors, metadata } = readSafetensors(bytes);
    expect(Object.keys(tensors)).toEqual(['model.encoder.0.weight']);
    expect(bytesOf(tensors['model.encoder.0.weight']!)).toEqual(bytesOf(w));
    expect(JSON.parse(metadata[STATE_METADATA_KEY]!)).toEqual({
      version: 1,
      tree: { model: { encoder: [{ weight: { $t: 'model.encoder.0.weight' } }] }, step: 7 },
    });
  });

  it('keeps colliding dotted paths apart, and handles a tensor or a number at the root', () => {
    const a = tensor([1]);
    const b = tensor([2]);
    const back = deserializeState(serializeState({ 'x.y': a, x: { y: b } })) as Record<string, StateValue>;
    expect(Array.from((back['x.y'] as Tensor).data)).toEqual([1]);
    expect(Array.from(((back.x as Record<string, Tensor>).y as Tensor).data)).toEqual([2]);
    const root = deserializeState(serializeState(randn([4], { dtype: 'float64' })));
    expect(root).toBeInstanceOf(Tensor);
    expect(deserializeState(serializeState(Number.NaN))).toBeNaN();
    expect(deserializeState(serializeState('hi'))).toBe('hi');
  });

  it('returns the extra metadata, without the reserved entry', () => {
    const { state, metadata } = readState(serializeState({ a: 1 }, { author: 'me' }));
    expect(state).toEqual({ a: 1 });
    expect({ ...metadata }).toEqual({ author: 'me' });
    expect(() => serializeState({}, { [STATE_METADATA_KEY]: 'x' })).toThrow(
      /^serializeState: metadata key "tensorloom.state" is reserved/,
    );
  });

  it('refuses values outside StateValue, naming their path', () => {
    const bad = (v: unknown) => () => serializeState(v as StateValue);
    expect(bad({ a: { b: undefined } })).toThrow(/^serializeState: cannot store undefined at a.b/);
    expect(bad({ f: () => 1 })).toThrow(/cannot store a function at f/);
    expect(bad({ m: new Map() })).toThrow(/cannot store a Map at m/);
    expect(bad({ t: new Float32Array(2) })).toThrow(
      /cannot store a Float32Array at t \(wrap typed arrays in a Tensor\)/,
    );
    expect(bad({ n: 1n })).toThrow(/cannot store a bigint at n/);
    const holey = [1, 2, 3];
    delete holey[1];
    expect(bad(holey)).toThrow(/the array at \(root\) has a hole at index 1/);
    expect(bad(JSON.parse('{"x": {"__proto__": 1}}'))).toThrow(/the key "__proto__" at x is not allowed/);
    const cyclic: Record<string, unknown> = { a: [] };
    (cyclic.a as unknown[]).push(cyclic);
    expect(bad(cyclic)).toThrow(/the tree contains a cycle at a.0/);
    const shared = { w: 1 };
    expect(() => serializeState({ a: shared, b: shared })).not.toThrow();
  });

  it('round-trips random state trees (property)', () => {
    const leaf = fc.oneof(
      fc.double(),
      fc.string({ maxLength: 4 }),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.double(), { maxLength: 4 }).map((v) => tensor(v, { dtype: 'float64' })),
      fc.array(fc.float(), { maxLength: 4 }).map((v) => tensor(v, { dtype: 'float32' })),
    );
    const key = fc.oneof(
      fc.string({ maxLength: 4 }),
      fc.constantFrom('$t', '$n', '$', '$$t', 'a.b', 'constructor', '__metadata__'),
    );
    const { tree } = fc.letrec<{ tree: StateValue }>((t) => ({
      tree: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        leaf,
        fc.array(t('tree'), { maxLength: 3 }),
        fc.dictionary(
          key.filter((k) => k !== '__proto__'),
          t('tree'),
          { maxKeys: 3, noNullPrototype: true },
        ),
      ),
    }));
    fc.assert(
      fc.property(tree, (value) => {
        expect(sameState(deserializeState(serializeState(value)), value)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('deserializeState validates what it reads', () => {
  const tampered = (skeleton: string, tensors: Record<string, Tensor> = {}) =>
    saveSafetensors(tensors, { [STATE_METADATA_KEY]: skeleton });
  const expectError = (bytes: Uint8Array, message: RegExp) => {
    expect(() => deserializeState(bytes)).toThrow(message);
  };

  it('a plain safetensors file, bad JSON, a wrong version', () => {
    expectError(
      saveSafetensors({ a: tensor([1]) }),
      /^deserializeState: no "tensorloom.state" metadata entry/,
    );
    expectError(
      tampered('{"version":1,'),
      /^deserializeState: the tensorloom.state metadata is not valid JSON/,
    );
    expectError(tampered('[1]'), /must be a JSON object \{version, tree\}/);
    expectError(tampered('{"version":2,"tree":1}'), /unsupported state format version 2/);
    expectError(tampered('{"version":1}'), /has no tree/);
  });

  it('corrupt files are reported by the safetensors loader', () => {
    const bytes = serializeState({ a: tensor([1, 2]) });
    expect(() => deserializeState(bytes.subarray(0, bytes.length - 2))).toThrow(/^loadSafetensors: /);
  });

  it('missing, doubly used and unreferenced tensors; unknown tags and reserved keys', () => {
    const t = { w: tensor([1]) };
    expectError(
      tampered('{"version":1,"tree":{"a":{"$t":"nope"}}}', t),
      /a refers to tensor "nope", which the file does not hold/,
    );
    expectError(
      tampered('{"version":1,"tree":[{"$t":"w"},{"$t":"w"}]}', t),
      /tensor "w" is referenced twice/,
    );
    expectError(
      tampered('{"version":1,"tree":{}}', t),
      /tensor entry "w" is not referenced by the state tree/,
    );
    expectError(
      tampered('{"version":1,"tree":{"x":{"$n":"1e999"}}}'),
      /x holds an unknown number tag "1e999"/,
    );
    expectError(tampered('{"version":1,"tree":{"$x":1}}'), /\(root\) has the reserved key "\$x"/);
    expectError(
      tampered('{"version":1,"tree":{"a":{"__proto__":{"polluted":1}}}}'),
      /the key "__proto__" at a is not allowed/,
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('entry points', () => {
  it('the main entry reaches no Node built-in (only @tensorloom/nn/node does)', async () => {
    const src = new URL('../src/', import.meta.url);
    const seen = new Set<string>();
    const builtins: string[] = [];
    const visit = async (file: string): Promise<void> => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = await readFile(new URL(file, src), 'utf8');
      for (const [, spec] of text.matchAll(/(?:from|import)\s*['"]([^'"]+)['"]/g)) {
        if (spec!.startsWith('./')) await visit(spec!.slice(2));
        else if (spec!.startsWith('node:') || ['fs', 'path', 'os', 'crypto'].includes(spec!))
          builtins.push(`${file}: ${spec}`);
      }
    };
    await visit('index.ts');
    expect(seen.has('state.ts') && seen.has('safetensors.ts')).toBe(true);
    expect(seen.has('node.ts')).toBe(false);
    expect(builtins).toEqual([]);
  });
});

describe('saveModule / loadModule', () => {
  it('round-trips a module through a file with PyTorch key names', async () => {
    manualSeed(0);
    const a = new Net();
    const path = join(dir, 'net.safetensors');
    await saveModule(path, a, { format: 'pt' });
    const onDisk = readSafetensors(new Uint8Array(await readFile(path)));
    expect(Object.keys(onDisk.tensors).sort()).toEqual([
      'inner.bias',
      'inner.weight',
      'runningMean',
      'scale',
    ]);
    expect(onDisk.metadata.format).toBe('pt');
    manualSeed(1);
    const b = new Net();
    expect(paramsOf(b)).not.toEqual(paramsOf(a));
    const result = await loadModule(path, b);
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(paramsOf(b)).toEqual(paramsOf(a));
  });

  it('converts dtype on load, and reports key mismatches with the path', async () => {
    manualSeed(0);
    const path = join(dir, 'inner.safetensors');
    const src = new Inner();
    await saveModule(path, src);
    const wide = new Inner().double();
    await loadModule(path, wide);
    expect(wide.weight.dtype).toBe('float64');
    expect(Array.from(wide.weight.data)).toEqual(Array.from(src.weight.data));
    await expect(loadModule(path, new Net())).rejects.toThrow(
      /^loadModule: .*inner\.safetensors: loadStateDict \(Net\): .*missing keys/,
    );
    const loose = await loadModule(path, new Net(), { strict: false });
    expect(loose.unexpectedKeys.sort()).toEqual(['bias', 'weight']);
  });

  it('loads the PyTorch LSTM state dict into a module with the same parameter names', async () => {
    class LstmWeights extends Module {}
    const lstm = new LstmWeights() as LstmWeights & Record<string, Parameter>;
    const shapes: Record<string, number[]> = {};
    for (const layer of ['l0', 'l0_reverse', 'l1', 'l1_reverse']) {
      const input = layer.startsWith('l0') ? 3 : 8;
      shapes[`weight_ih_${layer}`] = [16, input];
      shapes[`weight_hh_${layer}`] = [16, 4];
      shapes[`bias_ih_${layer}`] = [16];
      shapes[`bias_hh_${layer}`] = [16];
    }
    for (const [name, shape] of Object.entries(shapes)) lstm[name] = new Parameter(randn(shape));
    const path = new URL('../fixtures/torch_lstm.safetensors', import.meta.url).pathname;
    await loadModule(path, lstm);
    const want = loadSafetensors(new Uint8Array(await readFile(path)));
    for (const name of Object.keys(shapes))
      expect(Array.from(lstm[name]!.data)).toEqual(Array.from(want[name]!.data));
  });

  it('reports unreadable and corrupt files with their path', async () => {
    await expect(loadModule(join(dir, 'missing.safetensors'), new Inner())).rejects.toThrow(
      /^loadModule: .*missing\.safetensors: .*ENOENT/,
    );
    const junk = join(dir, 'junk.safetensors');
    await writeFile(junk, new Uint8Array([1, 2, 3]));
    await expect(loadModule(junk, new Inner())).rejects.toThrow(
      /^loadModule: .*junk\.safetensors: loadSafetensors: file is 3 bytes/,
    );
  });
});

describe('restoreCheckpoint is all or nothing', () => {
  /** One training step, so optimizers hold state (moments, momentum buffers) worth checking. */
  const trainOnce = (model: Net, opt: Optimizer) => {
    opt.zeroGrad();
    const y = linear(mul(model.scale, randn([1, 2])), model.inner.weight, model.inner.bias);
    sum(mul(y, y)).backward();
    opt.step();
  };
  /** Everything a restore could change, as plain data. */
  const snapshot = (model: Net, opt: Optimizer, sched?: { stateDict(): unknown }) =>
    JSON.stringify({
      model: paramsOf(model),
      opt: serializeState(opt.stateDict() as StateValue),
      sched: sched?.stateDict(),
      rng: getRngState(),
    });
  /** A target set (a trained Adam with StepLR) to load a foreign checkpoint into. */
  const adamTargets = () => {
    manualSeed(11);
    const model = new Net();
    const optimizer = new Adam(model.parameters(), { lr: 0.01 });
    trainOnce(model, optimizer);
    const scheduler = new StepLR(optimizer, { stepSize: 3 });
    return { model, optimizer, scheduler };
  };

  it('SGD state into Adam: throws naming the optimizer and leaves model, optimizer and RNG unchanged', () => {
    manualSeed(1);
    const model = new Net();
    const sgd = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    trainOnce(model, sgd);
    const bytes = serializeCheckpoint({ model, optimizer: sgd, step: 1 });
    const t = adamTargets();
    const before = snapshot(t.model, t.optimizer);
    expect(() => restoreCheckpoint(bytes, { model: t.model, optimizer: t.optimizer })).toThrow(
      /^Adam\.loadStateDict: parameter group 0 is missing option betas/,
    );
    expect(snapshot(t.model, t.optimizer)).toBe(before);
  });

  it('two parameter groups into one: throws and changes nothing', () => {
    manualSeed(2);
    const model = new Net();
    const two = new Adam([{ params: [model.scale] }, { params: model.inner.parameters(), lr: 0.1 }]);
    trainOnce(model, two);
    const bytes = serializeCheckpoint({ model, optimizer: two, step: 1 });
    const t = adamTargets();
    const before = snapshot(t.model, t.optimizer);
    expect(() => restoreCheckpoint(bytes, { model: t.model, optimizer: t.optimizer })).toThrow(
      'Adam.loadStateDict: the state dict has 2 parameter group(s), this optimizer has 1',
    );
    expect(snapshot(t.model, t.optimizer)).toBe(before);
  });

  it('model and optimizer fit but the scheduler does not: nothing changes', () => {
    manualSeed(3);
    const model = new Net();
    const opt = new Adam(model.parameters(), { lr: 0.05 });
    trainOnce(model, opt);
    const cosine = new CosineAnnealingLR(opt, { tMax: 10 });
    cosine.step();
    const bytes = serializeCheckpoint({ model, optimizer: opt, scheduler: cosine, step: 2 });
    const t = adamTargets();
    const before = snapshot(t.model, t.optimizer, t.scheduler);
    expect(() => restoreCheckpoint(bytes, t)).toThrow(
      /^StepLR\.loadStateDict: options have keys \{etaMin, tMax\}, expected \{gamma, stepSize\}/,
    );
    expect(snapshot(t.model, t.optimizer, t.scheduler)).toBe(before);
    // The same checkpoint does load into matching targets, all parts at once.
    const matching = new CosineAnnealingLR(t.optimizer, { tMax: 10 });
    restoreCheckpoint(bytes, { ...t, scheduler: matching });
    expect(paramsOf(t.model)).toEqual(paramsOf(model));
    expect(t.optimizer.paramGroups[0]!.lr).toBe(opt.paramGroups[0]!.lr);
    expect(matching.lastEpoch).toBe(1);
  });

  it('an optimizer state of the wrong shape fails before the (matching) model is written', () => {
    manualSeed(4);
    const model = new Net();
    const opt = new Adam(model.parameters());
    trainOnce(model, opt);
    const sd = opt.stateDict();
    sd.state['0']!.expAvg = tensor([1, 2, 3]);
    const bytes = serializeState({
      format: 'tensorloom.checkpoint',
      version: 1,
      step: 1,
      rng: getRngState(),
      model: model.stateDict(),
      optimizer: sd as unknown as StateValue,
    });
    const t = adamTargets();
    const before = snapshot(t.model, t.optimizer);
    expect(() => restoreCheckpoint(bytes, { model: t.model, optimizer: t.optimizer })).toThrow(
      'Adam.loadStateDict: state expAvg of parameter 0 has shape [3], the parameter has shape [2]',
    );
    expect(snapshot(t.model, t.optimizer)).toBe(before);
  });

  it('a custom target without prepareLoadStateDict that refuses its state leaves the model alone', () => {
    manualSeed(5);
    const bytes = serializeCheckpoint({ model: new Net(), optimizer: new FakeOptimizer(), step: 1 });
    const model = new Net();
    const before = paramsOf(model);
    const refusing = {
      stateDict: () => ({}),
      loadStateDict: () => {
        throw new Error('Custom.loadStateDict: refused');
      },
    };
    expect(() => restoreCheckpoint(bytes, { model, optimizer: refusing })).toThrow(
      'Custom.loadStateDict: refused',
    );
    expect(paramsOf(model)).toEqual(before);
  });
});

describe('training checkpoints', () => {
  it('restores model, optimizer, scheduler, step, extra and the RNG stream', async () => {
    manualSeed(42);
    const model = new Net();
    const optimizer = new FakeOptimizer();
    optimizer.state = { step: 5, expAvg: tensor([0.25, -1], { dtype: 'float64' }), betas: [0.8, 0.99] };
    const scheduler = new FakeScheduler();
    scheduler.lastEpoch = 4;
    const path = join(dir, 'ckpt.safetensors');
    await saveCheckpoint(path, {
      model,
      optimizer,
      scheduler,
      step: 1234,
      extra: { bestLoss: 0.5, tag: 'run-a', history: randn([3]) },
    });
    const nextDraws = Array.from(randn([6]).data);

    manualSeed(7);
    const model2 = new Net();
    const optimizer2 = new FakeOptimizer();
    const scheduler2 = new FakeScheduler();
    const { step, extra } = await loadCheckpoint(path, {
      model: model2,
      optimizer: optimizer2,
      scheduler: scheduler2,
    });
    expect(step).toBe(1234);
    expect((extra as Record<string, unknown>).bestLoss).toBe(0.5);
    expect((extra as Record<string, unknown>).tag).toBe('run-a');
    expect((extra as Record<string, Tensor>).history!.shape).toEqual([3]);
    expect(paramsOf(model2)).toEqual(paramsOf(model));
    expect(optimizer2.state.step).toBe(5);
    expect(Array.from(optimizer2.state.expAvg.data)).toEqual([0.25, -1]);
    expect(optimizer2.state.expAvg.dtype).toBe('float64');
    expect(optimizer2.state.betas).toEqual([0.8, 0.99]);
    expect(scheduler2.best).toBe(Infinity);
    expect(scheduler2.lastEpoch).toBe(4);
    // The resumed run draws exactly what the original run drew after saving.
    expect(Array.from(randn([6]).data)).toEqual(nextDraws);
  });

  it('with the real Adam and StepLR, a resumed run continues exactly as the uninterrupted one', async () => {
    // Each step draws fresh noise, so an exact match needs the RNG, the moments, the step counts and the lr.
    const trainSteps = (model: Net, opt: Adam, sched: StepLR, n: number) => {
      for (let i = 0; i < n; i++) {
        opt.zeroGrad();
        const x = mul(model.scale, randn([1, 2]));
        const y = linear(x, model.inner.weight, model.inner.bias);
        sum(mul(y, y)).backward();
        opt.step();
        sched.step();
      }
    };
    manualSeed(5);
    const model = new Net();
    const opt = new Adam(model.parameters(), { lr: 0.05 });
    const sched = new StepLR(opt, { stepSize: 2, gamma: 0.5 });
    trainSteps(model, opt, sched, 3);
    const path = join(dir, 'adam.safetensors');
    await saveCheckpoint(path, { model, optimizer: opt, scheduler: sched, step: 3 });
    trainSteps(model, opt, sched, 3);

    manualSeed(99);
    const model2 = new Net();
    const opt2 = new Adam(model2.parameters(), { lr: 0.05 });
    const sched2 = new StepLR(opt2, { stepSize: 2, gamma: 0.5 });
    const { step } = await loadCheckpoint(path, { model: model2, optimizer: opt2, scheduler: sched2 });
    expect(step).toBe(3);
    trainSteps(model2, opt2, sched2, 3);
    expect(paramsOf(model2)).toEqual(paramsOf(model));
    expect(opt2.paramGroups[0]!.lr).toBe(opt.paramGroups[0]!.lr);
  });

  it('restoreRng: false leaves the generator alone', () => {
    manualSeed(3);
    const bytes = serializeCheckpoint({ model: new Inner(), step: 0 });
    const target = new Inner(); // built first: its initialisation draws from the generator too
    manualSeed(9);
    const expected = Array.from(randn([4]).data);
    manualSeed(9);
    restoreCheckpoint(bytes, { model: target, restoreRng: false });
    expect(Array.from(randn([4]).data)).toEqual(expected);
  });

  it('refuses a checkpoint that lacks what the caller asks for, or is not a checkpoint', () => {
    const bytes = serializeCheckpoint({ model: new Inner(), step: 2 });
    expect(() => restoreCheckpoint(bytes, { model: new Inner(), optimizer: new FakeOptimizer() })).toThrow(
      /^restoreCheckpoint: an optimizer was given but the checkpoint holds no optimizer state/,
    );
    expect(() => restoreCheckpoint(bytes, { model: new Inner(), scheduler: new FakeScheduler() })).toThrow(
      /no scheduler state/,
    );
    expect(() => restoreCheckpoint(serializeState({ a: 1 }), { model: new Inner() })).toThrow(
      /not a checkpoint \(format undefined\)/,
    );
    expect(() => restoreCheckpoint(bytes, { model: new Net() })).toThrow(/loadStateDict \(Net\)/);
    expect(() => serializeCheckpoint({ model: new Inner(), step: Number.NaN })).toThrow(
      /step must be a finite number, got NaN/,
    );
  });

  it('an unserializable value fails the save and leaves the previous checkpoint and no temp file', async () => {
    const sub = await mkdtemp(join(dir, 'atomic-'));
    const path = join(sub, 'ckpt.safetensors');
    await saveCheckpoint(path, { model: new Inner(), step: 1 });
    const before = await readFile(path);
    await expect(
      saveCheckpoint(path, {
        model: new Inner(),
        step: 2,
        extra: { callback: () => 0 } as unknown as StateValue,
      }),
    ).rejects.toThrow(/^saveCheckpoint: .*serializeState: cannot store a function at extra.callback/);
    expect(await readFile(path)).toEqual(before);
    expect(await readdir(sub)).toEqual(['ckpt.safetensors']);
    expect((await loadCheckpoint(path, { model: new Inner() })).step).toBe(1);
  });

  it('a write that fails midway leaves the previous checkpoint intact and no temp file', async () => {
    const sub = await mkdtemp(join(dir, 'atomic-'));
    const path = join(sub, 'ckpt.safetensors');
    await saveCheckpoint(path, { model: new Net(), step: 10 });
    const before = await readFile(path);
    faults.failAfter = 100;
    await expect(saveCheckpoint(path, { model: new Net(), step: 11 })).rejects.toThrow(
      /injected write failure/,
    );
    expect(faults.failAfter).toBeNull(); // the fault really fired inside the save
    expect(await readFile(path)).toEqual(before);
    expect(await readdir(sub)).toEqual(['ckpt.safetensors']);
    expect((await loadCheckpoint(path, { model: new Net() })).step).toBe(10);
    // and the next save goes through
    await saveCheckpoint(path, { model: new Net(), step: 12 });
    expect((await loadCheckpoint(path, { model: new Net() })).step).toBe(12);
    expect(await readdir(sub)).toEqual(['ckpt.safetensors']);
  });

  it('a rename that fails (target is a directory) removes the temp file', async () => {
    const sub = await mkdtemp(join(dir, 'atomic-'));
    const path = join(sub, 'taken');
    await mkdir(path);
    await expect(writeFileAtomic(path, new Uint8Array([1, 2, 3]))).rejects.toThrow();
    expect(await readdir(sub)).toEqual(['taken']);
    expect(await readdir(path)).toEqual([]);
  });

  it('a save removes the temp files killed saves of the same target left, and nothing else', async () => {
    const sub = await mkdtemp(join(dir, 'stale-'));
    const path = join(sub, 'ckpt.safetensors');
    await saveCheckpoint(path, { model: new Inner(), step: 1 });
    // A pid that was running a moment ago and has exited (what a SIGKILLed trainer leaves).
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    expect(dead).toBeGreaterThan(0);
    const hourAgo = new Date(Date.now() - 3_600_000);
    const files: Record<string, { old: boolean; kept: boolean }> = {
      [`ckpt.safetensors.tmp-${dead}-0123456789ab`]: { old: true, kept: false }, // dead writer: stale
      // This process's pid but not one of its saves: an earlier incarnation (containers reuse pids).
      [`ckpt.safetensors.tmp-${process.pid}-aaaaaaaaaaaa`]: { old: true, kept: false },
      [`ckpt.safetensors.tmp-${dead}-bbbbbbbbbbbb`]: { old: false, kept: true }, // touched within the minute
      [`ckpt.safetensors.tmp-${process.ppid}-cccccccccccc`]: { old: true, kept: true }, // writer alive
      [`other.safetensors.tmp-${dead}-dddddddddddd`]: { old: true, kept: true }, // another target's
      [`ckpt.safetensors.tmp-${dead}-notes`]: { old: true, kept: true }, // not our naming
      'ckpt.safetensors.tmp-backup': { old: true, kept: true },
    };
    for (const [name, { old }] of Object.entries(files)) {
      await writeFile(join(sub, name), new Uint8Array(1000));
      if (old) await utimes(join(sub, name), hourAgo, hourAgo);
    }
    await saveCheckpoint(path, { model: new Inner(), step: 2 });
    const kept = Object.keys(files).filter((name) => files[name]!.kept);
    expect((await readdir(sub)).sort()).toEqual(['ckpt.safetensors', ...kept].sort());
    expect((await loadCheckpoint(path, { model: new Inner() })).step).toBe(2);
  });

  it('writes the exact bytes, replacing a longer previous file', async () => {
    const sub = await mkdtemp(join(dir, 'atomic-'));
    const path = join(sub, 'f.bin');
    await writeFileAtomic(path, new Uint8Array(1000).fill(7));
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect(Array.from(await readFile(path))).toEqual([1, 2, 3]);
    expect(await readdir(sub)).toEqual(['f.bin']);
  });
});
