import { readFileSync } from 'node:fs';
import { mul, sum, type Tensor, tensor } from '@tensorloom/autograd';
import { describe, expect, it } from 'vitest';
import { Linear } from '../src/layers.ts';
import { Adagrad, Adam, AdamW, type Optimizer, type OptimizerStateDict, RMSprop, SGD } from '../src/optim.ts';

interface Packed {
  shape: number[];
  data: number[];
}
interface OptimCase {
  name: string;
  optimizer: 'SGD' | 'Adam' | 'AdamW' | 'RMSprop' | 'Adagrad';
  options: Record<string, unknown>;
  groups: ({ params: number[] } & Record<string, unknown>)[] | null;
  initial: Packed[];
  grads: (Packed | null)[][];
  params: number[][][];
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/optim.json', import.meta.url), 'utf8')) as {
  torch: string;
  optimizers: OptimCase[];
};

const CLASSES = { SGD, Adam, AdamW, RMSprop, Adagrad };

function makeParams(c: OptimCase, dtype: 'float32' | 'float64' = 'float64'): Tensor[] {
  return c.initial.map((t) => tensor(t.data, { shape: t.shape, dtype, requiresGrad: true }));
}

// biome-ignore lint/suspicious/noExplicitAny: the fixture picks the optimizer class at run time
function makeOptimizer(c: OptimCase, params: Tensor[]): Optimizer<any, any> {
  const Cls = CLASSES[c.optimizer] as unknown as new (p: unknown, o: unknown) => Optimizer;
  const input = c.groups ? c.groups.map((g) => ({ ...g, params: g.params.map((i) => params[i]!) })) : params;
  return new Cls(input, c.options);
}

function setGrads(
  c: OptimCase,
  params: Tensor[],
  step: number,
  dtype: 'float32' | 'float64' = 'float64',
): void {
  c.grads[step]!.forEach((g, i) => {
    params[i]!.grad = g === null ? null : tensor(g.data, { shape: g.shape, dtype });
  });
}

/** Largest |a − b| / max(1, |b|): the 1e-9 criterion of the issue. */
function maxRelErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const err = Math.abs(actual[i]! - e) / Math.max(1, Math.abs(e));
    worst = Math.max(worst, Number.isNaN(err) ? Number.POSITIVE_INFINITY : err);
  }
  return worst;
}

function runSteps(c: OptimCase, opt: Optimizer, params: Tensor[], from: number, to: number): void {
  for (let s = from; s < to; s++) {
    setGrads(c, params, s);
    opt.step();
    params.forEach((p, i) => {
      expect(maxRelErr(p.data, c.params[s]![i]!), `${c.name}: step ${s}, parameter ${i}`).toBeLessThan(1e-9);
    });
  }
}

describe('optimizers against PyTorch fixtures (float64)', () => {
  it('fixture records the torch version and enough cases and steps', () => {
    expect(fixture.torch).toMatch(/^1\.13/);
    for (const kind of Object.keys(CLASSES)) {
      expect(fixture.optimizers.filter((c) => c.optimizer === kind).length).toBeGreaterThanOrEqual(3);
    }
    for (const c of fixture.optimizers) expect(c.params.length).toBeGreaterThanOrEqual(5);
  });

  it.each(fixture.optimizers.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const params = makeParams(c);
    const storage = params.map((p) => p.data);
    const opt = makeOptimizer(c, params);
    runSteps(c, opt, params, 0, c.params.length);
    // Updates are in place: the parameters keep their storage.
    params.forEach((p, i) => {
      expect(p.data).toBe(storage[i]);
    });
  });
});

describe('optimizer state dicts', () => {
  it.each(fixture.optimizers.map((c) => [c.name, c] as const))('resume exactly mid-run: %s', (_name, c) => {
    const half = 3;
    const params = makeParams(c);
    const opt = makeOptimizer(c, params);
    runSteps(c, opt, params, 0, half);
    const saved = opt.stateDict();
    const savedParams = params.map((p) => Float64Array.from(p.data));
    // The uninterrupted run continues; the snapshot must not change with it.
    runSteps(c, opt, params, half, c.params.length);

    const fresh = makeParams(c);
    fresh.forEach((p, i) => {
      p.data.set(savedParams[i]!);
    });
    const resumed = makeOptimizer(c, fresh);
    resumed.loadStateDict(saved);
    runSteps(c, resumed, fresh, half, c.params.length);
    fresh.forEach((p, i) => {
      expect(Array.from(p.data)).toEqual(Array.from(params[i]!.data));
    });
  });

  it('has PyTorch layout: state keyed by parameter index, groups with options and indices', () => {
    const c = fixture.optimizers.find((x) => x.optimizer === 'Adam' && x.groups)!;
    const params = makeParams(c);
    const opt = makeOptimizer(c, params);
    setGrads(c, params, 0);
    opt.step();
    const sd = opt.stateDict();
    expect(sd.paramGroups.map((g) => g.params)).toEqual([[0], [1]]);
    expect(sd.paramGroups[0]).toMatchObject({ lr: 0.1, betas: [0.9, 0.999], amsgrad: false });
    expect(sd.paramGroups[1]).toMatchObject({ lr: 0.01, betas: [0.5, 0.9], amsgrad: true });
    expect(Object.keys(sd.state)).toEqual(['0', '1']);
    expect(Object.keys(sd.state['0']!).sort()).toEqual(['expAvg', 'expAvgSq', 'step']);
    expect(Object.keys(sd.state['1']!).sort()).toEqual(['expAvg', 'expAvgSq', 'maxExpAvgSq', 'step']);
    expect(sd.state['0']!.step).toBe(1);
    expect((sd.state['0']!.expAvg as Tensor).shape).toEqual([2, 3]);
    // Snapshot tensors are copies, not the live buffers.
    const live = (opt.state.get(params[0]!) as { expAvg: Tensor }).expAvg;
    expect((sd.state['0']!.expAvg as Tensor).data).not.toBe(live.data);
    expect(Array.from((sd.state['0']!.expAvg as Tensor).data)).toEqual(Array.from(live.data));
  });

  it('loads group options (e.g. a scheduled lr) from the snapshot', () => {
    const p = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    opt.paramGroups[0]!.lr = 0.025;
    opt.paramGroups[0]!.initialLr = 0.1;
    const q = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const other = new SGD([q], { lr: 0.5, momentum: 0.9 });
    other.loadStateDict(opt.stateDict());
    expect(other.paramGroups[0]!.lr).toBe(0.025);
    expect(other.paramGroups[0]!.initialLr).toBe(0.1);
    expect(other.paramGroups[0]!.params[0]).toBe(q);
  });

  it('converts float64 state to float32 parameters on load', () => {
    const p64 = tensor([1, -2, 3], { dtype: 'float64', requiresGrad: true });
    const opt64 = new Adam([p64], { lr: 0.1 });
    p64.grad = tensor([0.5, 0.25, -1], { dtype: 'float64' });
    opt64.step();
    const p32 = tensor(Array.from(p64.data), { dtype: 'float32', requiresGrad: true });
    const opt32 = new Adam([p32], { lr: 0.1 });
    opt32.loadStateDict(opt64.stateDict());
    const s = opt32.state.get(p32) as { expAvg: Tensor; step: number };
    expect(s.expAvg.dtype).toBe('float32');
    expect(s.step).toBe(1);
    p32.grad = tensor([0.5, 0.25, -1], { dtype: 'float32' });
    p64.grad = tensor([0.5, 0.25, -1], { dtype: 'float64' });
    opt32.step();
    opt64.step();
    expect(maxRelErr(p32.data, p64.data)).toBeLessThan(1e-6);
  });

  it('rejects malformed snapshots with clear errors and changes nothing', () => {
    const a = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const b = tensor([[1, 2]], { dtype: 'float64', requiresGrad: true });
    const opt = new Adam([a, b], { lr: 0.1 });
    a.grad = tensor([1, 1, 1], { dtype: 'float64' });
    b.grad = tensor([[1, 1]], { dtype: 'float64' });
    opt.step();
    const good = opt.stateDict();
    const before = JSON.stringify(opt.paramGroups.map(({ params: _p, ...o }) => o));
    const stateBefore = opt.state;

    const tweak = (f: (sd: OptimizerStateDict) => void): OptimizerStateDict => {
      const sd = opt.stateDict();
      f(sd);
      return sd;
    };
    expect(() => opt.loadStateDict(null)).toThrow(/Adam\.loadStateDict: expected \{ state/);
    expect(() => opt.loadStateDict(tweak((sd) => sd.paramGroups.push({ ...sd.paramGroups[0]! })))).toThrow(
      /2 parameter group\(s\), this optimizer has 1/,
    );
    expect(() => opt.loadStateDict(tweak((sd) => (sd.paramGroups[0]!.params = [0])))).toThrow(
      /group 0 has 1 parameter\(s\) in the state dict, 2 in this optimizer/,
    );
    expect(() =>
      opt.loadStateDict(tweak((sd) => (sd.state['1']!.expAvg = tensor([1, 2, 3], { dtype: 'float64' })))),
    ).toThrow(/state expAvg of parameter 1 has shape \[3\], the parameter has shape \[1, 2\]/);
    expect(() => opt.loadStateDict(tweak((sd) => delete sd.state['0']!.expAvgSq))).toThrow(
      /state expAvgSq of parameter 0 must be a Tensor, got undefined/,
    );
    expect(() => opt.loadStateDict(tweak((sd) => (sd.state['0']!.momentumBuffer = null)))).toThrow(
      /unexpected state key\(s\) momentumBuffer for parameter 0/,
    );
    expect(() => opt.loadStateDict(tweak((sd) => (sd.state['0']!.step = -1)))).toThrow(
      /state step of parameter 0 must be a non-negative integer, got -1/,
    );
    expect(() => opt.loadStateDict(tweak((sd) => (sd.state['7'] = sd.state['0']!)))).toThrow(
      /state entry '7' names no parameter/,
    );
    expect(() => opt.loadStateDict(tweak((sd) => (sd.paramGroups[0]!.betas = [0.9])))).toThrow(
      /option betas of parameter group 0 is \[0\.9\]/,
    );
    expect(() => opt.loadStateDict(tweak((sd) => delete sd.paramGroups[0]!.eps))).toThrow(
      /parameter group 0 is missing option eps/,
    );
    expect(() => opt.loadStateDict(tweak((sd) => (sd.paramGroups[0]!.lr = -1)))).toThrow(
      /Adam: invalid lr -1/,
    );
    expect(() => opt.loadStateDict(tweak((sd) => (sd.paramGroups[0]!.weight_decay = 0)))).toThrow(
      /unknown option weight_decay in parameter group 0/,
    );
    // An SGD snapshot does not load into Adam.
    const sgd = new SGD([a, b], { lr: 0.1, momentum: 0.9 });
    sgd.step();
    expect(() => opt.loadStateDict(sgd.stateDict())).toThrow(/missing option betas/);

    expect(JSON.stringify(opt.paramGroups.map(({ params: _p, ...o }) => o))).toBe(before);
    expect(opt.state).toBe(stateBefore);
    expect(() => opt.loadStateDict(good)).not.toThrow();
  });
});

describe('optimizer behaviour', () => {
  it('gives each parameter group its own learning rate', () => {
    const a = tensor([0, 0], { dtype: 'float64', requiresGrad: true });
    const b = tensor([0, 0], { dtype: 'float64', requiresGrad: true });
    const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.01 }], { lr: 0.1 });
    a.grad = tensor([1, -2], { dtype: 'float64' });
    b.grad = tensor([1, -2], { dtype: 'float64' });
    opt.step();
    expect(Array.from(a.data)).toEqual([-0.1, 0.2]);
    expect(Array.from(b.data)).toEqual([-0.01, 0.02]);
    // Options are live: a changed lr applies from the next step.
    opt.paramGroups[1]!.lr = 1;
    opt.step();
    expect(Array.from(b.data)).toEqual([-1.01, 2.02]);
  });

  it('skips parameters without a gradient and creates no state for them', () => {
    const a = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const b = tensor([3, 4], { dtype: 'float64', requiresGrad: true });
    const opt = new Adam([a, b], { lr: 0.1 });
    a.grad = tensor([1, 1], { dtype: 'float64' });
    opt.step();
    expect(Array.from(b.data)).toEqual([3, 4]);
    expect(opt.state.has(b)).toBe(false);
    expect(Object.keys(opt.stateDict().state)).toEqual(['0']);
    // Adam's first step moves every coordinate by about lr, whatever the gradient's size.
    expect(a.data[0]).toBeCloseTo(0.9, 6);
  });

  it('supports float32 parameters, keeping dtype and staying close to float64', () => {
    const c = fixture.optimizers.find((x) => x.optimizer === 'RMSprop' && x.options.centered)!;
    const p32 = makeParams(c, 'float32');
    const p64 = makeParams(c, 'float64');
    const o32 = makeOptimizer(c, p32);
    const o64 = makeOptimizer(c, p64);
    for (let s = 0; s < c.params.length; s++) {
      setGrads(c, p32, s, 'float32');
      setGrads(c, p64, s, 'float64');
      o32.step();
      o64.step();
    }
    p32.forEach((p, i) => {
      expect(p.dtype).toBe('float32');
      expect(maxRelErr(p.data, p64[i]!.data)).toBeLessThan(1e-4);
    });
    const s = o32.state.get(p32[0]!) as { squareAvg: Tensor };
    expect(s.squareAvg.dtype).toBe('float32');
  });

  it('zeroGrad clears gradients to null, or to zeros when asked', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const opt = new SGD([a], { lr: 0.1 });
    a.grad = tensor([1, 1]);
    opt.zeroGrad(false);
    expect(Array.from(a.grad!.data)).toEqual([0, 0]);
    opt.zeroGrad();
    expect(a.grad).toBeNull();
  });

  it('step(closure) re-evaluates the loss with gradients and returns it', () => {
    const w = tensor([3], { dtype: 'float64', requiresGrad: true });
    const opt = new SGD([w], { lr: 0.25 });
    const loss = opt.step(() => {
      opt.zeroGrad();
      const l = mul(w, w).sum();
      l.backward();
      return l.item();
    });
    expect(loss).toBe(9);
    // w ← 3 − 0.25·(2·3)
    expect(w.data[0]).toBe(1.5);
  });

  it('accepts module-style iterables of parameters', () => {
    const a = tensor([1], { requiresGrad: true });
    function* gen() {
      yield a;
    }
    const opt = new AdamW(gen());
    expect(opt.paramGroups[0]!.params).toEqual([a]);
    expect(opt.paramGroups[0]!.weightDecay).toBe(0.01);
    expect(opt.paramGroups[0]!.lr).toBe(1e-3);
  });

  it('validates options and parameters with clear errors', () => {
    const p = () => [tensor([1, 2], { requiresGrad: true })];
    expect(() => new SGD(p())).toThrow(/SGD: option lr is required/);
    expect(() => new SGD(p(), { lr: -0.1 })).toThrow(/SGD: invalid lr -0.1 \(expected a number >= 0\)/);
    expect(() => new SGD(p(), { lr: Number.NaN })).toThrow(/SGD: invalid lr NaN/);
    expect(() => new SGD(p(), { lr: 0.1, momentum: -1 })).toThrow(/SGD: invalid momentum -1/);
    expect(() => new SGD(p(), { lr: 0.1, nesterov: true })).toThrow(
      /nesterov momentum requires momentum > 0/,
    );
    expect(() => new SGD(p(), { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true })).toThrow(
      /dampening = 0/,
    );
    expect(() => new Adam(p(), { betas: [1, 0.999] })).toThrow(
      /Adam: invalid betas\[0\] 1 \(expected 0 <= beta < 1\)/,
    );
    expect(() => new AdamW(p(), { eps: -1e-8 })).toThrow(/AdamW: invalid eps -1e-8/);
    expect(() => new Adam(p(), { weightDecay: -1 })).toThrow(/Adam: invalid weightDecay -1/);
    expect(() => new RMSprop(p(), { alpha: -0.5 })).toThrow(/RMSprop: invalid alpha -0.5/);
    expect(() => new Adagrad(p(), { lrDecay: -1 })).toThrow(/Adagrad: invalid lrDecay -1/);
    expect(() => new Adagrad(p(), { initialAccumulatorValue: -1 })).toThrow(
      /invalid initialAccumulatorValue -1/,
    );
    // Per-group options are validated too, and typos are caught.
    expect(() => new Adam([{ params: p(), lr: -1 }])).toThrow(/Adam: invalid lr -1/);
    expect(() => new Adam([{ params: p(), weight_decay: 0.1 } as never])).toThrow(
      /Adam: unknown option\(s\) weight_decay in parameter group 0/,
    );
    expect(() => new Adam([])).toThrow(/Adam: got an empty parameter list/);
    const shared = tensor([1], { requiresGrad: true });
    expect(() => new Adam([{ params: [shared] }, { params: [shared] }])).toThrow(
      /parameter 0 of group 1 \(shape \[1\]\) appears more than once/,
    );
    const leaf = tensor([1, 2], { requiresGrad: true });
    expect(() => new Adam([mul(leaf, 2)])).toThrow(
      /Adam: parameter 0 of group 0 \(shape \[2\]\) is not a leaf tensor/,
    );
    expect(() => new Adam([1 as never])).toThrow(
      /Adam: expected Tensors or parameter groups .* got number at index 0/,
    );
    expect(() => new Adam([leaf, 1 as never])).toThrow(
      /Adam: parameter 1 of group 0 is not a Tensor \(got number\)/,
    );
  });

  it('refuses unknown option keys in every optimizer, naming the key and the accepted ones', () => {
    const p = () => [tensor([1, 2], { requiresGrad: true })];
    const cases: [string, () => unknown, string][] = [
      [
        'SGD',
        () => new SGD(p(), { learningRate: 1 } as never),
        'lr, momentum, dampening, nesterov, weightDecay, maximize',
      ],
      [
        'Adam',
        () => new Adam(p(), { learningRate: 1 } as never),
        'lr, betas, eps, weightDecay, amsgrad, maximize',
      ],
      [
        'AdamW',
        () => new AdamW(p(), { learningRate: 1 } as never),
        'lr, betas, eps, weightDecay, amsgrad, maximize',
      ],
      [
        'RMSprop',
        () => new RMSprop(p(), { learningRate: 1 } as never),
        'lr, alpha, eps, weightDecay, momentum, centered, maximize',
      ],
      [
        'Adagrad',
        () => new Adagrad(p(), { learningRate: 1 } as never),
        'lr, lrDecay, weightDecay, initialAccumulatorValue, eps, maximize',
      ],
    ];
    for (const [name, make, accepted] of cases) {
      expect(make).toThrow(`${name}: unknown option(s) learningRate (accepted: ${accepted})`);
    }
    expect(() => new Adam(p(), { lr: 0.1, weight_decay: 0.1, beta1: 0.9 } as never)).toThrow(
      /^Adam: unknown option\(s\) weight_decay, beta1 \(accepted: /,
    );
    expect(() => new SGD(p(), null as never)).toThrow(/^SGD: options must be an object, got null$/);
  });

  it('step names the parameter whose gradient is not a Tensor (a plain array, a number)', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const b = tensor([[1, 2, 3]], { requiresGrad: true });
    const opt = new Adam([{ params: [a] }, { params: [tensor([0], { requiresGrad: true }), b] }]);
    b.grad = [1, 2, 3] as never;
    expect(() => opt.step()).toThrow(
      'Adam.step: the gradient of parameter 1 of group 1 (shape [1, 3]) is a plain array, expected a Tensor of that shape or null',
    );
    b.grad = 0.5 as never;
    expect(() => opt.step()).toThrow(/parameter 1 of group 1 \(shape \[1, 3\]\) is a number/);
    b.grad = new Float32Array(3) as never;
    expect(() => opt.step()).toThrow(/is a Float32Array, expected a Tensor/);
  });

  it('step rejects a gradient whose shape or dtype does not match its parameter', () => {
    const a = tensor([1, 2, 3], { requiresGrad: true });
    const opt = new RMSprop([a]);
    a.grad = tensor([1, 2]);
    expect(() => opt.step()).toThrow(
      /RMSprop\.step: gradient of shape \[2\] \(float32\) does not match its parameter of shape \[3\] \(float32\)/,
    );
    a.grad = tensor([1, 2, 3], { dtype: 'float64' });
    expect(() => opt.step()).toThrow(/\(float64\) does not match its parameter of shape \[3\] \(float32\)/);
  });

  it('creates buffers for options switched on mid-run (amsgrad, momentum, centered)', () => {
    const a = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const opt = new RMSprop([a], { lr: 0.01 });
    a.grad = tensor([0.5, -0.5], { dtype: 'float64' });
    opt.step();
    opt.paramGroups[0]!.momentum = 0.9;
    opt.paramGroups[0]!.centered = true;
    opt.step();
    const s = opt.state.get(a)!;
    expect(s.momentumBuffer).toBeDefined();
    expect(s.gradAvg).toBeDefined();
    expect(Number.isFinite(a.data[0]!)).toBe(true);
  });
});

describe('an optimizer step between forward and backward', () => {
  it('makes the backward through the old graph refuse to run instead of using the new weights', () => {
    const layer = new Linear(2, 1);
    const optimizer = new SGD(layer.parameters(), { lr: 0.1 });
    const x = tensor([[1, 2]]);
    sum(layer.forward(x)).backward();
    const loss = sum(layer.forward(x));
    optimizer.step();
    expect(() => loss.backward()).toThrow(/was modified in place after '(linear|gemm)' read it/);
  });
});
