/**
 * Profiling harness for the recurrent training steps (not the benchmark: `pnpm bench lstm charlm` is the
 * reference, beside tfjs). Runs one workload in a loop and prints the median and minimum wall and
 * CPU time per step, the load average, page faults per step, and the garbage collections per step with their
 * pauses (scavenges: the young generation, which V8 also starts when new typed arrays reach some megabytes;
 * mark-compacts: the whole heap). The CPU figures are the steadier ones on a shared machine; the medians
 * carry the collections (a page fault costs ~10 µs on the VMs measured here, so faults matter too). Run from
 * bench/ (whose tsx resolves the workspace packages):
 *
 *   node --import tsx ../packages/lstm/scripts/profile-step.ts [lstm|forward|gru|user-lstm|user-gru|sru|layernorm|charlm] [iterations]
 *
 * and add `--cpu-prof --cpu-prof-dir=/tmp/prof` before `--import` for a V8 CPU profile (open it in Chrome's
 * DevTools, or sum self time per function from its JSON). Through tsx every sample lands on line 1 of its
 * file; for times per line, bundle first, with the esbuild that tsx brings:
 *
 *   $(find ../node_modules/.pnpm -path '*esbuild/bin/esbuild' | head -1) ../packages/lstm/scripts/profile-step.ts \
 *     --bundle --platform=node --format=esm --outfile=/tmp/step.mjs
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof /tmp/step.mjs layernorm 100
 *
 * Workloads: `lstm` one LSTM layer (batch 32, 50 steps, input 64, hidden 128), a linear head on the last
 * step, MSE, Adam; `forward` its forward pass under noGrad; `gru` the same with a GRU; `user-lstm`,
 * `user-gru` and `sru` the bench's cells written from primitives (bench/src/cells) and `layernorm` the
 * shipped `LayerNormLSTMCell`, each through `CellStack`; `charlm`
 * embedding 32 of 65 characters, LSTM 256, 64 steps, batch 32, a linear head on every step, cross-entropy,
 * Adam. `FUSION=0` in the environment runs every elementwise op unfused.
 */
import { loadavg } from 'node:os';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import {
  fusedKernelRunCount,
  manualSeed,
  narrow,
  noGrad,
  randint,
  randn,
  reshape,
  setFusionEnabled,
  type Tensor,
} from '@tensorloom/autograd';
import { Adam, crossEntropy, Embedding, Linear, Module, mseLoss } from '@tensorloom/nn';
import { SRUCell, UserGRUCell, UserLSTMCell } from '../../../bench/src/cells/user-cells.ts';
import { CellStack, GRU, LayerNormLSTMCell, LSTM } from '../src/index.ts';

const workload = process.argv[2] ?? 'lstm';
const iterations = Number(process.argv[3] ?? 20);
const [B, T, I, H] = [32, 50, 64, 128];
setFusionEnabled(process.env.FUSION !== '0');

/** The workload's recurrent layer. */
function recurrentLayer(): { forward(x: Tensor): [Tensor, unknown] } & Module {
  if (workload === 'gru') return new GRU({ inputSize: I, hiddenSize: H });
  if (workload === 'user-lstm')
    return new CellStack(({ inputSize }) => new UserLSTMCell(inputSize, H), { inputSize: I });
  if (workload === 'user-gru')
    return new CellStack(({ inputSize }) => new UserGRUCell(inputSize, H), { inputSize: I });
  if (workload === 'sru')
    return new CellStack(({ inputSize }) => new SRUCell(inputSize, H), { inputSize: I });
  if (workload === 'layernorm')
    return new CellStack(({ inputSize }) => new LayerNormLSTMCell({ inputSize, hiddenSize: H }), {
      inputSize: I,
    });
  return new LSTM({ inputSize: I, hiddenSize: H });
}

/** A recurrent layer over x [T, B, I], then a linear head on the last step's output. */
class Regressor extends Module {
  rnn = recurrentLayer();
  head = new Linear(H, 1);
  forward(x: Tensor): Tensor {
    const [out] = this.rnn.forward(x);
    return this.head.forward(reshape(narrow(out, 0, T - 1, 1), [B, H]));
  }
}

/** ids [64·32] (time-major) → embedding → LSTM 256 → logits [64·32, 65]. */
class CharLM extends Module {
  embedding = new Embedding(65, 32);
  lstm = new LSTM({ inputSize: 32, hiddenSize: 256 });
  head = new Linear(256, 65);
  forward(ids: Int32Array): Tensor {
    const [out] = this.lstm.forward(reshape(this.embedding.forward(ids), [64, 32, 32]));
    return reshape(this.head.forward(out), [64 * 32, 65]);
  }
}

/** One step of the chosen workload; returns the loss (or an output element for `forward`). */
function makeStep(): () => number {
  manualSeed(4);
  if (workload === 'charlm') {
    const model = new CharLM();
    const optimizer = new Adam(model.parameters(), { lr: 1e-3 });
    const ids = Int32Array.from(randint(0, 65, [64 * 32]).data);
    const targets = Int32Array.from(randint(0, 65, [64 * 32]).data);
    return () => {
      optimizer.zeroGrad();
      const loss = crossEntropy(model.forward(ids), targets);
      loss.backward();
      optimizer.step();
      return loss.item();
    };
  }
  if (!['lstm', 'forward', 'gru', 'user-lstm', 'user-gru', 'sru', 'layernorm'].includes(workload))
    throw new Error(`unknown workload ${workload}`);
  const model = new Regressor();
  const optimizer = new Adam(model.parameters(), { lr: 1e-3 });
  const x = randn([T, B, I]);
  const y = randn([B, 1]);
  if (workload === 'forward') return () => noGrad(() => model.forward(x)).data[0]!;
  return () => {
    optimizer.zeroGrad();
    const loss = mseLoss(model.forward(x), y);
    loss.backward();
    optimizer.step();
    return loss.item();
  };
}

const step = makeStep();
for (let i = 0; i < 5; i++) step();
const faults0 = process.resourceUsage().minorPageFault;
const kernels0 = fusedKernelRunCount();
const wall: number[] = [];
const cpu: number[] = [];
// Collections during the timed steps, by kind: count and pause time (V8 reports them after the fact).
const collections = { scavenges: 0, scavengeMs: 0, markCompacts: 0, markCompactMs: 0 };
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const { kind } = entry.detail as { kind: number };
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
      collections.scavenges++;
      collections.scavengeMs += entry.duration;
    } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      collections.markCompacts++;
      collections.markCompactMs += entry.duration;
    }
  }
});
gcObserver.observe({ entryTypes: ['gc'] });
let last = 0;
for (let i = 0; i < iterations; i++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  last = step();
  wall.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / 1000);
}
const faults = (process.resourceUsage().minorPageFault - faults0) / iterations;
await new Promise((resolve) => setTimeout(resolve, 0)); // the observer's entries arrive in a later task
gcObserver.disconnect();
const kernels = (fusedKernelRunCount() - kernels0) / iterations;
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[xs.length >> 1]!;
const p20 = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 5)]!;
const min = (xs: number[]) => sorted(xs)[0]!;
const ms = (v: number) => v.toFixed(2);
console.log(
  `${workload}: wall median ${ms(median(wall))} ms (min ${ms(min(wall))}), ` +
    `cpu median ${ms(median(cpu))} ms (p20 ${ms(p20(cpu))}, min ${ms(min(cpu))}), ` +
    `load ${loadavg()[0]!.toFixed(2)}, ${faults.toFixed(0)} page faults/step, ${kernels.toFixed(0)} fused kernels/step, loss ${last.toFixed(5)}; ` +
    `per step: ${(collections.scavenges / iterations).toFixed(2)} scavenges (${ms(collections.scavengeMs / iterations)} ms), ` +
    `${(collections.markCompacts / iterations).toFixed(2)} mark-compacts (${ms(collections.markCompactMs / iterations)} ms)`,
);
