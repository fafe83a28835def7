/**
 * The cell editor's compiler, in Node: module syntax rewritten line for line, errors reported at the line
 * the user wrote them, and every preset compiled and gradchecked against the public API (the browser test
 * runs the same code in Chromium).
 */
import * as autograd from '@tensorloom/autograd';
import { gradcheck, manualSeed, randn, type Tensor } from '@tensorloom/autograd';
import * as lstm from '@tensorloom/lstm';
import { type RecurrentCell, recurrent } from '@tensorloom/lstm';
import type { Module } from '@tensorloom/nn';
import * as nn from '@tensorloom/nn';
import { describe, expect, it } from 'vitest';
import { CellCodeError, compileCell, rewriteModule, toCellError } from '../src/compile.ts';
import { PRESETS } from '../src/presets.ts';

const MODULES = { '@tensorloom/autograd': autograd, '@tensorloom/nn': nn, '@tensorloom/lstm': lstm };

function codeError(fn: () => unknown): CellCodeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CellCodeError);
    return err as CellCodeError;
  }
  throw new Error('expected a CellCodeError');
}

describe('rewriteModule', () => {
  it('turns imports into bindings and keeps every line where it was', () => {
    const source = [
      'import {',
      '  add,',
      '  type Tensor,',
      '  tanh as th,',
      "} from '@tensorloom/autograd';",
      "import type { RecurrentCell } from '@tensorloom/lstm';",
      "import * as nn from '@tensorloom/nn';",
      'export default class Cell {}',
    ].join('\n');
    const { body, exported } = rewriteModule(source, MODULES);
    expect(exported).toBe('Cell');
    expect(body.split('\n')).toHaveLength(8);
    expect(body.split('\n')[7]).toBe('class Cell {}');
    expect(body).toContain('tanh: th');
    expect(body).not.toContain('Tensor');
    expect(body).toContain('const nn = __modules["@tensorloom/nn"];');
  });

  it('names the line of an import from an unknown module', () => {
    const err = codeError(() =>
      rewriteModule("// cell\nimport { x } from 'torch';\nexport default X;", MODULES),
    );
    expect(err.line).toBe(2);
    expect(err.message).toContain("cannot import 'torch'");
  });

  it('asks for a default export', () => {
    expect(codeError(() => rewriteModule('class A {}', MODULES)).message).toContain('export default class');
  });
});

describe('compileCell', () => {
  it('reports a syntax error at its line', () => {
    const code = PRESETS.mgu!.code.replace(
      'return add(h, mul(f, sub(candidate, h)));',
      'return add(h, mul(f, ;',
    );
    const line = PRESETS.mgu!.code.split('\n').findIndex((l) => l.includes('return add(h, mul(f, sub(')) + 1;
    const err = codeError(() => compileCell(code, MODULES));
    expect(err.message).toMatch(/^line \d+: SyntaxError/);
    expect(err.line).toBe(line);
  });

  it('reports a run-time error inside step at its line', () => {
    const code = PRESETS.gru!.code.replace(
      'const r = sigmoid(add(xr, hr));',
      'const r = sigmoid(add(xr, hh));',
    );
    const line = code.split('\n').findIndex((l) => l.includes('add(xr, hh)')) + 1;
    const Cell = compileCell(code, MODULES);
    const cell = new Cell(3, 4) as RecurrentCell & Module;
    let caught: unknown = null;
    try {
      recurrent(cell, randn([2, 1, 3]));
    } catch (e) {
      caught = e;
    }
    expect(toCellError(caught).message).toBe(`line ${line}: ReferenceError: hh is not defined`);
  });

  it('rejects a class without the RecurrentCell methods', () => {
    const err = codeError(() => compileCell('export default class A { step() {} }', MODULES));
    expect(err.message).toContain('lacks initialState, output');
  });

  it.each(Object.keys(PRESETS))(
    'compiles the %s preset, whose gradients pass gradcheck in float64',
    (key) => {
      const Cell = compileCell(PRESETS[key]!.code, MODULES);
      manualSeed(0);
      const cell = (new Cell(3, 4) as RecurrentCell & Module).double();
      const x = randn([4, 2, 3], { dtype: 'float64', requiresGrad: true });
      expect(recurrent(cell, x)[0].shape).toEqual([4, 2, 4]);
      expect(gradcheck((input: Tensor) => recurrent(cell, input)[0], [x, ...cell.parameters()])).toBe(true);
    },
  );
});
