/** int32 ids and targets in the layers and losses, and int32 buffers through modules and safetensors. */
import { manualSeed, randint, randn, type Tensor, tensor, zeros } from '@tensorloom/autograd';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  crossEntropy,
  Embedding,
  embedding,
  Linear,
  loadSafetensors,
  Module,
  nllLoss,
  Parameter,
  saveSafetensors,
} from '../src/index.ts';

const values = (t: Tensor) => Array.from(t.data);

/** The same ids as an int32 tensor, a float32 tensor, a float64 tensor, an Int32Array and a plain array. */
function idForms(ids: number[], shape: number[]): Array<Tensor | Int32Array | number[]> {
  const forms: Array<Tensor | Int32Array | number[]> = [
    tensor(ids, { dtype: 'int32', shape }),
    tensor(ids, { dtype: 'float32', shape }),
    tensor(ids, { dtype: 'float64', shape }),
  ];
  if (shape.length === 1) forms.push(Int32Array.from(ids), ids);
  return forms;
}

describe('Embedding with int32 ids', () => {
  it('gives the values and weight gradients float ids and arrays give, with and without paddingIdx', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        fc.option(fc.integer({ min: -6, max: 5 }), { nil: null }),
        (ids, flat, paddingIdx) => {
          const shape = flat || ids.length % 2 === 1 ? [ids.length] : [2, ids.length / 2];
          const results = idForms(ids, shape).map((form) => {
            manualSeed(3);
            const e = new Embedding(6, 3, { paddingIdx, dtype: 'float64' });
            const y = e.forward(form);
            y.mul(randn(y.shape, { dtype: 'float64' }))
              .sum()
              .backward();
            return { shape: y.shape, y: values(y), grad: values(e.weight.grad!) };
          });
          for (const r of results.slice(1)) expect(r).toEqual(results[0]);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('names the id, where it was and the valid range', () => {
    const w = zeros([4, 2]);
    expect(() => embedding(w, tensor([0, 4], { dtype: 'int32' }))).toThrow(
      'embedding: id 4 at flat position 1 of ids [2] is out of range for 4 embeddings (expected an integer in [0, 3])',
    );
    expect(() => embedding(w, tensor([[0.5]]))).toThrow(
      'embedding: id 0.5 at flat position 0 of ids [1,1] is not an integer for 4 embeddings (expected an integer in [0, 3])',
    );
  });

  it('cannot have an int32 table (a trained weight must be float)', () => {
    expect(() => new Embedding(3, 2, { dtype: 'int32' })).toThrow(
      "Parameter: an int32 tensor of shape [3,2] cannot be trained (only floating point tensors can require gradients); convert it with .to('float32'), or pass requiresGrad false",
    );
    expect(() => new Linear(2, 2, { dtype: 'int32' })).toThrow('Parameter: an int32 tensor');
    expect(new Parameter(tensor([1, 2], { dtype: 'int32' }), false).dtype).toBe('int32');
  });
});

describe('crossEntropy and nllLoss with int32 targets', () => {
  it('give the losses and gradients float targets give (weights, ignoreIndex, label smoothing, [N, C, d])', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -1, max: 3 }), { minLength: 2, maxLength: 6 }),
        fc.constantFrom('mean', 'sum', 'none') as fc.Arbitrary<'mean' | 'sum' | 'none'>,
        fc.boolean(),
        fc.constantFrom(0, 0.1),
        (raw, reduction, spatial, labelSmoothing) => {
          // −1 is the ignored class; keep at least one real target so 'mean' is defined.
          const targets = raw.some((t) => t >= 0) ? raw : [0, ...raw.slice(1)];
          const n = targets.length;
          const [inputShape, targetShape] =
            spatial && n % 2 === 0
              ? [
                  [n / 2, 4, 2],
                  [n / 2, 2],
                ]
              : [[n, 4], [n]];
          const results = idForms(targets, targetShape).map((form) => {
            manualSeed(7);
            const logits = randn(inputShape, { dtype: 'float64', requiresGrad: true });
            const weight = tensor([0.5, 1, 2, 1.5], { dtype: 'float64' });
            const options = { reduction, ignoreIndex: -1, weight };
            const ce = crossEntropy(logits, form, { ...options, labelSmoothing });
            const nll = nllLoss(logits.logSoftmax(1), form, options);
            ce.add(nll)
              .mul(randn(ce.shape, { dtype: 'float64' }))
              .sum()
              .backward();
            return { ce: values(ce), nll: values(nll), grad: values(logits.grad!) };
          });
          for (const r of results.slice(1)) expect(r).toEqual(results[0]);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('name the target, where it was and the valid range', () => {
    const logits = zeros([2, 3]);
    expect(() => crossEntropy(logits, tensor([0, 3], { dtype: 'int32' }))).toThrow(
      'crossEntropy: target 3 at flat position 1 is out of range for 3 classes in input [2,3] (expected an integer in [0, 2] or ignoreIndex -100)',
    );
    expect(() => nllLoss(logits, tensor([1.5, 0]))).toThrow(
      'nllLoss: target 1.5 at flat position 0 is not an integer for 3 classes in input [2,3] (expected an integer in [0, 2] or ignoreIndex -100)',
    );
  });

  it('train on randint targets (int32 by default)', () => {
    manualSeed(0);
    const targets = randint(0, 3, [5]);
    expect(targets.dtype).toBe('int32');
    const logits = randn([5, 3], { requiresGrad: true });
    crossEntropy(logits, targets).backward();
    expect(logits.grad!.shape).toEqual([5, 3]);
  });
});

/** A layer with a float weight and an int32 buffer (a step counter, say). */
class Counted extends Module {
  weight = new Parameter(tensor([1.5, -2]));
  declare steps: Tensor;
  constructor() {
    super();
    this.registerBuffer('steps', tensor([2 ** 24 + 1, 3], { dtype: 'int32' }));
  }
}

describe('int32 buffers', () => {
  it('module.double() and .float() convert only floating tensors (PyTorch), keeping the buffer exact', () => {
    const m = new Counted();
    m.double();
    expect(m.weight.dtype).toBe('float64');
    expect(m.steps.dtype).toBe('int32');
    m.float();
    expect(m.weight.dtype).toBe('float32');
    expect(values(m.steps)).toEqual([2 ** 24 + 1, 3]);
  });

  it('keep their dtype through stateDict, safetensors and loadStateDict', () => {
    const m = new Counted();
    const state = m.stateDict();
    expect(state.steps!.dtype).toBe('int32');
    const back = loadSafetensors(saveSafetensors(state));
    expect(back.steps!.dtype).toBe('int32');
    expect(values(back.steps!)).toEqual([2 ** 24 + 1, 3]);
    const other = new Counted();
    other.steps.data.fill(0);
    other.loadStateDict(back);
    expect(values(other.steps)).toEqual([2 ** 24 + 1, 3]);
    expect(other.steps.dtype).toBe('int32');
  });
});
