/**
 * Section "dispatch": the fixed cost of an op on tiny tensors (shape checks, broadcasting, allocation,
 * graph recording, backward bookkeeping), where the arithmetic itself is negligible, plus a small
 * three-op chain of the kind a recurrent cell is made of.
 */
import { add, mul, sum, type Tensor, tanh, tensor } from '@tensorloom/autograd';
import type { BenchCase, Runner, Section } from '../harness.ts';
import { concat, normal } from '../inputs.ts';
import { type Tf, tf } from '../systems.ts';

type TfTensor = ReturnType<Tf['tensor']>;
type TfVariable = ReturnType<Tf['variable']>;

/** add(a, b) on two [n] tensors, forward only: one op, no graph. */
function addCase(n: number): BenchCase {
  const aData = normal([n]);
  const bData = normal([n]);
  return {
    name: `add [${n}] + [${n}], forward`,
    systems: {
      tensorloom: () => {
        const a = tensor(aData);
        const b = tensor(bData);
        return { run: () => void add(a, b), output: () => add(a, b).data };
      },
      'tfjs-cpu': () => tfAdd(aData, bData),
      'tfjs-wasm': () => tfAdd(aData, bData),
    },
  };
}

/** tfjs's side of `addCase`; `tidy` disposes the result, the idiomatic way to avoid leaks. */
function tfAdd(aData: Float32Array, bData: Float32Array): Runner {
  const t = tf();
  const a = t.tensor(aData);
  const b = t.tensor(bData);
  return {
    run: () => t.tidy(() => void t.add(a, b)),
    output: () => t.tidy(() => Float32Array.from(t.add(a, b).dataSync())),
    dispose: () => t.dispose([a, b]),
  };
}

/** sum(a + b) and its gradient with respect to both [n] leaves: two ops forward, their VJPs backward. */
function addGradCase(n: number): BenchCase {
  const aData = normal([n]);
  const bData = normal([n]);
  return {
    name: `sum(a + b) [${n}], forward + backward`,
    systems: {
      tensorloom: () => {
        const a = tensor(aData, { requiresGrad: true });
        const b = tensor(bData, { requiresGrad: true });
        const step = () => {
          a.grad = null;
          b.grad = null;
          sum(add(a, b)).backward();
        };
        return {
          run: step,
          output: () => {
            step();
            return concat([a.grad!.data, b.grad!.data]);
          },
        };
      },
      'tfjs-cpu': () =>
        tfGrads(
          [
            [aData, [n]],
            [bData, [n]],
          ],
          ([a, b]) => tf().sum(tf().add(a!, b!)),
        ),
      'tfjs-wasm': () =>
        tfGrads(
          [
            [aData, [n]],
            [bData, [n]],
          ],
          ([a, b]) => tf().sum(tf().add(a!, b!)),
        ),
    },
  };
}

/**
 * tfjs's side of the forward + backward cases: the data become variables (like trainable parameters) and
 * `tf.variableGrads` returns the loss and the gradient of every variable, all disposed by `tidy`.
 */
function tfGrads(
  inputs: ReadonlyArray<readonly [Float32Array, number[]]>,
  loss: (vars: TfVariable[]) => TfTensor,
): Runner {
  const t = tf();
  const vars = inputs.map(([data, shape]) => t.tidy(() => t.variable(t.tensor(data, shape))));
  const f = () => loss(vars) as ReturnType<Tf['scalar']>;
  return {
    run: () =>
      t.tidy(() => {
        const { grads } = t.variableGrads(f, vars);
        // Reading one value waits for nothing on these synchronous backends but keeps the work observable.
        grads[vars[0]!.name]!.dataSync();
      }),
    output: () => {
      let out: ArrayLike<number> = [];
      t.tidy(() => {
        const { grads } = t.variableGrads(f, vars);
        out = concat(vars.map((v) => grads[v.name]!.dataSync()));
      });
      return out;
    },
    dispose: () => t.dispose(vars),
  };
}

/** tanh(x ⊙ w + b) with x, w [32,128] and b [128] broadcast over rows: the shape of an LSTM gate. */
function chainCase(withGrad: boolean): BenchCase {
  const [rows, cols] = [32, 128];
  const xData = normal([rows, cols]);
  const wData = normal([rows, cols]);
  const bData = normal([cols]);
  return {
    name: withGrad
      ? `sum(tanh(x⊙w + b)) [32,128], forward + backward (w, b)`
      : `tanh(x⊙w + b) [32,128], forward`,
    systems: {
      tensorloom: () => {
        const x = tensor(xData, { shape: [rows, cols] });
        const w = tensor(wData, { shape: [rows, cols], requiresGrad: withGrad });
        const b = tensor(bData, { requiresGrad: withGrad });
        const forward = (): Tensor => tanh(add(mul(x, w), b));
        if (!withGrad) return { run: () => void forward(), output: () => forward().data };
        const step = () => {
          w.grad = null;
          b.grad = null;
          sum(forward()).backward();
        };
        return {
          run: step,
          output: () => {
            step();
            return concat([w.grad!.data, b.grad!.data]);
          },
        };
      },
      'tfjs-cpu': () => tfChain(withGrad, xData, wData, bData),
      'tfjs-wasm': () => tfChain(withGrad, xData, wData, bData),
    },
  };
}

/** tfjs's side of `chainCase`. */
function tfChain(withGrad: boolean, xData: Float32Array, wData: Float32Array, bData: Float32Array): Runner {
  const t = tf();
  const x = t.tensor(xData, [32, 128]);
  if (withGrad) {
    const runner = tfGrads(
      [
        [wData, [32, 128]],
        [bData, [128]],
      ],
      ([w, b]) => t.sum(t.tanh(t.add(t.mul(x, w!), b!))),
    );
    return {
      ...runner,
      dispose: () => {
        runner.dispose?.();
        x.dispose();
      },
    };
  }
  const w = t.tensor(wData, [32, 128]);
  const b = t.tensor(bData);
  return {
    run: () => t.tidy(() => void t.tanh(t.add(t.mul(x, w), b))),
    output: () => t.tidy(() => Float32Array.from(t.tanh(t.add(t.mul(x, w), b)).dataSync())),
    dispose: () => t.dispose([x, w, b]),
  };
}

/** Per-op overhead on tiny tensors and a small gate-like chain, with and without backward. */
export const dispatchSection: Section = {
  id: 'dispatch',
  title: 'op dispatch overhead',
  description:
    'Time per call on tiny tensors, where the arithmetic is negligible and the cost is the framework: ' +
    'checks, broadcasting, allocation, graph recording and backward. tfjs calls are wrapped in `tf.tidy` ' +
    '(its idiomatic memory management); its gradients use `tf.variableGrads`.',
  metric: { kind: 'time', unit: 'µs' },
  timing: { sampleMs: 10, samples: 9, maxMs: 600 },
  cases: () => [addCase(4), addCase(16), addGradCase(4), chainCase(false), chainCase(true)],
};
