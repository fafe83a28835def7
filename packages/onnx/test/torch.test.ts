/**
 * The same table of layer options against PyTorch itself: torch.nn.LSTM/GRU/RNN (Debian's python3-torch,
 * installed by .ci/run) loads each layer's state dict with strict=True and runs the same inputs; TensorLoom's
 * forward and ONNX Runtime's run of the exported file must both match it to 1e-5.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manualSeed, type Tensor } from '@tensorloom/autograd';
import { afterAll, describe, expect, it } from 'vitest';
import { exportOnnx } from '../src/index.ts';
import {
  CASES,
  caseName,
  feeds,
  forwardArgs,
  inputNames,
  makeInputs,
  makeLayer,
  maxError,
  OUTPUT_NAMES,
  runOrt,
  tensorloomOutputs,
} from './helpers.ts';

const script = fileURLToPath(new URL('../scripts/torch_reference.py', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tensorloom-onnx-torch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const json = (t: Tensor) => ({ shape: t.shape, data: Array.from(t.data) });

describe('TensorLoom and ONNX Runtime against PyTorch', () => {
  it('every exported option matches torch.nn to 1e-5', async () => {
    const prepared = CASES.map((c) => {
      manualSeed(1);
      const layer = makeLayer(c);
      const inputs = makeInputs(c, 6, 3, 2);
      return { c, layer, inputs };
    });
    const cases = prepared.map(({ c, layer, inputs }) => ({
      name: caseName(c),
      ...c,
      state: Object.fromEntries(Object.entries(layer.stateDict()).map(([k, t]) => [k, json(t)])),
      x: json(inputs.x),
      h0: inputs.h0 && json(inputs.h0),
      c0: inputs.c0 && json(inputs.c0),
      lengths: inputs.lengths,
    }));
    writeFileSync(join(dir, 'cases.json'), JSON.stringify({ cases }));
    execFileSync('/usr/bin/python3', [script, join(dir, 'cases.json'), join(dir, 'out.json')], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const { torch, results } = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as {
      torch: string;
      results: { name: string; outputs: { shape: number[]; data: number[] }[] }[];
    };
    const rows: string[] = [];
    for (const [k, { c, layer, inputs }] of prepared.entries()) {
      const reference = results[k]!.outputs;
      const names = OUTPUT_NAMES.slice(0, reference.length);
      const bytes = exportOnnx(layer, forwardArgs(c, inputs), {
        inputNames: inputNames(inputs),
        outputNames: names,
      });
      const ort = await runOrt(bytes, feeds(inputs));
      let ours = 0;
      let theirs = 0;
      tensorloomOutputs(layer, c, inputs).forEach((t, j) => {
        const r = { dims: reference[j]!.shape, data: reference[j]!.data };
        ours = Math.max(ours, maxError(t, r));
        // ORT's output against torch's, through a tensor of ORT's values in TensorLoom's shape.
        const o = ort[names[j]!]!;
        let e = 0;
        for (let i = 0; i < o.data.length; i++) e = Math.max(e, Math.abs(o.data[i]! - r.data[i]!));
        expect(o.dims).toEqual(r.dims);
        theirs = Math.max(theirs, e);
      });
      expect(ours, `${caseName(c)}: TensorLoom vs torch`).toBeLessThanOrEqual(1e-5);
      expect(theirs, `${caseName(c)}: ONNX Runtime vs torch`).toBeLessThanOrEqual(1e-5);
      rows.push(
        `${caseName(c)}: TensorLoom ${ours.toExponential(2)}, ONNX Runtime ${theirs.toExponential(2)}`,
      );
    }
    console.log(`max error against torch ${torch}:\n${rows.join('\n')}`);
  });
});
