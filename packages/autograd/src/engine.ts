/**
 * The reverse-mode engine: the record of which op made which tensor, and the backward pass over it.
 *
 * Every differentiable op computes its output with a kernel and then calls `record` with a vector-Jacobian
 * product (VJP): given the gradient g of some scalar L with respect to the output, it returns ∂L/∂input for
 * each input. VJPs are written with differentiable tensor ops, so running them while recording builds a
 * graph of the backward pass itself (`createGraph`), which is what higher-order gradients need.
 */

import { sumOfProducts } from './deferred.ts';
import { allocate } from './dtype.ts';
import { withResidentScope } from './kernels/wasm/module.ts';
import { realize, versionsOf, withKernelSharing } from './lazy.ts';
import { fmt, shapesEqual } from './shape.ts';
import { Tensor } from './tensor.ts';

/**
 * A vector-Jacobian product: the output's gradient in, one gradient per input out (null: no gradient). It is
 * given its node, whose inputs and output it may read instead of capturing them (see `Node.output`).
 */
export type Vjp = (grad: Tensor, node: Node) => ReadonlyArray<Tensor | null | undefined>;

/** The VJP of an op with several outputs: one gradient per output in (null: none reached it). */
export type MultiVjp = (
  grads: ReadonlyArray<Tensor | null>,
  node: Node,
) => ReadonlyArray<Tensor | null | undefined>;

/** A hook sees a tensor's gradient during backward and may replace it by returning a new one. */
export type GradHook = (grad: Tensor) => Tensor | undefined;

/**
 * One recorded application of an op: what it read and how to send gradients back to those inputs. An op may
 * have several outputs (`split`); its VJP then runs once, with every output's gradient.
 */
export class Node {
  constructor(
    /** The op's name, for errors and inspection. */
    readonly op: string,
    /** The tensors the op read (released after backward unless the graph is retained). */
    public inputs: readonly Tensor[],
    /**
     * Maps the outputs' gradients to the inputs' gradients: a `Vjp` of the one output's gradient for an op
     * with one output, else a `MultiVjp`; null once released.
     */
    public vjp: Vjp | MultiVjp | null,
    /** How many outputs the op has (`split` has several). */
    readonly outputCount = 1,
    /** The inputs' versions when the op read them (see `Tensor.version`), checked before the VJP runs. */
    readonly versions: readonly number[] = versionsOf(inputs),
    /** Shown each output's first gradient as it arrives (see `recordMulti`). */
    readonly offer: GradOffer | null = null,
  ) {}

  /**
   * The output of an op with one output (null for several, and once released). With `inputs`, it is all
   * that a VJP shared by every node of an op reads, so that no node keeps a closure of its own.
   */
  output: Tensor | null = null;

  /** The inputs' gradients from the outputs' (`vjp` not released). */
  runVjp(grads: ReadonlyArray<Tensor | null>): ReadonlyArray<Tensor | null | undefined> {
    return this.outputCount === 1 ? (this.vjp as Vjp)(grads[0]!, this) : (this.vjp as MultiVjp)(grads, this);
  }
}

/**
 * Shown the first gradient that reaches output `output` of a node, before anything reads it: lets the node
 * have it computed where its VJP will want it (`unbind` asks for the rows of its stacked gradient).
 */
export type GradOffer = (output: number, grad: Tensor) => void;

let gradEnabled = true;

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
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return out;
  // A pending result read these inputs just now: the node shares its versions (the same numbers).
  const p = out.pending;
  const versions = p?.args === inputs ? p.versions : undefined;
  out.requiresGrad = true;
  out.gradFn = new Node(op, inputs, vjp, 1, versions);
  out.gradFn.output = out;
  out.outputIndex = 0;
  return out;
}

/**
 * `record` for an op with several outputs: one node, whose VJP receives every output's gradient. `offer`,
 * if given, is shown each output's first gradient during a backward pass that records no graph.
 */
export function recordMulti(
  op: string,
  inputs: readonly Tensor[],
  outs: readonly Tensor[],
  vjp: MultiVjp,
  offer: GradOffer | null = null,
): void {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return;
  const node = new Node(
    op,
    inputs,
    outs.length === 1 ? (g: Tensor, node: Node) => vjp([g], node) : vjp,
    outs.length,
    undefined,
    offer,
  );
  outs.forEach((out, i) => {
    out.requiresGrad = true;
    out.gradFn = node;
    out.outputIndex = i;
  });
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
  // Sums the engine formed itself: referenced by nothing else, so they can become a `.grad` without a copy.
  const owned = new Set<Tensor>();
  const accumulate = (t: Tensor, g: Tensor): void => {
    const prev = pending.get(t);
    if (prev === undefined) {
      pending.set(t, g);
      if (!createGraph) t.gradFn?.offer?.(t.outputIndex, g);
      return;
    }
    // Products a weight collects from many steps (Σ_t X_tᵀ·Y_t) stay one deferred product (deferred.ts).
    const sum = (!createGraph && sumOfProducts(prev, g)) || prev.add(g);
    if (!createGraph) owned.add(sum);
    pending.set(t, sum);
  };
  // Each node runs its VJP once every output of it that the pass reaches has its gradient.
  const waiting = new Map<Node, number>();
  for (const t of order) if (t.gradFn) waiting.set(t.gradFn, (waiting.get(t.gradFn) ?? 0) + 1);
  const slots = new Map<Node, Array<Tensor | null>>();
  const storedGrads: Tensor[] = [];
  // Tensors whose .grad may share storage with another tensor, copied once computed.
  const shared: Tensor[] = [];
  const pass = () => {
    roots.forEach((root, i) => {
      if (root.requiresGrad) accumulate(root, rootGrads[i]!);
    });
    for (const t of order) {
      let g = pending.get(t);
      const node = t.gradFn;
      // No gradient came: every path to t was skipped (a join's VJP gives a part that the loss never read
      // none, so what computed that part is not run). Where one is observed (a leaf's .grad, an input asked
      // for, retainGrad, a hook) it is zero, as if computed; t's VJP runs on only for a hook, which may
      // replace or edit it (observers further up get their zeros the same way).
      const zero =
        g === undefined && (t.hooks.length > 0 || (wanted ? wanted.has(t) : !node || t.retainsGrad))
          ? new Tensor(allocate(t.dtype, t.size), t.shape)
          : null;
      if (zero) g = zero;
      if (g !== undefined) {
        pending.delete(t);
        // From here on g is handed out (to hooks, .grad, the VJP), so it is never added into again.
        // A gradient only this tensor holds: a sum the engine made, zeros made above, or the copy hooks get.
        let own = owned.delete(g) || g === zero ? g : null;
        // A hook may edit its gradient in place; g may be shared with a sibling (add hands one g to both
        // inputs), so hooks get a copy of their own unless g is this tensor's alone already.
        if (t.hooks.length > 0 && !createGraph && g !== own) {
          g = g.clone();
          own = g;
        }
        for (const hook of t.hooks) {
          const replaced: unknown = hook(g);
          if (replaced === undefined || replaced === null) continue;
          if (
            !(replaced instanceof Object && 'shape' in replaced && 'dtype' in replaced && 'data' in replaced)
          ) {
            throw new Error(
              `backward: a hook on a tensor of shape ${fmt(t.shape)} returned ${Array.isArray(replaced) ? 'an array' : typeof replaced}; a hook returns a Tensor or nothing`,
            );
          }
          g = checkGrad('hook', t, replaced as Tensor);
        }
        if (wanted) {
          if (wanted.has(t)) wanted.set(t, g);
        } else if (!node || t.retainsGrad) {
          // A gradient may share storage with another (add hands the same g to both inputs) or with the
          // caller's seed; .grad gets storage of its own so that in-place updates of it stay local (one
          // this tensor holds alone, unless a hook replaced it, already is; a sum with an earlier .grad is
          // new). The copy is made once every gradient is computed, so that a pending g is computed with
          // the others.
          const previous = t.grad;
          const added = g; // (g is reassigned above: the closure below needs a constant)
          if (previous) t.grad = createGraph ? previous.add(added) : noGrad(() => previous.add(added));
          else {
            t.grad = g;
            if (!createGraph && g !== own) shared.push(t);
          }
          storedGrads.push(t.grad);
        }
        if (node && (g !== zero || t.hooks.length > 0)) {
          let s = slots.get(node);
          if (!s) {
            s = new Array<Tensor | null>(node.outputCount).fill(null);
            slots.set(node, s);
          }
          s[t.outputIndex] = g;
        }
      }
      if (!node) continue;
      const left = waiting.get(node)! - 1;
      waiting.set(node, left);
      if (left > 0) continue;
      const grads = slots.get(node);
      slots.delete(node);
      if (grads) {
        if (!node.vjp) {
          throw new Error(
            `backward: the graph through '${node.op}' has already been freed by an earlier backward; ` +
              'pass { retainGraph: true } to the first backward() to run backward through it again',
          );
        }
        checkVersions(node);
        const inputGrads = node.runVjp(grads);
        node.inputs.forEach((input, i) => {
          const gi = inputGrads[i];
          if (gi && input.requiresGrad) accumulate(input, checkGrad(node.op, input, gi));
        });
      }
      if (!retainGraph) release(node);
    }
    // Gradients still pending are computed now, together, while the pass's scope holds.
    realize(...storedGrads);
    for (const t of shared) t.grad = t.grad!.clone().detach();
  };
  // One residency scope per pass: weights a pass's VJPs keep in wasm memory are let go when it ends.
  withResidentScope(() => withKernelSharing(() => withGradMode(createGraph, pass)));
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
  node.output = null;
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

/**
 * Refuses to run a VJP whose inputs were modified in place after the op read them (an optimizer step
 * between forward and backward, say): the gradient would silently use the new values. Only changes that
 * bump `Tensor.version` are seen (the library's own in-place writes all do); raw writes to `.data` are not.
 */
function checkVersions(node: Node): void {
  node.inputs.forEach((input, i) => {
    if (input.version !== node.versions[i]) {
      throw new Error(
        `backward: input ${i} of '${node.op}' (shape ${fmt(input.shape)}) was modified in place after '${node.op}' read it ` +
          `(version ${node.versions[i]} → ${input.version}), so its gradient would use the new values; ` +
          'run backward before changing it (an optimizer step, loadStateDict), or compute the forward again',
      );
    }
  });
}
