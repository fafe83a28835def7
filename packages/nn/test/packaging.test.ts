/**
 * The published packages, as a user gets them: `pnpm run pack` (scripts/pack.mjs) builds and packs the three
 * packages; npm installs the tarballs, offline, into a fresh project; that project imports them as ES
 * modules, from CommonJS with `import()` (the packages are ESM-only: Node 20 cannot `require` ES modules),
 * and type-checks against their `.d.ts` with `tsc --strict`, `lib: ["es2022"]` and no DOM or Node types.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = new URL('../../../', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'tensorloom-packaging-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const run = (command: string, args: string[], cwd: string): string =>
  execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** The entries of a tarball, and one file of it. */
const listTar = (file: string): string[] => run('tar', ['-tzf', file], work).trim().split('\n');
const readTar = (file: string, entry: string): string => run('tar', ['-xzOf', file, entry], work);

describe('packed packages, installed with npm into a fresh project', () => {
  const packed = join(work, 'packed');
  const project = join(work, 'project');
  let tarballs: string[] = [];

  it('pack writes three tarballs with dist, README, LICENSE and a publishable manifest', () => {
    run(process.execPath, [join(root, 'scripts/pack.mjs'), '--out', packed], root);
    tarballs = readdirSync(packed).map((f) => join(packed, f));
    expect(readdirSync(packed).sort()).toEqual([
      'tensorloom-autograd-0.1.0.tgz',
      'tensorloom-lstm-0.1.0.tgz',
      'tensorloom-nn-0.1.0.tgz',
    ]);
    for (const file of tarballs) {
      const entries = listTar(file);
      expect(entries).toContain('package/README.md');
      expect(entries).toContain('package/LICENSE');
      expect(entries).toContain('package/dist/index.js');
      expect(entries).toContain('package/dist/index.d.ts');
      const manifest = readTar(file, 'package/package.json');
      expect(manifest).not.toMatch(/workspace:|\.\/src\/|"scripts"|publishConfig|devDependencies/);
      const { exports } = JSON.parse(manifest) as { exports: Record<string, { default: string }> };
      for (const target of Object.values(exports)) {
        expect(entries).toContain(`package/${target.default.slice(2)}`);
      }
    }
    const lstm = JSON.parse(readTar(join(packed, 'tensorloom-lstm-0.1.0.tgz'), 'package/package.json'));
    expect(lstm.dependencies).toEqual({ '@tensorloom/autograd': '0.1.0', '@tensorloom/nn': '0.1.0' });
  });

  it('npm installs the tarballs offline; ESM import, import() from CommonJS and tsc --strict work', () => {
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      '{ "name": "consumer", "version": "1.0.0", "private": true }\n',
    );
    run(
      'npm',
      ['install', '--offline', '--no-audit', '--no-fund', '--cache', join(work, 'npm-cache'), ...tarballs],
      project,
    );

    writeFileSync(
      join(project, 'esm.mjs'),
      `import { manualSeed, randn, tensor } from '@tensorloom/autograd';
import { LSTM } from '@tensorloom/lstm';
import { Linear, loadSafetensors, saveSafetensors } from '@tensorloom/nn';
manualSeed(0);
const x = tensor([1, 2, 3], { requiresGrad: true });
x.mul(x).sum().backward();
const back = loadSafetensors(saveSafetensors(new Linear(3, 2).stateDict()));
const [out] = new LSTM({ inputSize: 3, hiddenSize: 4 }).forward(randn([5, 2, 3]));
console.log(JSON.stringify({ grad: Array.from(x.grad.data), keys: Object.keys(back).sort(), out: out.shape }));
`,
    );
    expect(JSON.parse(run(process.execPath, ['esm.mjs'], project))).toEqual({
      grad: [2, 4, 6],
      keys: ['bias', 'weight'],
      out: [5, 2, 4],
    });

    writeFileSync(
      join(project, 'cjs.cjs'),
      `Promise.all([import('@tensorloom/autograd'), import('@tensorloom/nn'), import('@tensorloom/lstm')]).then(
  ([ag, nn, lstm]) => {
    const y = ag.tensor([1, 2]).add(1);
    console.log(JSON.stringify({ y: Array.from(y.data), adam: typeof nn.Adam, gru: typeof lstm.GRU }));
  },
);
`,
    );
    expect(JSON.parse(run(process.execPath, ['cjs.cjs'], project))).toEqual({
      y: [2, 3],
      adam: 'function',
      gru: 'function',
    });

    writeFileSync(
      join(project, 'check.mts'),
      `import { type Tensor, tensor } from '@tensorloom/autograd';
import { LSTM } from '@tensorloom/lstm';
import { Adam, Linear } from '@tensorloom/nn';
const lin = new Linear(3, 2);
const opt = new Adam(lin.parameters(), { lr: 0.01 });
const y: Tensor = lin.forward(tensor([[1, 2, 3]]));
const lstm = new LSTM({ inputSize: 3, hiddenSize: 4 });
export const n: number = y.size + opt.paramGroups.length + lstm.hiddenSize;
`,
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          lib: ['es2022'],
          types: [],
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          noEmit: true,
          skipLibCheck: false,
        },
        files: ['check.mts'],
      }),
    );
    // The workspace's TypeScript; throws with tsc's diagnostics on stdout if the .d.ts need anything else.
    run(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], project);
  });
});
