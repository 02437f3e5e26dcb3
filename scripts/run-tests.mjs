#!/usr/bin/env node
// Finds every test/**/*.test.ts (and bench/test/*.test.ts) and runs them with node's test runner through tsx.
// `--unit` leaves out the folders that start real processes (integration, interop, web).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const slow = new Set(['integration', 'interop', 'web', 'hostile', 'magnet', 'lessons']);
const unitOnly = process.argv.includes('--unit');
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));

function collect(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (unitOnly && dir === 'test' && slow.has(name)) continue;
      collect(path, out);
    } else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

// The bench's own parsers and process handling are tested too (bench/test).
const roots = unitOnly ? ['test'] : ['test', 'bench/test'];
const files = roots
  .flatMap((root) => collect(root, []))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
