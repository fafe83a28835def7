/**
 * The benchmark harness: sections of cases, each case prepared and timed on every system (TensorLoom,
 * tfjs-cpu, tfjs-wasm, jax-wasm) in the same process, repeated over several rounds, reported as medians and
 * minima in one markdown table per section. It knows nothing about tfjs or jax-js: systems are switched
 * through a callback.
 */

/** The systems a case can be run on, in table column order. */
export const SYSTEMS = ['tensorloom', 'tfjs-cpu', 'tfjs-wasm', 'jax-wasm'] as const;

/** One of the compared systems. */
export type SystemId = (typeof SYSTEMS)[number];

/** Column headers for the systems. */
export const SYSTEM_LABELS: Readonly<Record<SystemId, string>> = {
  tensorloom: 'TensorLoom',
  'tfjs-cpu': 'tfjs-cpu',
  'tfjs-wasm': 'tfjs-wasm',
  'jax-wasm': 'jax-js (wasm, jit)',
};

/** A prepared case on one system: `run` is the timed unit of work; the rest happen outside the clock. */
export interface Runner {
  /** One iteration. It must finish the computation (e.g. read the result back) before it returns/resolves. */
  run(): void | Promise<void>;
  /** The result of one iteration, compared across systems once per run to catch benchmarks of wrong maths. */
  output?(): ArrayLike<number> | Promise<ArrayLike<number>>;
  /** Frees what `prepare` allocated (tfjs tensors, variables, models). */
  dispose?(): void;
}

/** Builds a `Runner`; called with the case's system already active. */
export type Prepare = () => Runner | Promise<Runner>;

/** One row of a section's table. */
export interface BenchCase {
  /** Row label. */
  name: string;
  /** Work per iteration for rate metrics (FLOPs for GFLOP/s, characters for chars/s). */
  work?: number;
  /** How to run this case on each system; a missing system shows as n/a. */
  systems: Partial<Record<SystemId, Prepare>>;
  /** Why a system cannot run this case (printed as a note under the table). */
  unsupported?: Partial<Record<SystemId, string>>;
  /** Largest accepted max|out − ref| / max(1, max|ref|) against TensorLoom's output (default 1e-3). */
  tolerance?: number;
  /**
   * False when the systems compute different functions of the same size (tfjs's GRU, say): outputs are then
   * still produced, so each runner's own checks run, but not compared across systems. Default true.
   */
  compareOutputs?: boolean;
  /** Whether `--quick` keeps this case (default true). */
  quick?: boolean;
  /**
   * Names of the section's `baselines` this row's TensorLoom time is divided by (default: the first baseline
   * only). A row that is itself a baseline shows 1.00 in its own column.
   */
  vs?: readonly string[];
  /** A target for one of those ratios, printed beside it with whether this run met it (never asserted). */
  goal?: { vs: string; max: number };
}

/**
 * How a section reports a case: a time per iteration, or a rate `work / seconds / scale` (higher is better).
 * Ratios are always computed on times, peer ÷ TensorLoom, so > 1 means TensorLoom is faster.
 */
export type Metric = { kind: 'time'; unit: 'ms' | 'µs' } | { kind: 'rate'; label: string; scale: number };

/** Timing knobs; sections may override the defaults. */
export interface TimingOptions {
  /** Minimum warm-up time before sampling (JIT tier-up, caches, lazy allocations). */
  warmupMs: number;
  /** Minimum warm-up calls, whatever their duration. */
  warmupCalls: number;
  /** Target duration of one sample; fast iterations are batched until a sample lasts this long. */
  sampleMs: number;
  /** Samples per measurement (per round). */
  samples: number;
  /** Samples always taken, even past `maxMs`. */
  minSamples: number;
  /** Budget of one measurement; sampling stops once it is spent and `minSamples` are in. */
  maxMs: number;
}

/** A group of cases printed as one table. Register new ones in `sections/index.ts`. */
export interface Section {
  /** Short name used to select the section on the command line (`pnpm bench matmul`). */
  id: string;
  /** Table heading. */
  title: string;
  /** One or two sentences printed under the heading: what is measured and how. */
  description: string;
  metric: Metric;
  /** The cases; called once per run, so inputs built here are shared by all systems and rounds. */
  cases(options: { quick: boolean }): BenchCase[];
  /** Overrides of the default timing knobs for this section. */
  timing?: Partial<TimingOptions>;
  /** Figures measured outside this process (e.g. PyTorch), shown in an extra column keyed by case name. */
  reference?: { label: string; values: Readonly<Record<string, number>> };
  /** Extra lines printed under the table. */
  notes?: string[];
  /**
   * Rows (by case name) that other rows' TensorLoom times are compared with, each in a column `÷ label`: how
   * a section compares TensorLoom with itself (a user's cell against the built-in layer), where the system
   * ratios compare it with its peers.
   */
  baselines?: readonly { case: string; label: string }[];
  /**
   * A column showing TensorLoom's output of each row (round 0), e.g. the loss before and after one step:
   * for sections with one system, where there is no other system's output to compare with.
   */
  check?: { label: string; format(output: readonly number[]): string };
}

/** How the harness is driven from the command line. */
export interface RunOptions {
  systems: readonly SystemId[];
  rounds: number;
  quick: boolean;
  /** Makes a system current (e.g. `tf.setBackend`). */
  activate(system: SystemId): Promise<void>;
  /** Live-object count of a system (e.g. tfjs tensors), compared before and after a case to catch leaks. */
  liveObjects?(system: SystemId): number;
  /** Progress lines (to stderr). */
  log(line: string): void;
  /** The clock samples are timed with, in ms (default: wall time, `performance.now`). */
  clock?: () => number;
}

/** Pooled samples (seconds per iteration) of one case on one system, with anything noteworthy. */
export interface CaseResult {
  samples: number[];
  /** The runner's output in round 0, when it has one. */
  output?: number[];
  error?: string;
  mismatch?: string;
  leak?: string;
}

/** The measured section: results[caseIndex][system]. */
export interface SectionResult {
  section: Section;
  cases: BenchCase[];
  results: Array<Partial<Record<SystemId, CaseResult>>>;
  seconds: number;
}

/** Defaults suited to kernels in the 0.1–300 ms range. */
export const DEFAULT_TIMING: TimingOptions = {
  warmupMs: 60,
  warmupCalls: 2,
  sampleMs: 20,
  samples: 7,
  minSamples: 3,
  maxMs: 1500,
};

/** `--quick`: one round with a few short samples, for a smoke run. */
export const QUICK_TIMING: Partial<TimingOptions> = {
  warmupMs: 40,
  sampleMs: 5,
  samples: 3,
  minSamples: 2,
  maxMs: 300,
};

const now = (): number => performance.now();
const collectGarbage = (globalThis as { gc?: () => void }).gc;

/** Median of a non-empty list (mean of the middle two for even lengths). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median: empty list');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Calls `run` `count` times and returns the mean seconds per call; sync runners avoid awaiting. */
async function timeCalls(
  run: () => void | Promise<void>,
  count: number,
  isAsync: boolean,
  clock: () => number,
): Promise<number> {
  const t0 = clock();
  if (isAsync) for (let i = 0; i < count; i++) await run();
  else for (let i = 0; i < count; i++) run();
  return (clock() - t0) / 1000 / count;
}

/**
 * Times one prepared runner: collect garbage, warm up, pick how many calls make a sample last `sampleMs`,
 * then take samples until `samples` are in or the `maxMs` budget is spent (keeping at least `minSamples`).
 * Budgets are in wall time; samples are read on `clock`.
 */
export async function measure(runner: Runner, timing: TimingOptions, clock = now): Promise<number[]> {
  // The garbage of what ran before is collected first, so that the warm-up, not the samples, pays for the
  // heap growing back to this runner's steady state (a forced full GC shrinks V8's heap limits).
  collectGarbage?.();
  const start = now();
  let t0 = now();
  const first = runner.run();
  const isAsync = first instanceof Promise;
  if (isAsync) await first;
  let calls = 1;
  while (calls < timing.warmupCalls || now() - start < timing.warmupMs) {
    if (isAsync) await runner.run();
    else runner.run();
    calls++;
    // The first call includes one-off costs (compilation, allocation), so estimate from the rest.
    if (calls === 2) t0 = now();
  }
  const perCall = calls > 2 ? (now() - t0) / (calls - 2) : now() - start;
  const batch = Math.max(1, Math.ceil(timing.sampleMs / Math.max(perCall, 1e-6)));
  const samples: number[] = [];
  const sampling = now();
  while (
    samples.length < timing.samples &&
    (samples.length < timing.minSamples || now() - sampling < timing.maxMs)
  ) {
    samples.push(await timeCalls(() => runner.run(), batch, isAsync, clock));
  }
  return samples;
}

/** max|out − ref| / max(1, max|ref|), or a description of a length mismatch. */
export function relativeError(out: ArrayLike<number>, ref: ArrayLike<number>): number | string {
  if (out.length !== ref.length) return `length ${out.length} != ${ref.length}`;
  let err = 0;
  let scale = 1;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(out[i]! - ref[i]!);
    // NaN anywhere must fail the check, and `d > err` is false for NaN.
    if (!(d <= err)) err = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return err / scale;
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

/**
 * Runs every case of a section on every requested system for `rounds` rounds. Within a round all cases of
 * one system run back to back (one backend switch per system); rounds interleave the systems so slow drifts
 * in machine load hit all of them alike. TensorLoom runs first so its output is the reference for checks.
 */
export async function runSection(section: Section, options: RunOptions): Promise<SectionResult> {
  const started = now();
  const timing: TimingOptions = {
    ...DEFAULT_TIMING,
    ...section.timing,
    ...(options.quick ? QUICK_TIMING : {}),
  };
  const cases = section.cases({ quick: options.quick }).filter((c) => !options.quick || c.quick !== false);
  const results: SectionResult['results'] = cases.map(() => ({}));
  const reference: Array<ArrayLike<number> | undefined> = cases.map(() => undefined);
  // Only the systems some case runs on: a section for TensorLoom alone switches no backend.
  const systems = SYSTEMS.filter((s) => options.systems.includes(s) && cases.some((c) => c.systems[s]));
  for (let round = 0; round < options.rounds; round++) {
    for (const system of systems) {
      options.log(`[${section.id}] round ${round + 1}/${options.rounds} · ${SYSTEM_LABELS[system]}`);
      await options.activate(system);
      for (let c = 0; c < cases.length; c++) {
        const benchCase = cases[c]!;
        const prepare = benchCase.systems[system];
        if (!prepare) continue;
        const result = (results[c]![system] ??= { samples: [] });
        if (result.error) continue;
        const liveBefore = options.liveObjects?.(system);
        let runner: Runner | undefined;
        try {
          runner = await prepare();
          result.samples.push(...(await measure(runner, timing, options.clock)));
          if (round === 0 && runner.output) {
            const out = Array.from(await runner.output());
            result.output = out;
            if (system === 'tensorloom') reference[c] = out;
            const ref = reference[c];
            if (ref && system !== 'tensorloom' && benchCase.compareOutputs !== false) {
              const err = relativeError(out, ref);
              const tol = benchCase.tolerance ?? 1e-3;
              if (typeof err === 'string' || !(err <= tol)) {
                result.mismatch = `output differs from TensorLoom's (${typeof err === 'string' ? err : `relative error ${err.toExponential(2)} > ${tol}`})`;
              }
            }
          }
        } catch (e) {
          result.error = errorText(e);
        } finally {
          runner?.dispose?.();
        }
        const liveAfter = options.liveObjects?.(system);
        if (liveBefore !== undefined && liveAfter !== undefined && liveAfter > liveBefore) {
          result.leak = `${liveAfter - liveBefore} objects left alive after dispose`;
        }
      }
    }
  }
  return { section, cases, results, seconds: (now() - started) / 1000 };
}

/** Formats a number with about three significant digits and thousands separators. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : Math.abs(x) >= 1 ? 2 : 3;
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Converts seconds per iteration into the section's unit (time, or rate for `work`). */
export function toMetric(metric: Metric, seconds: number, work: number | undefined): number {
  if (metric.kind === 'time') return seconds * (metric.unit === 'ms' ? 1e3 : 1e6);
  if (work === undefined) throw new Error('toMetric: a rate metric needs the case to declare its work');
  return work / seconds / metric.scale;
}

/** The unit heading of a section's value columns. */
export function metricLabel(metric: Metric): string {
  return metric.kind === 'time'
    ? `${metric.unit} per iteration, median (min)`
    : `${metric.label}, median (best)`;
}

/**
 * Renders a measured section as markdown: a heading, the description, a table with one value column per
 * system the section runs (median, and the best sample in parentheses), peer ÷ TensorLoom time ratios, the
 * section's baseline ratios and goals, its check column, and notes.
 */
export function renderSection(result: SectionResult, systems: readonly SystemId[]): string {
  const { section, cases, results } = result;
  // A system no case of this section mentions (jax-js in the matmul section, say) gets no column.
  const shown = SYSTEMS.filter(
    (s) => systems.includes(s) && cases.some((c) => c.systems[s] !== undefined || c.unsupported?.[s]),
  );
  const ratioOf = shown.filter((s) => s !== 'tensorloom' && shown.includes('tensorloom'));
  const baselines = shown.includes('tensorloom') ? (section.baselines ?? []) : [];
  const hasGoals = baselines.length > 0 && cases.some((c) => c.goal);
  const header = [
    'case',
    ...shown.map((s) => SYSTEM_LABELS[s]),
    ...(section.reference ? [section.reference.label] : []),
    ...ratioOf.map((s) => `${SYSTEM_LABELS[s]} ÷ ours`),
    ...baselines.map((b) => `÷ ${b.label}`),
    ...(hasGoals ? ['goal'] : []),
    ...(section.check ? [section.check.label] : []),
  ];
  const rows: string[][] = [];
  const notes: string[] = [];
  const tensorloomMedian = (c: number): number | undefined => {
    const r = results[c]?.tensorloom;
    return r && !r.error && r.samples.length > 0 ? median(r.samples) : undefined;
  };
  const baselineMedian = (name: string): number | undefined => {
    const index = cases.findIndex((c) => c.name === name);
    return index < 0 ? undefined : tensorloomMedian(index);
  };
  cases.forEach((benchCase, c) => {
    const medians: Partial<Record<SystemId, number>> = {};
    const cells = shown.map((system) => {
      const r = results[c]![system];
      const why = benchCase.unsupported?.[system];
      if (why) notes.push(`${benchCase.name}, ${SYSTEM_LABELS[system]}: n/a (${why})`);
      if (!r) return 'n/a';
      if (r.error) {
        notes.push(`${benchCase.name}, ${SYSTEM_LABELS[system]}: failed: ${r.error}`);
        return 'error';
      }
      if (r.mismatch) notes.push(`${benchCase.name}, ${SYSTEM_LABELS[system]}: ${r.mismatch}`);
      if (r.leak) notes.push(`${benchCase.name}, ${SYSTEM_LABELS[system]}: leak: ${r.leak}`);
      if (r.samples.length === 0) return 'n/a';
      const mid = median(r.samples);
      medians[system] = mid;
      const best = Math.min(...r.samples);
      const flag = r.mismatch ? ' ⚠' : '';
      return `${formatNumber(toMetric(section.metric, mid, benchCase.work))} (${formatNumber(toMetric(section.metric, best, benchCase.work))})${flag}`;
    });
    const ref = section.reference?.values[benchCase.name];
    const refCell = section.reference ? [ref === undefined ? '' : formatNumber(ref)] : [];
    const ours = medians.tensorloom;
    const ratios = ratioOf.map((s) => {
      const theirs = medians[s];
      return ours !== undefined && theirs !== undefined ? `${formatNumber(theirs / ours)}×` : '—';
    });
    // Baseline columns: this row's TensorLoom time ÷ the baseline row's (< 1: this row is faster).
    const wanted = benchCase.vs ?? baselines.slice(0, 1).map((b) => b.case);
    const against = (name: string): number | undefined => {
      const base = baselineMedian(name);
      return ours !== undefined && base !== undefined ? ours / base : undefined;
    };
    const baselineCells = baselines.map((b) => {
      const ratio = wanted.includes(b.case) ? against(b.case) : undefined;
      return ratio === undefined ? '' : `${ratio.toFixed(2)}×`;
    });
    const goalCell: string[] = [];
    if (hasGoals) {
      const goal = benchCase.goal;
      const label = goal && baselines.find((b) => b.case === goal.vs)?.label;
      const ratio = goal && against(goal.vs);
      goalCell.push(
        !goal
          ? ''
          : `≤ ${goal.max.toFixed(2)}× ${label ?? goal.vs}${ratio === undefined ? '' : ratio <= goal.max ? ': met' : ': not met'}`,
      );
    }
    const output = results[c]!.tensorloom?.output;
    const checkCell = section.check ? [output ? section.check.format(output) : '—'] : [];
    rows.push([benchCase.name, ...cells, ...refCell, ...ratios, ...baselineCells, ...goalCell, ...checkCell]);
  });
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  const textColumns = (hasGoals ? 1 : 0) + (section.check ? 1 : 0);
  const explained = [`Values: ${metricLabel(section.metric)}.`];
  if (ratioOf.length > 0) explained.push('Ratios: peer time ÷ TensorLoom time (> 1: TensorLoom is faster).');
  if (baselines.length > 0)
    explained.push("`÷ row`: this row's TensorLoom time ÷ that row's (< 1: this row is faster).");
  const out = [
    `## ${section.title}`,
    '',
    section.description,
    '',
    explained.join(' '),
    '',
    line(header),
    // Text columns (the row name, the goal and the check) left-aligned, numbers right-aligned.
    line(header.map((_, i) => (i === 0 || i >= header.length - textColumns ? '---' : '---:'))),
    ...rows.map(line),
  ];
  const allNotes = [...(section.notes ?? []), ...notes];
  if (allNotes.length > 0) out.push('', ...allNotes.map((n) => `- ${n}`));
  out.push('', `(${formatNumber(result.seconds)} s)`);
  return out.join('\n');
}
