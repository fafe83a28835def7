/**
 * The page: controls, chart, samples, the cell editor and the weights buttons. All computation happens in
 * the worker (worker.ts); this file only sends it requests and draws what it reports.
 */
import corpusUrl from '../../char-lm/data/moby-dick.txt?url';
import { lineChart } from './chart.ts';
import { PRESETS } from './presets.ts';
import { DEFAULT_CONFIG, type FromWorker, type RunConfig, type ToWorker } from './protocol.ts';
import './style.css';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** Sizes from the URL (`?hidden=32&layers=1&steps=40`), for quick runs and tests; defaults otherwise. */
function configFromUrl(): RunConfig {
  const params = new URLSearchParams(location.search);
  const config = { ...DEFAULT_CONFIG };
  for (const key of Object.keys(config) as (keyof RunConfig)[]) {
    const raw = params.get(key);
    if (raw === null) continue;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`?${key}=${raw} must be a positive number`);
    config[key] = value;
  }
  return config;
}

const config = configFromUrl();
const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (message: ToWorker, transfer: Transferable[] = []) => worker.postMessage(message, transfer);

// ---- state drawn on the page --------------------------------------------------------------------------

let trainBpc: number[] = [];
let startStep = 0;
let valSteps: number[] = [];
let valBpc: number[] = [];
const speeds = new Map<string, number>();

const status = (text: string, kind: 'info' | 'error' = 'info') => {
  const el = $('status');
  el.textContent = text;
  el.className = kind;
};

function drawChart(): void {
  // Per-step training values are noisy: draw their 20-step running mean.
  const mean: number[] = [];
  let sum = 0;
  for (let i = 0; i < trainBpc.length; i++) {
    sum += trainBpc[i]!;
    if (i >= 20) sum -= trainBpc[i - 20]!;
    mean.push(sum / Math.min(i + 1, 20));
  }
  $('chart').innerHTML = lineChart(
    [
      { name: 'train (20-step mean)', x: mean.map((_, i) => startStep + i + 1), y: mean, color: '#2563eb' },
      { name: 'validation', x: valSteps, y: valBpc, color: '#ea580c', dots: true },
    ],
    { width: 640, height: 260, xLabel: 'step', yLabel: 'bits / char', xMax: config.steps },
  );
}

function drawSpeeds(): void {
  const rows = [...speeds].map(
    ([cell, cps]) =>
      `<tr><td>${escapeHtml(cell)}</td><td>${Math.round(cps).toLocaleString('en-US')}</td></tr>`,
  );
  $('speed').innerHTML = rows.join('') || '<tr><td colspan="2" class="muted">train to measure</td></tr>';
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

let wasRunning = false;
function setRunning(running: boolean, done: boolean): void {
  $<HTMLButtonElement>('start').disabled = running || done;
  $<HTMLButtonElement>('pause').disabled = !running;
  $<HTMLButtonElement>('start').textContent = trainBpc.length > 0 && !done ? 'Resume' : 'Start';
  document.body.dataset.running = String(running);
  // Only a run that just ended says so (a loaded model at its last step keeps its own message).
  if (done && wasRunning) status(`finished the run's ${config.steps} steps`);
  wasRunning = running;
}

// ---- the editor -----------------------------------------------------------------------------------------

const code = $<HTMLTextAreaElement>('code');
const gutter = $('gutter');
let errorLine: number | null = null;

function drawGutter(): void {
  const lines = code.value.split('\n').length;
  gutter.innerHTML = Array.from(
    { length: lines },
    (_, i) => `<span${i + 1 === errorLine ? ' class="error"' : ''}>${i + 1}</span>`,
  ).join('\n');
  gutter.scrollTop = code.scrollTop;
}

function showCheck(ok: boolean, message: string, line: number | null): void {
  const box = $('check-result');
  box.hidden = false;
  box.className = `result ${ok ? 'ok' : 'bad'}`;
  box.textContent = `${ok ? '✓' : '✗'} ${message}`;
  box.dataset.ok = String(ok);
  errorLine = ok ? null : line;
  drawGutter();
}

const preset = $<HTMLSelectElement>('preset');
for (const [key, { label }] of Object.entries(PRESETS)) preset.add(new Option(label, key));
preset.value = 'mgu';
code.value = PRESETS.mgu!.code;
preset.addEventListener('change', () => {
  code.value = PRESETS[preset.value]!.code;
  errorLine = null;
  $('check-result').hidden = true;
  drawGutter();
});
code.addEventListener('input', () => {
  errorLine = null;
  drawGutter();
});
code.addEventListener('scroll', () => {
  gutter.scrollTop = code.scrollTop;
});
code.addEventListener('keydown', (event) => {
  // Tab indents (two spaces) instead of leaving the editor.
  if (event.key !== 'Tab') return;
  event.preventDefault();
  code.setRangeText('  ', code.selectionStart, code.selectionEnd, 'end');
  drawGutter();
});
drawGutter();

// ---- worker messages ------------------------------------------------------------------------------------

worker.onmessage = (event: MessageEvent<FromWorker>) => {
  const msg = event.data;
  switch (msg.type) {
    case 'model':
      trainBpc = [];
      startStep = msg.step;
      valSteps = [msg.step];
      valBpc = [msg.valBpc];
      $('model-label').textContent = `${msg.cell} · ${msg.params.toLocaleString('en-US')} parameters`;
      $('model-note').textContent =
        `Embedding ${msg.embed} → ${msg.layers} × ${msg.cell} (hidden ${msg.hidden}) → linear over ${msg.vocab} characters; ` +
        `batches of ${config.batch} × ${config.seq} characters, Adam with warm-up and cosine decay over ${config.steps} steps. ` +
        `A uniform guess scores ${Math.log2(msg.vocab).toFixed(2)} bits/char. Kernels: ${msg.kernels}.`;
      $('corpus-note').textContent =
        `${(msg.trainChars + msg.validChars).toLocaleString('en-US')} characters: ${msg.trainChars.toLocaleString('en-US')} to train on, every tenth block of 4,096 (${msg.validChars.toLocaleString('en-US')}) held out for validation.`;
      $('stat-step').textContent = String(msg.step);
      $('stat-train').textContent = '–';
      $('stat-val').textContent = msg.valBpc.toFixed(3);
      $('stat-speed').textContent = '–';
      document.body.dataset.step = String(msg.step);
      document.body.dataset.cell = msg.cell;
      document.body.dataset.kernels = msg.kernels;
      for (const id of [
        'start',
        'reset',
        'check',
        'train-cell',
        'builtin',
        'download',
        'use-text',
        'upload',
      ]) {
        $<HTMLButtonElement>(id).disabled = false;
      }
      document.body.dataset.ready = 'true';
      status(msg.note);
      drawChart();
      break;
    case 'progress': {
      trainBpc.push(...msg.trainBpc);
      if (msg.valBpc !== null) {
        valSteps.push(msg.step);
        valBpc.push(msg.valBpc);
        $('stat-val').textContent = msg.valBpc.toFixed(3);
      }
      const recent = trainBpc.slice(-20);
      $('stat-step').textContent = msg.step.toLocaleString('en-US');
      $('stat-train').textContent = (recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(3);
      $('stat-speed').textContent = Math.round(msg.charsPerSecond).toLocaleString('en-US');
      document.body.dataset.step = String(msg.step);
      drawChart();
      break;
    }
    case 'sample':
      $('sample').textContent = msg.text;
      $('sample-label').textContent = `step ${msg.step} · temperature ${msg.temperature.toFixed(2)}`;
      document.body.dataset.sampleStep = String(msg.step);
      break;
    case 'state':
      setRunning(msg.running, msg.done);
      break;
    case 'speed':
      speeds.set(msg.cell, msg.charsPerSecond);
      drawSpeeds();
      break;
    case 'check':
      showCheck(msg.ok, msg.message, msg.line);
      break;
    case 'weights': {
      const url = URL.createObjectURL(new Blob([msg.bytes as Uint8Array<ArrayBuffer>]));
      const link = document.createElement('a');
      link.href = url;
      link.download = msg.name;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      status(`saved ${msg.name} (${(msg.bytes.length / 1024).toFixed(0)} KB)`);
      break;
    }
    case 'error':
      if (msg.line !== null) showCheck(false, msg.message, msg.line);
      status(msg.message, 'error');
      document.body.dataset.error = msg.message;
      break;
  }
};
worker.onerror = (event) => status(`the worker failed: ${event.message}`, 'error');

// ---- controls -------------------------------------------------------------------------------------------

$('start').addEventListener('click', () => send({ type: 'start' }));
$('pause').addEventListener('click', () => send({ type: 'pause' }));
$('reset').addEventListener('click', () => send({ type: 'reset' }));
const temperature = $<HTMLInputElement>('temperature');
temperature.addEventListener('input', () => {
  $('temperature-value').textContent = Number(temperature.value).toFixed(2);
});
temperature.addEventListener('change', () => send({ type: 'temperature', value: Number(temperature.value) }));
$('check').addEventListener('click', () => {
  $('check-result').hidden = false;
  $('check-result').className = 'result';
  $('check-result').textContent = 'checking…';
  delete $('check-result').dataset.ok;
  send({ type: 'check', code: code.value });
});
$('train-cell').addEventListener('click', () => {
  $('check-result').hidden = true;
  send({ type: 'use-cell', code: code.value });
});
$('builtin').addEventListener('click', () => send({ type: 'use-cell', code: null }));
$('download').addEventListener('click', () => send({ type: 'save' }));
$('upload').addEventListener('change', async () => {
  const input = $<HTMLInputElement>('upload');
  const file = input.files?.[0];
  if (!file) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  input.value = '';
  send({ type: 'load', bytes, name: file.name }, [bytes.buffer]);
});
$('use-text').addEventListener('click', () => {
  const text = $<HTMLTextAreaElement>('own-text').value;
  send({ type: 'text', text });
});

drawChart();
drawSpeeds();
status('loading the text…');
fetch(corpusUrl)
  .then((response) => {
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    return response.text();
  })
  .then((text) => send({ type: 'init', config, text }))
  .catch((err: unknown) => status(`could not load the text: ${String(err)}`, 'error'));
