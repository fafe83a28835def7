/**
 * The hand-over with the real PyTorch (/usr/bin/python3 with Debian's python3-torch, installed by .ci/run):
 * TensorLoom → PyTorch (strict load, same logits) → PyTorch trains on → TensorLoom (strict load, same losses
 * step for step), plus the ONNX export of the result; and handover.py's safetensors reader refusing bad files.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runHandover, SCRIPT } from '../src/handover.ts';

const dir = mkdtempSync(join(tmpdir(), 'to-pytorch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('to-pytorch', () => {
  it('hands the model to PyTorch and back with the same logits and losses, and exports it to ONNX', async () => {
    const lines: string[] = [];
    const r = await runHandover(
      {
        steps: 20,
        batch: 8,
        seqLen: 12,
        embed: 8,
        hidden: 16,
        lr: 1e-2,
        resumeSteps: 3,
        resumeLr: 0.1,
        seed: 2,
        outDir: dir,
        python: '/usr/bin/python3',
      },
      (line) => lines.push(line),
    );
    expect(r.torch.logitsMaxError).toBeLessThanOrEqual(1e-5);
    // PyTorch trained on from TensorLoom's weights: its first loss continues where TensorLoom stopped.
    expect(r.torch.trainLosses.at(-1)!).toBeLessThan(r.tensorloomLosses[0]!);
    expect(r.resumeLosses).toHaveLength(3);
    expect(r.resumeMaxError).toBeLessThanOrEqual(1e-5);
    expect(r.onnxMaxError).toBeLessThanOrEqual(1e-5);
    expect(lines.join('\n')).toContain("loaded TensorLoom's weights with strict=True");
  });

  it("handover.py's safetensors reader validates what it reads", () => {
    const header = (h: object, body = 0) => {
      const text = Buffer.from(JSON.stringify(h));
      const n = Buffer.alloc(8);
      n.writeBigUInt64LE(BigInt(text.length));
      return Buffer.concat([n, text, Buffer.alloc(body)]);
    };
    const files = {
      short: Buffer.from([1, 2, 3]),
      huge: Buffer.from([255, 255, 255, 255, 0, 0, 0, 0, 0]),
      dtype: header({ w: { dtype: 'Q8', shape: [1], data_offsets: [0, 1] } }, 1),
      size: header({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, 4),
      hole: header({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8),
      good: header({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, __metadata__: { a: 'b' } }, 8),
    };
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, `${name}.safetensors`), bytes);
    const probe = `
import sys
sys.path.insert(0, sys.argv[1])
from handover import read_safetensors
for name in sys.argv[3:]:
    try:
        t, m = read_safetensors(f"{sys.argv[2]}/{name}.safetensors")
        print(name, "ok", {k: list(v.shape) for k, v in t.items()}, m)
    except ValueError as e:
        print(name, "error", str(e).split(": ", 1)[1])
`;
    const out = execFileSync('/usr/bin/python3', ['-c', probe, dirname(SCRIPT), dir, ...Object.keys(files)], {
      encoding: 'utf8',
    });
    expect(out.trim().split('\n')).toEqual([
      'short error 3 bytes, shorter than the 8-byte header length',
      'huge error header length 4294967295 exceeds the file (9 bytes) or 100000000',
      "dtype error 'w' has dtype 'Q8', expected one of ['BF16', 'F16', 'F32', 'F64', 'I32', 'I64']",
      "size error 'w' spans bytes [0, 4) of 4, but F32 [2] needs 8",
      "hole error 'w' starts at byte 4, expected 0 (hole or overlap)",
      "good ok {'w': [2]} {'a': 'b'}",
    ]);
  });
});
