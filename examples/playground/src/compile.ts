/**
 * Turns the cell editor's text into a cell class. The text is a JavaScript module written as a user's app
 * would write it (`import { sigmoid } from '@tensorloom/autograd'`, `export default class ...`); it runs in
 * the worker, in the user's own tab, through `new Function`, with the packages passed in as an argument.
 *
 * So that errors point at the line the user sees, every rewrite keeps line breaks where they were: an
 * `import { a, b as c } from 'm'` spanning three lines becomes `const { a, b: c } = __modules['m']` spanning
 * the same three lines.
 */

/** The packages a cell may import, by specifier. */
export type ModuleTable = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

/** An error in the user's cell code, with the 1-based line of the editor text it comes from when known. */
export class CellCodeError extends Error {
  constructor(
    message: string,
    readonly line: number | null,
  ) {
    super(line === null ? message : `line ${line}: ${message}`);
    this.name = 'CellCodeError';
  }
}

const SOURCE_URL = 'tensorloom-cell.js';

/**
 * Lines the engine puts before the body of a `new Function`: V8 wraps it as `function anonymous(args\n) {\n`,
 * two lines, but this is measured rather than assumed (null where stack traces carry no line numbers).
 */
const headerLines: number | null = (() => {
  try {
    new Function('__modules', `throw new Error('probe');\n//# sourceURL=${SOURCE_URL}`)({});
  } catch (err) {
    const line = stackLine(err);
    return line === null ? null : line - 1;
  }
  return null;
})();

function stackLine(err: unknown): number | null {
  const stack = err instanceof Error ? (err.stack ?? '') : '';
  const match = new RegExp(`${SOURCE_URL.replace('.', '\\.')}:(\\d+):\\d+`).exec(stack);
  return match ? Number(match[1]) : null;
}

/** The editor line an error raised inside the cell code comes from, or null if it did not come from there. */
export function cellLine(err: unknown): number | null {
  const line = stackLine(err);
  return line === null || headerLines === null ? null : line - headerLines;
}

/** `err` as a CellCodeError: its message, and the cell line it was raised at when the stack shows one. */
export function toCellError(err: unknown): CellCodeError {
  if (err instanceof CellCodeError) return err;
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new CellCodeError(message, cellLine(err));
}

const lineOf = (source: string, index: number): number => source.slice(0, index).split('\n').length;

/**
 * Rewrites the module syntax a cell uses into plain statements, line for line, and names the default export.
 * Supported: `import { a, type B, c as d } from 'pkg'`, `import type { ... }`, `import * as ns from 'pkg'`,
 * `export default class Name`, `export default Name;`, and `export` before a declaration.
 */
export function rewriteModule(source: string, modules: ModuleTable): { body: string; exported: string } {
  const known = (specifier: string, index: number) => {
    if (!Object.hasOwn(modules, specifier)) {
      throw new CellCodeError(
        `cannot import '${specifier}': a cell may import ${Object.keys(modules)
          .map((m) => `'${m}'`)
          .join(', ')}`,
        lineOf(source, index),
      );
    }
    return JSON.stringify(specifier);
  };
  let body = source.replace(
    /^([ \t]*)import\s+(type\s+)?\{([^}]*)\}\s*from\s*(['"])([^'"]+)\4\s*;?/gm,
    (
      _all,
      indent: string,
      typeOnly: string | undefined,
      names: string,
      _q,
      specifier: string,
      at: number,
    ) => {
      const from = known(specifier, at);
      const newlines = (text: string) => text.replace(/[^\n]/g, '');
      if (typeOnly) return indent + newlines(names);
      // Each entry keeps its own line breaks; type-only entries vanish (types do not exist at run time).
      const entries = names.split(',').map((entry) => {
        const name = entry.trim();
        if (name === '' || /^type\s/.test(name)) return newlines(entry);
        const alias = /^([\w$]+)\s+as\s+([\w$]+)$/.exec(name);
        const binding = alias ? `${alias[1]}: ${alias[2]}` : name;
        if (!/^[\w$]+(: [\w$]+)?$/.test(binding)) {
          throw new CellCodeError(`cannot read the import '${name}'`, lineOf(source, at));
        }
        return entry.replace(name, binding);
      });
      return `${indent}const {${entries.join(',')}} = __modules[${from}];`;
    },
  );
  body = body.replace(
    /^([ \t]*)import\s+\*\s+as\s+([\w$]+)\s+from\s*(['"])([^'"]+)\3\s*;?/gm,
    (_all, indent: string, name: string, _q, specifier: string, at: number) =>
      `${indent}const ${name} = __modules[${known(specifier, at)}];`,
  );
  const leftover = /^[ \t]*import\b/m.exec(body);
  if (leftover) {
    throw new CellCodeError(
      "only named imports (import { a, b } from '...') and namespace imports (import * as ns from '...') are supported",
      lineOf(body, leftover.index),
    );
  }
  let exported: string | null = null;
  body = body.replace(
    /^([ \t]*)export\s+default\s+class\s+([\w$]+)/m,
    (_all, indent: string, name: string) => {
      exported = name;
      return `${indent}class ${name}`;
    },
  );
  body = body.replace(
    /^([ \t]*)export\s+default\s+([\w$]+)\s*;?[ \t]*$/m,
    (_all, indent: string, name: string) => {
      exported ??= name;
      return indent;
    },
  );
  body = body.replace(/^([ \t]*)export\s+(?=(class|const|let|function)\b)/gm, '$1');
  if (exported === null) {
    throw new CellCodeError(
      'the code must end with an `export default class YourCell ...` (or `export default YourCell;`)',
      null,
    );
  }
  return { body, exported };
}

/**
 * The first line at which `body` stops being a valid prefix. V8's SyntaxError carries no position for
 * `new Function` code, so the line is found by compiling growing prefixes: a prefix cut before the mistake
 * fails only for ending early ("Unexpected end of input" and the like) or not at all; the first prefix that
 * fails with the whole text's message holds the mistake.
 */
function syntaxErrorLine(body: string, message: string): number | null {
  const lines = body.split('\n');
  if (/end of input/i.test(message)) return lines.length;
  for (let n = 1; n <= lines.length; n++) {
    try {
      new Function('__modules', lines.slice(0, n).join('\n'));
    } catch (err) {
      if ((err as Error).message === message) return n;
    }
  }
  return null;
}

/** A cell class as the user's code defines it: `new Cell(inputSize, hiddenSize)`. */
export type CellClass = new (inputSize: number, hiddenSize: number) => unknown;

/**
 * Compiles the editor text and returns its default export, checked to be a class with the methods every
 * `RecurrentCell` has. Errors are CellCodeErrors with the editor line where it can be known.
 */
export function compileCell(source: string, modules: ModuleTable): CellClass {
  const { body, exported } = rewriteModule(source, modules);
  let factory: (modules: ModuleTable) => unknown;
  const text = `${body}\n;return ${exported};\n//# sourceURL=${SOURCE_URL}`;
  try {
    factory = new Function('__modules', text) as typeof factory;
  } catch (err) {
    const message = (err as Error).message;
    throw new CellCodeError(`SyntaxError: ${message}`, syntaxErrorLine(body, message));
  }
  let Cell: unknown;
  try {
    Cell = factory(modules);
  } catch (err) {
    throw toCellError(err);
  }
  if (typeof Cell !== 'function' || typeof Cell.prototype !== 'object') {
    throw new CellCodeError(`the default export ${exported} is not a class`, null);
  }
  const missing = ['initialState', 'step', 'output'].filter((m) => typeof Cell.prototype[m] !== 'function');
  if (missing.length > 0) {
    throw new CellCodeError(
      `the cell class ${exported} lacks ${missing.join(', ')}: a RecurrentCell needs initialState(batch), step(input, state) and output(state)`,
      null,
    );
  }
  return Cell as CellClass;
}
