/**
 * The hand-over, step by step: train here, write the weights and the batches for PyTorch, let handover.py
 * load and check them, train on and write its own weights, then load those here and resume training,
 * checking that every loss is PyTorch's. Also exports the trained model to ONNX and runs it in ONNX Runtime.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manualSeed, randint, type Tensor } from '@tensorloom/autograd';
import { Adam, loadSafetensors, SGD, saveSafetensors } from '@tensorloom/nn';
import { exportOnnx } from '@tensorloom/onnx';
import * as ort from 'onnxruntime-node';
import { CharLSTM, loss, type ModelConfig, TEXT, VOCAB, windows } from './model.ts';

export const SCRIPT = fileURLToPath(new URL('../handover.py', import.meta.url));

export interface HandoverOptions {
  /** Adam steps here, then as many in PyTorch. */
  steps: number;
  batch: number;
  seqLen: number;
  embed: number;
  hidden: number;
  lr: number;
  /** Plain SGD steps taken on both sides from PyTorch's weights, loss for loss. */
  resumeSteps: number;
  resumeLr: number;
  seed: number;
  outDir: string;
  python: string;
}

/** `count` batches of `batch` random windows, as [count, batch, T + 1] ids. */
function batches(count: number, batch: number, T: number): Tensor {
  const offsets = Array.from(randint(0, TEXT.length, [count * batch]).data);
  return windows(offsets, T).reshape([count, batch, T + 1]);
}

/** Batch s of [count, batch, T + 1] ids. */
const at = (data: Tensor, s: number): Tensor => data.narrow(0, s, 1).squeeze(0);

function train(model: CharLSTM, data: Tensor, lr: number): number[] {
  const optimizer = new Adam(model.parameters(), { lr });
  const losses: number[] = [];
  for (let s = 0; s < data.shape[0]!; s++) {
    const l = loss(model, at(data, s));
    optimizer.zeroGrad();
    l.backward();
    optimizer.step();
    losses.push(l.item());
  }
  return losses;
}

/** What PyTorch reported (pytorch.json, written by handover.py). */
export interface TorchReport {
  torch: string;
  logitsMaxError: number;
  trainLosses: number[];
  resumeLosses: number[];
}

export interface HandoverResult {
  config: ModelConfig;
  tensorloomLosses: number[];
  torch: TorchReport;
  /** Losses of TensorLoom's SGD steps from PyTorch's weights, and the largest gap to PyTorch's own. */
  resumeLosses: number[];
  resumeMaxError: number;
  /** max |ONNX Runtime logits − TensorLoom logits| for the exported model. */
  onnxMaxError: number;
  files: string[];
}

export async function runHandover(o: HandoverOptions, log: (line: string) => void): Promise<HandoverResult> {
  manualSeed(o.seed);
  mkdirSync(o.outDir, { recursive: true });
  const config: ModelConfig = { vocab: VOCAB.length, embed: o.embed, hidden: o.hidden, layers: 2 };
  const model = new CharLSTM(config);
  const T = o.seqLen;

  // 1. Train here.
  const tensorloomLosses = train(model, batches(o.steps, o.batch, T), o.lr);
  log(
    `TensorLoom: ${o.steps} Adam steps, loss ${tensorloomLosses[0]!.toFixed(4)} → ${tensorloomLosses.at(-1)!.toFixed(4)}`,
  );

  // 2. The weights, and what PyTorch needs to check and continue: a check batch with our logits, its
  //    training batches and the batches of the resumed run. Ids travel as F32 (exact for small integers).
  const check = windows([0, 40, 80, 120], T).narrow(1, 0, T);
  const logits = model.forward(check);
  const data = {
    check,
    logits,
    train: batches(o.steps, o.batch, T),
    resume: batches(o.resumeSteps, o.batch, T),
  };
  const meta = { config: JSON.stringify({ ...config, lr: o.lr, resumeLr: o.resumeLr }) };
  const weightsFile = join(o.outDir, 'tensorloom.safetensors');
  writeFileSync(weightsFile, saveSafetensors(model.stateDict()));
  writeFileSync(join(o.outDir, 'data.safetensors'), saveSafetensors(data, meta));

  // 3. PyTorch: load strictly, compare logits, train on, save, and take the reference SGD steps.
  const printed = execFileSync(o.python, [SCRIPT, o.outDir], { encoding: 'utf8' });
  for (const line of printed.trimEnd().split('\n')) log(`  ${line}`);
  const torch = JSON.parse(readFileSync(join(o.outDir, 'pytorch.json'), 'utf8')) as TorchReport;

  // 4. Back here: PyTorch's weights, loaded strictly, resume with its SGD steps, loss for loss.
  const resumed = new CharLSTM(config);
  resumed.loadStateDict(loadSafetensors(readFileSync(join(o.outDir, 'pytorch.safetensors'))));
  const sgd = new SGD(resumed.parameters(), { lr: o.resumeLr });
  const resumeLosses: number[] = [];
  for (let s = 0; s < o.resumeSteps; s++) {
    const l = loss(resumed, at(data.resume, s));
    sgd.zeroGrad();
    l.backward();
    sgd.step();
    resumeLosses.push(l.item());
  }
  const resumeMaxError = Math.max(...resumeLosses.map((l, s) => Math.abs(l - torch.resumeLosses[s]!)));
  log(
    `TensorLoom resumes from PyTorch's weights: losses ${resumeLosses.map((l) => l.toFixed(5)).join(', ')} (max gap to PyTorch's ${resumeMaxError.toExponential(1)})`,
  );

  // 5. The same trained model for ONNX Runtime: ids [batch, sequence] int64 → logits.
  resumed.eval();
  const onnxFile = join(o.outDir, 'char-lstm.onnx');
  writeFileSync(onnxFile, exportOnnx(resumed, [check], { inputNames: ['ids'], outputNames: ['logits'] }));
  const session = await ort.InferenceSession.create(onnxFile);
  const ids = new ort.Tensor(
    'int64',
    BigInt64Array.from(check.data, (v) => BigInt(v)),
    check.shape,
  );
  const out = (await session.run({ ids })).logits!.data as Float32Array;
  await session.release();
  const expected = resumed.forward(check).data;
  const onnxMaxError = Math.max(...Array.from(out, (v, i) => Math.abs(v - expected[i]!)));
  log(`ONNX Runtime runs ${onnxFile}: max |logits − TensorLoom's| ${onnxMaxError.toExponential(1)}`);

  return {
    config,
    tensorloomLosses,
    torch,
    resumeLosses,
    resumeMaxError,
    onnxMaxError,
    files: [weightsFile, join(o.outDir, 'pytorch.safetensors'), onnxFile],
  };
}
