/// <reference types="node" />
/**
 * `@tensorloom/nn/node`: file helpers for Node (the main entry stays free of Node built-ins so it runs in
 * browsers). Every write is atomic: the bytes go to a temp file in the target's directory, are fsynced, and
 * the temp file is renamed over the target, so a crash or an error mid-save leaves the previous file whole.
 * A process killed mid-save leaves its temp file behind; the next save of the same target removes it (see
 * `removeStaleTemps`).
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, lstat, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
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

/** Temp files of this process's writes still in progress: never stale, whatever their age. */
const inFlight = new Set<string>();

/**
 * How long a dead writer's temp file is left alone. The pid test below is exact only among processes that
 * share this host's pid namespace; a directory shared with other hosts or containers can hold the temp file of
 * a live writer whose pid means nothing here. Such a writer touches its file continuously until the rename
 * (a 44 MB checkpoint is written in well under a second), so a file untouched for a minute is not being
 * written; and were it still a live save, removing it would make that save fail loudly, never corrupt a file.
 */
const STALE_TEMP_AGE_MS = 60_000;

/** True when `pid` is a running process here (EPERM: it exists but belongs to another user). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp files that earlier, killed saves of `path` left behind: files named exactly
 * `<name>.tmp-<pid>-<12 hex digits>` beside it (so other targets' temp files and the user's own files are
 * never touched), whose writer is gone (its pid is not running here, or is this process's but the file is not
 * one of its saves in progress, as after a restart in a container that reuses pids), and that are older than
 * `STALE_TEMP_AGE_MS`. Best effort: a file that cannot be examined or removed is left where it is.
 */
async function removeStaleTemps(path: string): Promise<void> {
  const dir = dirname(path);
  const prefix = `${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const match = /^(\d{1,10})-[0-9a-f]{12}$/.exec(name.slice(prefix.length));
    if (!match) continue;
    const file = join(dir, name);
    const pid = Number(match[1]);
    if (inFlight.has(file) || (pid !== process.pid && isAlive(pid))) continue;
    try {
      const info = await lstat(file);
      if (info.isFile() && Date.now() - info.mtimeMs > STALE_TEMP_AGE_MS) await unlink(file);
    } catch {
      // Gone already (another save cleaned it) or not ours to remove: leave it.
    }
  }
}

/**
 * Writes `bytes` to `path` atomically: to a fresh temp file `<path>.tmp-<pid>-<random>` beside it (same
 * directory, so the rename stays on one file system), fsync, rename over `path`. On any failure the temp file
 * is removed and `path` is untouched. A process killed mid-write leaves its temp file, never a truncated
 * `path`; each save first removes such leftovers of the same target (see `removeStaleTemps`).
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  await removeStaleTemps(path);
  const temp = join(dir, `${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  inFlight.add(temp);
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
  } finally {
    inFlight.delete(temp);
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
