/** Messages between the page and the training worker. */

/** The model and training run's sizes; the page reads overrides from its URL (`?hidden=32&layers=1`). */
export interface RunConfig {
  embed: number;
  hidden: number;
  layers: number;
  batch: number;
  seq: number;
  /** Peak learning rate (Adam), reached after `warmup` steps, then a cosine decay to a tenth at `steps`. */
  lr: number;
  warmup: number;
  /** The run's length: training stops here. */
  steps: number;
  clip: number;
  seed: number;
  /** Validate and sample every this many steps. */
  evalEvery: number;
  /** Characters per sample. */
  sampleLength: number;
}

/** The page's defaults: the Node demo's model and batch (`npx pnpm@12.4.2 demo`), so speeds compare. */
export const DEFAULT_CONFIG: RunConfig = {
  embed: 32,
  hidden: 128,
  layers: 2,
  batch: 32,
  seq: 32,
  lr: 1e-2,
  warmup: 20,
  steps: 1200,
  clip: 1,
  seed: 1,
  evalEvery: 50,
  sampleLength: 240,
};

/** What the model's recurrent layer is: the built-in `LSTM`, or the editor's cell in a `CellStack`. */
export interface CellChoice {
  /** 'builtin' or the name of the cell class. */
  name: string;
  /** The editor code of a custom cell; null for the built-in LSTM. */
  code: string | null;
}

export type ToWorker =
  | { type: 'init'; config: RunConfig; text: string }
  | { type: 'start' }
  | { type: 'pause' }
  | { type: 'reset' }
  | { type: 'text'; text: string }
  | { type: 'temperature'; value: number }
  | { type: 'check'; code: string }
  | { type: 'use-cell'; code: string | null }
  | { type: 'save' }
  | { type: 'load'; bytes: Uint8Array; name: string };

/** A point of the curves: training loss is per step, validation every `evalEvery` steps. */
export interface Progress {
  step: number;
  /** Bits per character of the latest training batches (one value per step since the last message). */
  trainBpc: number[];
  /** Validation bits per character, when this step validated. */
  valBpc: number | null;
  /** Training characters per second over this run's training steps (evaluation and sampling excluded). */
  charsPerSecond: number;
}

export type FromWorker =
  | {
      type: 'model';
      cell: string;
      /** Embedding, hidden and layer sizes of the model (a loaded file's may differ from the config's). */
      embed: number;
      hidden: number;
      layers: number;
      params: number;
      /** Which float32 kernels run: 'WebAssembly SIMD' or 'JavaScript'. */
      kernels: string;
      vocab: number;
      trainChars: number;
      validChars: number;
      step: number;
      valBpc: number;
      note: string;
    }
  | ({ type: 'progress' } & Progress)
  | { type: 'sample'; step: number; temperature: number; text: string }
  | { type: 'state'; running: boolean; done: boolean }
  | { type: 'check'; ok: boolean; message: string; line: number | null }
  | { type: 'speed'; cell: string; charsPerSecond: number }
  | { type: 'weights'; bytes: Uint8Array; name: string }
  | { type: 'error'; message: string; line: number | null };
