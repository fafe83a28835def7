/**
 * Training progress: a live `cli-progress` bar on a terminal, plain log lines when the output is a file or
 * a pipe (CI logs stay readable), and nothing at all in quiet mode (the smoke tests).
 */
import cliProgress from 'cli-progress';

/** Formats seconds as `42s`, `3m05s` or `1h02m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** How progress is shown: a live bar, one line per `update(..., true)`, or not at all. */
export type ProgressMode = 'bar' | 'lines' | 'quiet';

/** Options of `Progress`. */
export interface ProgressOptions {
  /** The step the run ends at. */
  total: number;
  /** The step the run starts from (a resumed run starts past 0). Default 0. */
  start?: number;
  /** Default: a bar when stderr is a terminal, else lines. */
  mode?: ProgressMode;
  /** Where to write. Default process.stderr (stdout stays clean for results). */
  stream?: NodeJS.WriteStream;
}

/**
 * Shows step, the caller's statistics (e.g. loss, bits per character, chars/s) and the ETA, which is
 * measured from this session's own steps (a resumed run does not count the steps it skipped).
 */
export class Progress {
  readonly mode: ProgressMode;
  private readonly total: number;
  private readonly start: number;
  private readonly began = performance.now();
  private readonly stream: NodeJS.WriteStream;
  private bar: cliProgress.SingleBar | null = null;

  constructor(options: ProgressOptions) {
    this.total = options.total;
    this.start = options.start ?? 0;
    this.stream = options.stream ?? process.stderr;
    this.mode = options.mode ?? (this.stream.isTTY ? 'bar' : 'lines');
    if (this.mode === 'bar') {
      this.bar = new cliProgress.SingleBar(
        {
          format: '{bar} {value}/{total} | {stats} | ETA {eta}',
          stream: this.stream,
          barsize: 24,
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(this.total, this.start, { stats: 'starting', eta: '?' });
    }
  }

  /** Seconds since this session started. */
  elapsed(): number {
    return (performance.now() - this.began) / 1000;
  }

  /** Estimated seconds left at `step`, from this session's average time per step. */
  eta(step: number): number {
    const done = step - this.start;
    return done > 0 ? ((this.total - step) * this.elapsed()) / done : Number.NaN;
  }

  /**
   * Reports `step` with `stats` (label → formatted value). In 'lines' mode a line is written only when
   * `log` is true (e.g. after each validation), so logs do not flood.
   */
  update(step: number, stats: Record<string, string>, log = false): void {
    const text = Object.entries(stats)
      .map(([k, v]) => `${k} ${v}`)
      .join(' | ');
    const eta = formatDuration(this.eta(step));
    if (this.bar) this.bar.update(step, { stats: text, eta });
    else if (this.mode === 'lines' && log) {
      const width = String(this.total).length;
      this.stream.write(`step ${String(step).padStart(width)}/${this.total} | ${text} | ETA ${eta}\n`);
    }
  }

  /** Ends the bar (leaving its last state on screen). */
  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
