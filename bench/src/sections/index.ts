/**
 * The sections registry: `pnpm bench` runs these in order, and `pnpm bench <id>…` runs the ones named.
 * To add a benchmark, write a `Section` (see harness.ts) in its own file and list it here.
 */
import type { Section } from '../harness.ts';
import { cellsSection } from './cells.ts';
import { charlmSection } from './charlm.ts';
import { dispatchSection } from './dispatch.ts';
import { lstmSection } from './lstm.ts';
import { matmulSection } from './matmul.ts';

/** Every benchmark section, in report order. */
export const sections: readonly Section[] = [
  matmulSection,
  dispatchSection,
  // Issue 4: one LSTM training step and the forward pass; issue 6: the char-LM step in characters/s.
  lstmSection,
  // User-written cells and the shipped variants against the built-in layers.
  cellsSection,
  charlmSection,
];
