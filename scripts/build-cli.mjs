#!/usr/bin/env node
// Bundles the command line (src/cli/main.ts and everything it imports of ours) into dist/cli/main.js,
// over the per-module file tsc wrote there. Node then reads, resolves and compiles one module at start
// instead of about 150: a download starts on about a quarter less CPU, which every process of a swarm
// pays. npm packages stay outside (imported from node_modules as before); the rest of dist/ is still
// tsc's, for anything that imports a single module.
//
// What the source loads with `await import()` (the tracker's SQLite and Redis stores, its worker
// fleet) goes into chunks of its own, dist/cli/chunk-*.js: inlined, the npm packages those modules
// import would become static imports of main.js and load in every process.
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'cli');

// chunks are named by content hash: drop the previous build's before writing new ones
for (const name of readdirSync(outdir)) if (/^chunk-.*\.js$/.test(name)) rmSync(join(outdir, name));

try {
  await build({
    absWorkingDir: root,
    entryPoints: { main: 'src/cli/main.ts' },
    outdir,
    bundle: true,
    splitting: true,
    chunkNames: 'chunk-[hash]',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    tsconfig: 'tsconfig.build.json',
    allowOverwrite: true,
    sourcemap: false,
    logLevel: 'warning',
  });
} catch {
  // esbuild has already printed what went wrong, with file and line.
  process.exit(1);
}
