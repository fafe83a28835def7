/**
 * The adding problem, reproduced: LSTM vs GRU vs tanh RNN of equal hidden size on sequences of length T.
 * Prints a markdown table of the MSE each reached and the steps it took, plots validation MSE, and plots
 * ‖∂ℓ/∂h_t‖ against t at initialisation and after training: the vanishing gradient.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manualSeed } from '@tensorloom/autograd';
import {
  formatDuration,
  linePlot,
  markdownTable,
  parseFlags,
  runMain,
  type Series,
  writeOutput,
} from 'example-kit';
import { hiddenGradientNorms } from './gradients.ts';
import { KIND_NAMES, type Kind } from './model.ts';
import { addingBatch, BASELINE_MSE } from './task.ts';
import { type RunResult, trainAdding } from './train.ts';

const spec = {
  T: { type: 'numbers', default: [100], positive: true, help: 'sequence lengths, e.g. 50,100,200' },
  models: { type: 'string', default: 'lstm,gru,rnn', help: 'models to train (lstm, gru, rnn)' },
  steps: { type: 'int', default: 2000, min: 1, help: 'step budget per model' },
  batch: { type: 'int', default: 32, min: 1, help: 'sequences per step' },
  hidden: { type: 'int', default: 64, min: 1, help: 'hidden size (equal for all models)' },
  lr: { type: 'number', default: 1e-2, positive: true, help: 'learning rate (Adam)' },
  clip: { type: 'number', default: 1, positive: true, help: 'max gradient norm' },
  target: {
    type: 'number',
    default: 0.01,
    positive: true,
    help: 'stop a model once its validation MSE is below this',
  },
  'eval-every': { type: 'int', default: 50, min: 1, help: 'validate every N steps' },
  seed: { type: 'int', default: 1, min: 0, help: 'random seed' },
  out: { type: 'string', default: 'out', help: 'directory for the table and the plots' },
  plain: { type: 'boolean', default: false, help: 'log lines instead of a progress bar' },
} as const;

const COLORS: Record<Kind, string> = { lstm: '#0072B2', gru: '#009E73', rnn: '#D55E00' };

runMain(async () => {
  const flags = parseFlags(
    'pnpm --filter adding-problem start',
    'Trains an LSTM, a GRU and a tanh RNN on the adding problem and plots their gradients over time.',
    spec,
  );
  const kinds = flags.models.split(',').map((k) => k.trim().toLowerCase());
  for (const k of kinds) {
    if (!(k in KIND_NAMES)) throw new Error(`--models: unknown model '${k}' (expected lstm, gru or rnn)`);
  }
  const lengths = flags.T.map((t) => {
    if (!Number.isInteger(t) || t < 4) throw new Error(`--T: lengths must be integers >= 4, got ${t}`);
    return t;
  });
  const outDir =
    flags.out === spec.out.default ? fileURLToPath(new URL('../out/', import.meta.url)) : resolve(flags.out);

  const rows: string[][] = [];
  for (const T of lengths) {
    const runs: RunResult[] = [];
    for (const kind of kinds as Kind[]) {
      const run = trainAdding(
        {
          kind,
          T,
          hidden: flags.hidden,
          batch: flags.batch,
          steps: flags.steps,
          lr: flags.lr,
          clip: flags.clip,
          target: flags.target,
          evalEvery: flags['eval-every'],
          evalSize: 512,
          seed: flags.seed,
        },
        flags.plain ? 'lines' : undefined,
      );
      runs.push(run);
      const verdict = run.solved ? `solved (< ${flags.target})` : 'not solved';
      console.log(
        `${KIND_NAMES[kind]} T=${T}: MSE ${run.mse.toFixed(4)} after ${run.steps} steps, ${verdict}, ${formatDuration(run.seconds)}`,
      );
      rows.push([
        KIND_NAMES[kind],
        String(T),
        String(flags.hidden),
        String(run.model.numParameters()),
        String(run.steps),
        run.mse.toFixed(4),
        Math.min(...run.curve.mse).toFixed(4),
        run.solved ? 'yes' : 'no',
        formatDuration(run.seconds),
      ]);
    }

    // Validation MSE over training, on a log scale, with the constant-prediction baseline.
    const mseSvg = linePlot(
      runs.map((r) => ({
        name: KIND_NAMES[r.config.kind],
        x: r.curve.step,
        y: r.curve.mse,
        color: COLORS[r.config.kind],
      })),
      {
        title: `Adding problem, T = ${T}: validation MSE (hidden ${flags.hidden}, batch ${flags.batch})`,
        xLabel: 'training step',
        yLabel: 'validation MSE',
        logY: true,
        refLines: [
          { y: BASELINE_MSE, label: 'predict the mean: 0.167' },
          { y: flags.target, label: `target ${flags.target}`, color: '#009E73' },
        ],
      },
    );
    console.log(`  MSE curves: ${await writeOutput(resolve(outDir, `mse-T${T}.svg`), mseSvg)}`);

    // The vanishing gradient: ‖∂ℓ/∂h_t‖ over t, before and after training, on one fixed batch.
    const gradRuns = runs.filter((r) => r.config.kind !== 'gru');
    if (gradRuns.length > 0) {
      manualSeed(flags.seed + 1000);
      const probe = addingBatch(T, 128);
      const series: Series[] = [];
      for (const r of gradRuns) {
        const ts = Array.from({ length: T }, (_, t) => t);
        const name = KIND_NAMES[r.config.kind];
        series.push({
          name: `${name}, at initialisation`,
          x: ts,
          y: hiddenGradientNorms(r.initial, probe),
          color: COLORS[r.config.kind],
          dashed: true,
        });
        series.push({
          name: `${name}, after ${r.steps} steps`,
          x: ts,
          y: hiddenGradientNorms(r.model, probe),
          color: COLORS[r.config.kind],
          width: 2.5,
        });
      }
      const gradSvg = linePlot(series, {
        title: `How far back the loss reaches: ‖∂ℓ/∂h_t‖ at T = ${T} (mean of 128 sequences)`,
        xLabel: 'time step t (the loss is read at the last step)',
        yLabel: '‖∂ℓ/∂h_t‖',
        logY: true,
        legend: 'bottom-right',
      });
      console.log(`  gradient norms: ${await writeOutput(resolve(outDir, `gradients-T${T}.svg`), gradSvg)}`);
    }
  }

  const table = markdownTable(
    ['model', 'T', 'hidden', 'parameters', 'steps', 'final MSE', 'best MSE', `< ${flags.target}`, 'time'],
    rows,
  );
  console.log(`\n${table}\n\n(predicting the mean gives MSE ${BASELINE_MSE.toFixed(3)})`);
  const md = `${table}\n\nPredicting the mean gives MSE ${BASELINE_MSE.toFixed(3)}. Flags: ${process.argv.slice(2).join(' ') || '(defaults)'}\n`;
  console.log(`table: ${await writeOutput(resolve(outDir, 'results.md'), md)}`);
});
