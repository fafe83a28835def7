/**
 * `pnpm demo`: trains a character-level LSTM on Moby-Dick for under two minutes, then writes the loss curve
 * and prints samples. Ctrl-C stops after the current step with a checkpoint; `--resume` continues exactly.
 */
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatDuration, linePlot, parseFlags, runMain, writeOutput } from 'example-kit';
import { train } from './train.ts';

const here = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));

const spec = {
  steps: { type: 'int', default: 2300, min: 0, help: 'train until this step' },
  batch: { type: 'int', default: 64, min: 1, help: 'windows per batch (streams through the text)' },
  seq: { type: 'int', default: 8, min: 2, help: 'characters per window (backprop through time)' },
  windows: {
    type: 'string',
    default: 'streams',
    choices: ['streams', 'random'],
    help: 'streams: each window continues the last, the LSTM state carried over; random: zero state',
  },
  embed: { type: 'int', default: 32, min: 1, help: 'embedding size' },
  hidden: { type: 'int', default: 256, min: 1, help: 'LSTM hidden size' },
  layers: { type: 'int', default: 1, min: 1, help: 'stacked LSTM layers' },
  dropout: { type: 'number', default: 0, min: 0, help: 'dropout between LSTM layers' },
  lr: { type: 'number', default: 1.5e-2, positive: true, help: 'peak learning rate (Adam)' },
  warmup: { type: 'int', default: 20, min: 1, help: 'steps of linear LR warm-up before the cosine decay' },
  clip: { type: 'number', default: 5, positive: true, help: 'max gradient norm' },
  seed: { type: 'int', default: 1, min: 0, help: 'random seed (weights, batches, samples)' },
  'eval-every': { type: 'int', default: 250, min: 1, help: 'validate every N steps' },
  'save-every': { type: 'int', default: 250, min: 1, help: 'checkpoint every N steps' },
  resume: { type: 'boolean', default: false, help: 'continue from --checkpoint if it exists' },
  checkpoint: {
    type: 'string',
    default: 'out/checkpoint.safetensors',
    help: 'checkpoint file (model, optimizer, schedule, RNG; written atomically)',
  },
  out: { type: 'string', default: 'out', help: 'directory for the loss curve' },
  sample: { type: 'int', default: 300, min: 0, help: 'characters to sample per temperature (0: none)' },
  temperature: { type: 'numbers', default: [0.5, 0.8, 1], positive: true, help: 'sampling temperatures' },
  prime: { type: 'string', default: 'The whale', help: 'text the samples start from' },
  plain: { type: 'boolean', default: false, help: 'log lines instead of a progress bar' },
} as const;

/** A default path is relative to this example; a given one to the working directory. */
function pathFlag(value: string, fallback: string): string {
  return value === fallback ? here(value) : resolve(value);
}

runMain(async () => {
  const flags = parseFlags(
    'pnpm demo',
    'Trains a character-level LSTM language model on chapters 1-40 of Moby-Dick and samples from it.',
    spec,
  );
  const text = readFileSync(here('data/moby-dick.txt'), 'utf8');
  const checkpoint = pathFlag(flags.checkpoint, spec.checkpoint.default);
  const outDir = pathFlag(flags.out, spec.out.default);
  console.log(
    `char-lm: ${text.length.toLocaleString('en-US')} chars of Moby-Dick; embedding ${flags.embed} → ` +
      `${flags.layers}×LSTM(${flags.hidden}) → linear; ${flags.batch} ${flags.windows === 'streams' ? 'streams' : 'random windows'} × ${flags.seq} chars; ${flags.steps} steps`,
  );

  let stopRequested = false;
  process.on('SIGINT', () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    console.error('\nstopping after this step and saving a checkpoint (Ctrl-C again to quit now)');
  });

  const run = await train(
    {
      text,
      steps: flags.steps,
      batch: flags.batch,
      seq: flags.seq,
      windows: flags.windows as 'streams' | 'random',
      embed: flags.embed,
      hidden: flags.hidden,
      layers: flags.layers,
      dropout: flags.dropout,
      lr: flags.lr,
      warmup: flags.warmup,
      clip: flags.clip,
      seed: flags.seed,
      evalEvery: flags['eval-every'],
      evalWindows: 64,
      evalSeq: 160,
      evalContext: 32,
      checkpoint,
      saveEvery: flags['save-every'],
      resume: flags.resume,
    },
    {
      progress: flags.plain ? 'lines' : undefined,
      stop: () => stopRequested,
      log: (line) => console.log(line),
    },
  );
  const { history, corpus, model } = run;

  const steps = history.loss.length;
  const first = history.valBpc[0]!;
  const last = history.valBpc.at(-1)!;
  console.log(
    `\n${run.interrupted ? 'interrupted at' : 'trained to'} step ${steps} ` +
      `(${steps - run.startStep} steps in ${formatDuration(run.seconds)}, ${Math.round(run.charsPerSecond).toLocaleString('en-US')} chars/s)`,
  );
  console.log(
    `validation bits per character: ${first.toFixed(3)} at step ${history.evalSteps[0]} → ${last.toFixed(3)} at step ${history.evalSteps.at(-1)} ` +
      `(uniform over ${corpus.vocabSize} chars: ${Math.log2(corpus.vocabSize).toFixed(3)})`,
  );

  // Training loss is noisy per batch: plot a moving average beside the raw values.
  const bits = history.loss.map((l) => l / Math.LN2);
  const avg = bits.map((_, i) => {
    const from = Math.max(0, i - 19);
    return bits.slice(from, i + 1).reduce((a, b) => a + b, 0) / (i + 1 - from);
  });
  const xs = bits.map((_, i) => i + 1);
  const svg = linePlot(
    [
      { name: 'train (per batch)', x: xs, y: bits, color: '#9ecae1', width: 1 },
      { name: 'train (20-step mean)', x: xs, y: avg, color: '#0072B2' },
      { name: 'validation', x: history.evalSteps, y: history.valBpc, color: '#D55E00', width: 2.5 },
    ],
    {
      title: `char-lm on Moby-Dick: ${flags.layers}×LSTM(${flags.hidden}), batch ${flags.batch}×${flags.seq} (${flags.windows})`,
      xLabel: 'step',
      yLabel: 'bits per character',
      yMin: 0,
    },
  );
  const plotPath = await writeOutput(resolve(outDir, 'loss.svg'), svg);
  console.log(`loss curve (SVG): ${plotPath}`);
  // An interrupted run continues exactly with the same --steps; a finished one can train on, half as long again.
  const next = run.interrupted ? flags.steps : steps + Math.ceil(steps / 200) * 100;
  console.log(`checkpoint: ${relative(process.cwd(), checkpoint)} (continue with --resume --steps ${next})`);

  if (flags.sample > 0) {
    const prime = corpus.encode(flags.prime);
    for (const temperature of flags.temperature) {
      const ids = model.sample(prime, flags.sample, temperature);
      console.log(`\n--- sample at temperature ${temperature} ---\n${flags.prime}${corpus.decode(ids)}`);
    }
  }
});
