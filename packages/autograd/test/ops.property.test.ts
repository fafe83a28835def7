/**
 * The op table drives these tests: every differentiable op against central differences in float64, with
 * random shapes (broadcasting included), a random cotangent and a random direction; second order for the
 * smooth ones. A public differentiable op missing from the table fails the coverage test.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as autograd from '../src/index.ts';
import { checkGradients, opTable } from '../src/testing/index.ts';

/** Exports that are not differentiable ops: classes, creation, randomness, comparisons, transforms. */
const notDifferentiable = new Set([
  'Node',
  'Tensor',
  // creation and randomness
  'tensor',
  'zeros',
  'ones',
  'full',
  'arange',
  'linspace',
  'eye',
  'rand',
  'randn',
  'randint',
  'zerosLike',
  'onesLike',
  'fullLike',
  'randLike',
  'randnLike',
  'manualSeed',
  'getRngState',
  'setRngState',
  // piecewise constant: no gradient flows
  'gt',
  'lt',
  'ge',
  'le',
  'eq',
  'ne',
  'sign',
  'argmax',
  'argmin',
  // cuts the graph by design
  'detach',
  // backend switches and scheduling
  'isWasmEnabled',
  'setWasmEnabled',
  'withResidentWeights',
  'isFusionEnabled',
  'setFusionEnabled',
  'withFusion',
  'realize',
  'carry',
  'fusedKernelCount',
  'fusedKernelRunCount',
  // shape helpers and the engine's machinery
  'broadcastShapes',
  'sameShape',
  'noGrad',
  'enableGrad',
  'isGradEnabled',
  'grad',
  'grads',
  'valueAndGrad',
  'valueAndGrads',
  'vjp',
  'customOp',
  'gradcheck',
  'gradgradcheck',
]);

const FIRST_ORDER_RUNS = 40;
const SECOND_ORDER_RUNS = 15;

describe('op table coverage', () => {
  const exported = Object.entries(autograd)
    .filter(([, v]) => typeof v === 'function')
    .map(([k]) => k);
  const covered = new Set(opTable.map((c) => c.op));

  it('has an entry for every exported differentiable op', () => {
    const missing = exported.filter((name) => !notDifferentiable.has(name) && !covered.has(name));
    expect(missing, `exported ops without an op-table entry: ${missing.join(', ')}`).toEqual([]);
  });

  it('lists only real exports, and nothing as both differentiable and not', () => {
    const exportedSet = new Set(exported);
    expect([...notDifferentiable].filter((n) => !exportedSet.has(n))).toEqual([]);
    expect([...covered].filter((n) => !exportedSet.has(n))).toEqual([]);
    expect([...covered].filter((n) => notDifferentiable.has(n))).toEqual([]);
  });

  it('has unique names and covers the required variants', () => {
    const names = opTable.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of ['gemm', 'gemm[transA]', 'gemm[transB]', 'gemm[transA,transB]'])
      expect(names).toContain(n);
    for (const n of ['1d,1d', '1d,nd', 'nd,1d', '2d,2d', 'batched broadcast']) {
      expect(names).toContain(`matmul[${n}]`);
    }
  });
});

describe.each(opTable.map((c) => [c.name, c] as const))('%s', (_name, entry) => {
  it('VJP matches central differences (random shapes, cotangent and direction)', () => {
    fc.assert(
      fc.property(entry.sample, fc.integer({ min: 0, max: 0x7fffffff }), (s, seed) =>
        checkGradients(s.fn, s.inputs, { ...entry.tolerances, seed }),
      ),
      { numRuns: FIRST_ORDER_RUNS },
    );
  });
  if (entry.smooth) {
    it('second derivatives match (gradgradcheck)', () => {
      fc.assert(
        fc.property(entry.sample, fc.integer({ min: 0, max: 0x7fffffff }), (s, seed) =>
          checkGradients(s.fn, s.inputs, { ...entry.tolerances, seed, secondOrder: true }),
        ),
        { numRuns: SECOND_ORDER_RUNS },
      );
    });
  }
});
