/**
 * Runs every ```ts block of the root README.md, so the README cannot rot. Each block is written to a file
 * beside this test (so `@tensorloom/*` imports resolve to the workspace packages) and imported. A line of the
 * form `console.log(args); // → text` is also an assertion: `util.format(args)` must print exactly `text`.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { format } from 'node:util';
import { afterAll, describe, expect, it, vi } from 'vitest';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const dir = fileURLToPath(new URL('../.blocks/', import.meta.url));

/** The ```ts blocks with the README line each starts on. */
function blocks(markdown: string): { line: number; code: string }[] {
  const out: { line: number; code: string }[] = [];
  for (const m of markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
    out.push({ line: markdown.slice(0, m.index).split('\n').length, code: m[1]! });
  }
  return out;
}

/** Turns `console.log(args); // → text` lines into checks of the printed text. */
function withChecks(code: string): { code: string; expected: string[] } {
  const expected: string[] = [];
  const rewritten = code.replace(/^(\s*)console\.log\((.*)\);\s*\/\/ → (.*)$/gm, (_, indent, args, text) => {
    expected.push(text);
    return `${indent}(globalThis as unknown as Printer).__readmePrint(${args});`;
  });
  const declare = 'type Printer = { __readmePrint: (...args: unknown[]) => void };\n';
  return { code: declare + rewritten, expected };
}

const found = blocks(readme);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README.md', () => {
  it('has the test command and the demo command at the top', () => {
    const top = readme.split('\n').slice(0, 20).join('\n');
    expect(top).toContain('npx pnpm@12.4.2 install --frozen-lockfile && npx pnpm@12.4.2 test');
    expect(top).toContain('npx pnpm@12.4.2 demo');
    expect(found.length).toBeGreaterThanOrEqual(5);
  });

  it.each(found.map((b, k) => [k + 1, b.line, b] as const))(
    'code block %i (line %i) runs and prints what it says',
    async (k, _line, block) => {
      const { code, expected } = withChecks(block.code);
      mkdirSync(dir, { recursive: true });
      const file = `${dir}block-${k}.ts`;
      writeFileSync(file, code);
      const printed: string[] = [];
      (globalThis as { __readmePrint?: (...args: unknown[]) => void }).__readmePrint = (...args) =>
        printed.push(format(...args));
      // Other console output of the block is kept out of the test log.
      const quiet = vi.spyOn(console, 'log').mockImplementation(() => {});
      try {
        await import(/* @vite-ignore */ file);
      } finally {
        quiet.mockRestore();
      }
      expect(printed).toEqual(expected);
    },
  );
});
