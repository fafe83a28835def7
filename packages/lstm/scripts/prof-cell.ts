/**
 * Times one training step of a cell through `CellStack` (or the built-in layer) with elementwise fusion on
 * and off, interleaved step by step in one process: `tsx scripts/prof-cell.ts [user|layer|gru]`.
 */
import { manualSeed, randn, setFusionEnabled } from '@tensorloom/autograd';
import { CellStack, GRU, LSTM } from '@tensorloom/lstm';
import { Adam, Linear, mseLoss } from '@tensorloom/nn';
import { UserGRUCell, UserLSTMCell } from '../../../bench/src/cells/user-cells.ts';

manualSeed(0);
const which = process.argv[2] ?? 'user';
const B = 32;
const T = 50;
const I = 64;
const H = 128;
const model =
  which === 'user'
    ? new CellStack(({ inputSize }) => new UserLSTMCell(inputSize, H), { inputSize: I })
    : which === 'usergru'
      ? new CellStack(({ inputSize }) => new UserGRUCell(inputSize, H), { inputSize: I })
      : which === 'gru'
        ? new GRU({ inputSize: I, hiddenSize: H })
        : new LSTM({ inputSize: I, hiddenSize: H });
const head = new Linear(H, 1);
const opt = new Adam([...model.parameters(), ...head.parameters()], { lr: 1e-3 });
const x = randn([T, B, I]);
const y = randn([B, 1]);
function step(): void {
  opt.zeroGrad();
  // biome-ignore lint/suspicious/noExplicitAny: CellStack and the layers return differently typed states
  const [out] = (model as any).forward(x);
  const loss = mseLoss(head.forward(out.narrow(0, T - 1, 1).reshape([B, H])), y);
  loss.backward();
  opt.step();
}
const modes = process.argv[3] === 'on' ? ['on'] : ['on', 'off'];
const times: Record<string, number[]> = Object.fromEntries(modes.map((m) => [m, []]));
for (let i = 0; i < 40; i++) {
  const mode = modes[i % modes.length]!;
  setFusionEnabled(mode === 'on');
  const t = performance.now();
  step();
  if (i >= 6) times[mode]!.push(performance.now() - t);
}
for (const [mode, ts] of Object.entries(times)) {
  ts.sort((a, b) => a - b);
  console.log(
    `${which} fusion ${mode}: median ${ts[ts.length >> 1]!.toFixed(1)} ms, min ${ts[0]!.toFixed(1)} ms`,
  );
}
