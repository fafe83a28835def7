/**
 * Loading TensorFlow.js (the union package, which registers the gradients that `tfjs-core` alone lacks) and
 * its cpu and wasm backends, switching between them, and describing the environment for the report header.
 */
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

const BACKENDS: Partial<Record<SystemId, string>> = { 'tfjs-cpu': 'cpu', 'tfjs-wasm': 'wasm' };

/** Makes a system current: selects the matching tfjs backend (TensorLoom needs nothing). */
export async function activate(system: SystemId): Promise<void> {
  const backend = BACKENDS[system];
  if (!backend) return;
  const t = tf();
  if (t.getBackend() === backend) return;
  if (!(await t.setBackend(backend))) throw new Error(`activate: tfjs backend '${backend}' failed to start`);
  await t.ready();
}

/** Live tfjs tensors (variables included), for the harness's leak check. */
export function liveObjects(system: SystemId): number {
  return BACKENDS[system] && tfModule ? tfModule.memory().numTensors : 0;
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
  return parts.join(' · ');
}
