/**
 * Gate introspection: every cell reports its per-step activations (an LSTM: i, f, g, o, c, h) to an
 * optional observer. Nothing is built when no observer is passed (the report is an optional call, whose
 * argument is not even evaluated), so the normal path pays nothing.
 */
import { stack, type Tensor, where } from '@tensorloom/autograd';
import type { GateSink, Gates, StepInfo, StepObserver } from './cell.ts';

/** One recorded step. */
export interface RecordedStep {
  /** Where the step ran: time, layer, direction, mask. */
  at: StepInfo;
  /** The cell's activations at that step, by name. */
  gates: Gates;
}

/**
 * Collects gate activations for analysis and plots: pass `recorder.observe` as the `observe` option of a
 * layer's or cell's forward, then read `recorder.get('f', layer, direction)` as a [T, B, H] tensor.
 * Values are detached (recording never keeps the graph alive).
 */
export class GateRecorder {
  /** Every step seen, in the order they ran. */
  readonly steps: RecordedStep[] = [];

  /** The observer to pass as `observe`. */
  readonly observe: StepObserver = (gates, at) => {
    const detached: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(gates)) detached[name] = t.detach();
    this.steps.push({ at: { ...at, mask: at.mask?.detach() ?? null }, gates: detached });
  };

  /**
   * A sink for a single cell's `forward(x, state, { observe })` or `step`: each call is recorded as the next
   * time step of layer 0, forward direction.
   */
  sink(): GateSink {
    return (gates) => this.observe(gates, { t: this.steps.length, layer: 0, direction: 0, mask: null });
  }

  /** The gate names recorded (e.g. ['i', 'f', 'g', 'o', 'c', 'h']). */
  names(): string[] {
    return this.steps[0] ? Object.keys(this.steps[0].gates) : [];
  }

  /**
   * One activation over time for one layer and direction, [steps, B, features] ordered by time. With
   * variable lengths, rows of steps past a sequence's length are zero (they were computed on padding).
   */
  get(name: string, layer = 0, direction: 0 | 1 = 0): Tensor {
    const picked = this.steps
      .filter((s) => s.at.layer === layer && s.at.direction === direction)
      .sort((a, b) => a.at.t - b.at.t);
    if (picked.length === 0)
      throw new Error(`GateRecorder: nothing recorded for layer ${layer}, direction ${direction}`);
    return stack(
      picked.map((s) => {
        const t = s.gates[name];
        if (!t)
          throw new Error(`GateRecorder: no gate '${name}' (recorded: ${Object.keys(s.gates).join(', ')})`);
        return s.at.mask ? where(s.at.mask, t, 0) : t;
      }),
      0,
    );
  }

  /** Forgets everything recorded. */
  clear(): void {
    this.steps.length = 0;
  }
}
