import { linear, manualSeed, mean, mul, rand, sub, type Tensor, tanh, tensor } from '@tensorloom/autograd';
import { describe, expect, it } from 'vitest';
import { clipGradNorm } from '../src/clip.ts';
import { Module, Parameter } from '../src/module.ts';
import { Adagrad, Adam, AdamW, type Optimizer, RMSprop, SGD } from '../src/optim.ts';
import { CosineAnnealingLR } from '../src/schedulers.ts';

/** U(−1/√fanIn, 1/√fanIn), PyTorch's default for Linear, as a Parameter. */
function uniformParam(shape: number[], fanIn: number): Parameter {
  const bound = 1 / Math.sqrt(fanIn);
  return new Parameter(sub(mul(rand(shape), 2 * bound), bound));
}

/** A 2 → hidden → 1 tanh network, built from autograd ops with its own parameters. */
class MLP extends Module {
  w1: Parameter;
  b1: Parameter;
  w2: Parameter;
  b2: Parameter;
  constructor(hidden: number) {
    super();
    this.w1 = uniformParam([hidden, 2], 2);
    this.b1 = uniformParam([hidden], 2);
    this.w2 = uniformParam([1, hidden], hidden);
    this.b2 = uniformParam([1], hidden);
  }
  forward(x: Tensor): Tensor {
    return linear(tanh(linear(x, this.w1, this.b1)), this.w2, this.b2);
  }
}

const X = tensor([
  [0, 0],
  [0, 1],
  [1, 0],
  [1, 1],
]);
const Y = tensor([[0], [1], [1], [0]]);

function mse(pred: Tensor, target: Tensor): Tensor {
  const d = sub(pred, target);
  return mean(mul(d, d));
}

/** Trains XOR for `steps` full-batch steps; returns the losses before and after training. */
function train(
  makeOpt: (params: Parameter[]) => Optimizer,
  steps: number,
  { clip = false, afterStep = () => {} }: { clip?: boolean; afterStep?: () => void } = {},
) {
  manualSeed(42);
  const model = new MLP(8);
  const opt = makeOpt(model.parameters());
  const initial = mse(model.forward(X), Y).item();
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    const loss = mse(model.forward(X), Y);
    loss.backward();
    if (clip) clipGradNorm(model.parameters(), 1);
    opt.step();
    afterStep();
  }
  const final = mse(model.forward(X), Y).item();
  return { initial, final, model };
}

const CASES: [string, (p: Parameter[]) => Optimizer, number][] = [
  ['SGD with Nesterov momentum', (p) => new SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true }), 200],
  ['Adam', (p) => new Adam(p, { lr: 0.05 }), 150],
  ['AdamW', (p) => new AdamW(p, { lr: 0.05, weightDecay: 1e-4 }), 150],
  ['RMSprop', (p) => new RMSprop(p, { lr: 0.01 }), 300],
  ['Adagrad', (p) => new Adagrad(p, { lr: 0.3 }), 200],
];

describe('training a small MLP on XOR', () => {
  it.each(CASES)('%s reaches a low loss', (_name, makeOpt, steps) => {
    const { initial, final } = train(makeOpt, steps);
    expect(initial).toBeGreaterThan(0.2);
    expect(final).toBeLessThan(0.01);
    expect(final).toBeLessThan(initial / 20);
  });

  it('a full loop with clipping and a cosine schedule also converges, and parameters keep identity', () => {
    let sched: CosineAnnealingLR | undefined;
    let firstParams: Parameter[] = [];
    const { initial, final, model } = train(
      (p) => {
        firstParams = p;
        const opt = new Adam(p, { lr: 0.05 });
        sched = new CosineAnnealingLR(opt, { tMax: 200, etaMin: 1e-3 });
        return opt;
      },
      200,
      // Each full-batch step is an epoch here.
      { clip: true, afterStep: () => sched!.step() },
    );
    expect(final).toBeLessThan(0.01);
    expect(final).toBeLessThan(initial / 20);
    expect(sched!.getLastLr()[0]).toBeCloseTo(1e-3, 12);
    expect(model.parameters()).toEqual(firstParams);
    model.parameters().forEach((p, i) => {
      expect(p).toBe(firstParams[i]);
    });
  });
});
