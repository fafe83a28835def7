/**
 * The playground in a real browser: Debian's Chromium (`apt-get install chromium`) driven by playwright-core,
 * against the production build served by `vite preview` on localhost. `pnpm test:e2e` builds and runs it;
 * `.ci/run` installs Chromium when missing, so CI runs it always (a missing browser fails, never skips).
 *
 * A small model (hidden 32, one layer) keeps it quick: it trains the built-in LSTM and asserts the
 * validation loss fell and a sample appeared; checks the GRU preset's gradients and two broken cells (a
 * wrong name, a syntax error: each must name its line); trains the edited cell; round-trips weights through
 * download and upload; exchanges weights with the Node example both ways; fails on any console error; and
 * saves a screenshot to `examples/playground/out/e2e.png`.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manualSeed } from '@tensorloom/autograd';
import { readSafetensors } from '@tensorloom/nn';
import { loadModule } from '@tensorloom/nn/node';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { type PreviewServer, preview } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Corpus, fixedBatch } from '../../char-lm/src/data.ts';
import { CharLM } from '../../char-lm/src/model.ts';
import { bitsPerChar, train } from '../../char-lm/src/train.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// The page's sizes for this test (URL parameters); the validation set is the page's: 16 windows of 128
// characters, the first 32 of each context only.
const SIZES = {
  embed: 16,
  hidden: 32,
  layers: 1,
  batch: 16,
  seq: 24,
  steps: 40,
  evalEvery: 20,
  sampleLength: 80,
};
const VAL = { windows: 16, seq: 128, context: 32 };

let server: PreviewServer;
let context: BrowserContext;
let page: Page;
let work: string;
const consoleErrors: string[] = [];

/** Waits until the page's <body data-…> attributes satisfy `test` (evaluated in the page). */
async function until(test: string, timeout = 30_000): Promise<void> {
  await page.waitForFunction(test, null, { timeout, polling: 50 });
}

const content = async (selector: string) => (await page.locator(selector).textContent()) ?? '';
const text = (id: string) => content(`#${id}`);
const num = async (id: string) => Number((await text(id)).replace(/,/g, ''));

/** Clicks Start and waits for the run to reach its last step and stop. */
async function trainToEnd(): Promise<void> {
  await page.click('#start');
  await until(
    `document.body.dataset.step === '${SIZES.steps}' && document.body.dataset.running === 'false'`,
    45_000,
  );
}

/** Runs the gradient check on `code` and returns the result box's state and text. */
async function check(code: string): Promise<{ ok: boolean; message: string }> {
  await page.fill('#code', code);
  await page.click('#check');
  await until(`document.getElementById('check-result').dataset.ok !== undefined`);
  const box = page.locator('#check-result');
  return { ok: (await box.getAttribute('data-ok')) === 'true', message: await content('#check-result') };
}

/** Clicks Download and returns the file's bytes. */
async function download(): Promise<Uint8Array> {
  const [file] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const path = join(work, file.suggestedFilename());
  await file.saveAs(path);
  return new Uint8Array(readFileSync(path));
}

/** Uploads a weights file and waits for the page to announce it. */
async function upload(path: string): Promise<void> {
  await page.setInputFiles('#upload', path);
  const name = JSON.stringify(`loaded ${basename(path)} `);
  await until(`document.getElementById('status').textContent.startsWith(${name})`);
}

describe('playground in Chromium', () => {
  beforeAll(async () => {
    if (!existsSync(chromiumPath)) {
      throw new Error(`no Chromium at ${chromiumPath}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
    }
    if (!existsSync(join(root, 'dist/index.html'))) {
      throw new Error('no production build: run `npx pnpm@12.4.2 test:e2e`, which builds first');
    }
    server = await preview({
      root,
      logLevel: 'silent',
      preview: { host: '127.0.0.1', port: 0, strictPort: false },
    });
    work = mkdtempSync(join(tmpdir(), 'tensorloom-playground-'));
    // A persistent context is how Playwright takes a user-data-dir: a fresh one per run. Playwright passes
    // --headless itself (headless: true); the rest keep the browser off the network and quiet.
    context = await chromium.launchPersistentContext(join(work, 'profile'), {
      executablePath: chromiumPath,
      headless: true,
      acceptDownloads: true,
      viewport: { width: 1400, height: 1000 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
        '--no-first-run',
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    const record = (where: string) => (msg: { type(): string; text(): string }) => {
      if (msg.type() === 'error') consoleErrors.push(`${where}: ${msg.text()}`);
    };
    page.on('console', record('page'));
    page.on('pageerror', (err) => consoleErrors.push(`page: ${err.message}`));
    page.on('worker', (worker) => worker.on('console', record('worker')));
    const query = new URLSearchParams(Object.entries(SIZES).map(([k, v]) => [k, String(v)]));
    const url = server.resolvedUrls?.local[0];
    if (!url) throw new Error('vite preview reported no local URL');
    await page.goto(`${url}?${query}`);
    await until(`document.body.dataset.ready === 'true'`);
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('trains the built-in LSTM: the validation loss falls and a sample appears', async () => {
    const before = await num('stat-val');
    expect(before).toBeGreaterThan(5); // about log2(80) ≈ 6.3 before training
    await trainToEnd();
    const after = await num('stat-val');
    expect(after).toBeLessThan(before - 1);
    expect(await num('stat-speed')).toBeGreaterThan(0);
    await until(`document.body.dataset.sampleStep === '${SIZES.steps}'`);
    const sample = await text('sample');
    expect(sample.startsWith('The whale')).toBe(true);
    expect(sample.length).toBeGreaterThan(SIZES.sampleLength);
  });

  it('hands a built-in-LSTM download to the Node example, which scores it as the page did', async () => {
    const shown = await num('stat-val');
    const bytes = await download();
    const path = join(work, 'page-lstm.safetensors');
    writeFileSync(path, bytes);
    const corpus = new Corpus(readFileSync(join(root, '../char-lm/data/moby-dick.txt'), 'utf8'));
    const model = new CharLM({
      vocabSize: corpus.vocabSize,
      embed: SIZES.embed,
      hidden: SIZES.hidden,
      layers: 1,
    });
    await loadModule(path, model); // strict: every key of the Node model, no other
    const val = fixedBatch(corpus.valid, VAL.windows, VAL.seq);
    expect(bitsPerChar(model, val, VAL.context)).toBeCloseTo(shown, 2);
  });

  it('checks the GRU preset and names the line of a broken cell', async () => {
    await page.selectOption('#preset', 'gru');
    const gru = await page.inputValue('#code');
    const good = await check(gru);
    expect(good.message).toContain('gradcheck passed');
    expect(good.ok).toBe(true);

    // A misspelt name: a ReferenceError when the step runs, reported at its line.
    const line = gru.split('\n').findIndex((l) => l.includes('const z = sigmoid(add(xz, hz));')) + 1;
    expect(line).toBeGreaterThan(0);
    const misspelt = await check(gru.replace('sigmoid(add(xz, hz))', 'sigmoid(add(xz, hzz))'));
    expect(misspelt.ok).toBe(false);
    expect(misspelt.message).toContain(`line ${line}: ReferenceError: hzz is not defined`);
    expect(await content('#gutter .error')).toBe(String(line));

    // A syntax error: found without running anything.
    const unbalanced = await check(
      gru.replace('const n = tanh(add(xn, mul(r, hn)));', 'const n = tanh(add(xn, mul(r, hn));'),
    );
    expect(unbalanced.ok).toBe(false);
    expect(unbalanced.message).toMatch(new RegExp(`^✗ line ${line + 1}: SyntaxError`));
  });

  it('trains the edited cell and round-trips its weights through download and upload', async () => {
    await page.selectOption('#preset', 'gru');
    await page.click('#train-cell');
    await until(`document.body.dataset.cell === 'GRU' && document.body.dataset.step === '0'`);
    const before = await num('stat-val');
    await trainToEnd();
    const trained = await num('stat-val');
    expect(trained).toBeLessThan(before - 1);
    expect(await page.locator('#speed tr').count()).toBe(2); // built-in LSTM and GRU

    const bytes = await download();
    const { tensors, metadata } = readSafetensors(bytes);
    expect(metadata.cell).toBe('GRU');
    expect(tensors['lstm.cell_l0.weight_hh']?.shape).toEqual([3 * SIZES.hidden, SIZES.hidden]);
    const path = join(work, 'page-gru.safetensors');
    writeFileSync(path, bytes);

    await page.click('#reset');
    await until(`document.body.dataset.step === '0'`);
    expect(await num('stat-val')).toBeCloseTo(before, 3);
    await upload(path);
    expect(await text('status')).toContain('loaded page-gru.safetensors (a playground file): GRU');
    expect(await num('stat-val')).toBeCloseTo(trained, 3);
    expect(await text('stat-step')).toBe(String(SIZES.steps));
  });

  it('opens a checkpoint written by the Node example', async () => {
    const checkpoint = join(work, 'node-checkpoint.safetensors');
    const textPath = join(root, '../char-lm/data/moby-dick.txt');
    const run = await train(
      {
        text: readFileSync(textPath, 'utf8'),
        steps: 3,
        batch: 4,
        seq: 16,
        embed: 8,
        hidden: 24,
        layers: 2,
        dropout: 0,
        lr: 1e-2,
        warmup: 1,
        clip: 1,
        seed: 3,
        evalEvery: 100,
        evalWindows: 2,
        evalSeq: 40,
        evalContext: 8,
        checkpoint,
        saveEvery: 100,
        resume: false,
      },
      { progress: 'quiet' },
    );
    manualSeed(0);
    const nodeScore = bitsPerChar(run.model, fixedBatch(run.corpus.valid, VAL.windows, VAL.seq), VAL.context);
    await upload(checkpoint);
    const status = await text('status');
    expect(status).toContain('a checkpoint of the Node example');
    expect(status).toContain('embedding 8, 2 × 24 hidden, step 3');
    expect(await num('stat-val')).toBeCloseTo(nodeScore, 2);
  });

  it('serves the API reference under /docs', async () => {
    const docs = await context.newPage();
    const response = await docs.goto(new URL('docs/', page.url()).href);
    expect(response?.status()).toBe(200);
    expect(await docs.title()).toContain('TensorLoom');
    await docs.goto(new URL('docs/classes/autograd_src.Tensor.html', page.url()).href);
    expect(await docs.locator('body').textContent()).toContain('Method form of');
    await docs.close();
  });

  it('logged no console errors, and leaves a screenshot', async () => {
    mkdirSync(join(root, 'out'), { recursive: true });
    await page.screenshot({ path: join(root, 'out/e2e.png'), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });
});
