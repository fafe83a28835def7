/// <reference types="node" />
/**
 * `@tensorloom/nn/node`: file helpers for Node (the main entry stays free of Node built-ins so it runs in
 * browsers). Every write is atomic: the bytes go to a temp file in the target's directory, are fsynced, and
 * the temp file is renamed over the target, so a crash or an error mid-save leaves the previous file whole.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { LoadResult, Module } from './module.ts';
import { readSafetensors, saveSafetensors } from './safetensors.ts';
import {
  type Checkpoint,
  type CheckpointTargets,
  type RestoredCheckpoint,
  restoreCheckpoint,
  serializeCheckpoint,
} from './state.ts';

/** Prefixes an error with the calling function and the file, keeping the original as `cause`. */
function withPath(fn: string, path: string, err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err);
  return new Error(`${fn}: ${path}: ${message}`, { cause: err });
}

/** fsyncs a directory so the rename itself survives a power loss; some platforms cannot, which is fine. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Windows cannot open directories, and some file systems refuse fsync on them: the rename still happened.
  } finally {
    await handle?.close().catch(() => {});
  }
}

/**
 * Writes `bytes` to `path` atomically: to a fresh temp file beside it (same directory, so the rename stays on
 * one file system), fsync, rename over `path`. On any failure the temp file is removed and `path` is
 * untouched. (A process killed mid-write can leave a `.<name>.<pid>.<random>.tmp` file behind, never a
 * truncated `path`.)
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(temp, 'wx');
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
      written += bytesWritten;
    }
    await handle.sync();
    const h = handle;
    handle = undefined;
    await h.close();
    await rename(temp, path);
  } catch (err) {
    await handle?.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw err;
  }
  await syncDirectory(dir);
}

/** Saves `module.stateDict()` to `path` as safetensors (PyTorch key names), atomically. */
export async function saveModule(
  path: string,
  module: Module,
  metadata?: Record<string, string>,
): Promise<void> {
  const bytes = saveSafetensors(module.stateDict(), metadata);
  try {
    await writeFileAtomic(path, bytes);
  } catch (err) {
    throw withPath('saveModule', path, err);
  }
}

/**
 * Loads a safetensors file (ours or PyTorch's) into `module` via `loadStateDict` (values converted to the
 * module's dtype). With `strict` (default) missing or unexpected keys are an error; shapes must always match.
 */
export async function loadModule(
  path: string,
  module: Module,
  options: { strict?: boolean } = {},
): Promise<LoadResult> {
  try {
    const { tensors } = readSafetensors(await readFile(path));
    return module.loadStateDict(tensors, { strict: options.strict ?? true });
  } catch (err) {
    throw withPath('loadModule', path, err);
  }
}

/**
 * Saves a training checkpoint (model, optimizer and scheduler state, step, extra values and the global RNG
 * state) to `path` atomically: if anything fails, the previous checkpoint at `path` is left intact.
 */
export async function saveCheckpoint(path: string, checkpoint: Checkpoint): Promise<void> {
  try {
    await writeFileAtomic(path, serializeCheckpoint(checkpoint));
  } catch (err) {
    throw withPath('saveCheckpoint', path, err);
  }
}

/**
 * Loads a checkpoint written by `saveCheckpoint` into the given model/optimizer/scheduler, restores the RNG
 * state (unless `restoreRng: false`), and returns the saved step and extra values.
 */
export async function loadCheckpoint(path: string, targets: CheckpointTargets): Promise<RestoredCheckpoint> {
  try {
    return restoreCheckpoint(await readFile(path), targets);
  } catch (err) {
    throw withPath('loadCheckpoint', path, err);
  }
}
