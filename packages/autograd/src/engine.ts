/**
 * The reverse-mode engine: the record of which op made which tensor, and the backward pass over it.
 *
 * Every differentiable op computes its output with a kernel and then calls `record` with a vector-Jacobian
 * product (VJP): given the gradient g of some scalar L with respect to the output, it returns ∂L/∂input for
 * each input. VJPs are written with differentiable tensor ops, so running them while recording builds a
 * graph of the backward pass itself (`createGraph`), which is what higher-order gradients need.
 */
import { add as addKernel } from './kernels/elementwise.ts';
import { withResidentScope } from './kernels/wasm/module.ts';
import { fmt, shapesEqual } from './shape.ts';
import type { Tensor } from './tensor.ts';

/** A vector-Jacobian product: the output's gradient in, one gradient per input out (null: no gradient). */
export type Vjp = (grad: Tensor) => ReadonlyArray<Tensor | null | undefined>;

/** A hook sees a tensor's gradient during backward and may replace it by returning a new one. */
export type GradHook = (grad: Tensor) => Tensor | undefined;

/** One recorded application of an op: what it read and how to send gradients back to those inputs. */
export class Node {
  constructor(
    /** The op's name, for errors and inspection. */
    readonly op: string,
    /** The tensors the op read (released after backward unless the graph is retained). */
    public inputs: readonly Tensor[],
    /** Maps the output's gradient to the inputs' gradients; null once released. */
    public vjp: Vjp | null,
  ) {}
}

let gradEnabled = true;
/** The id of the innermost backward pass running (0 outside backward), and the last id handed out. */
let currentPass = 0;
let lastPass = 0;

/** Whether ops currently record the graph. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/**
 * An id for the backward pass now running (0 when none), unique per pass; a backward started inside a VJP
 * has its own. Lets an op whose nodes share state across a pass (several nodes filing gradients for one
 * node that runs after them) tell one pass from the next, even when an earlier pass did not reach every node.
 */
export function currentBackwardPass(): number {
  return currentPass;
}

/** Runs `fn` as a new backward pass (see `currentBackwardPass`). */
function inNewPass(fn: () => void): void {
  const outer = currentPass;
  currentPass = ++lastPass;
  try {
    fn();
  } finally {
    currentPass = outer;
  }
}

/** Runs `fn` without recording: its results do not require grad (like `torch.no_grad`). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with recording on, even inside `noGrad` (like `torch.enable_grad`). */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

/**
 * Attaches a graph node to `out` when recording is on and some input requires grad; returns `out`.
 * This is the single place where the graph grows: primitives and user-defined ops both come through here.
 */
export function record(op: string, inputs: readonly Tensor[], out: Tensor, vjp: Vjp): Tensor {
  if (!gradEnabled) return out;
  for (const t of inputs) {
    if (t.requiresGrad) {
      out.requiresGrad = true;
      out.gradFn = new Node(op, inputs, vjp);
      return out;
    }
  }
  return out;
}

/** Options of `backward` and `runBackward`. */
export interface BackwardOptions {
  /** Keep the graph so backward can run through it again. Default: false (the graph is released). */
  retainGraph?: boolean;
  /** Record the backward pass so the gradients are differentiable themselves. Default: false. */
  createGraph?: boolean;
}

/** Reverse topological order (outputs first) of every tensor reachable from `roots` that requires grad. */
function reverseTopologicalOrder(roots: readonly Tensor[]): Tensor[] {
  // An explicit stack, not recursion: unrolled recurrences make graphs a million nodes deep.
  const postOrder: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: Array<{ tensor: Tensor; next: number }> = [];
  for (const root of roots) {
    if (visited.has(root) || !root.requiresGrad) continue;
    visited.add(root);
    stack.push({ tensor: root, next: 0 });
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const inputs = top.tensor.gradFn?.inputs ?? [];
      if (top.next < inputs.length) {
        const child = inputs[top.next++]!;
        if (child.requiresGrad && !visited.has(child)) {
          visited.add(child);
          stack.push({ tensor: child, next: 0 });
        }
      } else {
        postOrder.push(top.tensor);
        stack.pop();
      }
    }
  }
  return postOrder.reverse();
}

/**
 * Runs reverse mode from `roots` seeded with `rootGrads`.
 * With `inputs`, returns their gradients and leaves every `.grad` untouched (like `torch.autograd.grad`);
 * without, accumulates into the `.grad` of leaves and of tensors that called `retainGrad()`.
 */
export function runBackward(
  roots: readonly Tensor[],
  rootGrads: readonly Tensor[],
  options: BackwardOptions & { inputs?: readonly Tensor[] } = {},
): Array<Tensor | null> {
  const { createGraph = false, inputs } = options;
  // Gradients built with createGraph reference the forward graph, so it must outlive this pass.
  const retainGraph = options.retainGraph ?? createGraph;
  const wanted = inputs ? new Map<Tensor, Tensor | null>(inputs.map((t) => [t, null])) : null;
  const order = wanted
    ? onlyLeadingTo(reverseTopologicalOrder(roots), wanted)
    : reverseTopologicalOrder(roots);
  const pending = new Map<Tensor, Tensor>();
  // Sums the engine formed itself. A VJP's result may share storage with anything (add hands one g to both
  // inputs), but a sum made here is referenced only by `pending` until its tensor is processed, so later
  // contributions can be added into it in place: a tensor read by every step of a loop (a bias, a weight)
  // then costs one buffer per pass, not one per step. A recorded pass (createGraph) must build new nodes.
  const owned = new Set<Tensor>();
  const accumulate = (t: Tensor, g: Tensor): void => {
    const prev = pending.get(t);
    if (prev === undefined) {
      pending.set(t, g);
    } else if (owned.has(prev)) {
      addKernel(prev.data, g.data, prev.data); // same shape and dtype: checked on arrival
    } else {
      const sum = prev.add(g);
      if (!createGraph) owned.add(sum);
      pending.set(t, sum);
    }
  };
  const pass = () => {
    roots.forEach((root, i) => {
      if (root.requiresGrad) accumulate(root, rootGrads[i]!);
    });
    for (const t of order) {
      let g = pending.get(t);
      const node = t.gradFn;
      if (g === undefined) {
        if (node && !retainGraph) release(node);
        continue;
      }
      pending.delete(t);
      // From here on g is handed out (to hooks, .grad, the VJP), so it is never added into again.
      const engineMade = owned.delete(g) ? g : null;
      for (const hook of t.hooks) {
        const replaced = hook(g);
        if (replaced) g = checkGrad('hook', t, replaced);
      }
      if (wanted) {
        if (wanted.has(t)) wanted.set(t, g);
      } else if (!node || t.retainsGrad) {
        // A gradient may share storage with another (add hands the same g to both inputs) or with the
        // caller's seed; .grad gets storage of its own so that in-place updates of it stay local (a sum
        // the engine made, unless a hook replaced it, already is).
        const stored = createGraph || g === engineMade ? g : g.clone().detach();
        t.grad = t.grad ? (createGraph ? t.grad.add(stored) : noGrad(() => t.grad!.add(stored))) : stored;
      }
      if (!node) continue;
      if (!node.vjp) {
        throw new Error(
          `backward: the graph through '${node.op}' has already been freed by an earlier backward; ` +
            'pass { retainGraph: true } to the first backward() to run backward through it again',
        );
      }
      const grads = node.vjp(g);
      node.inputs.forEach((input, i) => {
        const gi = grads[i];
        if (gi && input.requiresGrad) accumulate(input, checkGrad(node.op, input, gi));
      });
      if (!retainGraph) release(node);
    }
  };
  // One residency scope per pass: weights a pass's VJPs keep in wasm memory are let go when it ends.
  inNewPass(() => withResidentScope(() => withGradMode(createGraph, pass)));
  return inputs ? inputs.map((t) => wanted!.get(t) ?? null) : [];
}

/**
 * Keeps the tensors from which some wanted input can be reached: gradients for `inputs` need nothing else,
 * and nodes outside that set (perhaps shared with an enclosing computation) must not be run or released.
 */
function onlyLeadingTo(order: Tensor[], wanted: ReadonlyMap<Tensor, unknown>): Tensor[] {
  const leads = new Set<Tensor>();
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i]!;
    if (wanted.has(t) || t.gradFn?.inputs.some((x) => leads.has(x))) leads.add(t);
  }
  return order.filter((t) => leads.has(t));
}

function release(node: Node): void {
  node.vjp = null;
  node.inputs = [];
}

/** The engine's invariant: a gradient has its tensor's shape and dtype. A broken VJP fails here, loudly. */
function checkGrad(op: string, input: Tensor, g: Tensor): Tensor {
  if (!shapesEqual(g.shape, input.shape) || g.dtype !== input.dtype) {
    throw new Error(
      `backward: the gradient from '${op}' has shape ${fmt(g.shape)} (${g.dtype}) but its input has shape ${fmt(input.shape)} (${input.dtype})`,
    );
  }
  return g;
}
