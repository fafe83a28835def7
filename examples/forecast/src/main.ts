/**
 * Multi-step forecasting of a noisy seasonal series with an LSTM encoder: trains, scores the held-out
 * period against the naive last-value and seasonal-naive forecasts, and plots forecasts against the truth.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatDuration, linePlot, markdownTable, parseFlags, runMain, writeOutput } from 'example-kit';
import { runForecast, type Scores } from './train.ts';

const spec = {
  steps: { type: 'int', default: 3000, min: 1, help: 'training steps' },
  context: { type: 'int', default: 72, min: 2, help: 'past values the encoder reads' },
  horizon: { type: 'int', default: 24, min: 1, help: 'future values forecast at once' },
  hidden: { type: 'int', default: 32, min: 1, help: 'LSTM hidden size' },
  layers: { type: 'int', default: 1, min: 1, help: 'LSTM layers' },
  batch: { type: 'int', default: 32, min: 1, help: 'windows per step' },
  lr: { type: 'number', default: 5e-3, positive: true, help: 'initial learning rate (Adam, cosine decay)' },
  noise: { type: 'number', default: 0.1, min: 0, help: 'standard deviation of the noise' },
  length: { type: 'int', default: 2400, min: 200, help: 'length of the series' },
  'eval-every': { type: 'int', default: 100, min: 1, help: 'validate every N steps' },
  seed: { type: 'int', default: 1, min: 0, help: 'random seed' },
  out: { type: 'string', default: 'out', help: 'directory for the plots' },
} as const;

runMain(async () => {
  const flags = parseFlags(
    'pnpm --filter forecast start',
    'Forecasts a noisy seasonal series with an LSTM encoder and compares it with naive forecasts.',
    spec,
  );
  const outDir =
    flags.out === spec.out.default ? fileURLToPath(new URL('../out/', import.meta.url)) : resolve(flags.out);
  const H = flags.horizon;
  const run = runForecast(
    {
      length: flags.length,
      noise: flags.noise,
      trainFraction: 0.8,
      context: flags.context,
      horizon: H,
      hidden: flags.hidden,
      layers: flags.layers,
      batch: flags.batch,
      steps: flags.steps,
      lr: flags.lr,
      evalEvery: flags['eval-every'],
      seed: flags.seed,
    },
    (step, mse) => {
      if (step % (flags['eval-every'] * 4) === 0 || step === flags.steps)
        console.log(`step ${String(step).padStart(4)}: validation MSE ${mse.toFixed(4)}`);
    },
  );

  const row = (name: string, s: Scores) => [
    name,
    s.mse.toFixed(4),
    s.mae.toFixed(4),
    s.maeByStep[0]!.toFixed(3),
    s.maeByStep[H - 1]!.toFixed(3),
  ];
  const { lstm, naive, seasonal } = run.scores;
  const table = markdownTable(
    ['forecast', 'MSE', 'MAE', 'MAE at step 1', `MAE at step ${H}`],
    [
      row(`LSTM(${flags.hidden}) encoder`, lstm),
      row('naive: last value', naive),
      row('seasonal naive: 24 steps back', seasonal),
    ],
  );
  console.log(
    `\n${run.test.starts.length} test windows (forecasts starting at t = ${run.split} … ${flags.length - H}), trained in ${formatDuration(run.seconds)}\n\n${table}\n`,
  );
  console.log(
    `LSTM MSE is ${(naive.mse / lstm.mse).toFixed(1)}× lower than the naive forecast's and ` +
      `${(seasonal.mse / lstm.mse).toFixed(1)}× lower than the seasonal naive's (noise variance alone: ${(flags.noise ** 2).toFixed(4)})`,
  );

  // One test window, in levels: the context, the truth, and the forecasts.
  const b = Math.min(run.test.starts.length - 1, Math.floor(run.test.starts.length / 3));
  const s = run.test.starts[b]!;
  const level = run.test.level[b]!;
  const past = Array.from({ length: flags.context }, (_, i) => s - flags.context + i);
  const future = Array.from({ length: H + 1 }, (_, k) => s - 1 + k);
  const withLast = (values: (k: number) => number) => future.map((_, k) => (k === 0 ? level : values(k - 1)));
  const svg = linePlot(
    [
      { name: 'observed context', x: past, y: past.map((t) => run.series[t]!), color: '#777777' },
      { name: 'truth', x: future, y: withLast((k) => run.series[s + k]!), color: '#000000' },
      {
        name: 'LSTM forecast',
        x: future,
        y: withLast((k) => level + run.predictions[b * H + k]!),
        color: '#0072B2',
        width: 2.5,
      },
      { name: 'naive: last value', x: future, y: withLast(() => level), color: '#D55E00', dashed: true },
    ],
    {
      title: `${H}-step forecast from t = ${s} (held-out period), context ${flags.context}`,
      xLabel: 't',
      yLabel: 'y(t)',
      legend: 'top-left',
    },
  );
  console.log(`forecast plot: ${await writeOutput(resolve(outDir, 'forecast.svg'), svg)}`);
  const steps = Array.from({ length: H }, (_, k) => k + 1);
  const errSvg = linePlot(
    [
      { name: 'LSTM encoder', x: steps, y: lstm.maeByStep, color: '#0072B2', width: 2.5 },
      { name: 'naive: last value', x: steps, y: naive.maeByStep, color: '#D55E00', dashed: true },
      { name: 'seasonal naive', x: steps, y: seasonal.maeByStep, color: '#009E73', dashed: true },
    ],
    {
      title: `Mean absolute error by forecast step (${run.test.starts.length} test windows)`,
      xLabel: 'steps ahead',
      yLabel: 'MAE',
      yMin: 0,
      legend: 'top-left',
    },
  );
  console.log(`error by step: ${await writeOutput(resolve(outDir, 'error-by-step.svg'), errSvg)}`);
});
