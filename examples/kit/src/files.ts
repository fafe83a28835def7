/** Writing an example's outputs: directories are created on demand, and paths are shown relative to cwd. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';

/** Writes `text` to `path`, creating parent directories; returns the path relative to the working dir. */
export async function writeOutput(path: string, text: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
  return relative(process.cwd(), path) || path;
}
