import { readFileSync } from 'node:fs';
import { type Tensor, tensor, zeros } from '@tensorloom/autograd';
import { describe, expect, it } from 'vitest';
import { Adam, SGD } from '../src/optim.ts';
import {
  CosineAnnealingLR,
  ExponentialLR,
  LambdaLR,
  LinearLR,
  type LRScheduler,
  type LrLambda,
  MultiStepLR,
  ReduceLROnPlateau,
  StepLR,
} from '../src/schedulers.ts';

interface SchedCase {
  name: string;
  schedulers: { type: string; options: Record<string, unknown> }[];
  baseLrs: number[];
  metrics: number[] | null;
  lrs: number[][];
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/optim.json', import.meta.url), 'utf8')) as {
  torch: string;
  schedulers: SchedCase[];
};

/** Must match LAMBDAS in scripts/gen_optim_fixtures.py. */
const LAMBDAS: Record<string, LrLambda> = {
  exp95: (e) => 0.95 ** e,
  warmup5: (e) => Math.min(1, (e + 1) / 5),
};

type AnyScheduler = LRScheduler | ReduceLROnPlateau;

function makeOptimizer(c: SchedCase): SGD {
  return new SGD(
    c.baseLrs.map((lr) => ({ params: [zeros([1], { requiresGrad: true })], lr })),
    { lr: 1 },
  );
}

function makeScheduler(opt: SGD, type: string, options: Record<string, unknown>): AnyScheduler {
  switch (type) {
    case 'StepLR':
      return new StepLR(opt, options as never);
    case 'MultiStepLR':
      return new MultiStepLR(opt, options as never);
    case 'ExponentialLR':
      return new ExponentialLR(opt, options as never);
    case 'CosineAnnealingLR':
      return new CosineAnnealingLR(opt, options as never);
    case 'LinearLR':
      return new LinearLR(opt, options as never);
    case 'LambdaLR': {
      const f = options.lrLambda as string | string[];
      return new LambdaLR(opt, Array.isArray(f) ? f.map((n) => LAMBDAS[n]!) : LAMBDAS[f]!);
    }
    case 'ReduceLROnPlateau':
      return new ReduceLROnPlateau(opt, options as never);
    default:
      throw new Error(`unknown scheduler ${type}`);
  }
}

function stepAll(c: SchedCase, scheds: AnyScheduler[], epoch: number): void {
  for (const s of scheds) {
    if (s instanceof ReduceLROnPlateau) s.step(c.metrics![epoch]!);
    else s.step();
  }
}

function expectLrs(actual: number[], expected: number[], what: string): void {
  expect(actual.length, what).toBe(expected.length);
  actual.forEach((a, i) => {
    expect(Math.abs(a - expected[i]!), `${what}, group ${i}: ${a} vs ${expected[i]}`).toBeLessThanOrEqual(
      1e-12 * Math.abs(expected[i]!),
    );
  });
}

const lrsOf = (opt: SGD) => opt.paramGroups.map((g) => g.lr);

describe('LR schedulers against PyTorch fixtures', () => {
  it('fixture covers every scheduler over 30 epochs', () => {
    expect(fixture.torch).toMatch(/^1\.13/);
    const types = new Set(fixture.schedulers.flatMap((c) => c.schedulers.map((s) => s.type)));
    for (const t of [
      'StepLR',
      'ExponentialLR',
      'CosineAnnealingLR',
      'LinearLR',
      'ReduceLROnPlateau',
      'LambdaLR',
    ]) {
      expect(types.has(t), t).toBe(true);
    }
    for (const c of fixture.schedulers) expect(c.lrs.length).toBe(31);
  });

  it.each(fixture.schedulers.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const opt = makeOptimizer(c);
    const scheds = c.schedulers.map((s) => makeScheduler(opt, s.type, s.options));
    expectLrs(lrsOf(opt), c.lrs[0]!, 'after construction');
    for (let e = 0; e < c.lrs.length - 1; e++) {
      opt.step();
      stepAll(c, scheds, e);
      expectLrs(lrsOf(opt), c.lrs[e + 1]!, `epoch ${e + 1}`);
      if (scheds.length === 1) expect(scheds[0]!.getLastLr()).toEqual(lrsOf(opt));
    }
  });

  it.each(fixture.schedulers.filter((c) => c.schedulers.length === 1).map((c) => [c.name, c] as const))(
    'resumes from state dicts (JSON round trip): %s',
    (_name, c) => {
      const spec = c.schedulers[0]!;
      const opt = makeOptimizer(c);
      const sched = makeScheduler(opt, spec.type, spec.options);
      const half = 12;
      for (let e = 0; e < half; e++) stepAll(c, [sched], e);
      // Scheduler state and optimizer groups are plain JSON (no tensors: SGD without momentum has no buffers).
      const saved = JSON.parse(JSON.stringify({ opt: opt.stateDict(), sched: sched.stateDict() }));

      const opt2 = makeOptimizer(c);
      const sched2 = makeScheduler(opt2, spec.type, spec.options);
      opt2.loadStateDict(saved.opt);
      sched2.loadStateDict(saved.sched);
      expect(sched2.getLastLr()).toEqual(sched.getLastLr());
      for (let e = half; e < c.lrs.length - 1; e++) {
        stepAll(c, [sched2], e);
        expectLrs(lrsOf(opt2), c.lrs[e + 1]!, `resumed epoch ${e + 1}`);
      }
    },
  );

  it('step(epoch) jumps with the closed form, agreeing with the stepped sequence', () => {
    const closed = fixture.schedulers.filter(
      (c) => c.schedulers.length === 1 && !['ReduceLROnPlateau', 'LambdaLR'].includes(c.schedulers[0]!.type),
    );
    expect(closed.length).toBeGreaterThanOrEqual(8);
    for (const c of closed) {
      const opt = makeOptimizer(c);
      const sched = makeScheduler(opt, c.schedulers[0]!.type, c.schedulers[0]!.options) as LRScheduler;
      // Visit epochs out of order: the closed form depends on the epoch alone, not on the current lr.
      for (const e of [17, 3, 30, 0, 9, 10, 11, 22]) {
        sched.step(e);
        expect(sched.lastEpoch).toBe(e);
        expectLrs(lrsOf(opt), c.lrs[e]!, `${c.name}: step(${e})`);
      }
    }
  });
});

describe('scheduler behaviour', () => {
  it('records initialLr once, so a second scheduler shares the first one’s base lrs', () => {
    const opt = new SGD([zeros([1], { requiresGrad: true })], { lr: 0.2 });
    const warm = new LinearLR(opt, { startFactor: 0.5, totalIters: 2 });
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(0.1, 15);
    const decay = new ExponentialLR(opt, { gamma: 0.5 });
    expect(opt.paramGroups[0]!.initialLr).toBe(0.2);
    expect(warm.baseLrs).toEqual([0.2]);
    expect(decay.baseLrs).toEqual([0.2]);
  });

  it('drives the optimizer: the scheduled lr is used by the next step', () => {
    const w = tensor([0], { dtype: 'float64', requiresGrad: true });
    const opt = new SGD([w], { lr: 1 });
    const sched = new StepLR(opt, { stepSize: 1, gamma: 0.5 });
    const moves: number[] = [];
    for (let e = 0; e < 3; e++) {
      const before = w.data[0]!;
      w.grad = tensor([1], { dtype: 'float64' });
      opt.step();
      sched.step();
      moves.push(before - w.data[0]!);
    }
    expect(moves).toEqual([1, 0.5, 0.25]);
  });

  it('ReduceLROnPlateau takes one-element tensor metrics and counts NaN as a bad epoch', () => {
    const opt = new Adam([zeros([1], { requiresGrad: true })], { lr: 0.1 });
    const plateau = new ReduceLROnPlateau(opt, { patience: 1, factor: 0.5 });
    expect(plateau.getLastLr()).toEqual([0.1]);
    plateau.step(tensor([1.0]) as Tensor);
    plateau.step(Number.NaN);
    expect(opt.paramGroups[0]!.lr).toBe(0.1);
    plateau.step(Number.NaN);
    expect(opt.paramGroups[0]!.lr).toBe(0.05);
    expect(plateau.getLastLr()).toEqual([0.05]);
  });

  it('ReduceLROnPlateau state dict is plain JSON before any metric (best is null)', () => {
    const opt = new SGD([zeros([1], { requiresGrad: true })], { lr: 0.1 });
    const plateau = new ReduceLROnPlateau(opt, { mode: 'max' });
    const sd = plateau.stateDict();
    expect(sd.best).toBeNull();
    const other = new ReduceLROnPlateau(opt, { mode: 'max' });
    other.loadStateDict(JSON.parse(JSON.stringify(sd)));
    expect(other.best).toBe(Number.NEGATIVE_INFINITY);
  });

  it('validates options with clear errors', () => {
    const opt = () => new SGD([zeros([1], { requiresGrad: true })], { lr: 0.1 });
    expect(() => new StepLR(opt(), { stepSize: 0 })).toThrow(
      /StepLR: invalid stepSize 0 \(expected a positive integer\)/,
    );
    expect(() => new ExponentialLR(opt(), { gamma: Number.NaN })).toThrow(/ExponentialLR: invalid gamma NaN/);
    expect(() => new CosineAnnealingLR(opt(), { tMax: 0 })).toThrow(/CosineAnnealingLR: invalid tMax 0/);
    expect(() => new LinearLR(opt(), { startFactor: 0 })).toThrow(
      /LinearLR: invalid startFactor 0 \(expected 0 < startFactor <= 1\)/,
    );
    expect(() => new LinearLR(opt(), { endFactor: 1.5 })).toThrow(/LinearLR: invalid endFactor 1.5/);
    expect(() => new MultiStepLR(opt(), { milestones: [1.5] })).toThrow(/MultiStepLR: milestones must be/);
    expect(() => new LambdaLR(opt(), [(e) => e, (e) => e])).toThrow(
      /LambdaLR: expected 1 lr lambda\(s\), one per group, got 2/,
    );
    expect(() => new ReduceLROnPlateau(opt(), { factor: 1 })).toThrow(
      /ReduceLROnPlateau: invalid factor 1 \(expected 0 <= factor < 1\)/,
    );
    expect(() => new ReduceLROnPlateau(opt(), { mode: 'up' as never })).toThrow(/mode up is unknown/);
    expect(() => new ReduceLROnPlateau(opt(), { thresholdMode: 'x' as never })).toThrow(
      /thresholdMode x is unknown/,
    );
    expect(() => new ReduceLROnPlateau(opt(), { minLr: [0, 0] })).toThrow(
      /minLr must be a number >= 0 or 1 such number/,
    );
    expect(() => new ReduceLROnPlateau(opt(), { patience: -1 })).toThrow(/invalid patience -1/);
    // A misspelt option is an error naming it and the accepted ones, not a silent default.
    const unknown: [string, () => unknown, string, string][] = [
      [
        'StepLR',
        () => new StepLR(opt(), { stepSize: 2, step_size: 3 } as never),
        'step_size',
        'stepSize, gamma',
      ],
      [
        'MultiStepLR',
        () => new MultiStepLR(opt(), { milestones: [2], gama: 0.5 } as never),
        'gama',
        'milestones, gamma',
      ],
      ['ExponentialLR', () => new ExponentialLR(opt(), { gamma: 0.5, lr: 1 } as never), 'lr', 'gamma'],
      [
        'CosineAnnealingLR',
        () => new CosineAnnealingLR(opt(), { tMax: 5, T_max: 5 } as never),
        'T_max',
        'tMax, etaMin',
      ],
      [
        'LinearLR',
        () => new LinearLR(opt(), { warmup: 3 } as never),
        'warmup',
        'startFactor, endFactor, totalIters',
      ],
      [
        'ReduceLROnPlateau',
        () => new ReduceLROnPlateau(opt(), { min_lr: 0.1 } as never),
        'min_lr',
        'mode, factor, patience, threshold, thresholdMode, cooldown, minLr, eps',
      ],
    ];
    for (const [name, make, key, accepted] of unknown) {
      expect(make).toThrow(`${name}: unknown option(s) ${key} (accepted: ${accepted})`);
    }
    expect(() => new StepLR(opt(), null as never)).toThrow(/^StepLR: options must be an object, got null$/);
    // A failed construction leaves the optimizer untouched.
    const o = opt();
    expect(() => new StepLR(o, { stepSize: -2 })).toThrow();
    expect(o.paramGroups[0]!.initialLr).toBeUndefined();
    expect(o.paramGroups[0]!.lr).toBe(0.1);
  });

  it('rejects mismatched state dicts with clear errors', () => {
    const opt = new SGD([zeros([1], { requiresGrad: true })], { lr: 0.1 });
    const step = new StepLR(opt, { stepSize: 2 });
    const expo = new ExponentialLR(opt, { gamma: 0.9 });
    expect(() => expo.loadStateDict(step.stateDict())).toThrow(
      /ExponentialLR\.loadStateDict: options have keys \{gamma, stepSize\}, expected \{gamma\}/,
    );
    expect(() => step.loadStateDict({ ...step.stateDict(), baseLrs: [0.1, 0.2] })).toThrow(
      /StepLR\.loadStateDict: baseLrs must be 1 number\(s\), one per group/,
    );
    expect(() => step.loadStateDict({ ...step.stateDict(), lastEpoch: 1.5 })).toThrow(
      /lastEpoch must be an integer/,
    );
    expect(() => step.loadStateDict({ ...step.stateDict(), options: { stepSize: 0, gamma: 0.1 } })).toThrow(
      /StepLR: invalid stepSize 0/,
    );
    const plateau = new ReduceLROnPlateau(opt);
    expect(() => plateau.loadStateDict({ ...plateau.stateDict(), numBadEpochs: -1 })).toThrow(
      /numBadEpochs must be a non-negative integer/,
    );
  });
});
