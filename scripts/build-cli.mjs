#!/usr/bin/env node
// Bundles the command line (src/cli/main.ts and everything it imports of ours) into one CommonJS file,
// dist/cli/app.cjs, and the launcher (src/cli/launcher.ts) into dist/cli/main.cjs, the `chunkswarm` bin.
// Node then reads and compiles one file at start instead of about 150, and the launcher runs it through
// V8's code cache (see launcher.ts): together a download starts on about a third less CPU, which every
// process of a swarm pays. The small npm packages every command loads (commander, picocolors) go into
// the bundle too, under the same cache: required from node_modules, they were compiled from source at each
// start, about 9 ms of a `download`'s 0.22 CPU-s. better-sqlite3 (a native addon) and cli-progress (loaded
// only on a terminal) stay outside, required when used. What the source imports with `await import()` is
// still initialised only when used. The rest of dist/ is tsc's per-module output, for anything that
// imports a single module.
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'cli');

// the previous build's caches: they belong to another bundle
rmSync(join(cli, 'cache'), { recursive: true, force: true });

// Both are CommonJS, like the ES modules they came from strict, and the two modules that find files
// beside themselves ask import.meta.url, which CommonJS lacks.
const commonJs = {
  absWorkingDir: root,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  tsconfig: 'tsconfig.build.json',
  define: { 'import.meta.url': 'importMetaUrl' },
  // (strict first: ES modules were strict, and a banner would push esbuild's own directive out of place)
  banner: {
    js: '"use strict";\nconst importMetaUrl = require("node:url").pathToFileURL(__filename).href;',
  },
  allowOverwrite: true,
  sourcemap: false,
  logLevel: 'warning',
};
const app = join(cli, 'app.cjs');
const bin = join(cli, 'main.cjs');
try {
  await build({
    ...commonJs,
    entryPoints: ['src/cli/main.ts'],
    outfile: app,
    external: ['better-sqlite3', 'cli-progress'],
  });
  await build({ ...commonJs, entryPoints: ['src/cli/launcher.ts'], outfile: bin });
} catch {
  // esbuild has already printed what went wrong, with file and line.
  process.exit(1);
}
// esbuild escapes every non-ASCII character of the code, but not of the comments it keeps (a dash in a
// doc comment): one such character made V8 hold the whole 0.9 MB source in two bytes a character and
// decode it from UTF-8 at every start. Escaped in a comment, it reads the same.
const text = readFileSync(app, 'utf8');
writeFileSync(
  app,
  text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
);
chmodSync(bin, 0o755);
