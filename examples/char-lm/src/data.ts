/**
 * The corpus as character ids: a vocabulary of the distinct characters, a train/validation split, random
 * training windows (drawn from the seeded global generator, so a restored RNG state replays the same
 * batches) and fixed validation windows.
 */
import { randint } from '@tensorloom/autograd';

/** A batch of windows, time-major: `inputs[t·B + b]` is char t of window b, `targets` the next char. */
export interface Batch {
  inputs: Int32Array;
  targets: Int32Array;
  /** Steps per window. */
  seq: number;
  /** Windows. */
  batch: number;
}

/** A text encoded as ids over its own sorted character set. */
export class Corpus {
  /** The characters, index = id. */
  readonly chars: readonly string[];
  readonly train: Int32Array;
  readonly valid: Int32Array;
  private readonly ids: Map<string, number>;

  /**
   * Cuts the text into blocks of `block` characters and holds out every `every`-th block (the 10th, 20th, ...)
   * for validation: a tenth of the text, spread over the whole book. (Holding out the end instead would
   * validate on the play-script chapters 37–40 alone, a different distribution from the narrative before.)
   */
  constructor(text: string, block = 4096, every = 10) {
    const chars = [...new Set(text)].sort();
    this.chars = chars;
    this.ids = new Map(chars.map((c, i) => [c, i]));
    const all = this.encode(text);
    const train: Int32Array[] = [];
    const valid: Int32Array[] = [];
    for (let k = 0, start = 0; start < all.length; k++, start += block) {
      (k % every === every - 1 ? valid : train).push(all.subarray(start, start + block));
    }
    this.train = concat(train);
    this.valid = concat(valid);
  }

  /** Number of distinct characters. */
  get vocabSize(): number {
    return this.chars.length;
  }

  /** Ids of `text`; characters outside the vocabulary are an error naming them. */
  encode(text: string): Int32Array {
    const out = new Int32Array([...text].length);
    let i = 0;
    for (const c of text) {
      const id = this.ids.get(c);
      if (id === undefined)
        throw new Error(`Corpus.encode: character ${JSON.stringify(c)} is not in the vocabulary`);
      out[i++] = id;
    }
    return out;
  }

  /** The text of `ids`. */
  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) s += this.chars[ids[i]!] ?? '?';
    return s;
  }
}

function concat(parts: Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Cuts windows of `seq` + 1 chars starting at `starts` out of `ids` into a time-major batch. */
export function windows(ids: Int32Array, starts: ArrayLike<number>, seq: number): Batch {
  const B = starts.length;
  const inputs = new Int32Array(seq * B);
  const targets = new Int32Array(seq * B);
  for (let b = 0; b < B; b++) {
    const s = starts[b]!;
    if (s < 0 || s + seq + 1 > ids.length)
      throw new Error(`windows: a window of ${seq + 1} chars at ${s} runs past the ${ids.length} chars`);
    for (let t = 0; t < seq; t++) {
      inputs[t * B + b] = ids[s + t]!;
      targets[t * B + b] = ids[s + t + 1]!;
    }
  }
  return { inputs, targets, seq, batch: B };
}

/** `batch` random training windows of `seq` chars (uniform start positions, global seeded generator). */
export function randomBatch(ids: Int32Array, batch: number, seq: number): Batch {
  const span = ids.length - seq - 1;
  if (span < 1) throw new Error(`randomBatch: ${ids.length} chars are too few for windows of ${seq + 1}`);
  return windows(ids, randint(0, span, [batch]).data, seq);
}

/** `count` evenly spaced windows of `seq` chars: the same every time, so validation curves are comparable. */
export function fixedBatch(ids: Int32Array, count: number, seq: number): Batch {
  const span = ids.length - seq - 1;
  if (span < 1) throw new Error(`fixedBatch: ${ids.length} chars are too few for windows of ${seq + 1}`);
  const starts = Array.from({ length: count }, (_, k) => Math.floor((k * span) / Math.max(1, count)));
  return windows(ids, starts, seq);
}

/**
 * Step `k` of `batch` contiguous streams (truncated backpropagation through time over running text): `ids` is
 * cut into `batch` equal streams, and step k takes the k-th window of `seq` chars of each, modulo the windows a
 * stream holds, so each window continues where the same row of the previous step ended (a stream that runs
 * out starts again from its beginning). No randomness: the batch is a function of k alone.
 */
export function streamBatch(ids: Int32Array, batch: number, seq: number, k: number): Batch {
  const length = Math.floor((ids.length - 1) / batch);
  const per = Math.floor((length - 1) / seq);
  if (per < 1)
    throw new Error(`streamBatch: ${ids.length} chars are too few for ${batch} streams of ${seq + 1}`);
  const offset = (k % per) * seq;
  return windows(
    ids,
    Array.from({ length: batch }, (_, b) => b * length + offset),
    seq,
  );
}
