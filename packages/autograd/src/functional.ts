/**
 * Functional transforms in the style of JAX: `grad(f)` is a function that returns ∂f/∂x. They compose:
 * when the arguments are themselves being differentiated by an enclosing transform (or by `backward`),
 * the returned gradients are recorded too, so `grad(x => sum(grad(f)(x)))` gives second derivatives.
 */
import { enableGrad, isGradEnabled, runBackward } from './engine.ts';
import { detach, onesLike, zerosLike } from './ops/index.ts';
import { fmt } from './shape.ts';
import { Tensor } from './tensor.ts';

type TensorFn = (...args: Tensor[]) => Tensor;

/** Differentiates `f` at `args` with respect to the arguments at `wrt`, given the output's cotangent. */
function differentiate(
  op: string,
  f: TensorFn,
  args: readonly Tensor[],
  wrt: readonly number[],
  cotangent?: (value: Tensor) => Tensor,
): { value: Tensor; grads: Tensor[] } {
  args.forEach((a, i) => {
    if (!(a instanceof Tensor)) throw new Error(`${op}: argument ${i} must be a Tensor`);
  });
  // An argument already tracked by an enclosing computation is used as is, so our result stays connected to
  // it; any other argument gets a fresh leaf to differentiate against.
  const nested = isGradEnabled() && wrt.some((i) => args[i]!.requiresGrad);
  const inputs = args.map((a, i) =>
    wrt.includes(i) && !(nested && a.requiresGrad) ? detach(a).requiresGrad_() : a,
  );
  const value = enableGrad(() => f(...inputs));
  if (!(value instanceof Tensor)) throw new Error(`${op}: the function must return a Tensor`);
  const seed = cotangent ? cotangent(value) : scalarSeed(op, value);
  const targets = wrt.map((i) => inputs[i]!);
  // A tracked tensor can also reach f through its closure or a non-differentiated argument (as in
  // grad(b => sum(grad(x => sum(pow(x, b)))(a)))): the gradients depend on it, so they are recorded too.
  const connected = nested || (isGradEnabled() && reachesTrackedLeaf(value, new Set(targets)));
  const grads = value.requiresGrad
    ? runBackward([value], [seed], { inputs: targets, createGraph: connected })
    : targets.map(() => null);
  return {
    value: connected ? value : detach(value),
    grads: grads.map((g, k) => g ?? zerosLike(targets[k]!)),
  };
}

/** Whether the graph of `value` reaches a leaf that requires grad other than `own` (iterative walk). */
function reachesTrackedLeaf(value: Tensor, own: ReadonlySet<Tensor>): boolean {
  const seen = new Set<Tensor>();
  const stack = [value];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t) || !t.requiresGrad) continue;
    seen.add(t);
    if (!t.gradFn) {
      if (!own.has(t)) return true;
    } else stack.push(...t.gradFn.inputs);
  }
  return false;
}

function scalarSeed(op: string, value: Tensor): Tensor {
  if (value.size !== 1) {
    throw new Error(
      `${op}: the function must return a one-element tensor, got shape ${fmt(value.shape)} (use vjp for other outputs)`,
    );
  }
  return onesLike(value);
}

const all = (args: readonly Tensor[]) => args.map((_, i) => i);

/** ∂f/∂x for a scalar-valued f(x, ...rest). */
export function grad(f: TensorFn): (...args: Tensor[]) => Tensor {
  return (...args) => differentiate('grad', f, args, [0]).grads[0]!;
}

/** [f(x, ...rest), ∂f/∂x]. */
export function valueAndGrad(f: TensorFn): (...args: Tensor[]) => [Tensor, Tensor] {
  return (...args) => {
    const { value, grads } = differentiate('valueAndGrad', f, args, [0]);
    return [value, grads[0]!];
  };
}

/** The gradients of a scalar-valued f with respect to every argument. */
export function grads(f: TensorFn): (...args: Tensor[]) => Tensor[] {
  return (...args) => differentiate('grads', f, args, all(args)).grads;
}

/** [f(...args), gradients with respect to every argument]. */
export function valueAndGrads(f: TensorFn): (...args: Tensor[]) => [Tensor, Tensor[]] {
  return (...args) => {
    const { value, grads } = differentiate('valueAndGrads', f, args, all(args));
    return [value, grads];
  };
}

/**
 * The vector-Jacobian product of any f: returns f(...primals) and a pullback mapping a cotangent u (shaped
 * like the output) to uᵀ·∂f/∂primalᵢ for each primal. The pullback may be called repeatedly.
 */
export function vjp(f: TensorFn, ...primals: Tensor[]): [Tensor, (cotangent: Tensor) => Tensor[]] {
  const value = enableGrad(() => f(...primals));
  const pullback = (cotangent: Tensor): Tensor[] =>
    differentiate('vjp', f, primals, all(primals), (v) => {
      if (cotangent.dtype !== v.dtype || cotangent.shape.join() !== v.shape.join()) {
        throw new Error(
          `vjp: cotangent ${fmt(cotangent.shape)} (${cotangent.dtype}) must match the output ${fmt(v.shape)} (${v.dtype})`,
        );
      }
      return cotangent;
    }).grads;
  return [isGradEnabled() && value.requiresGrad ? value : detach(value), pullback];
}
