/**
 * Command-line flags for the examples: a typed spec in, typed values out, and a usage message (exit code 2)
 * for anything unknown, malformed or out of range, so a typo never silently trains the wrong model.
 */
import { parseArgs } from 'node:util';

/** One flag: its kind, default, help text, and for numbers the smallest allowed value. */
export type FlagSpec =
  | { type: 'int'; default: number; help: string; min?: number }
  | { type: 'number'; default: number; help: string; min?: number; positive?: boolean }
  | { type: 'numbers'; default: readonly number[]; help: string; positive?: boolean }
  | { type: 'string'; default: string; help: string; choices?: readonly string[] }
  | { type: 'boolean'; default: boolean; help: string };

/** The value type of one flag. */
export type FlagValue<F extends FlagSpec> = F extends { type: 'int' | 'number' }
  ? number
  : F extends { type: 'numbers' }
    ? number[]
    : F extends { type: 'string' }
      ? string
      : boolean;

/** The parsed values of a spec: numbers, number lists, strings and booleans by flag name. */
export type FlagValues<S extends Record<string, FlagSpec>> = {
  [K in keyof S]: FlagValue<S[K]>;
};

/** A bad command line: carries the message and the full usage text. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The usage text: a synopsis line, a summary, and one aligned line per flag with its default. */
export function usage(command: string, summary: string, spec: Record<string, FlagSpec>): string {
  const rows = Object.entries(spec).map(([name, s]) => {
    const arg =
      s.type === 'boolean' ? '' : s.type === 'numbers' ? ' <a,b,..>' : s.type === 'string' ? ' <s>' : ' <n>';
    const def = s.type === 'numbers' ? s.default.join(',') : String(s.default);
    const shown = s.type === 'boolean' || def === '' ? '' : ` (default ${def})`;
    return [`  --${name}${arg}`, `${s.help}${shown}`] as const;
  });
  const width = Math.max(...rows.map(([a]) => a.length)) + 2;
  const lines = rows.map(([a, b]) => a.padEnd(width) + b);
  return [`usage: ${command} [flags]`, '', summary, '', 'flags:', ...lines, '  --help'].join('\n');
}

function parseNumber(name: string, raw: string, integer: boolean): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new Error(`--${name} expects ${integer ? 'an integer' : 'a number'}, got '${raw}'`);
  }
  return v;
}

/**
 * Parses `argv` against `spec`. Throws `UsageError` on an unknown flag, a missing or malformed value, or a
 * value out of range; `--help` throws a UsageError with an empty message (print the usage, exit 0).
 */
export function parseFlags<S extends Record<string, FlagSpec>>(
  command: string,
  summary: string,
  spec: S,
  argv: readonly string[] = process.argv.slice(2),
): FlagValues<S> {
  const text = usage(command, summary, spec);
  // `pnpm demo -- --steps 5` forwards the separator itself on some pnpm versions.
  const args = argv[0] === '--' ? argv.slice(1) : [...argv];
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const [name, s] of Object.entries(spec))
    options[name] = { type: s.type === 'boolean' ? 'boolean' : 'string' };
  let parsed: Record<string, string | boolean | undefined>;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (err) {
    throw new UsageError((err as Error).message, text);
  }
  if (parsed.help) throw new UsageError('', text);
  const out: Record<string, unknown> = {};
  try {
    for (const [name, s] of Object.entries(spec)) {
      const raw = parsed[name];
      if (raw === undefined) {
        out[name] = Array.isArray(s.default) ? [...s.default] : s.default;
        continue;
      }
      if (s.type === 'boolean') {
        out[name] = raw === true;
        continue;
      }
      const str = raw as string;
      if (s.type === 'string') {
        if (s.choices && !s.choices.includes(str))
          throw new Error(`--${name} must be one of ${s.choices.join(', ')}, got '${str}'`);
        out[name] = str;
      } else if (s.type === 'numbers') {
        const list = str.split(',').map((part) => parseNumber(name, part, false));
        if (s.positive && list.some((v) => v <= 0))
          throw new Error(`--${name} values must be > 0, got ${str}`);
        out[name] = list;
      } else {
        const v = parseNumber(name, str, s.type === 'int');
        if (s.min !== undefined && v < s.min) throw new Error(`--${name} must be >= ${s.min}, got ${v}`);
        if (s.type === 'number' && s.positive && !(v > 0)) throw new Error(`--${name} must be > 0, got ${v}`);
        out[name] = v;
      }
    }
  } catch (err) {
    throw new UsageError((err as Error).message, text);
  }
  return out as FlagValues<S>;
}

/**
 * Runs an example's main function: a `UsageError` prints the message and the usage and exits with code 2
 * (0 for `--help`); any other error prints its message and exits with code 1.
 */
export function runMain(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    if (err instanceof UsageError) {
      if (!err.message) {
        console.log(err.usage);
        return;
      }
      console.error(`error: ${err.message}\n\n${err.usage}`);
      process.exitCode = 2;
      return;
    }
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  });
}
