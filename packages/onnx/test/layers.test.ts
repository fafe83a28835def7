/** The feed-forward layers and compositions, exported and run in ONNX Runtime against TensorLoom. */
import { manualSeed, randn, type Tensor, tensor } from '@tensorloom/autograd';
import { LSTM } from '@tensorloom/lstm';
import {
  Dropout,
  Embedding,
  GELU,
  Identity,
  LayerNorm,
  Linear,
  Module,
  ReLU,
  Sequential,
  Sigmoid,
  Tanh,
} from '@tensorloom/nn';
import { describe, expect, it } from 'vitest';
import { exportOnnx, LogSoftmax, Softmax } from '../src/index.ts';
import { maxError, runOrt, signature } from './helpers.ts';

/** Exports `model` on `x`, runs it in ORT on `x` and on `other` (another leading shape), compares both. */
async function check(model: Module & { forward(x: Tensor): Tensor }, x: Tensor, other?: Tensor) {
  const bytes = exportOnnx(model, [x]);
  model.eval(); // the export is of evaluation mode (dropout off)
  for (const input of other ? [x, other] : [x]) {
    const { output } = await runOrt(bytes, { input });
    expect(maxError(model.forward(input), output!)).toBeLessThanOrEqual(1e-5);
  }
  return bytes;
}

describe('feed-forward layers in ONNX Runtime', () => {
  manualSeed(3);
  it.each([
    ['Linear', () => new Linear(5, 4)],
    ['Linear without bias', () => new Linear(5, 4, { bias: false })],
    ['LayerNorm', () => new LayerNorm(5, { eps: 1e-3 })],
    ['LayerNorm without affine', () => new LayerNorm(5, { elementwiseAffine: false })],
    ['LayerNorm without bias', () => new LayerNorm(5, { bias: false })],
    ['Dropout (identity in eval)', () => new Dropout(0.5)],
    ['Identity', () => new Identity()],
    ['Tanh', () => new Tanh()],
    ['Sigmoid', () => new Sigmoid()],
    ['ReLU', () => new ReLU()],
    ['GELU', () => new GELU()],
    ['GELU tanh', () => new GELU({ approximate: 'tanh' })],
    ['Softmax', () => new Softmax(-1)],
    ['LogSoftmax', () => new LogSoftmax(1)],
  ] as const)('%s over [2, 3, 5] and [4, 1, 5]', async (_name, make) => {
    const layer = make();
    if (layer instanceof LayerNorm && layer.weight) {
      // Non-trivial scale and shift, so they are seen to be exported.
      layer.weight.data.set(randn([5]).data);
      layer.bias?.data.set(randn([5]).data);
    }
    await check(layer, randn([2, 3, 5]).mul(2), randn([4, 1, 5]).mul(2));
  });

  it('LayerNorm over the last two dims', async () => {
    const ln = new LayerNorm([3, 4]);
    ln.weight!.data.set(randn([3, 4]).data);
    await check(ln, randn([2, 3, 4]), randn([5, 3, 4]));
  });

  it('a Sequential MLP keeps its dropout out of the export and its training mode', async () => {
    const mlp = new Sequential(
      new Linear(4, 8),
      new Dropout(0.3),
      new GELU(),
      new Linear(8, 3),
      new LogSoftmax(-1),
    );
    mlp.train();
    const bytes = exportOnnx(mlp, [randn([6, 4])]);
    expect(mlp.training && [...mlp.modules()].every((m) => m.training)).toBe(true);
    mlp.eval();
    const x = randn([9, 4]);
    const { output } = await runOrt(bytes, { input: x }, true);
    expect(maxError(mlp.forward(x), output!)).toBeLessThanOrEqual(1e-5);
    // The parameters keep their PyTorch names as initializer names (the ORT metadata shows only I/O).
    expect((await signature(bytes)).inputs).toEqual([
      { name: 'input', type: 'float32', shape: ['input_dim0', 4] },
    ]);
  });

  it('opset 21 exports the same model', async () => {
    const model = new Sequential(new Linear(4, 3), new LayerNorm(3), new Tanh());
    const x = randn([2, 4]);
    const { output } = await runOrt(exportOnnx(model, [x], { opsetVersion: 21 }), { input: x });
    expect(maxError(model.forward(x), output!)).toBeLessThanOrEqual(1e-5);
  });
});

/** Embedding → 2-layer LSTM → Linear, in a module of the user's whose forward only calls its layers. */
class Tagger extends Module {
  embed = new Embedding(11, 6);
  lstm = new LSTM({ inputSize: 6, hiddenSize: 8, numLayers: 2, batchFirst: true, dropout: 0.2 });
  head = new Linear(8, 11);
  forward(ids: Tensor, lengths?: number[]): [Tensor, Tensor] {
    const [h, [hN]] = this.lstm.forward(this.embed.forward(ids), null, { lengths });
    return [this.head.forward(h), hN];
  }
}

/** Token ids as a [B, T] tensor (TensorLoom's Embedding takes ids of any shape as a tensor). */
function idsTensor(values: number[], B: number, T: number): Tensor {
  return tensor(values).reshape([B, T]);
}

describe('a user module of supported layers', () => {
  it('exports with int64 ids, lengths and named inputs, dynamic in batch and sequence', async () => {
    manualSeed(4);
    const model = new Tagger();
    const bytes = exportOnnx(model, [idsTensor([1, 2, 3, 4, 5, 6], 2, 3), [3, 2]], {
      inputNames: ['ids', 'lengths'],
      outputNames: ['logits', 'h_n'],
    });
    const { inputs, outputs } = await signature(bytes);
    expect(inputs).toEqual([
      { name: 'ids', type: 'int64', shape: ['batch', 'sequence'] },
      { name: 'lengths', type: 'int32', shape: ['batch'] },
    ]);
    expect(outputs).toEqual([
      { name: 'logits', type: 'float32', shape: ['batch', 'sequence', 11] },
      { name: 'h_n', type: 'float32', shape: [2, 'batch', 8] },
    ]);
    model.eval();
    const B = 4;
    const T = 5;
    const values = Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % 11);
    const lengths = [5, 2, 4, 1];
    const actual = await runOrt(bytes, { ids: { int64: values, dims: [B, T] }, lengths: { int32: lengths } });
    const [logits, hN] = model.forward(idsTensor(values, B, T), lengths);
    expect(maxError(logits, actual.logits!)).toBeLessThanOrEqual(1e-5);
    expect(maxError(hN, actual.h_n!)).toBeLessThanOrEqual(1e-5);
  });

  it('exports int32 tensors (ids, lengths) as INT32 inputs whatever indexType says', async () => {
    manualSeed(6);
    class Tagged extends Module {
      embed = new Embedding(11, 6);
      lstm = new LSTM({ inputSize: 6, hiddenSize: 8, batchFirst: true });
      forward(ids: Tensor, lengths: Tensor): Tensor {
        return this.lstm.forward(this.embed.forward(ids), null, { lengths })[0];
      }
    }
    const model = new Tagged();
    const ids = tensor([1, 2, 3, 4, 5, 6], { dtype: 'int32', shape: [2, 3] });
    const bytes = exportOnnx(model, [ids, tensor([3, 2], { dtype: 'int32' })], {
      inputNames: ['ids', 'lengths'],
    });
    const { inputs } = await signature(bytes);
    expect(inputs).toEqual([
      { name: 'ids', type: 'int32', shape: ['batch', 'sequence'] },
      { name: 'lengths', type: 'int32', shape: ['batch'] },
    ]);
    model.eval();
    const values = Array.from({ length: 3 * 4 }, (_, i) => (i * 5 + 1) % 11);
    const feedIds = tensor(values, { dtype: 'int32', shape: [3, 4] });
    const feedLengths = tensor([4, 1, 3], { dtype: 'int32' });
    const { output } = await runOrt(bytes, { ids: feedIds, lengths: feedLengths });
    expect(maxError(model.forward(feedIds, feedLengths), output!)).toBeLessThanOrEqual(1e-5);
    expect(() => exportOnnx(model, [ids.to('float64'), tensor([3, 2], { dtype: 'int32' })])).toThrow(
      'exportOnnx: input input_0 is float64; only float32 inputs (and int32 ids and lengths) export',
    );
  });

  it('exports int32 ids on request, and a module called twice shares its weights', async () => {
    manualSeed(5);
    const embed = new Embedding(7, 4);
    const proj = new Linear(4, 4);
    class Twice extends Module {
      embed = embed;
      proj = proj;
      forward(ids: Int32Array): Tensor {
        return this.proj.forward(this.proj.forward(this.embed.forward(ids)));
      }
    }
    const model = new Twice();
    const example = Int32Array.from([0, 6, 3]);
    const bytes = exportOnnx(model, [example], { indexType: 'int32' });
    const { inputs } = await signature(bytes);
    expect(inputs).toEqual([{ name: 'input', type: 'int32', shape: ['input_dim0'] }]);
    const { output } = await runOrt(bytes, { input: { int32: [5, 1, 2, 2, 0] } });
    expect(maxError(model.forward(Int32Array.from([5, 1, 2, 2, 0])), output!)).toBeLessThanOrEqual(1e-5);
    // One copy of each weight: proj.weight, proj.bias, embed.weight (the bytes hold 4·4 + 4 + 7·4 floats once).
    const floats = 4 * 4 + 4 + 7 * 4;
    expect(bytes.length).toBeLessThan(floats * 4 + 2000);
    expect(bytes.length).toBeGreaterThan(floats * 4);
  });
});
