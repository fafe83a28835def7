#!/usr/bin/env node
/**
 * `pnpm run pack`: the one way to make publishable tarballs of the three packages, whichever client then
 * installs or publishes them. The manifests in the workspace point `exports` at the TypeScript sources and
 * depend on each other as `workspace:*`, which only pnpm rewrites (and only in part: not `prepare`), so each
 * package is staged instead, in a temporary directory holding exactly what is published:
 *
 *   dist/ (a fresh `tsc -p tsconfig.build.json`), src/ (which dist's source maps point to), README.md, LICENSE (the repository's), and a package.json
 *   whose `exports` are its `publishConfig.exports`, whose `workspace:*` dependencies are the siblings'
 *   exact versions, and without scripts, devDependencies or publishConfig (nothing refers to unpacked files);
 *
 * then `npm pack` runs there (staged manifests have no lifecycle scripts). Running `npm pack` or `pnpm pack`
 * inside a package directory is refused by its `prepack` script, which points here.
 *
 * Usage: node scripts/pack.mjs [--out <dir>]   (default: ./packed; prints the tarball paths)
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outArg = process.argv.indexOf('--out');
const out = resolve(outArg >= 0 ? process.argv[outArg + 1] : join(root, 'packed'));
/** In dependency order, so each build finds its siblings' sources. */
const packages = ['autograd', 'nn', 'lstm'];

const manifests = new Map(
  packages.map((dir) => [dir, JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'))]),
);
const versions = new Map([...manifests.values()].map((m) => [m.name, m.version]));

/** The manifest as published: see the header comment. */
function publishedManifest(manifest) {
  const { scripts, devDependencies, publishConfig, ...rest } = manifest;
  if (!publishConfig?.exports) throw new Error(`pack: ${manifest.name} has no publishConfig.exports`);
  const dependencies = {};
  for (const [name, range] of Object.entries(manifest.dependencies ?? {})) {
    if (!range.startsWith('workspace:')) {
      dependencies[name] = range;
      continue;
    }
    if (!versions.has(name))
      throw new Error(`pack: ${manifest.name} depends on unknown workspace package ${name}`);
    dependencies[name] = versions.get(name);
  }
  const published = { ...rest, exports: publishConfig.exports, files: ['dist', 'src'] };
  if (Object.keys(dependencies).length > 0) published.dependencies = dependencies;
  return published;
}

const tsc = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'tsc.cmd' : 'tsc');
const staging = mkdtempSync(join(tmpdir(), 'tensorloom-pack-'));
mkdirSync(out, { recursive: true });
try {
  for (const dir of packages) {
    const pkg = join(root, 'packages', dir);
    rmSync(join(pkg, 'dist'), { recursive: true, force: true });
    execFileSync(tsc, ['-p', join(pkg, 'tsconfig.build.json')], { stdio: 'inherit' });
    const stage = join(staging, dir);
    mkdirSync(stage);
    cpSync(join(pkg, 'dist'), join(stage, 'dist'), { recursive: true });
    cpSync(join(pkg, 'src'), join(stage, 'src'), { recursive: true });
    cpSync(join(pkg, 'README.md'), join(stage, 'README.md'));
    cpSync(join(root, 'LICENSE'), join(stage, 'LICENSE'));
    writeFileSync(
      join(stage, 'package.json'),
      `${JSON.stringify(publishedManifest(manifests.get(dir)), null, 2)}\n`,
    );
    const file = execFileSync('npm', ['pack', '--silent', '--pack-destination', out], {
      cwd: stage,
      encoding: 'utf8',
    }).trim();
    console.log(join(out, file.split('\n').pop()));
  }
} finally {
  rmSync(staging, { recursive: true, force: true });
}
