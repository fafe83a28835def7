/**
 * The training worker: holds the corpus, the model, the optimizer and the run, so the page stays responsive
 * while it trains. The editor's cell code is compiled and run here (in the user's own tab). Training runs
 * one step at a time and yields to the message queue between steps, so Pause, a new temperature or a
 * download request take effect at the next step.
 */
import * as autograd from '@tensorloom/autograd';
import { gradcheck, manualSeed, noGrad, randn, type Tensor } from '@tensorloom/autograd';
import { wasmStatus } from '@tensorloom/autograd/kernels';
import * as lstm from '@tensorloom/lstm';
import { recurrent } from '@tensorloom/lstm';
import * as nn from '@tensorloom/nn';
import {
  Adam,
  clipGradNorm,
  crossEntropy,
  deserializeState,
  LambdaLR,
  loadSafetensors,
  type Module,
  readSafetensors,
  STATE_METADATA_KEY,
  saveSafetensors,
} from '@tensorloom/nn';
import { type Batch, Corpus, fixedBatch, randomBatch } from '../../char-lm/src/data.ts';
import { type CellClass, CellCodeError, compileCell, type ModuleTable, toCellError } from './compile.ts';
import { CharModel, type ModelShape } from './model.ts';
import type { FromWorker, RunConfig, ToWorker } from './protocol.ts';

/** What a cell's code may import: the three packages, as a user's app imports them. */
const MODULES: ModuleTable = {
  '@tensorloom/autograd': autograd,
  '@tensorloom/nn': nn,
  '@tensorloom/lstm': lstm,
};

/** Metadata key of a playground weights file: the format tag; other keys hold vocab, cell and sizes. */
const FORMAT = 'tensorloom.playground';
/** Validation: fixed windows of the held-out text; the first `VAL_CONTEXT` chars of each only give context. */
const VAL_WINDOWS = 16;
const VAL_SEQ = 128;
const VAL_CONTEXT = 32;
const PRIME = 'The whale';

const post = (message: FromWorker, transfer: Transferable[] = []) => self.postMessage(message, { transfer });

/** linear warm-up to 1 over `warmup` steps, then cosine from 1 to 0.1 at `total` (as the Node demo). */
function lrFactor(step: number, warmup: number, total: number): number {
  if (step < warmup) return (step + 1) / warmup;
  const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return 0.1 + 0.45 * (1 + Math.cos(Math.PI * progress));
}

/**
 * Waits (up to 10 s) for the WebAssembly kernels, which a browser may compile in the background: until then
 * the float32 kernels take their JavaScript path, correct but several times slower.
 */
async function kernelsReady(): Promise<string> {
  const started = performance.now();
  while (wasmStatus() === 'pending' && performance.now() - started < 10_000) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return wasmStatus() === 'ready' ? 'WebAssembly SIMD' : 'JavaScript';
}

/** Resolves after pending messages ran: a MessageChannel round trip, without setTimeout's 4 ms clamp. */
function yieldToMessages(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

interface Cell {
  name: string;
  code: string | null;
  Class: CellClass | null;
}

let config: RunConfig;
let corpus: Corpus;
let val: Batch;
let cell: Cell = { name: 'built-in LSTM', code: null, Class: null };
let model: CharModel;
let optimizer: Adam;
let scheduler: LambdaLR;
let step = 0;
let running = false;
/** Bumped whenever the model is replaced, so a run loop of the previous model stops without reporting. */
let generation = 0;
/** Whether a run loop is alive (between its steps it awaits the message queue). */
let looping = false;
let temperature = 0.8;
/** Wall time (ms) and characters of this model's training steps, for characters per second. */
let trainMs = 0;
let trainChars = 0;
/** Which float32 kernels run: 'WebAssembly SIMD' or 'JavaScript'. */
let kernels = 'JavaScript';

function bitsPerChar(batch: Batch, burnIn: number): number {
  model.eval();
  const B = batch.batch;
  const nats = noGrad(() => {
    const [logits] = model.forward(batch.inputs, batch.seq, B);
    const scored = logits.narrow(0, burnIn * B, (batch.seq - burnIn) * B);
    return crossEntropy(scored, batch.targets.subarray(burnIn * B)).item();
  });
  model.train();
  return nats / Math.LN2;
}

function sample(): void {
  const prime = PRIME.split('').every((c) => corpus.chars.includes(c)) ? PRIME : corpus.chars[0]!;
  const ids = model.sample(corpus.encode(prime), config.sampleLength, temperature);
  post({ type: 'sample', step, temperature, text: prime + corpus.decode(ids) });
}

/** A fresh model (seeded) for the current corpus and cell, or one of the given shape. */
function build(shape?: ModelShape): void {
  manualSeed(config.seed);
  model = new CharModel(
    shape ?? {
      vocabSize: corpus.vocabSize,
      embed: config.embed,
      hidden: config.hidden,
      layers: config.layers,
    },
    cell.Class,
  );
  optimizer = new Adam(model.parameters(), { lr: config.lr });
  scheduler = new LambdaLR(optimizer, (e) => lrFactor(e, config.warmup, config.steps));
  step = 0;
  trainMs = 0;
  trainChars = 0;
  generation += 1;
}

function announce(note: string): void {
  post({
    type: 'model',
    cell: cell.name,
    embed: model.shape.embed,
    hidden: model.shape.hidden,
    layers: model.shape.layers,
    params: model.numParameters(),
    kernels,
    vocab: corpus.vocabSize,
    trainChars: corpus.train.length,
    validChars: corpus.valid.length,
    step,
    valBpc: bitsPerChar(val, VAL_CONTEXT),
    note,
  });
  sample();
  post({ type: 'state', running, done: step >= config.steps });
}

function setCorpus(text: string): void {
  const next = new Corpus(text);
  const need = VAL_SEQ + 1;
  if (next.valid.length < need || next.train.length < config.seq + 2) {
    throw new Error(
      `the text is too short: ${text.length} characters give ${next.valid.length} for validation (every 10th block of 4,096); at least ${need} are needed, so paste 41,000 characters or more`,
    );
  }
  corpus = next;
  val = fixedBatch(corpus.valid, VAL_WINDOWS, VAL_SEQ);
}

/** One optimisation step; returns its training loss in bits per character. */
function trainStep(): number {
  const started = performance.now();
  const batch = randomBatch(corpus.train, config.batch, config.seq);
  const [logits] = model.forward(batch.inputs, batch.seq, batch.batch);
  const loss = crossEntropy(logits, batch.targets);
  optimizer.zeroGrad();
  loss.backward();
  clipGradNorm(model.parameters(), config.clip);
  optimizer.step();
  scheduler.step();
  const bpc = loss.item() / Math.LN2;
  trainMs += performance.now() - started;
  trainChars += config.batch * config.seq;
  step += 1;
  return bpc;
}

const charsPerSecond = () => (trainMs > 0 ? (trainChars * 1000) / trainMs : 0);

async function run(): Promise<void> {
  looping = true;
  try {
    await loop();
  } finally {
    looping = false;
  }
}

async function loop(): Promise<void> {
  let mine = generation;
  post({ type: 'state', running, done: false });
  let pending: number[] = [];
  let lastPost = 0;
  while (running && step < config.steps) {
    try {
      pending.push(trainStep());
    } catch (err) {
      running = false;
      const e = toCellError(err);
      post({ type: 'error', message: `training failed at step ${step + 1}: ${e.message}`, line: e.line });
      break;
    }
    const evaluate = step % config.evalEvery === 0 || step === config.steps;
    const now = performance.now();
    if (evaluate || now - lastPost > 150) {
      post({
        type: 'progress',
        step,
        trainBpc: pending,
        valBpc: evaluate ? bitsPerChar(val, VAL_CONTEXT) : null,
        charsPerSecond: charsPerSecond(),
      });
      pending = [];
      lastPost = now;
    }
    if (evaluate) {
      sample();
      post({ type: 'speed', cell: cell.name, charsPerSecond: charsPerSecond() });
    }
    await yieldToMessages();
    if (generation !== mine) {
      // The model was replaced meanwhile: drop what belonged to the old one, go on if still asked to.
      mine = generation;
      pending = [];
    }
  }
  if (pending.length > 0) {
    post({ type: 'progress', step, trainBpc: pending, valBpc: null, charsPerSecond: charsPerSecond() });
  }
  if (trainChars > 0) post({ type: 'speed', cell: cell.name, charsPerSecond: charsPerSecond() });
  running = false;
  post({ type: 'state', running, done: step >= config.steps });
}

/**
 * Compiles a cell and holds its gradients against central differences in float64: a 2-layer stack is not
 * needed for that, one cell through 5 steps of a batch of 2 checks the input and every weight.
 */
function check(code: string): void {
  try {
    const Class = compileCell(code, MODULES);
    let probe: lstm.RecurrentCell & Module;
    try {
      manualSeed(0);
      probe = (new Class(3, 4) as lstm.RecurrentCell & Module).double();
      const x = randn([5, 2, 3], { dtype: 'float64', requiresGrad: true });
      const params = probe.parameters();
      if (params.length === 0)
        throw new Error('the cell has no parameters (assign Parameters to its fields)');
      const [out] = recurrent(probe, x);
      if (out.shape.join() !== [5, 2, probe.outputSize].join()) {
        throw new Error(
          `the cell's outputs stack to [${out.shape.join(',')}], expected [5,2,${probe.outputSize}] (steps, batch, outputSize)`,
        );
      }
      gradcheck((input: Tensor) => recurrent(probe, input)[0], [x, ...params]);
      post({
        type: 'check',
        ok: true,
        message: `gradcheck passed: ${Class.name} in float64, 5 steps of a batch of 2, the input and ${params.length} parameters (${probe.numParameters()} values) match central differences.`,
        line: null,
      });
    } catch (err) {
      throw toCellError(err);
    }
  } catch (err) {
    const e = err instanceof CellCodeError ? err : toCellError(err);
    post({ type: 'check', ok: false, message: e.message, line: e.line });
  }
}

function useCell(code: string | null): void {
  try {
    const Class = code === null ? null : compileCell(code, MODULES);
    const previous = cell;
    cell = { name: Class ? Class.name : 'built-in LSTM', code, Class };
    try {
      build();
    } catch (err) {
      cell = previous;
      build();
      throw toCellError(err);
    }
    announce(Class ? `training the editor's ${Class.name} cell` : 'training the built-in LSTM');
  } catch (err) {
    const e = toCellError(err);
    post({ type: 'error', message: e.message, line: e.line });
  }
}

function save(): void {
  const shape = model.shape;
  const metadata: Record<string, string> = {
    format: FORMAT,
    vocab: corpus.chars.join(''),
    cell: cell.name,
    step: String(step),
    shape: JSON.stringify({ embed: shape.embed, hidden: shape.hidden, layers: shape.layers }),
  };
  if (cell.code !== null) metadata.code = cell.code;
  const bytes = saveSafetensors(model.stateDict(), metadata);
  const name = `tensorloom-${cell.name.replace(/[^\w-]+/g, '-').toLowerCase()}-step${step}.safetensors`;
  post({ type: 'weights', bytes, name }, [bytes.buffer]);
}

/** The number of layers in a state dict: the highest `_l{n}` / `cell_l{n}` index plus one. */
function countLayers(keys: string[], custom: boolean): number {
  const pattern = custom ? /^lstm\.cell_l(\d+)\./ : /^lstm\.weight_ih_l(\d+)$/;
  let layers = 0;
  for (const key of keys) {
    const m = pattern.exec(key);
    if (m) layers = Math.max(layers, Number(m[1]) + 1);
  }
  return layers;
}

/**
 * Loads weights: a file this page saved (a plain state dict, safetensors) or a checkpoint of the Node example
 * (`examples/char-lm`, model state under `model.`). The sizes come from the tensors' shapes; the vocabulary
 * must be the current text's, since ids are positions in it.
 */
function load(bytes: Uint8Array, name: string): void {
  try {
    const { metadata } = readSafetensors(bytes);
    let tensors: Record<string, Tensor>;
    let vocab: string | undefined;
    let savedStep = 0;
    let code: string | null = null;
    let source: string;
    if (metadata[STATE_METADATA_KEY] !== undefined) {
      const tree = deserializeState(bytes) as {
        format?: string;
        step?: number;
        model?: Record<string, Tensor>;
        extra?: { vocab?: string };
      };
      if (tree.format !== 'tensorloom.checkpoint' || !tree.model) {
        throw new Error('it holds a training state but not a model checkpoint');
      }
      tensors = tree.model;
      vocab = tree.extra?.vocab;
      savedStep = tree.step ?? 0;
      source = 'a checkpoint of the Node example';
    } else {
      tensors = loadSafetensors(bytes);
      vocab = metadata.vocab;
      savedStep = Number(metadata.step ?? 0) || 0;
      code = metadata.code ?? null;
      source = metadata.format === FORMAT ? 'a playground file' : 'a safetensors state dict';
    }
    if (vocab !== undefined && vocab !== corpus.chars.join('')) {
      throw new Error(
        `it was trained on a text of ${[...vocab].length} distinct characters, the current text has ${corpus.vocabSize}; load the text it was trained on first`,
      );
    }
    const keys = Object.keys(tensors);
    const embed = tensors['embed.weight'];
    const head = tensors['head.weight'];
    if (!embed || !head) {
      throw new Error(
        `expected the char-LM parameters embed.weight, lstm.*, head.*; found ${keys.slice(0, 6).join(', ')}${keys.length > 6 ? ', ...' : ''}`,
      );
    }
    if (embed.shape[0] !== corpus.vocabSize) {
      throw new Error(
        `embed.weight is [${embed.shape.join(',')}], the text has ${corpus.vocabSize} characters`,
      );
    }
    const custom = code !== null;
    const shape: ModelShape = {
      vocabSize: corpus.vocabSize,
      embed: embed.shape[1]!,
      hidden: head.shape[1]!,
      layers: countLayers(keys, custom),
    };
    if (shape.layers === 0) throw new Error('found no recurrent layer weights (lstm.*)');
    const Class = code === null ? null : compileCell(code, MODULES);
    const previous = { cell, model, optimizer, scheduler, step, trainMs, trainChars };
    cell = { name: Class ? Class.name : 'built-in LSTM', code, Class };
    try {
      build(shape);
      model.loadStateDict(tensors);
    } catch (err) {
      ({ cell, model, optimizer, scheduler, step, trainMs, trainChars } = previous);
      throw err;
    }
    step = savedStep;
    for (let k = 0; k < step; k++) scheduler.step();
    announce(
      `loaded ${name} (${source}): ${cell.name}, embedding ${shape.embed}, ${shape.layers} × ${shape.hidden} hidden, step ${step}`,
    );
  } catch (err) {
    const e = toCellError(err);
    post({ type: 'error', message: `cannot load ${name}: ${e.message}`, line: null });
  }
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  try {
    switch (msg.type) {
      case 'init':
        config = msg.config;
        setCorpus(msg.text);
        kernels = await kernelsReady();
        build();
        announce('ready');
        break;
      case 'start':
        if (step < config.steps) {
          running = true;
          // A loop paused a moment ago may still be waiting for its next turn: it carries on.
          if (!looping) void run();
        }
        break;
      case 'pause':
        running = false;
        break;
      case 'reset':
        running = false;
        build();
        announce('reset to fresh weights');
        break;
      case 'text':
        running = false;
        setCorpus(msg.text);
        build();
        announce(`new text: ${msg.text.length.toLocaleString('en-US')} characters`);
        break;
      case 'temperature':
        temperature = msg.value;
        if (!running) sample();
        break;
      case 'check':
        check(msg.code);
        break;
      case 'use-cell':
        running = false;
        useCell(msg.code);
        break;
      case 'save':
        save();
        break;
      case 'load':
        running = false;
        load(msg.bytes, msg.name);
        break;
    }
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err), line: null });
  }
};
