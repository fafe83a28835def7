/** What does not export fails with an error naming the module, and the model is left as it was. */
import { manualSeed, randn, relu, type Tensor } from '@tensorloom/autograd';
import { CellStack, GRUCell, PeepholeLSTMCell } from '@tensorloom/lstm';
import { Linear, Module, Parameter, Sequential } from '@tensorloom/nn';
import { describe, expect, it } from 'vitest';
import { exportOnnx } from '../src/index.ts';

manualSeed(6);
const x = randn([4, 2, 3]);

describe('exportOnnx refuses clearly', () => {
  it('custom cells, variant cells and single-step cells, by path and class', () => {
    const stack = new CellStack(({ inputSize }) => new PeepholeLSTMCell({ inputSize, hiddenSize: 4 }), {
      inputSize: 3,
    });
    expect(() => exportOnnx(stack, [x])).toThrow(
      /cannot export the model \(CellStack\): a CellStack runs custom cells/,
    );
    class Step extends Module {
      cell = new GRUCell({ inputSize: 3, hiddenSize: 4 });
      forward(x: Tensor) {
        return this.cell.forward(x);
      }
    }
    expect(() => exportOnnx(new Step(), [randn([2, 3])])).toThrow(
      /cannot export cell \(GRUCell\): single-step cells/,
    );
  });

  it('a module whose forward uses its own parameters', () => {
    class Scale extends Module {
      gain = new Parameter(randn([3]));
      forward(x: Tensor) {
        return x.mul(this.gain);
      }
    }
    const model = new Sequential(new Linear(3, 3), new Scale());
    expect(() => exportOnnx(model, [randn([2, 3])])).toThrow(
      /cannot export 1 \(Scale\): its forward uses its own parameters/,
    );
  });

  it('a subclass of a supported layer', () => {
    class Wide extends Linear {}
    expect(() => exportOnnx(new Wide(3, 2), [randn([2, 3])])).toThrow(/\(Wide\): it is a subclass of Linear/);
  });

  it('a tensor op between modules, naming the module that received its result', () => {
    class Model extends Module {
      a = new Linear(3, 3);
      b = new Linear(3, 2);
      forward(x: Tensor) {
        return this.b.forward(relu(this.a.forward(x)));
      }
    }
    expect(() => exportOnnx(new Model(), [randn([2, 3])])).toThrow(
      /the input of b \(Linear\) was not produced by an exported module nor given in exampleInputs/,
    );
    class Tail extends Module {
      a = new Linear(3, 3);
      forward(x: Tensor) {
        return relu(this.a.forward(x));
      }
    }
    expect(() => exportOnnx(new Tail(), [randn([2, 3])])).toThrow(
      /output 0 of Tail.forward \(shape \[2,3\]\)/,
    );
  });

  it('float64 models, and names that do not fit', () => {
    expect(() =>
      exportOnnx(new Linear(3, 2, { dtype: 'float64' }), [randn([2, 3], { dtype: 'float64' })]),
    ).toThrow(/parameter weight is float64; only float32 models export/);
    expect(() => exportOnnx(new Linear(3, 2), [randn([2, 3])], { inputNames: ['a', 'b'] })).toThrow(
      /inputNames must hold 1 non-empty names/,
    );
    expect(() => exportOnnx(new Linear(3, 2), [randn([2, 3])], { outputNames: ['input'] })).toThrow(
      /output name input is already used/,
    );
    expect(() => exportOnnx(new Linear(3, 2), [randn([2, 3])], { opsetVersion: 13 })).toThrow(
      /opsetVersion must be an integer from 17 to 21, got 13/,
    );
  });

  it('leaves the model as it was after a failed export', () => {
    const lin = new Linear(3, 2);
    class Broken extends Module {
      lin = lin;
      forward(x: Tensor) {
        return relu(this.lin.forward(x));
      }
    }
    const model = new Broken();
    expect(() => exportOnnx(model, [randn([2, 3])])).toThrow();
    expect(Object.hasOwn(lin, 'forward')).toBe(false);
    expect(model.training && lin.training).toBe(true);
  });
});
