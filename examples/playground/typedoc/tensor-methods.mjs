// @ts-check
/**
 * TypeDoc plugin: `Tensor`'s op methods are one-line delegates to the op functions (`a.add(b)` is
 * `add(a, b)`), documented once, on the function. This gives each undocumented method (on `Tensor` and the
 * classes that inherit it, such as `Parameter`) the summary of its function, with a link to it, instead of
 * repeating every comment in tensor.ts.
 */
import { Comment, Converter, ReflectionKind } from 'typedoc';

/** Methods whose function has another name. */
const FUNCTION_OF = { to: 'cast', var: 'variance' };

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    const project = context.project;
    const functions = new Map();
    for (const fn of project.getReflectionsByKind(ReflectionKind.Function)) {
      const signature = /** @type {import('typedoc').DeclarationReflection} */ (fn).signatures?.[0];
      if (signature?.comment && fn.parent?.name.endsWith('autograd/src')) functions.set(fn.name, fn);
    }
    for (const method of project.getReflectionsByKind(ReflectionKind.Method)) {
      const owner = method.parent;
      const onTensor =
        owner?.name === 'Tensor' ||
        /** @type {import('typedoc').DeclarationReflection} */ (
          method
        ).inheritedFrom?.qualifiedName?.startsWith('Tensor.');
      if (!onTensor) continue;
      const fn = functions.get(FUNCTION_OF[method.name] ?? method.name);
      if (!fn) continue;
      for (const signature of /** @type {import('typedoc').DeclarationReflection} */ (method).signatures ??
        []) {
        if (signature.comment) continue;
        const source = fn.signatures[0].comment;
        signature.comment = new Comment([
          { kind: 'text', text: 'Method form of ' },
          { kind: 'inline-tag', tag: '@link', text: fn.name, target: fn },
          { kind: 'text', text: ` (\`${fn.name}(this, …)\`): ` },
          ...Comment.cloneDisplayParts(source.summary),
        ]);
      }
    }
  });
}
