/**
 * Softmax and log-softmax as modules, so they can end an exported `Sequential` (the exporter follows module
 * calls; a bare `softmax(x, dim)` between modules is invisible to it). PyTorch names them `nn.Softmax(dim)`
 * and `nn.LogSoftmax(dim)`.
 */
import { logSoftmax, softmax, type Tensor } from '@tensorloom/autograd';
import { Module } from '@tensorloom/nn';

function checkDim(op: string, dim: number): number {
  if (!Number.isInteger(dim)) throw new Error(`${op}: dim must be an integer, got ${String(dim)}`);
  return dim;
}

/** softmax along `dim`: e^x / Σ e^x. */
export class Softmax extends Module {
  readonly dim: number;
  constructor(dim: number) {
    super();
    this.dim = checkDim('Softmax', dim);
  }
  forward(x: Tensor): Tensor {
    return softmax(x, this.dim);
  }
}

/** log softmax along `dim`: x − log Σ e^x. */
export class LogSoftmax extends Module {
  readonly dim: number;
  constructor(dim: number) {
    super();
    this.dim = checkDim('LogSoftmax', dim);
  }
  forward(x: Tensor): Tensor {
    return logSoftmax(x, this.dim);
  }
}
