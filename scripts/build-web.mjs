#!/usr/bin/env node
// Bundles the dashboards' pages (web/*.tsx: Preact, uPlot and our CSS) into dist/web/assets/, the
// only files the page servers hand out. Everything is bundled: the pages load nothing from elsewhere.
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'web', 'assets');

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });

try {
  const result = await build({
    absWorkingDir: root,
    entryPoints: { tracker: 'web/tracker.tsx', peer: 'web/peer.tsx' },
    outdir,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['chrome100', 'firefox100', 'safari15'],
    tsconfig: 'web/tsconfig.json',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: false,
    // Keep any licence notice the libraries carry inside the bundle that ships them.
    legalComments: 'eof',
    logLevel: 'warning',
    metafile: true,
  });
  const sizes = Object.entries(result.metafile.outputs)
    .map(([file, { bytes }]) => `${file.split('/').pop()} ${Math.round(bytes / 1024)} KiB`)
    .join(', ');
  console.log(`web assets: ${sizes}`);
} catch {
  // esbuild has already printed what went wrong, with file and line.
  process.exit(1);
}
