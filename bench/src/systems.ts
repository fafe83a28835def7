/**
 * Loading TensorFlow.js (the union package, which registers the gradients that `tfjs-core` alone lacks) and
 * its cpu and wasm backends, and jax-js with its wasm backend; switching between them, counting their live
 * objects for the leak check, and describing the environment for the report header.
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import type { SystemId } from './harness.ts';

/** The tfjs namespace, typed from the package. */
export type Tf = typeof import('@tensorflow/tfjs');

let tfModule: Tf | undefined;
let wasmModule: typeof import('@tensorflow/tfjs-backend-wasm') | undefined;

/** The loaded tfjs namespace (after `loadTf`). */
export function tf(): Tf {
  if (!tfModule) throw new Error('tf: TensorFlow.js is not loaded yet; call loadTf() first');
  return tfModule;
}

/**
 * Imports tfjs and the wasm backend. tfjs prints an advert for tfjs-node on import; it is muted so the
 * report stays clean (tfjs-node cannot be installed here: its install step downloads a binary).
 */
export async function loadTf(): Promise<Tf> {
  if (tfModule) return tfModule;
  const warn = console.warn;
  const log = console.log;
  const muted =
    (fn: typeof console.log) =>
    (...args: unknown[]) => {
      if (!String(args[0]).includes('tfjs-node') && !String(args[0]).startsWith('\n====')) fn(...args);
    };
  console.warn = muted(warn);
  console.log = muted(log);
  try {
    tfModule = await import('@tensorflow/tfjs');
    // Registers the 'wasm' backend. In Node it finds its .wasm binaries beside its own dist file in
    // node_modules, so `setWasmPaths` is not needed.
    wasmModule = await import('@tensorflow/tfjs-backend-wasm');
  } finally {
    console.warn = warn;
    console.log = log;
  }
  // Production mode drops debug-only checks; this is how a speed-conscious user runs tfjs.
  tfModule.enableProdMode();
  return tfModule;
}

/** The jax-js namespace, typed from the package. */
export type Jax = typeof import('@jax-js/jax');
/** A jax-js array. */
export type JaxArray = import('@jax-js/jax').Array;

let jaxModule: Jax | undefined;

/** The loaded jax-js namespace (after `loadJax`). */
export function jax(): Jax {
  if (!jaxModule) throw new Error('jax: jax-js is not loaded yet; call loadJax() first');
  return jaxModule;
}

/**
 * Imports jax-js and starts its wasm backend. jax-js runs its wasm kernels on worker threads only when both
 * `SharedArrayBuffer` and a global `Worker` exist; Node 20 has no global `Worker`, so here it runs on the
 * main thread, like TensorLoom.
 */
export async function loadJax(): Promise<Jax> {
  if (jaxModule) return jaxModule;
  const module = await import('@jax-js/jax');
  const started = await module.init('wasm');
  if (!started.includes('wasm'))
    throw new Error(`loadJax: jax-js's wasm backend did not start (got ${started})`);
  jaxModule = module;
  return module;
}

/**
 * jax-js frees memory by reference counting and offers no count of live arrays, so the bench registers every
 * array it holds (inputs, weights, optimizer state, results) here; the ones whose count has not reached
 * zero after a case are its leak check. Arrays inside jitted programs are jax-js's own to free.
 */
const jaxHeld = new Set<JaxArray>();

/** Registers the arrays of a jax-js tree (an array, or nested arrays/objects of them) and returns it. */
export function held<T>(tree: T): T {
  for (const leaf of jax().tree.leaves(tree as never) as unknown[]) {
    if (leaf instanceof jax().Array) jaxHeld.add(leaf);
  }
  return tree;
}

function liveJaxArrays(): number {
  for (const a of jaxHeld) if (a.refCount <= 0) jaxHeld.delete(a);
  return jaxHeld.size;
}

const BACKENDS: Partial<Record<SystemId, string>> = { 'tfjs-cpu': 'cpu', 'tfjs-wasm': 'wasm' };

/** Makes a system current: selects the matching tfjs backend or jax-js device (TensorLoom needs nothing). */
export async function activate(system: SystemId): Promise<void> {
  if (system === 'jax-wasm') {
    jax().defaultDevice('wasm');
    return;
  }
  const backend = BACKENDS[system];
  if (!backend) return;
  const t = tf();
  if (t.getBackend() === backend) return;
  if (!(await t.setBackend(backend))) throw new Error(`activate: tfjs backend '${backend}' failed to start`);
  await t.ready();
}

/** Live tfjs tensors (variables included), or jax-js arrays the bench holds, for the harness's leak check. */
export function liveObjects(system: SystemId): number {
  if (system === 'jax-wasm') return jaxModule ? liveJaxArrays() : 0;
  return BACKENDS[system] && tfModule ? tfModule.memory().numTensors : 0;
}

/** The pinned jax-js version, from this package's manifest (jax-js's own does not export its version). */
function jaxVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    devDependencies?: Record<string, string>;
  };
  return manifest.devDependencies?.['@jax-js/jax'] ?? '?';
}

/** One line describing the machine, Node and tfjs, printed above the tables. */
export async function describeEnvironment(systems: readonly SystemId[]): Promise<string> {
  const cpu = cpus();
  const parts = [
    `Node ${process.version}`,
    `${cpu[0]?.model.trim() ?? 'unknown CPU'} × ${cpu.length}`,
    `${new Date().toISOString().slice(0, 10)}`,
    // Other work on the machine inflates medians; the 1-minute load average says how busy it was.
    `load average ${loadavg()[0]!.toFixed(1)} at start`,
  ];
  if (tfModule) {
    parts.push(`tfjs ${tfModule.version.tfjs}`);
    if (systems.includes('tfjs-wasm') && wasmModule) {
      const simd = await tfModule.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      let threads = '?';
      try {
        threads = String(wasmModule.getThreadsCount());
      } catch {
        // The wasm backend reports its thread count only once it has started.
      }
      parts.push(`tfjs-wasm SIMD ${simd ? 'on' : 'off'}, ${threads} thread(s)`);
    }
  }
  if (jaxModule && systems.includes('jax-wasm')) {
    const threaded = typeof SharedArrayBuffer !== 'undefined' && 'Worker' in globalThis;
    parts.push(`jax-js ${jaxVersion()} wasm, ${threaded ? 'worker threads' : '1 thread (no global Worker)'}`);
  }
  return parts.join(' · ');
}
