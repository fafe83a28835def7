/**
 * PyTorch golden fixtures (scripts/gen_fixtures.py, float64): load each module's state dict with
 * `loadStateDict`, run the same input, and compare outputs, final states and every gradient to 1e-8.
 */
import { readFileSync } from 'node:fs';
import { add, mul, narrow, reshape, sum, type Tensor, tensor } from '@tensorloom/autograd';
import type { Module } from '@tensorloom/nn';
import { describe, expect, it } from 'vitest';
import { GRU, GRUCell, LSTM, LSTMCell, type LSTMState, RNN, RNNCell } from '../src/index.ts';

interface Enc {
  shape: number[];
  data: number[];
}
interface Case {
  name: string;
  kind: string;
  options: Record<string, unknown>;
  steps?: number;
  lengths?: number[];
  stateDict: Record<string, Enc>;
  input: Enc;
  h0?: Enc;
  c0?: Enc;
  output?: Enc;
  hN: Enc;
  cN?: Enc;
  gOutput?: Enc;
  gH: Enc;
  gC?: Enc;
  grads: { input: Enc; h0?: Enc; c0?: Enc; params: Record<string, Enc> };
}

function load(file: string): { torch: string; cases: Case[] } {
  return JSON.parse(readFileSync(new URL(`../fixtures/${file}`, import.meta.url), 'utf8'));
}

const decode = (e: Enc): Tensor => tensor(Float64Array.from(e.data), { shape: e.shape, dtype: 'float64' });
const leaf = (e: Enc): Tensor => decode(e).requiresGrad_();

/** Max |a − b| ≤ 1e-8 with equal shapes; names what differs. */
function expectClose(actual: Tensor | null, expected: Enc, what: string): void {
  expect(actual, `${what} is missing`).not.toBeNull();
  expect(actual!.shape, `${what} shape`).toEqual(expected.shape);
  let worst = 0;
  expected.data.forEach((v, i) => {
    worst = Math.max(worst, Math.abs(actual!.data[i]! - v));
  });
  expect(worst, `${what}: max abs difference`).toBeLessThanOrEqual(1e-8);
}

function loadInto(module: Module, c: Case): void {
  // The parameter names and their order must be PyTorch's, key for key.
  expect(Array.from(module.namedParameters(), ([n]) => n)).toEqual(Object.keys(c.stateDict));
  const sd: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(c.stateDict)) sd[k] = decode(v);
  module.loadStateDict(sd);
}

function checkParamGrads(module: Module, c: Case): void {
  for (const [name, p] of module.namedParameters())
    expectClose(p.grad, c.grads.params[name]!, `grad of ${name}`);
}

function layerFor(c: Case): LSTM | GRU | RNN {
  const options = { ...c.options, dtype: 'float64' } as never;
  if (c.kind === 'LSTM') return new LSTM(options);
  if (c.kind === 'GRU') return new GRU(options);
  return new RNN(options);
}

for (const file of ['lstm.json', 'gru.json', 'rnn.json']) {
  const { torch, cases } = load(file);
  describe(`${file} (PyTorch ${torch})`, () => {
    for (const c of cases) {
      it(c.name, () => {
        const module = layerFor(c);
        loadInto(module, c);
        const x = leaf(c.input);
        const h0 = c.h0 ? leaf(c.h0) : null;
        const c0 = c.c0 ? leaf(c.c0) : null;
        const options = { lengths: c.lengths ?? null };
        let out: Tensor;
        let hN: Tensor;
        let cN: Tensor | null = null;
        if (module instanceof LSTM) {
          [out, [hN, cN]] = module.forward(x, h0 && c0 ? [h0, c0] : null, options);
        } else {
          [out, hN] = module.forward(x, h0, options);
        }
        expectClose(out, c.output!, 'output');
        expectClose(hN, c.hN, 'hN');
        if (c.cN) expectClose(cN, c.cN, 'cN');

        let loss = add(sum(mul(out, decode(c.gOutput!))), sum(mul(hN, decode(c.gH))));
        if (c.gC && cN) loss = add(loss, sum(mul(cN, decode(c.gC))));
        loss.backward();
        expectClose(x.grad, c.grads.input, 'grad of input');
        if (c.grads.h0) expectClose(h0!.grad, c.grads.h0, 'grad of h0');
        if (c.grads.c0) expectClose(c0!.grad, c.grads.c0, 'grad of c0');
        checkParamGrads(module, c);
      });
    }
  });
}

describe('cells.json', () => {
  const { torch, cases } = load('cells.json');
  it('records the torch version', () => {
    expect(torch).toMatch(/^1\.13/);
  });
  for (const c of cases) {
    it(c.name, () => {
      const options = { ...c.options, dtype: 'float64' } as never;
      const cell =
        c.kind === 'LSTMCell'
          ? new LSTMCell(options)
          : c.kind === 'GRUCell'
            ? new GRUCell(options)
            : new RNNCell(options);
      loadInto(cell, c);
      const xs = leaf(c.input);
      const [T, B, n] = xs.shape as [number, number, number];
      const h0 = c.h0 ? leaf(c.h0) : null;
      const c0 = c.c0 ? leaf(c.c0) : null;
      let h: Tensor | null = h0;
      let cc: Tensor | null = c0;
      for (let t = 0; t < T; t++) {
        const x = reshape(narrow(xs, 0, t, 1), [B, n]);
        if (cell instanceof LSTMCell) {
          const state: LSTMState | null = h && cc ? [h, cc] : null;
          [h, cc] = cell.forward(x, state);
        } else {
          h = cell.forward(x, h);
        }
      }
      expectClose(h, c.hN, 'h');
      if (c.cN) expectClose(cc, c.cN, 'c');
      let loss = sum(mul(h!, decode(c.gH)));
      if (c.gC) loss = add(loss, sum(mul(cc!, decode(c.gC))));
      loss.backward();
      expectClose(xs.grad, c.grads.input, 'grad of input');
      if (c.grads.h0) expectClose(h0!.grad, c.grads.h0, 'grad of h0');
      if (c.grads.c0) expectClose(c0!.grad, c.grads.c0, 'grad of c0');
      checkParamGrads(cell, c);
    });
  }
});
