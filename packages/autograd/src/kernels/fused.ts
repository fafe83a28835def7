/**
 * Fused elementwise kernels from their IR (built by lazy.ts from a DAG of pending tensors): one loop nest over
 * the output's shape, each value a read of an array through an affine map or an op over earlier values,
 * computed at the outermost loop it varies in. Each kernel is generated as JavaScript (`new Function`) and,
 * where its ops allow, as WebAssembly SIMD (wasm/fused.ts), which runs instead; both evaluate the same
 * operations as the unfused kernels of elementwise.ts, so results are bit-identical. Kernels are cached by
 * a hash of their IR.
 */
import type { TypedArray } from '../dtype.ts';
import { erfScalar, float32Code, POW2_F32, sigmoidScalar } from './elementwise.ts';
import { type InnerPass, type KernelIr, planInnerPasses, storeLevel } from './ir.ts';
import { sumLanes } from './reduce.ts';
import { compileFused, runFused, type WasmFused } from './wasm/fused.ts';
import { forgetOutput, isWasmEnabled } from './wasm/module.ts';

/**
 * The scalar semantics of every fusible op, as JavaScript expressions over operands `$0`, `$1`, `$2` (and
 * clamp's bounds `$lo`, `$hi`). The unfused kernels in elementwise.ts evaluate the same expressions; float32
 * σ and tanh come from `float32Code` instead.
 */
const TEMPLATES: Readonly<Record<string, string>> = {
  neg: '-$0',
  exp: 'Math.exp($0)',
  log: 'Math.log($0)',
  log1p: 'Math.log1p($0)',
  sqrt: 'Math.sqrt($0)',
  abs: 'Math.abs($0)',
  sign: 'Math.sign($0)',
  tanh: 'Math.tanh($0)',
  sin: 'Math.sin($0)',
  cos: 'Math.cos($0)',
  sigmoid: 'F.sigmoid($0)',
  relu: 'Math.max($0, 0)',
  erf: 'F.erf($0)',
  add: '$0 + $1',
  sub: '$0 - $1',
  mul: '$0 * $1',
  div: '$0 / $1',
  pow: '$0 ** $1',
  maximum: 'Math.max($0, $1)',
  minimum: 'Math.min($0, $1)',
  gt: '($0 > $1 ? 1 : 0)',
  lt: '($0 < $1 ? 1 : 0)',
  ge: '($0 >= $1 ? 1 : 0)',
  le: '($0 <= $1 ? 1 : 0)',
  eq: '($0 === $1 ? 1 : 0)',
  ne: '($0 !== $1 ? 1 : 0)',
  where: '($0 !== 0 ? $1 : $2)',
  clamp: 'Math.min(Math.max($0, $lo), $hi)',
};

/** Each template cut at its operands: text, then operand i as i, `$lo` as −1, `$hi` as −2, and so on. */
const TEMPLATE_PARTS: Readonly<Record<string, ReadonlyArray<string | number>>> = Object.fromEntries(
  Object.entries(TEMPLATES).map(([op, text]) => [
    op,
    text
      .split(/\$(\d|lo|hi)/)
      .map((part, i) => (i % 2 === 0 ? part : part === 'lo' ? -1 : part === 'hi' ? -2 : Number(part))),
  ]),
);

/** The row cache of the JavaScript kernels (see `InnerPlan`): one for all, as kernels run one at a time. */
let rowCache = new Float64Array(0);

/** The row cache, with room for at least `size` elements. */
function rows(size: number): Float64Array {
  if (rowCache.length < size) rowCache = new Float64Array(size);
  return rowCache;
}

/** Functions (and the table `P` of float32 σ and tanh, and the row cache) the generated kernels use. */
const FUNCTIONS = { sigmoid: sigmoidScalar, erf: erfScalar, P: POW2_F32, rows };

/** A kernel: its JavaScript form, and its WebAssembly form where it has one. */
export interface Kernel {
  js: (arrays: readonly TypedArray[], F: typeof FUNCTIONS) => void;
  /** Compiled when first run with the WebAssembly backend ready (null: this IR cannot run there). */
  wasm?: WasmFused | null;
}

/** Smallest loop sent to WebAssembly: the measured crossover for an LSTM step's kernel (batch 1, hidden 64). */
export const WASM_MIN_ELEMENTS = 64;
let wasmMinElements = WASM_MIN_ELEMENTS;

/**
 * Sets the smallest loop sent to WebAssembly (tests send every kernel there, to hold small loops and their
 * last partial vector against JavaScript) and returns the previous one.
 */
export function setWasmMinElements(n: number): number {
  const previous = wasmMinElements;
  wasmMinElements = n;
  return previous;
}

/** Generated kernels by a hash of their IR; a bucket holds the IRs that share a hash, compared in full. */
const cache = new Map<number, Array<{ ir: KernelIr; kernel: Kernel }>>();
let cached = 0;
let runs = 0;
const MAX_CACHED = 4096;

/** Number of distinct fused kernels generated so far (for tests and diagnostics). */
export function fusedKernelCount(): number {
  return cached;
}

/** Number of fused kernel runs so far (for tests and diagnostics: kernels per training step, say). */
export function fusedKernelRunCount(): number {
  return runs;
}

/** Runs the kernel of `ir` over `arrays` (array k of the IR is `arrays[k]`), generating it on first use. */
export function runKernel(ir: KernelIr, arrays: readonly TypedArray[]): void {
  runCompiled(kernelOf(ir), ir, arrays);
}

/** The kernel of `ir`, found by its hash or generated. */
export function kernelOf(ir: KernelIr): Kernel {
  const hash = irHash(ir);
  let bucket = cache.get(hash);
  let kernel = bucket?.find((entry) => sameIr(entry.ir, ir))?.kernel;
  if (!kernel) {
    if (cached >= MAX_CACHED) {
      cache.clear();
      cached = 0;
      bucket = undefined;
    }
    kernel = { js: new Function('A', 'F', jsSource(ir)) as Kernel['js'] };
    if (bucket) bucket.push({ ir, kernel });
    else cache.set(hash, [{ ir, kernel }]);
    cached++;
  }
  return kernel;
}

/** Runs `kernel`, generated from `ir` (see `kernelOf`), over `arrays`. */
export function runCompiled(kernel: Kernel, ir: KernelIr, arrays: readonly TypedArray[]): void {
  runs++;
  // Below wasmMinElements, copying into WebAssembly memory costs more than it saves.
  if (isWasmEnabled() && elements(ir.loop) >= wasmMinElements) {
    if (kernel.wasm === undefined) kernel.wasm = compileFused(ir);
    if (kernel.wasm && runFused(kernel.wasm, arrays)) return;
  }
  for (const s of ir.stores) forgetOutput(arrays[s.array]!); // written here: a product's copy is out of date
  kernel.js(arrays, FUNCTIONS);
}

function elements(loop: readonly number[]): number {
  let n = 1;
  for (const d of loop) n *= d;
  return n;
}

/** Each op's number in the kernel hash. */
const OP_CODES = new Map([...Object.keys(TEMPLATES), 'sum'].map((op, i) => [op, i + 1]));

/**
 * A 32-bit hash (FNV-1a over 32-bit words) of everything the generated code depends on; kernels are found by
 * it without building a text of the IR on every realization, then compared in full (`sameIr`).
 */
function irHash(ir: KernelIr): number {
  let h = hashWords(0x811c9dc5, ir.f32 ? 1 : 2);
  h = hashList(h, ir.loop);
  for (let i = 0; i < ir.values.length; i++) {
    const v = ir.values[i]!;
    if (v.kind === 'load') {
      h = hashList(hashWords(hashWords(hashWords(h, -1), v.array), v.base), v.coefs);
    } else {
      h = hashList(hashList(hashWords(h, OP_CODES.get(v.op) ?? 0), v.args), v.params);
    }
  }
  for (let i = 0; i < ir.stores.length; i++) {
    const s = ir.stores[i]!;
    h = hashWords(
      hashWords(hashList(hashWords(hashWords(h, s.array), s.base), s.coefs), s.value),
      +s.accumulate,
    );
  }
  for (let k = 0; k < ir.fresh.length; k++) h = hashWords(h, ir.fresh[k] ? 1 : 0);
  return h >>> 0;
}

/** FNV-1a step over the low and high 32-bit words of an integer (a float's fraction is dropped: a collision). */
function hashWords(h: number, x: number): number {
  h = Math.imul(h ^ (x | 0), 0x01000193);
  return Math.imul(h ^ ((x / 0x100000000) | 0), 0x01000193);
}

function hashList(h: number, xs: readonly number[]): number {
  h = hashWords(h, xs.length);
  for (let i = 0; i < xs.length; i++) h = hashWords(h, xs[i]!);
  return h;
}

/**
 * A 32-bit hash (FNV-1a) of a list of 32-bit words: of a list of numbers through the words of its float64
 * bits, so that hashing it reads integers only (reading doubles from a list of any numbers would box them).
 */
export function hashInt32s(words: Int32Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193);
  return h >>> 0;
}

/** Whether two lists of 32-bit words are the same. */
export function sameInt32s(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether two lists of numbers are the same entry by entry (`Object.is`: clamp bounds may be NaN or −0). */
export function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/** Whether two IRs generate the same code (a value's level follows from its operands, so it is not compared). */
export function sameIr(a: KernelIr, b: KernelIr): boolean {
  if (a.f32 !== b.f32 || a.arrayCount !== b.arrayCount || !sameNumbers(a.loop, b.loop)) return false;
  if (a.values.length !== b.values.length || a.stores.length !== b.stores.length) return false;
  for (let i = 0; i < a.values.length; i++) {
    const u = a.values[i]!;
    const v = b.values[i]!;
    if (u.kind === 'load') {
      if (v.kind !== 'load' || u.array !== v.array || u.base !== v.base || !sameNumbers(u.coefs, v.coefs))
        return false;
    } else if (
      v.kind !== 'op' ||
      u.op !== v.op ||
      !sameNumbers(u.args, v.args) ||
      !sameNumbers(u.params, v.params)
    ) {
      return false;
    }
  }
  for (let i = 0; i < a.stores.length; i++) {
    const s = a.stores[i]!;
    const t = b.stores[i]!;
    if (
      s.array !== t.array ||
      s.base !== t.base ||
      s.value !== t.value ||
      s.accumulate !== t.accumulate ||
      !sameNumbers(s.coefs, t.coefs)
    )
      return false;
  }
  for (let k = 0; k < a.fresh.length; k++) if (a.fresh[k] !== b.fresh[k]) return false;
  return true;
}

/** `base + Σ_d coef_d · i_d` as source text. */
function indexCode(base: number, coefs: readonly number[]): string {
  let s = String(base);
  coefs.forEach((c, d) => {
    if (c === 1) s += ` + i${d}`;
    else if (c !== 0) s += ` + ${c} * i${d}`;
  });
  return s;
}

/** The JavaScript expression of an op over its operands' variables (clamp's bounds from `params`). */
function opCode(op: string, args: readonly number[], params: readonly number[]): string {
  let expr = '';
  for (const part of TEMPLATE_PARTS[op]!) {
    if (typeof part === 'string') expr += part;
    else expr += part >= 0 ? `v${args[part]}` : String(params[-1 - part]);
  }
  return expr;
}

/**
 * The kernel's JavaScript source: arrays `o0…`, values `v0…` at their loop levels, stores at theirs (see
 * `storeLevel`). A sum (over the innermost loop, at an outer level) runs its own innermost loops where it
 * stands, one per operand, computing there the innermost values the operand needs; the stores' innermost
 * loop computes those the stores need. Values one of these loops computed and a later one needs are passed
 * on in the row cache `R` (see `planInnerPasses`).
 */
function jsSource(ir: KernelIr): string {
  const rank = ir.loop.length;
  const inner = rank - 1;
  const round = (expr: string) => (ir.f32 ? `Math.fround(${expr})` : expr);
  const plan = planInnerPasses(ir);
  const cached = (i: number) => `R[${plan.slots.get(i)! * plan.length} + i${inner}]`;
  /** One element of a pass: values read back from the row cache, values computed, values kept there. */
  const passCode = ({ compute, keep, reuse }: InnerPass): string[] => [
    ...reuse.map((i) => `const v${i} = ${cached(i)};`),
    ...compute.map(valueCode),
    ...keep.map((i) => `${cached(i)} = v${i};`),
  ];
  const valueCode = (i: number): string => {
    const v = ir.values[i]!;
    if (v.kind === 'load') return `const v${i} = o${v.array}[${indexCode(v.base, v.coefs)}];`;
    if (v.op === 'sum') {
      // Element k into partial sum k mod L, unrolled by L, one operand (piece of the row) after the other;
      // then the partial sums pairwise (see `rowSums`).
      const lanes = sumLanes(ir.f32);
      const n = ir.loop[inner]!;
      const partials = Array.from({ length: lanes }, (_, j) => `s${i}_${j}`);
      const piece = (operand: number, pass: InnerPass) => {
        const add = (j: number) => [
          '{',
          ...passCode(pass),
          `${partials[j]} = ${round(`${partials[j]} + v${operand}`)};`,
          `}`,
          `i${inner}++;`,
        ];
        return [
          `{ let i${inner} = 0;`,
          `while (i${inner} < ${n - (n % lanes)}) {`,
          ...Array.from({ length: lanes }, (_, j) => add(j)).flat(),
          '}',
          ...Array.from({ length: n % lanes }, (_, j) => add(j)).flat(),
          '}',
        ];
      };
      const passes = plan.sums.get(i)!;
      const combined = ir.f32
        ? round(`${round(`${partials[0]} + ${partials[1]}`)} + ${round(`${partials[2]} + ${partials[3]}`)}`)
        : `${partials[0]} + ${partials[1]}`;
      return [
        `let ${partials.map((p) => `${p} = 0`).join(', ')};`,
        ...v.args.flatMap((operand, k) => piece(operand, passes[k]!)),
        `const v${i} = ${combined};`,
      ].join('\n');
    }
    const inline = ir.f32 ? float32Code(v.op, `v${v.args[0]}`, `t${i}`) : null;
    const expr = inline ? inline.expr : opCode(v.op, v.args, v.params);
    return `${inline ? `${inline.lines}\n` : ''}const v${i} = ${round(expr)};`;
  };
  const lines = ['const P = F.P;'];
  if (plan.slots.size > 0) lines.push(`const R = F.rows(${plan.slots.size * plan.length});`);
  for (let k = 0; k < ir.arrayCount; k++) lines.push(`const o${k} = A[${k}];`);
  const storeCode = (level: number) =>
    ir.stores
      .filter((s) => storeLevel(ir, s) === level)
      .map((s) => {
        const at = `o${s.array}[${indexCode(s.base, s.coefs)}]`;
        return `${at} = ${s.accumulate ? round(`${at} + v${s.value}`) : `v${s.value}`};`;
      });
  const outerAt = (level: number) => {
    ir.values.forEach((v, i) => {
      if (v.level === level) lines.push(valueCode(i));
    });
    lines.push(...storeCode(level));
  };
  outerAt(-1);
  for (let d = 0; d < rank; d++) {
    lines.push(`for (let i${d} = 0; i${d} < ${ir.loop[d]}; i${d}++) {`);
    if (d < inner) outerAt(d);
  }
  if (rank > 0) {
    lines.push(...passCode(plan.stores), ...storeCode(inner));
  }
  lines.push('}'.repeat(rank));
  return lines.join('\n');
}
