/**
 * The sections registry: `pnpm bench` runs these in order, and `pnpm bench <id>…` runs the ones named.
 * To add a benchmark, write a `Section` (see harness.ts) in its own file and list it here.
 */
import type { Section } from '../harness.ts';
import { dispatchSection } from './dispatch.ts';
import { matmulSection } from './matmul.ts';

/** Every benchmark section, in report order. */
export const sections: readonly Section[] = [
  matmulSection,
  dispatchSection,
  // ── Sections still to come ──────────────────────────────────────────────────────────────────────────────
  // Issue 4: `lstm`, one LSTM training step (batch 32, 50 steps, input 64, hidden 128, one layer, linear head
  //   on the last step, MSE, Adam) and the forward pass alone, beside `tf.layers.lstm` + `trainOnBatch`
  //   (an async runner: the harness awaits it). Metric { kind: 'time', unit: 'ms' }.
  // Issue 6: `charlm`, one char-LM step (vocab 65, embedding 32, hidden 256, 64 steps, batch 32,
  //   cross-entropy, Adam); metric { kind: 'rate', label: 'chars/s', scale: 1 } with work = 64·32 characters.
  //   tfjs-wasm cannot train an Embedding (no UnsortedSegmentSum kernel): use one-hot × dense there, or mark
  //   it in `unsupported`. PyTorch's separately measured figures go in `reference`.
];
