import { gradcheck, manualSeed, randn, type Tensor, tensor } from '@tensorloom/autograd';
import { checkGradients, tensorArb } from '@tensorloom/autograd/testing';
import { CellStack, recurrent } from '@tensorloom/lstm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MGUCell } from '../src/mgu.ts';
import { echoBatch, forwardOnlyFloor } from '../src/task.ts';
import { trainTagger } from '../src/train.ts';

describe('MGUCell', () => {
  it('computes the minimal gated unit equations', () => {
    manualSeed(1);
    const cell = new MGUCell(2, 3, 'float64');
    const x = tensor([[0.5, -1]], { dtype: 'float64' });
    const h = tensor([[0.1, 0.2, -0.3]], { dtype: 'float64' });
    const next = cell.step(cell.projectInput(x), h);
    // The same step by hand, in plain numbers.
    const W = cell.weight_ih.toArray() as number[][];
    const b = cell.bias.toArray() as number[];
    const Uf = cell.weight_hf.toArray() as number[][];
    const Uh = cell.weight_hh.toArray() as number[][];
    const hv = [0.1, 0.2, -0.3];
    const xv = [0.5, -1];
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    const dot = (row: number[], v: number[]) => row.reduce((s, w, i) => s + w * v[i]!, 0);
    const f = [0, 1, 2].map((j) => sig(dot(W[j]!, xv) + b[j]! + dot(Uf[j]!, hv)));
    const fh = hv.map((v, j) => v * f[j]!);
    const cand = [0, 1, 2].map((j) => Math.tanh(dot(W[3 + j]!, xv) + b[3 + j]! + dot(Uh[j]!, fh)));
    const expected = hv.map((v, j) => v + f[j]! * (cand[j]! - v));
    (next.toArray() as number[][])[0]!.forEach((v, j) => {
      expect(v).toBeCloseTo(expected[j]!, 12);
    });
  });

  it('passes gradcheck through time for the input and every parameter', () => {
    manualSeed(2);
    const cell = new MGUCell(2, 3, 'float64');
    const x = randn([4, 2, 2], { dtype: 'float64', requiresGrad: true });
    expect(gradcheck((input: Tensor) => recurrent(cell, input)[0], [x, ...cell.parameters()])).toBe(true);
  });

  it('passes the testing kit gradient property for random sizes, inputs and lengths', () => {
    const cases = fc
      .record({
        T: fc.integer({ min: 1, max: 4 }),
        B: fc.integer({ min: 1, max: 3 }),
        n: fc.integer({ min: 1, max: 3 }),
        H: fc.integer({ min: 1, max: 4 }),
        seed: fc.integer({ min: 0, max: 1000 }),
      })
      .chain(({ T, B, n, H, seed }) =>
        tensorArb([T, B, n], { requiresGrad: true }).map((x) => ({ x, H, seed, B, T })),
      );
    fc.assert(
      fc.property(cases, fc.integer({ min: 0, max: 0x7fffffff }), ({ x, H, seed, B, T }, checkSeed) => {
        manualSeed(seed);
        const cell = new MGUCell(x.shape[2]!, H, 'float64');
        const lengths = Array.from({ length: B }, (_, b) => 1 + ((b + seed) % T));
        const fn = (input: Tensor) => recurrent(cell, input, { lengths })[0];
        return checkGradients(fn, [x, ...cell.parameters()], { seed: checkSeed, secondOrder: true });
      }),
      { numRuns: 25 },
    );
  });

  it('stacks bidirectionally with CellStack, and gradchecks there too', () => {
    manualSeed(3);
    const stack = new CellStack(({ inputSize }) => new MGUCell(inputSize, 3, 'float64'), {
      inputSize: 2,
      numLayers: 2,
      bidirectional: true,
    });
    expect([...stack.namedParameters()].map(([n]) => n)).toContain('cell_l1_reverse.weight_hf');
    const x = randn([4, 2, 2], { dtype: 'float64', requiresGrad: true });
    const [out, finals] = stack.forward(x);
    expect(out.shape).toEqual([4, 2, 6]);
    expect(finals).toHaveLength(4);
    expect(
      gradcheck((input: Tensor) => stack.forward(input)[0], [x, ...stack.parameters()], { fastMode: true }),
    ).toBe(true);
  });
});

describe('the two-sided echo task (smoke)', () => {
  it('builds targets from both neighbours', () => {
    manualSeed(4);
    const { x, y } = echoBatch(6, 2, 2);
    const at = (t: number, b: number) => (t >= 0 && t < 6 ? x.data[t * 2 + b]! : 0);
    for (let t = 0; t < 6; t++)
      for (let b = 0; b < 2; b++) expect(y.data[t * 2 + b]).toBeCloseTo((at(t - 2, b) + at(t + 2, b)) / 2, 6);
    expect(forwardOnlyFloor(20, 3)).toBeCloseTo(17 / 20 / 12, 12);
  });

  it('a bidirectional stack gets below the forward-only floor within a few dozen steps', () => {
    const run = trainTagger({
      hidden: 8,
      layers: 1,
      bidirectional: true,
      T: 8,
      k: 2,
      batch: 32,
      steps: 40,
      lr: 3e-2,
      evalEvery: 20,
      seed: 1,
    });
    expect(run.curve.mse.at(-1)!).toBeLessThan(run.curve.mse[0]!);
    expect(run.curve.mse.at(-1)!).toBeLessThan(forwardOnlyFloor(8, 2));
  });
});
