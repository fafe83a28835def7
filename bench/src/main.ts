/**
 * `pnpm bench [section…] [--quick] [--cpu] [--rounds N] [--systems a,b] [--list]`: runs the benchmark
 * sections and prints one markdown table per section (progress goes to stderr, tables to stdout).
 */
import { type RunOptions, renderSection, runSection, SYSTEMS, type SystemId } from './harness.ts';
import { sections } from './sections/index.ts';
import { activate, describeEnvironment, liveObjects, loadJax, loadTf } from './systems.ts';

const USAGE = `usage: pnpm bench [section…] [--quick] [--cpu] [--rounds N] [--systems ${SYSTEMS.join(',')}] [--list]
  section    run only sections whose id contains this text (${sections.map((s) => s.id).join(', ')})
  --quick    one short round, fewer cases: a smoke run, not figures to quote
  --cpu      time samples by this process's CPU time instead of wall time: steadier on a busy machine,
             but it also counts V8's background GC threads (and any worker threads) and misses time spent waiting
  --rounds   rounds per measurement (default 3; --quick: 1)
  --systems  comma-separated subset of the compared systems
  --list     list the sections and exit`;

/** Parsed command line. */
interface Args {
  filters: string[];
  quick: boolean;
  cpu: boolean;
  rounds?: number;
  systems: SystemId[];
  list: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { filters: [], quick: false, cpu: false, systems: [...SYSTEMS], list: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') ? (arg.split('=', 2) as [string, string?]) : [arg];
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === '--quick') args.quick = true;
    else if (flag === '--list') args.list = true;
    else if (flag === '--cpu') args.cpu = true;
    else if (flag === '--help' || flag === '-h') fail();
    else if (flag === '--rounds') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) fail(`--rounds must be a positive integer, got ${argv[i]}`);
      args.rounds = n;
    } else if (flag === '--systems') {
      const names = value().split(',');
      const unknown = names.filter((s) => !(SYSTEMS as readonly string[]).includes(s));
      if (unknown.length > 0) fail(`unknown system(s) ${unknown.join(', ')}; expected ${SYSTEMS.join(', ')}`);
      args.systems = names as SystemId[];
    } else if (flag.startsWith('-')) fail(`unknown option ${flag}`);
    // pnpm may forward a literal `--` separator; it carries no meaning here.
    else if (flag !== '--') args.filters.push(arg);
  }
  return args;
}

/** User + system CPU time of this process, in ms. */
function cpuClock(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function fail(message?: string): never {
  if (message) console.error(`bench: ${message}`);
  console.error(USAGE);
  process.exit(message ? 2 : 0);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.list) {
    for (const s of sections) console.log(`${s.id.padEnd(10)} ${s.title}`);
    return;
  }
  const selected = sections.filter(
    (s) => args.filters.length === 0 || args.filters.some((f) => s.id.includes(f.toLowerCase())),
  );
  if (selected.length === 0) fail(`no section matches ${args.filters.join(', ')}`);
  if (args.systems.some((s) => s.startsWith('tfjs-'))) await loadTf();
  if (args.systems.includes('jax-wasm')) await loadJax();
  // Start each backend once up front so backend start-up is never inside a measurement.
  for (const s of args.systems) await activate(s);
  const options: RunOptions = {
    systems: args.systems,
    rounds: args.rounds ?? (args.quick ? 1 : 3),
    quick: args.quick,
    activate,
    liveObjects,
    log: (line) => console.error(line),
    ...(args.cpu ? { clock: cpuClock } : {}),
  };
  const started = performance.now();
  console.log(`# TensorLoom benchmarks${args.quick ? ' (--quick: smoke run, not for quoting)' : ''}\n`);
  const clock = args.cpu ? 'process CPU time' : 'wall time';
  console.log(`${await describeEnvironment(args.systems)} · ${options.rounds} round(s) · ${clock}\n`);
  for (const section of selected) {
    const result = await runSection(section, options);
    console.log(`${renderSection(result, args.systems)}\n`);
  }
  console.log(`Total ${((performance.now() - started) / 1000).toFixed(0)} s.`);
}

await main();
