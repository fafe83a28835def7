/**
 * The LSTM with projection (PyTorch's `proj_size`), which has no ONNX operator, decomposed into one Scan loop
 * per layer and direction. The body is the cell's equations with PyTorch's gate order:
 *
 *   [i f g o] = xp_t + h·W_hhᵀ          (xp_t = x_t·W_ihᵀ + b_ih + b_hh, computed for all steps before the loop)
 *   c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g),     h' = (σ(o) ⊙ tanh c')·W_hrᵀ      (h has P features, c has H)
 *
 * Variable lengths are a mask m_t = [t < length] scanned with the input: masked steps keep the state and
 * emit zeros. That is PyTorch's packed-sequence meaning in both directions: forward, the state stops at each
 * sequence's last step; reverse (Scan's reversed direction), the state stays at h0 through the padding and
 * starts at each sequence's own last step.
 */
import type { LSTM } from '@tensorloom/lstm';
import type { Parameter } from '@tensorloom/nn';
import type { Dim, GraphBuilder, Value } from './graph.ts';

function param(m: LSTM, role: string, layer: number, direction: number): Parameter | undefined {
  return m[`${role}_l${layer}${direction === 1 ? '_reverse' : ''}` as `weight_${string}`];
}

/** The transpose of a row-major [rows, cols] matrix. */
function transposed(p: Parameter): Float32Array {
  const [rows, cols] = p.shape as [number, number];
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = p.data[r * cols + c]!;
  return out;
}

/** Returns the time-major output [T, B, D·P] and the final states hN [L·D, B, P], cN [L·D, B, H]. */
export function projectedLSTM(
  g: GraphBuilder,
  scope: string,
  m: LSTM,
  x: Value,
  states: { h0: Value | null; c0: Value | null },
  lens: Value | null,
): Value[] {
  const H = m.hiddenSize;
  const P = m.projSize;
  const D = m.numDirections;
  const L = m.numLayers;
  const [T, B] = x.dims as [Dim, Dim];
  const fixed = (n: number) => g.fixedDim(n);

  // The batch size as a 1-vector, for zero initial states [B, n] of a dynamic batch.
  const shape = g.op('Shape', scope, [x], {}, [fixed(3)]);
  const batch = g.op('Slice', scope, [shape, g.ints('int64_1', [1]), g.ints('int64_2', [2])], {}, [fixed(1)]);
  const zeros = (n: number) => {
    const size = g.op('Concat', scope, [batch, g.ints(`int64_${n}`, [n])], { axis: 0 }, [fixed(2)]);
    return g.op('ConstantOfShape', scope, [size], {}, [B, fixed(n)]);
  };
  /** The initial state of cell k = layer·D + direction: h0[k] or zeros. */
  const start = (v: Value | null, k: number, n: number): Value =>
    v
      ? g.op('Gather', scope, [v, g.constant(`int64_scalar_${k}`, 'int64', [], [k])], { axis: 0 }, [
          B,
          fixed(n),
        ])
      : zeros(n);

  // mask [T, B, 1] = t < lengths[b]
  let mask: Value | null = null;
  if (lens) {
    const steps = g.op(
      'Gather',
      scope,
      [shape, g.constant('int64_scalar_0', 'int64', [], [0])],
      { axis: 0 },
      [],
    );
    const limit = g.op('Cast', scope, [steps], { to: 6 }, []);
    const int32 = (v: number) => g.constant(`int32_scalar_${v}`, 'int32', [], [v]);
    const range = g.op('Range', scope, [int32(0), limit, int32(1)], {}, [T]);
    const column = g.op('Unsqueeze', scope, [range, g.ints('int64_1', [1])], {}, [T, fixed(1)]);
    const row = g.op('Unsqueeze', scope, [lens, g.ints('int64_0', [0])], {}, [fixed(1), B]);
    const less = g.node('Less', scope, [column, row], [{ name: 'mask', dims: [T, B], type: 'bool' }])[0]!;
    mask = g.op('Unsqueeze', scope, [less, g.ints('int64_2', [2])], {}, [T, B, fixed(1)]);
  }

  const splitSizes = g.ints(`int64_split_${H}x4`, [H, H, H, H]);
  const zero = g.constant('float_scalar_0', 'float', [], [0]);
  const finalH: Value[] = [];
  const finalC: Value[] = [];
  let input = x;
  for (let l = 0; l < L; l++) {
    const outputs: Value[] = [];
    for (let d = 0; d < D; d++) {
      const k = l * D + d;
      const name = `${scope}.l${l}${d === 1 ? '_reverse' : ''}`;
      const weightIh = param(m, 'weight_ih', l, d)!;
      const WihT = g.constant(
        `${name}.weight_ih_T`,
        'float',
        [weightIh.shape[1]!, 4 * H],
        transposed(weightIh),
      );
      const WhhT = g.constant(
        `${name}.weight_hh_T`,
        'float',
        [P, 4 * H],
        transposed(param(m, 'weight_hh', l, d)!),
      );
      const WhrT = g.constant(
        `${name}.weight_hr_T`,
        'float',
        [H, P],
        transposed(param(m, 'weight_hr', l, d)!),
      );
      let xp = g.op('MatMul', scope, [input, WihT], {}, [T, B, fixed(4 * H)]);
      if (m.bias) {
        const bih = param(m, 'bias_ih', l, d)!.data;
        const bhh = param(m, 'bias_hh', l, d)!.data;
        const bias = g.constant(
          `${name}.bias`,
          'float',
          [4 * H],
          Float32Array.from(bih, (v, j) => v + bhh[j]!),
        );
        xp = g.op('Add', scope, [xp, bias]);
      }

      // The loop body: state (h, c) and this step's (xp_t, m_t) in; new state and output out.
      const body = g.subgraph();
      const h = body.input(`${name}.h`, [], 'float');
      const c = body.input(`${name}.c`, [], 'float');
      const xt = body.input(`${name}.xp_t`, [], 'float');
      const mt = mask ? body.input(`${name}.m_t`, [], 'bool') : null;
      const gates = body.op('Add', name, [xt, body.op('MatMul', name, [h, WhhT])]);
      const parts = ['i', 'f', 'g', 'o'].map((n) => ({ name: n, dims: [] }));
      const [i, f, gg, o] = body.node('Split', name, [gates, splitSizes], parts, { axis: 1 }) as Value[];
      const cNext = body.op('Add', name, [
        body.op('Mul', name, [body.op('Sigmoid', name, [f!]), c]),
        body.op('Mul', name, [body.op('Sigmoid', name, [i!]), body.op('Tanh', name, [gg!])]),
      ]);
      const hFull = body.op('Mul', name, [body.op('Sigmoid', name, [o!]), body.op('Tanh', name, [cNext])]);
      const hNext = body.op('MatMul', name, [hFull, WhrT]);
      const results = mt
        ? [
            body.op('Where', name, [mt, hNext, h]),
            body.op('Where', name, [mt, cNext, c]),
            body.op('Where', name, [mt, hNext, zero]),
          ]
        : [hNext, cNext, body.op('Identity', name, [hNext])];
      const graph = {
        name: `${name}.body`,
        nodes: body.nodes,
        initializers: [],
        inputs: body.inputs.map((v) => ({ name: v.name, type: v.type ?? 'float', shape: null })),
        outputs: results.map((v) => ({ name: v.name, type: 'float' as const, shape: null })),
      };
      const scanInputs = mask ? [xp, mask] : [xp];
      const [hN, cN, y] = g.node(
        'Scan',
        scope,
        [start(states.h0, k, P), start(states.c0, k, H), ...scanInputs],
        [
          { name: `h_n_l${l}_d${d}`, dims: [B, fixed(P)] },
          { name: `c_n_l${l}_d${d}`, dims: [B, fixed(H)] },
          { name: `Y_l${l}_d${d}`, dims: [T, B, fixed(P)] },
        ],
        {
          body: { graph },
          num_scan_inputs: scanInputs.length,
          // The reverse direction reads the steps backwards and writes its outputs back in time order.
          scan_input_directions: scanInputs.map(() => d),
          scan_output_directions: [d],
        },
      ) as [Value, Value, Value];
      finalH.push(hN);
      finalC.push(cN);
      outputs.push(y);
    }
    input = D === 1 ? outputs[0]! : g.op('Concat', scope, outputs, { axis: 2 }, [T, B, fixed(D * P)]);
  }
  const stacked = (parts: Value[], n: number): Value =>
    g.op(
      'Concat',
      scope,
      parts.map((v) => g.op('Unsqueeze', scope, [v, g.ints('int64_0', [0])], {}, [fixed(1), B, fixed(n)])),
      { axis: 0 },
      [fixed(L * D), B, fixed(n)],
    );
  return [input, stacked(finalH, P), stacked(finalC, H)];
}
