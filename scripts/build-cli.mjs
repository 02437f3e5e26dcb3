#!/usr/bin/env node
// Bundles the command line (src/cli/main.ts and everything it imports of ours) into one file,
// dist/cli/main.js, over the per-module file tsc wrote there. Node then reads, resolves and compiles one
// module at start instead of about 150: a download starts on about a quarter less CPU, which every
// process of a swarm pays. npm packages stay outside (imported from node_modules as before); the rest
// of dist/ is still tsc's, for anything that imports a single module.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

try {
  await build({
    absWorkingDir: root,
    entryPoints: ['src/cli/main.ts'],
    outfile: join(root, 'dist', 'cli', 'main.js'),
    bundle: true,
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
