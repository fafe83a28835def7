/**
 * The three packages run outside Node: bundled for the browser (esbuild, platform "browser"), an LSTM
 * trains with the WebAssembly kernels loaded from the bundle itself. Run twice:
 * - in a bare `vm` context that has only what a web page has (no `process`, `require`, `Buffer`, Node
 *   built-ins), always;
 * - in headless Chromium, where it is installed (Debian: `apt-get install chromium`; another binary can be
 *   named by CHROMIUM_PATH). There the wasm module may compile in the background, so the page waits for it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createContext, runInContext } from 'node:vm';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/** What the bundle reports: the wasm backend's state, the losses of its training run, wasm cell calls. */
interface Report {
  status: string;
  losses: number[];
  fusedKernels: number;
}

// The bundle's entry: a small LSTM regressor in float32, trained with Adam for 40 steps on a fixed target,
// its products in WebAssembly and its steps as fused kernels generated in the page.
// \`globalThis.tensorloomCheck()\` returns the report.
const entry = `
import { fusedKernelCount, manualSeed, randn } from '@tensorloom/autograd';
import { wasmStatus } from '@tensorloom/autograd/kernels';
import { LSTM } from '@tensorloom/lstm';
import { Adam, Linear, mseLoss } from '@tensorloom/nn';

globalThis.tensorloomStatus = () => wasmStatus();
globalThis.tensorloomCheck = () => {
  manualSeed(1);
  const lstm = new LSTM({ inputSize: 4, hiddenSize: 8 });
  const head = new Linear(8, 1);
  const x = randn([6, 5, 4]);
  const y = randn([5, 1]);
  const optimizer = new Adam([...lstm.parameters(), ...head.parameters()], { lr: 0.05 });
  const before = fusedKernelCount();
  const losses = [];
  for (let step = 0; step < 40; step++) {
    optimizer.zeroGrad();
    const [out] = lstm.forward(x);
    const last = out.narrow(0, 5, 1).reshape([5, 8]);
    const loss = mseLoss(head.forward(last), y);
    loss.backward();
    optimizer.step();
    losses.push(loss.item());
  }
  return { status: wasmStatus(), losses, fusedKernels: fusedKernelCount() - before };
};
`;

async function bundle(): Promise<string> {
  const result = await build({
    stdin: { contents: entry, resolveDir: dirname(fileURLToPath(import.meta.url)), loader: 'ts' },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

function expectTrained(report: Report): void {
  expect(report.status).toBe('ready');
  expect(report.fusedKernels).toBeGreaterThan(0);
  expect(report.losses.every(Number.isFinite)).toBe(true);
  expect(report.losses.at(-1)!).toBeLessThan(report.losses[0]! / 10);
}

const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('outside Node', () => {
  it('trains an LSTM with the WebAssembly kernels in a context with only web-platform globals', async () => {
    const code = await bundle();
    // A fresh realm has the language's built-ins and WebAssembly; add the few web APIs a page also has.
    const page = createContext({ atob, btoa, TextEncoder, TextDecoder, console });
    runInContext(code, page);
    expect(runInContext('typeof process + typeof require + typeof Buffer', page)).toBe(
      'undefinedundefinedundefined',
    );
    // JSON round trip: the report's arrays belong to the other realm.
    expectTrained(JSON.parse(runInContext('JSON.stringify(tensorloomCheck())', page)) as Report);
  });

  it.skipIf(!existsSync(chromium))(
    'trains an LSTM with the WebAssembly kernels in headless Chromium',
    async () => {
      const code = await bundle();
      const dir = mkdtempSync(join(tmpdir(), 'tensorloom-browser-'));
      try {
        const html = join(dir, 'index.html');
        // The script waits for the wasm module (compiled in the background where a page may not compile it
        // synchronously), then writes the report into the page, which --dump-dom prints.
        writeFileSync(
          html,
          `<!doctype html><pre id="out">pending</pre><script>${code.replaceAll('</script', '<\\/script')}
        const out = document.getElementById('out');
        const started = Date.now();
        (function poll() {
          const status = tensorloomStatus();
          if (status === 'pending' && Date.now() - started < 20000) return setTimeout(poll, 10);
          try { out.textContent = JSON.stringify(tensorloomCheck()); }
          catch (e) { out.textContent = 'error: ' + e; }
        })();
        </script>`,
        );
        const dom = execFileSync(
          chromium,
          [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            `--user-data-dir=${join(dir, 'profile')}`,
            '--virtual-time-budget=30000',
            '--dump-dom',
            `file://${html}`,
          ],
          { encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'ignore'] },
        );
        const text = /<pre id="out">([^<]*)<\/pre>/.exec(dom)?.[1] ?? dom;
        expect(text.startsWith('{'), text).toBe(true);
        expectTrained(JSON.parse(text) as Report);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
