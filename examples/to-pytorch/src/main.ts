/**
 * Trains a small character-level LSTM here, hands it to PyTorch (handover.py) and back, and exports it to
 * ONNX: every hand-over is checked on numbers (logits, losses), not just on loading without error.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFlags, runMain } from 'example-kit';
import { runHandover } from './handover.ts';

const spec = {
  steps: { type: 'int', default: 150, min: 1, help: 'Adam steps in TensorLoom, then as many in PyTorch' },
  batch: { type: 'int', default: 16, min: 1, help: 'windows per step' },
  'seq-len': { type: 'int', default: 24, min: 1, help: 'characters per window' },
  embed: { type: 'int', default: 16, min: 1, help: 'embedding size' },
  hidden: { type: 'int', default: 48, min: 1, help: 'LSTM hidden size (2 layers)' },
  lr: { type: 'number', default: 1e-2, positive: true, help: 'Adam learning rate' },
  'resume-steps': {
    type: 'int',
    default: 5,
    min: 1,
    help: 'SGD steps compared loss for loss after the return',
  },
  'resume-lr': { type: 'number', default: 0.1, positive: true, help: 'SGD learning rate of those steps' },
  seed: { type: 'int', default: 1, min: 0, help: 'random seed' },
  python: {
    type: 'string',
    default: '/usr/bin/python3',
    help: 'a Python with torch (Debian: python3-torch)',
  },
  out: { type: 'string', default: 'out', help: 'directory for the weights, batches and the .onnx file' },
} as const;

runMain(async () => {
  const flags = parseFlags(
    'npx pnpm@12.4.2 --filter to-pytorch start',
    'Hands a TensorLoom LSTM to PyTorch and back, checking logits and losses, and exports it to ONNX.',
    spec,
  );
  const outDir =
    flags.out === spec.out.default ? fileURLToPath(new URL('../out/', import.meta.url)) : resolve(flags.out);
  const result = await runHandover(
    {
      steps: flags.steps,
      batch: flags.batch,
      seqLen: flags['seq-len'],
      embed: flags.embed,
      hidden: flags.hidden,
      lr: flags.lr,
      resumeSteps: flags['resume-steps'],
      resumeLr: flags['resume-lr'],
      seed: flags.seed,
      outDir,
      python: flags.python,
    },
    (line) => console.log(line),
  );
  console.log(`wrote ${result.files.join(', ')}`);
});
