import {
  add,
  manualSeed,
  narrow,
  reshape,
  sum,
  type Tensor,
  tensor,
  transpose,
  zeros,
} from '@tensorloom/autograd';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CellStack, GateRecorder, GRU, LSTM, LSTMCell, RNN } from '../src/index.ts';
import { constant, expectClose, fastGradcheck, leaf, lengthsFrom, maxDiff } from './helpers.ts';

/** Column b of a [T, B, k] tensor's first `len` steps, as [len, 1, k]. */
function sequence(x: Tensor, b: number, len: number): Tensor {
  return narrow(narrow(x, 1, b, 1), 0, 0, len);
}

describe('LSTM', () => {
  it("names its parameters like torch.nn.LSTM, in PyTorch's order", () => {
    const lstm = new LSTM({ inputSize: 5, hiddenSize: 4, numLayers: 2, bidirectional: true, projSize: 3 });
    expect(Array.from(lstm.namedParameters(), ([n, p]) => `${n} ${p.shape}`)).toEqual([
      'weight_ih_l0 16,5',
      'weight_hh_l0 16,3',
      'bias_ih_l0 16',
      'bias_hh_l0 16',
      'weight_hr_l0 3,4',
      'weight_ih_l0_reverse 16,5',
      'weight_hh_l0_reverse 16,3',
      'bias_ih_l0_reverse 16',
      'bias_hh_l0_reverse 16',
      'weight_hr_l0_reverse 3,4',
      'weight_ih_l1 16,6',
      'weight_hh_l1 16,3',
      'bias_ih_l1 16',
      'bias_hh_l1 16',
      'weight_hr_l1 3,4',
      'weight_ih_l1_reverse 16,6',
      'weight_hh_l1_reverse 16,3',
      'bias_ih_l1_reverse 16',
      'bias_hh_l1_reverse 16',
      'weight_hr_l1_reverse 3,4',
    ]);
    expect(Object.keys(new LSTM({ inputSize: 2, hiddenSize: 3, bias: false }).stateDict())).toEqual([
      'weight_ih_l0',
      'weight_hh_l0',
    ]);
    // Typed access by PyTorch name.
    expect(lstm.weight_hr_l1_reverse?.shape).toEqual([3, 4]);
    for (const p of lstm.parameters()) for (const v of p.data) expect(Math.abs(v)).toBeLessThanOrEqual(0.5);
  });

  it('returns PyTorch shapes, with batchFirst only changing the input and output layout', () => {
    const lstm = new LSTM({
      inputSize: 3,
      hiddenSize: 4,
      numLayers: 2,
      bidirectional: true,
      dtype: 'float64',
    });
    const x = constant([5, 2, 3]);
    const [out, [h, c]] = lstm.forward(x);
    expect(out.shape).toEqual([5, 2, 8]);
    expect(h.shape).toEqual([4, 2, 4]);
    expect(c.shape).toEqual([4, 2, 4]);

    const bf = new LSTM({
      inputSize: 3,
      hiddenSize: 4,
      numLayers: 2,
      bidirectional: true,
      batchFirst: true,
      dtype: 'float64',
    });
    bf.loadStateDict(lstm.stateDict());
    const [outB, [hB, cB]] = bf.forward(transpose(x, 0, 1));
    expect(outB.shape).toEqual([2, 5, 8]);
    expectClose(transpose(outB, 0, 1), out, 0);
    expectClose(hB, h, 0);
    expectClose(cB, c, 0);

    const proj = new LSTM({
      inputSize: 3,
      hiddenSize: 4,
      projSize: 2,
      bidirectional: true,
      dtype: 'float64',
    });
    const [outP, [hP, cP]] = proj.forward(x);
    expect([outP.shape, hP.shape, cP.shape]).toEqual([
      [5, 2, 4],
      [2, 2, 2],
      [2, 2, 4],
    ]);
  });

  it('defaults to a zero initial state', () => {
    const lstm = new LSTM({ inputSize: 2, hiddenSize: 3, numLayers: 2, dtype: 'float64' });
    const x = constant([4, 2, 2]);
    const z = zeros([2, 2, 3], { dtype: 'float64' });
    const [a, [ha]] = lstm.forward(x);
    const [b, [hb]] = lstm.forward(x, [z, z]);
    expectClose(a, b, 0);
    expectClose(ha, hb, 0);
  });

  it('hoists the input projection: one product for all steps, one fused-width product per step', () => {
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, dtype: 'float64' });
    const T = 6;
    const [out] = lstm.forward(constant([T, 2, 3]));
    // Count the matrix products in the recorded graph.
    const seen = new Set<unknown>();
    const shapes: string[] = [];
    const stack = [out];
    while (stack.length > 0) {
      const t = stack.pop()!;
      if (!t.gradFn || seen.has(t)) continue;
      seen.add(t);
      // The products: plain gemm, linear (the input projection with its bias), the per-step shared product.
      if (['gemm', 'linear', 'recurrentProduct'].includes(t.gradFn.op)) shapes.push(`${t.shape}`);
      stack.push(...t.gradFn.inputs);
    }
    // [T·B, 4H] once, then [B, 4H] (all four gates) per step.
    expect(shapes.filter((s) => s === '12,16')).toHaveLength(1);
    expect(shapes.filter((s) => s === '2,16')).toHaveLength(T);
    expect(shapes).toHaveLength(T + 1);
  });

  it('passes directional gradchecks for every option combination (float64)', () => {
    const config = fc.record({
      T: fc.integer({ min: 1, max: 4 }),
      B: fc.integer({ min: 1, max: 3 }),
      n: fc.integer({ min: 1, max: 3 }),
      H: fc.integer({ min: 1, max: 3 }),
      numLayers: fc.integer({ min: 1, max: 2 }),
      bidirectional: fc.boolean(),
      batchFirst: fc.boolean(),
      bias: fc.boolean(),
      proj: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
      withState: fc.boolean(),
      lengths: fc.option(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), {
          minLength: 3,
          maxLength: 3,
        }),
      ),
      dropout: fc.constantFrom(0, 0.3),
      seed: fc.integer({ min: 0, max: 1e6 }),
    });
    fc.assert(
      fc.property(config, (c) => {
        const projSize = Math.floor(c.proj * c.H); // 0 ≤ projSize < H
        const lstm = new LSTM({
          inputSize: c.n,
          hiddenSize: c.H,
          numLayers: c.numLayers,
          bidirectional: c.bidirectional,
          batchFirst: c.batchFirst,
          bias: c.bias,
          projSize,
          dropout: c.dropout,
          dtype: 'float64',
        });
        const D = c.bidirectional ? 2 : 1;
        const x = leaf(c.batchFirst ? [c.B, c.T, c.n] : [c.T, c.B, c.n]);
        const h0 = leaf([c.numLayers * D, c.B, projSize || c.H]);
        const c0 = leaf([c.numLayers * D, c.B, c.H]);
        const lengths = c.lengths ? lengthsFrom(c.lengths.slice(0, c.B), c.T) : null;
        const run = () => {
          manualSeed(c.seed); // the same dropout masks at every evaluation
          const [out, [h, cc]] = lstm.forward(x, c.withState ? [h0, c0] : null, { lengths });
          return [out, h, cc];
        };
        const inputs = c.withState ? [x, h0, c0, ...lstm.parameters()] : [x, ...lstm.parameters()];
        fastGradcheck(run, inputs, c.seed);
      }),
      { numRuns: 30 },
    );
  });

  it('applies dropout between layers, not after the last, and only in training mode', () => {
    const make = (dropout: number, numLayers: number) =>
      new LSTM({ inputSize: 3, hiddenSize: 4, numLayers, dropout, dtype: 'float64' });
    const x = constant([4, 2, 3]);
    const two = make(0.5, 2);
    const plain = make(0, 2);
    plain.loadStateDict(two.stateDict());
    const [reference] = plain.forward(x);
    manualSeed(1);
    const [a] = two.forward(x);
    manualSeed(1);
    const [b] = two.forward(x);
    manualSeed(2);
    const [other] = two.forward(x);
    expectClose(a, b, 0); // seeded, reproducible
    expect(maxDiff(a, other)).toBeGreaterThan(1e-6);
    expect(maxDiff(a, reference)).toBeGreaterThan(1e-6);
    two.eval();
    expectClose(two.forward(x)[0], reference, 0);
    // One layer: nothing lies between layers, so dropout changes nothing even in training.
    const one = make(0.5, 1);
    const onePlain = make(0, 1);
    onePlain.loadStateDict(one.stateDict());
    expectClose(one.forward(x)[0], onePlain.forward(x)[0], 0);
  });

  it('treats each sequence as ending at its own length, like packed sequences', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), {
          minLength: 3,
          maxLength: 3,
        }),
        fc.boolean(),
        (fractions, bidirectional) => {
          const T = 5;
          const lengths = lengthsFrom(fractions, T);
          const lstm = new LSTM({
            inputSize: 2,
            hiddenSize: 3,
            numLayers: 2,
            bidirectional,
            dtype: 'float64',
          });
          const D = bidirectional ? 2 : 1;
          const x = constant([T, 3, 2]);
          const h0 = constant([2 * D, 3, 3]);
          const c0 = constant([2 * D, 3, 3]);
          const [out, [h, c]] = lstm.forward(x, [h0, c0], { lengths });
          lengths.forEach((len, b) => {
            // The same sequence alone, cut at its length, with its own initial state.
            const [o1, [h1, c1]] = lstm.forward(sequence(x, b, len), [
              narrow(h0, 1, b, 1),
              narrow(c0, 1, b, 1),
            ]);
            expectClose(narrow(narrow(out, 1, b, 1), 0, 0, len), o1, 1e-14);
            expectClose(narrow(h, 1, b, 1), h1, 1e-14);
            expectClose(narrow(c, 1, b, 1), c1, 1e-14);
            if (len < T)
              expect(narrow(narrow(out, 1, b, 1), 0, len, T - len).data.every((v) => v === 0)).toBe(true);
          });
        },
      ),
      { numRuns: 10 },
    );
  });

  it('gives padding no gradient and does not compute steps past the longest sequence', () => {
    const lstm = new LSTM({
      inputSize: 2,
      hiddenSize: 3,
      bidirectional: true,
      numLayers: 2,
      dtype: 'float64',
    });
    const x = leaf([6, 2, 2]);
    const recorder = new GateRecorder();
    const [out, [h]] = lstm.forward(x, null, { lengths: [2, 4], observe: recorder.observe });
    add(sum(out), sum(h)).backward();
    // 4 steps per layer and direction, not 6.
    expect(recorder.steps).toHaveLength(4 * 2 * 2);
    expect(recorder.get('f', 1, 1).shape).toEqual([4, 2, 3]);
    // Gate rows past a sequence's length are reported as zero.
    expect(narrow(narrow(recorder.get('i', 0, 1), 1, 0, 1), 0, 2, 2).data.every((v) => v === 0)).toBe(true);
    expect(narrow(narrow(recorder.get('i', 0, 1), 1, 0, 1), 0, 0, 2).data.every((v) => v > 0)).toBe(true);
    const g = x.grad!;
    expect(narrow(narrow(g, 1, 0, 1), 0, 2, 4).data.every((v) => v === 0)).toBe(true);
    expect(narrow(narrow(g, 1, 1, 1), 0, 4, 2).data.every((v) => v === 0)).toBe(true);
    expect(narrow(narrow(g, 1, 1, 1), 0, 0, 4).data.some((v) => v !== 0)).toBe(true);
  });

  it('rejects bad input with the expected and given shapes', () => {
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2 });
    expect(() => lstm.forward(zeros([5, 2]))).toThrow(
      'LSTM: expected a 3-d input [T, B, 3] (inputSize 3), got [5,2]',
    );
    expect(() => lstm.forward(zeros([5, 2, 4]))).toThrow(
      'expected a 3-d input [T, B, 3] (inputSize 3), got [5,2,4]',
    );
    expect(() =>
      new LSTM({ inputSize: 3, hiddenSize: 4, batchFirst: true }).forward(zeros([5, 2, 4])),
    ).toThrow('expected a 3-d input [B, T, 3]');
    expect(() => lstm.forward(zeros([5, 2, 3]), [zeros([1, 2, 4]), zeros([2, 2, 4])])).toThrow(
      'LSTM: expected h0 [numLayers * numDirections, batch, 4] of shape [2,2,4], got [1,2,4]',
    );
    expect(() => lstm.forward(zeros([5, 2, 3]), [zeros([2, 2, 4]), zeros([2, 3, 4])])).toThrow(
      'expected c0 [numLayers * numDirections, batch, 4] of shape [2,2,4], got [2,3,4]',
    );
    expect(() => lstm.forward(zeros([0, 2, 3]))).toThrow(
      'LSTM: expected at least one time step and one sequence, got input of shape [0,2,3]',
    );
    expect(() => lstm.forward(zeros([5, 2, 3]), null, { lengths: [5] })).toThrow(
      'LSTM: lengths has 1 entries but the batch has 2 sequences',
    );
    expect(() => lstm.forward(zeros([5, 2, 3]), null, { lengths: [5, 6] })).toThrow(
      'LSTM: lengths[1] = 6 is out of range: expected an integer in [1, 5] for an input of 5 steps',
    );
    expect(() => lstm.forward(zeros([5, 2, 3]), null, { lengths: [0, 2] })).toThrow(
      'lengths[0] = 0 is out of range',
    );
    expect(() => lstm.forward(zeros([5, 2, 3]), null, { lengths: [2, 5], enforceSorted: true })).toThrow(
      'LSTM: lengths must be sorted in decreasing order when enforceSorted is set, got [2,5]',
    );
    // Unsorted lengths are fine by default (enforce_sorted=False).
    expect(lstm.forward(zeros([5, 2, 3]), null, { lengths: [2, 5] })[0].shape).toEqual([5, 2, 4]);
    expect(() => lstm.forward(zeros([5, 2, 3], { dtype: 'float64' }))).toThrow(
      /input is float64 but the parameters are float32/,
    );
    expect(() => new LSTM({ inputSize: 3, hiddenSize: 4, projSize: 4 })).toThrow(
      'LSTM: projSize (4) must be smaller than hiddenSize (4)',
    );
    expect(() => new LSTM({ inputSize: 3, hiddenSize: 4, dropout: 1.5 })).toThrow(
      'LSTM: dropout must be a probability in [0, 1], got 1.5',
    );
    expect(() => new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 0 })).toThrow(
      'LSTM: numLayers must be a positive integer, got 0',
    );
  });

  it('follows .double() (parameters are replaced, the cells read them at each call)', () => {
    const lstm = new LSTM({ inputSize: 2, hiddenSize: 3 }).double();
    const [out, [h, c]] = lstm.forward(constant([3, 2, 2]));
    expect([out.dtype, h.dtype, c.dtype]).toEqual(['float64', 'float64', 'float64']);
  });
});

describe('GRU and RNN', () => {
  it('name parameters like PyTorch and return [output, hN]', () => {
    const gru = new GRU({ inputSize: 3, hiddenSize: 2, numLayers: 2, bidirectional: true, dtype: 'float64' });
    expect(Array.from(gru.namedParameters(), ([n, p]) => `${n} ${p.shape}`).slice(0, 5)).toEqual([
      'weight_ih_l0 6,3',
      'weight_hh_l0 6,2',
      'bias_ih_l0 6',
      'bias_hh_l0 6',
      'weight_ih_l0_reverse 6,3',
    ]);
    const [out, h] = gru.forward(constant([4, 5, 3]));
    expect(out.shape).toEqual([4, 5, 4]);
    expect(h.shape).toEqual([4, 5, 2]);
    const rnn = new RNN({
      inputSize: 3,
      hiddenSize: 2,
      nonlinearity: 'relu',
      batchFirst: true,
      dtype: 'float64',
    });
    expect(rnn.nonlinearity).toBe('relu');
    const [o2, h2] = rnn.forward(constant([5, 4, 3]));
    expect(o2.shape).toEqual([5, 4, 2]);
    expect(h2.shape).toEqual([1, 5, 2]);
    expect(o2.data.every((v) => v >= 0)).toBe(true);
    expect(() => gru.forward(constant([4, 5, 3]), constant([2, 5, 2]))).toThrow(
      'GRU: expected h0 [numLayers * numDirections, batch, 2] of shape [4,5,2], got [2,5,2]',
    );
    expect(() => new RNN({ inputSize: 3, hiddenSize: 2, nonlinearity: 'sigmoid' as never })).toThrow(
      `RNN: nonlinearity must be 'tanh' or 'relu'`,
    );
  });

  it('pass directional gradchecks for every option combination', () => {
    const config = fc.record({
      kind: fc.constantFrom('GRU', 'RNN-tanh', 'RNN-relu'),
      T: fc.integer({ min: 1, max: 4 }),
      B: fc.integer({ min: 1, max: 3 }),
      n: fc.integer({ min: 1, max: 3 }),
      H: fc.integer({ min: 1, max: 3 }),
      numLayers: fc.integer({ min: 1, max: 2 }),
      bidirectional: fc.boolean(),
      batchFirst: fc.boolean(),
      bias: fc.boolean(),
      withState: fc.boolean(),
      lengths: fc.option(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), {
          minLength: 3,
          maxLength: 3,
        }),
      ),
      seed: fc.integer({ min: 0, max: 1e6 }),
    });
    fc.assert(
      fc.property(config, (c) => {
        const options = {
          inputSize: c.n,
          hiddenSize: c.H,
          numLayers: c.numLayers,
          bidirectional: c.bidirectional,
          batchFirst: c.batchFirst,
          bias: c.bias,
          dtype: 'float64' as const,
        };
        const layer =
          c.kind === 'GRU'
            ? new GRU(options)
            : new RNN({ ...options, nonlinearity: c.kind === 'RNN-relu' ? 'relu' : 'tanh' });
        const D = c.bidirectional ? 2 : 1;
        const x = leaf(c.batchFirst ? [c.B, c.T, c.n] : [c.T, c.B, c.n]);
        const h0 = leaf([c.numLayers * D, c.B, c.H]);
        const lengths = c.lengths ? lengthsFrom(c.lengths.slice(0, c.B), c.T) : null;
        const run = () => layer.forward(x, c.withState ? h0 : null, { lengths });
        fastGradcheck(run, c.withState ? [x, h0, ...layer.parameters()] : [x, ...layer.parameters()], c.seed);
      }),
      { numRuns: 25 },
    );
  });

  it('keep each sequence independent under lengths (GRU, bidirectional)', () => {
    const gru = new GRU({ inputSize: 2, hiddenSize: 3, bidirectional: true, dtype: 'float64' });
    const x = constant([4, 2, 2]);
    const [out, h] = gru.forward(x, null, { lengths: [4, 2] });
    // Lengths may also come as an Int32Array or a 1-d tensor.
    expectClose(gru.forward(x, null, { lengths: Int32Array.from([4, 2]) })[0], out, 0);
    expectClose(gru.forward(x, null, { lengths: tensor([4, 2]) })[1], h, 0);
    const [o1, h1] = gru.forward(sequence(x, 1, 2));
    expectClose(narrow(narrow(out, 1, 1, 1), 0, 0, 2), o1, 1e-14);
    expectClose(narrow(h, 1, 1, 1), h1, 1e-14);
    // Its reverse direction starts at its own last step (t = 1): outputs past it are zero, not a run from t = 3.
    const rev = reshape(narrow(narrow(out, 1, 1, 1), 2, 3, 3), [4, 3]);
    expectClose(narrow(rev, 0, 0, 2), reshape(narrow(o1, 2, 3, 3), [2, 3]), 1e-14);
    expect(narrow(rev, 0, 2, 2).data.every((v) => v === 0)).toBe(true);
  });
});

describe('argument checks that name what was expected', () => {
  it('LSTM sizes, CellStack cells and CellStack initial states', () => {
    expect(() => new LSTM({ inputSize: 2, hiddenSize: 0 })).toThrow(
      'LSTM: hiddenSize must be a positive integer, got 0',
    );
    expect(
      () =>
        new CellStack(() => ({ inputSize: 3 }) as unknown as LSTMCell, {
          inputSize: 3,
        }),
    ).toThrow(
      'CellStack: the cell for layer 0 must be a Module (so that its parameters belong to the stack), got Object',
    );
    const stack = new CellStack(({ inputSize }) => new LSTMCell({ inputSize, hiddenSize: 4 }), {
      inputSize: 3,
      numLayers: 2,
    });
    const x = zeros([5, 2, 3]);
    const h = zeros([2, 4]);
    expect(() =>
      stack.forward(x, [
        [h, h],
        [zeros([3, 4]), h],
      ]),
    ).toThrow('CellStack: initial state 1 (layer 1), tensor 0: expected [2,4] float32, got [3,4] float32');
    expect(() => stack.forward(x, [[h, h], [h]] as never)).toThrow(
      'CellStack: initial state 1 (layer 1) has 1 tensors, expected 2',
    );
  });
});
