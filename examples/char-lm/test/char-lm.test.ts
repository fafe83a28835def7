import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tensor } from '@tensorloom/autograd';
import { deserializeState } from '@tensorloom/nn';
import { afterAll, describe, expect, it } from 'vitest';
import { Corpus, fixedBatch, streamBatch, windows } from '../src/data.ts';
import { lrFactor, type TrainConfig, train } from '../src/train.ts';

const text = readFileSync(new URL('../data/moby-dick.txt', import.meta.url), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'char-lm-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A model small enough that a few steps take well under a second. */
const tiny = (over: Partial<TrainConfig>): TrainConfig => ({
  text,
  steps: 12,
  batch: 8,
  seq: 16,
  embed: 8,
  hidden: 24,
  layers: 2,
  dropout: 0,
  lr: 1e-2,
  warmup: 2,
  clip: 1,
  seed: 3,
  evalEvery: 4,
  evalWindows: 16,
  evalSeq: 24,
  evalContext: 8,
  checkpoint: null,
  saveEvery: 1000,
  resume: false,
  ...over,
});

describe('corpus', () => {
  it('round-trips the text and holds out every 10th block of 4096 characters', () => {
    const corpus = new Corpus(text);
    expect(corpus.vocabSize).toBe(80);
    expect(corpus.decode(corpus.encode('Call me Ishmael.'))).toBe('Call me Ishmael.');
    expect(corpus.train.length + corpus.valid.length).toBe(text.length);
    expect(corpus.valid.length).toBe(
      Math.floor(text.length / 40960) * 4096 + Math.max(0, (text.length % 40960) - 9 * 4096),
    );
    expect(corpus.decode(corpus.valid.subarray(0, 50))).toBe(text.slice(9 * 4096, 9 * 4096 + 50));
    expect(corpus.decode(corpus.train.subarray(9 * 4096, 9 * 4096 + 50))).toBe(
      text.slice(10 * 4096, 10 * 4096 + 50),
    );
    expect(() => corpus.encode('€')).toThrow(/"€" is not in the vocabulary/);
  });

  it('lays windows out time-major with targets shifted by one', () => {
    const ids = Int32Array.from({ length: 20 }, (_, i) => i);
    const b = windows(ids, [0, 10], 3);
    expect(Array.from(b.inputs)).toEqual([0, 10, 1, 11, 2, 12]);
    expect(Array.from(b.targets)).toEqual([1, 11, 2, 12, 3, 13]);
    expect(fixedBatch(ids, 2, 3).inputs).toEqual(fixedBatch(ids, 2, 3).inputs);
  });

  it('cuts running streams: each step continues the previous one row by row, and wraps after a pass', () => {
    const ids = Int32Array.from({ length: 41 }, (_, i) => i);
    // 2 streams of 20 chars ([0, 20) and [20, 40)); windows of 3 + 1 chars: 6 steps per pass.
    const b0 = streamBatch(ids, 2, 3, 0);
    expect(Array.from(b0.inputs)).toEqual([0, 20, 1, 21, 2, 22]);
    expect(Array.from(b0.targets)).toEqual([1, 21, 2, 22, 3, 23]);
    expect(Array.from(streamBatch(ids, 2, 3, 1).inputs)).toEqual([3, 23, 4, 24, 5, 25]);
    const last = streamBatch(ids, 2, 3, 5);
    expect(Array.from(last.targets)).toEqual([16, 36, 17, 37, 18, 38]);
    expect(streamBatch(ids, 2, 3, 6).inputs).toEqual(b0.inputs);
    expect(() => streamBatch(ids.subarray(0, 8), 4, 3, 0)).toThrow(/8 chars are too few for 4 streams of 4/);
  });

  it('warms the learning rate up linearly, then decays it by cosine to a tenth', () => {
    expect([0, 1, 3].map((s) => lrFactor(s, 4, 100))).toEqual([0.25, 0.5, 1]);
    expect(lrFactor(52, 4, 100)).toBeCloseTo(0.55, 12);
    expect(lrFactor(100, 4, 100)).toBeCloseTo(0.1, 12);
  });
});

describe('training (smoke)', () => {
  it('lowers validation bits per character within a few steps', async () => {
    const run = await train(tiny({}), { progress: 'quiet' });
    const bpc = run.history.valBpc;
    expect(run.history.evalSteps).toEqual([0, 4, 8, 12]);
    expect(bpc[0]).toBeGreaterThan(Math.log2(80) - 0.2);
    expect(bpc.at(-1)!).toBeLessThan(bpc[0]! - 0.8);
    expect(run.history.loss).toHaveLength(12);
  });

  it('resumes from a checkpoint exactly: same weights and curves as an uninterrupted run', async () => {
    const straight = await train(tiny({ checkpoint: join(dir, 'a.safetensors') }), { progress: 'quiet' });
    const path = join(dir, 'b.safetensors');
    const first = await train(tiny({ checkpoint: path }), { progress: 'quiet', stop: (step) => step >= 5 });
    expect(first.interrupted).toBe(true);
    expect(first.history.loss).toHaveLength(5);
    const notes: string[] = [];
    const resumed = await train(tiny({ checkpoint: path, resume: true }), {
      progress: 'quiet',
      log: (l) => notes.push(l),
    });
    expect(notes).toEqual([`resumed from ${path} at step 5`]);
    expect(resumed.startStep).toBe(5);
    expect(resumed.history).toEqual(straight.history);
    const a = straight.model.stateDict();
    const b = resumed.model.stateDict();
    for (const [name, t] of Object.entries(a))
      expect(Array.from(b[name]!.data), name).toEqual(Array.from(t.data));
    // A checkpoint from other flags is refused with the differences named.
    await expect(
      train(tiny({ checkpoint: path, resume: true, hidden: 32 }), { progress: 'quiet' }),
    ).rejects.toThrow(/it was trained with --hidden 24 \(given 32\)/);
    await expect(
      train(tiny({ checkpoint: path, resume: true, windows: 'random' }), { progress: 'quiet' }),
    ).rejects.toThrow(/it was trained with --windows streams \(given random\)/);
  });

  it('carries the LSTM state between steps (streams), and resumes it from the checkpoint', async () => {
    // 11 blocks of text: 40,960 training chars in 256 streams of 159 hold 9 windows of 16 + 1, so a 12-step
    // run starts a second pass at step 9; it stops at step 7 and resumes.
    const over = { text: text.slice(0, 11 * 4096), batch: 256, seq: 16, steps: 12 };
    const straight = await train(tiny(over), { progress: 'quiet' });
    const path = join(dir, 'c.safetensors');
    await train(tiny({ ...over, checkpoint: path }), { progress: 'quiet', stop: (step) => step >= 7 });
    // The checkpoint holds the state the next step starts from: [h, c], each [layers, streams, hidden].
    const saved = deserializeState(readFileSync(path)) as { extra: { state: Tensor[] } };
    expect(saved.extra.state.map((t) => t.shape)).toEqual([
      [2, 256, 24],
      [2, 256, 24],
    ]);
    const resumed = await train(tiny({ ...over, checkpoint: path, resume: true }), { progress: 'quiet' });
    expect(resumed.history).toEqual(straight.history);
    // Random windows from a zero state train a different model from the same seed.
    const random = await train(tiny({ ...over, windows: 'random' }), { progress: 'quiet' });
    expect(random.history.loss).not.toEqual(straight.history.loss);
  });
});
