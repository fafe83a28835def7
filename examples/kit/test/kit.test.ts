import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  linePlot,
  markdownTable,
  niceTicks,
  parseFlags,
  tickLabel,
  UsageError,
} from '../src/index.ts';

const spec = {
  steps: { type: 'int', default: 10, min: 0, help: 'steps' },
  lr: { type: 'number', default: 0.1, positive: true, help: 'learning rate' },
  temperature: { type: 'numbers', default: [0.5, 1], positive: true, help: 'temperatures' },
  name: { type: 'string', default: 'a', choices: ['a', 'b'], help: 'name' },
  resume: { type: 'boolean', default: false, help: 'resume' },
} as const;

describe('parseFlags', () => {
  it('returns the defaults, then typed values for given flags', () => {
    expect(parseFlags('cmd', 'summary', spec, [])).toEqual({
      steps: 10,
      lr: 0.1,
      temperature: [0.5, 1],
      name: 'a',
      resume: false,
    });
    const v = parseFlags('cmd', 'summary', spec, [
      '--',
      '--steps',
      '3',
      '--lr=0.5',
      '--temperature',
      '0.2,0.7',
      '--name',
      'b',
      '--resume',
    ]);
    expect(v).toEqual({ steps: 3, lr: 0.5, temperature: [0.2, 0.7], name: 'b', resume: true });
  });

  it.each([
    [['--stepz', '3'], /Unknown option '--stepz'/],
    [['--steps', '2.5'], /--steps expects an integer, got '2.5'/],
    [['--steps=-1'], /--steps must be >= 0, got -1/],
    [['--lr', 'fast'], /--lr expects a number, got 'fast'/],
    [['--lr', '0'], /--lr must be > 0/],
    [['--temperature', '0.5,x'], /--temperature expects a number, got 'x'/],
    [['--name', 'c'], /--name must be one of a, b, got 'c'/],
    [['extra'], /positional/i],
  ])('rejects %j with a usage message', (argv, message) => {
    let error: unknown;
    try {
      parseFlags('cmd', 'summary', spec, argv);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toMatch(message);
    expect((error as UsageError).usage).toContain('usage: cmd [flags]');
    expect((error as UsageError).usage).toMatch(/--steps <n>\s+steps \(default 10\)/);
  });

  it('answers --help with an empty message and the usage', () => {
    expect(() => parseFlags('cmd', 'summary', spec, ['--help'])).toThrow(
      expect.objectContaining({ message: '', usage: expect.stringContaining('--temperature <a,b,..>') }),
    );
  });
});

describe('linePlot', () => {
  it('draws one path per series through every finite point, and escapes text', () => {
    const svg = linePlot(
      [
        { name: 'a < b', x: [0, 1, 2, 3], y: [1, 2, Number.NaN, 4] },
        { name: 'c', x: [0, 3], y: [0.5, 0.25], dashed: true },
      ],
      { title: 'T & U', xLabel: 'x', yLabel: 'y', refLines: [{ y: 3, label: 'ref' }] },
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('T &amp; U');
    expect(svg).toContain('a &lt; b');
    const paths = [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]!);
    expect(paths).toHaveLength(2);
    // NaN breaks the first line: two moves, one line segment, and the point after the gap.
    expect(paths[0]!.match(/M/g)).toHaveLength(2);
    expect(paths[0]!.match(/L/g)).toHaveLength(1);
    expect(svg).toContain('stroke-dasharray="6 4"');
    expect(svg).toContain('>ref</text>');
  });

  it('puts decades on a log axis and drops non-positive values there', () => {
    const svg = linePlot([{ name: 's', x: [0, 1, 2], y: [1e-3, 0, 10] }], {
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      logY: true,
    });
    for (const label of ['0.001', '0.01', '0.1', '1', '10']) expect(svg).toContain(`>${label}</text>`);
    expect(svg.match(/<path d="([^"]*)"/)![1]!.match(/M/g)).toHaveLength(2);
  });
});

describe('helpers', () => {
  it('niceTicks picks round steps covering the range', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 97, 8)).toEqual([20, 40, 60, 80]);
    expect(niceTicks(-0.03, 0.07, 5)).toEqual([-0.02, 0, 0.02, 0.04, 0.06]);
  });
  it('tickLabel removes float noise', () => {
    expect(tickLabel(0.30000000000000004)).toBe('0.3');
    expect(tickLabel(1e-7)).toBe('1e-7');
  });
  it('formatDuration', () => {
    expect([formatDuration(42.4), formatDuration(185), formatDuration(3720)]).toEqual([
      '42s',
      '3m05s',
      '1h02m',
    ]);
  });
  it('markdownTable pads columns', () => {
    expect(markdownTable(['a', 'bb'], [['1', '2222']])).toBe(
      ['| a   | bb   |', '| --- | ---- |', '| 1   | 2222 |'].join('\n'),
    );
  });
});
