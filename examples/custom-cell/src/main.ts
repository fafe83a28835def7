/**
 * Build your own cell: the minimal gated unit of `mgu.ts`, checked against finite differences with the
 * public `gradcheck`, stacked two layers deep and made bidirectional with `CellStack`, and trained on a task
 * that only a bidirectional model can solve.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gradcheck, manualSeed, randn, type Tensor } from '@tensorloom/autograd';
import { CellStack, recurrent } from '@tensorloom/lstm';
import { formatDuration, linePlot, markdownTable, parseFlags, runMain, writeOutput } from 'example-kit';
import { MGUCell } from './mgu.ts';
import { forwardOnlyFloor } from './task.ts';
import { trainTagger } from './train.ts';

const spec = {
  steps: { type: 'int', default: 400, min: 1, help: 'training steps per model' },
  T: { type: 'int', default: 20, min: 2, help: 'sequence length' },
  k: { type: 'int', default: 3, min: 1, help: 'target y_t = (u_{t-k} + u_{t+k}) / 2' },
  hidden: { type: 'int', default: 24, min: 1, help: 'hidden size per direction' },
  layers: { type: 'int', default: 2, min: 1, help: 'stacked layers' },
  batch: { type: 'int', default: 32, min: 1, help: 'sequences per step' },
  lr: { type: 'number', default: 1e-2, positive: true, help: 'learning rate (Adam)' },
  'eval-every': { type: 'int', default: 25, min: 1, help: 'validate every N steps' },
  seed: { type: 'int', default: 1, min: 0, help: 'random seed' },
  out: { type: 'string', default: 'out', help: 'directory for the plot' },
} as const;

/** MSE for people: four decimals, or three significant digits once it is below 0.01. */
const fmt = (v: number) => (v >= 0.01 ? v.toFixed(4) : v.toExponential(2));

runMain(async () => {
  const flags = parseFlags(
    'pnpm --filter custom-cell start',
    'Gradchecks a minimal gated unit, then trains it stacked, one-way and bidirectional.',
    spec,
  );
  if (flags.k >= flags.T) throw new Error(`--k (${flags.k}) must be smaller than --T (${flags.T})`);
  const outDir =
    flags.out === spec.out.default ? fileURLToPath(new URL('../out/', import.meta.url)) : resolve(flags.out);

  // 1. The cell's gradients against central differences, in float64: every parameter and the input, through
  //    6 time steps (full Jacobian), then a bidirectional two-layer stack (one random projection).
  manualSeed(0);
  const cell = new MGUCell(3, 4, 'float64');
  const x = randn([6, 2, 3], { dtype: 'float64', requiresGrad: true });
  gradcheck((input: Tensor) => recurrent(cell, input)[0], [x, ...cell.parameters()]);
  console.log(`gradcheck: MGU cell, 6 steps, input and ${cell.parameters().length} parameters: passed`);
  const stack = new CellStack(({ inputSize }) => new MGUCell(inputSize, 4, 'float64'), {
    inputSize: 3,
    numLayers: 2,
    bidirectional: true,
  });
  gradcheck((input: Tensor) => stack.forward(input)[0], [x, ...stack.parameters()], { fastMode: true });
  console.log(`gradcheck: 2-layer bidirectional MGU stack, ${stack.numParameters()} weights: passed`);

  // 2. One-way vs bidirectional, same cell, same depth, same hidden size per direction.
  const floor = forwardOnlyFloor(flags.T, flags.k);
  const runs = [false, true].map((bidirectional) => {
    const name = bidirectional ? 'bidirectional' : 'forward only';
    const run = trainTagger(
      {
        hidden: flags.hidden,
        layers: flags.layers,
        bidirectional,
        T: flags.T,
        k: flags.k,
        batch: flags.batch,
        steps: flags.steps,
        lr: flags.lr,
        evalEvery: flags['eval-every'],
        seed: flags.seed,
      },
      (step, mse) => {
        if (step % (flags['eval-every'] * 4) === 0 || step === flags.steps)
          console.log(`  ${name.padEnd(13)} step ${String(step).padStart(4)}: validation MSE ${fmt(mse)}`);
      },
    );
    return { name, bidirectional, ...run };
  });

  const table = markdownTable(
    ['model', 'parameters', 'steps', 'validation MSE', 'time'],
    runs.map((r) => [
      `${flags.layers}-layer MGU, ${r.name}`,
      String(r.model.numParameters()),
      String(flags.steps),
      fmt(r.curve.mse.at(-1)!),
      formatDuration(r.seconds),
    ]),
  );
  console.log(
    `\n${table}\n\n(forward-only floor: ${floor.toFixed(4)}, the variance of the unseen future term)`,
  );

  const svg = linePlot(
    runs.map((r) => ({ name: `MGU ×${flags.layers}, ${r.name}`, x: r.curve.step, y: r.curve.mse })),
    {
      title: `Custom cell (MGU): y(t) = (u(t−${flags.k}) + u(t+${flags.k})) / 2, T = ${flags.T}`,
      xLabel: 'training step',
      yLabel: 'validation MSE',
      logY: true,
      refLines: [{ y: floor, label: `forward-only floor ${floor.toFixed(3)}` }],
    },
  );
  console.log(`plot: ${await writeOutput(resolve(outDir, 'mse.svg'), svg)}`);
});
