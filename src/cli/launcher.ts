#!/usr/bin/env -S node --max-semi-space-size=2
/**
 * What `chunkswarm` runs first: the build bundles this module as CommonJS into dist/cli/main.cjs, the
 * package's bin (a CommonJS entry spares Node its ES module loader: about 7 ms of every start). It runs
 * the command line, bundled into dist/cli/app.cjs, through V8's code cache, so a command's start skips
 * parsing and compiling what its earlier runs compiled (the bytecode, not the optimised code). Every
 * process of a swarm pays that start, and Node 20 keeps no such cache for ES modules, hence a CommonJS
 * bundle.
 *
 * One cache per bundle, Node version and subcommand, in dist/cli/cache/ (or CHUNKSWARM_CODE_CACHE_DIR),
 * written when a run found none or V8 refused it. Where nothing can be written (a read-only install)
 * every start compiles, as without a cache.
 */
import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';

// The first line gives V8 a young generation of at most 2 MB a semi-space (16 by default), which only a
// flag at start can set. A peer's garbage is nearly all per message and dies young: in a smaller space it
// stays in the cache and touches fewer fresh pages (each fault costs about 8 us under this machine's
// hypervisor). A 1 + 24 swarm used 36.6 CPU-s against 38.2 (five alternating rounds each), a 1 GiB pair's
// leecher 2.32 against 2.42, and the tracker's announces per CPU-second did not move.
// V8 optimises a function once it has run a budget's worth of bytecode. In a 1 + 24 swarm of capped
// peers, each living about 20 s, V8's own threads (mostly optimising) used 0.45 to 0.55 CPU-s a process;
// with a budget four times larger 0.2, the main threads 0.18 more, and the swarm's CPU fell by about 5%
// (six runs each way) with no change in a 1 GiB pair. V8 reads it when it sets a function's budget, so it
// holds for everything compiled after this line.
setFlagsFromString('--interrupt-budget=270336');

const here = dirname(fileURLToPath(import.meta.url));
const bundle = join(here, 'app.cjs');
const bytes = readFileSync(bundle);
// The build leaves the bundle ASCII (scripts/build-cli.mjs): read as Latin-1 it is the same text, held by V8
// in one byte a character, and no UTF-8 decoding is needed (a few ms of each start against a two-byte string).
const source = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');

// V8 checks a cache against the length of the source, not its bytes: the file name carries a digest.
const digest = createHash('sha1').update(bytes).digest('hex').slice(0, 16);
const command = /^[a-z][a-z-]{0,30}$/.test(process.argv[2] ?? '') ? process.argv[2] : 'other';
const cacheFile = join(
  process.env.CHUNKSWARM_CODE_CACHE_DIR || join(here, 'cache'),
  `${digest}-v8-${process.versions.v8}-${command}.bin`,
);

let cachedData: Buffer | undefined;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  // first run of this command with this bundle
}
const script = new Script(Module.wrap(source), { filename: bundle, cachedData });
if (cachedData === undefined || script.cachedDataRejected === true) {
  // At exit the cache holds every function this run compiled, not only the top level.
  process.once('exit', () => saveCache(script, cacheFile));
}
const module = { exports: {} };
(script.runInThisContext() as (...args: unknown[]) => void)(
  module.exports,
  createRequire(bundle),
  module,
  bundle,
  here,
);

function saveCache(compiled: Script, file: string): void {
  const partial = `${file}.${process.pid}`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(partial, compiled.createCachedData());
    // Whole or not at all, also when several processes of a swarm finish together.
    renameSync(partial, file);
  } catch {
    rmSync(partial, { force: true });
  }
}
