/** The built `chunkswarm` bin and its code cache (src/cli/launcher.ts), as real processes. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BIN, Harness, makeFile, ROOT, requireBuild } from '../integration/harness.js';

const h = new Harness();
let torrent = '';
let cacheDir = '';

before(async () => {
  requireBuild();
  await h.setup();
  cacheDir = join(h.dir, 'code-cache');
  const data = join(h.dir, 'notes.txt');
  await makeFile(data, 50_000, 'n');
  torrent = join(h.dir, 'notes.torrent');
  const c = h.cs(['create', data, '--tracker', 'http://127.0.0.1:1/announce', '-o', torrent]);
  assert.equal(await c.exited(), 0, c.output());
});
after(() => h.teardown());

async function info(): Promise<string> {
  const p = h.cs(['info', torrent, '--json'], { env: { CHUNKSWARM_CODE_CACHE_DIR: cacheDir } });
  assert.equal(await p.exited(), 0, p.output());
  return p.output();
}

const caches = () => readdirSync(cacheDir).filter((f) => f.endsWith('-info.bin'));

test('the first run of a command leaves its code cache; the next runs use it as it is', async () => {
  const first = await info();
  assert.deepEqual(JSON.parse(first).files[0].path, 'notes.txt');
  const [file] = caches();
  assert.ok(file, `a cache for "info" in ${readdirSync(cacheDir).join(', ')}`);
  assert.match(file, /^[0-9a-f]{16}-v8-.+-info\.bin$/);
  const path = join(cacheDir, file);
  const written = statSync(path).mtimeMs;
  const bytes = readFileSync(path);
  assert.ok(bytes.length > 10_000, `the cache holds the compiled command: ${bytes.length} bytes`);
  assert.equal(await info(), first);
  assert.equal(statSync(path).mtimeMs, written, 'an accepted cache is not written again');
  assert.deepEqual(caches(), [file]);
});

test('a cache V8 refuses is replaced at exit, and the command still answers the same', async () => {
  const path = join(cacheDir, caches()[0]!);
  const good = readFileSync(path);
  writeFileSync(path, Buffer.alloc(good.length, 7));
  const out = await info();
  assert.equal(JSON.parse(out).files[0].path, 'notes.txt');
  const now = readFileSync(path);
  assert.ok(now.length > 10_000 && !now.equals(Buffer.alloc(good.length, 7)), 'the refused bytes are gone');
});

test('the bundle is ASCII, so the launcher hands V8 one byte a character without decoding UTF-8', () => {
  const bundle = readFileSync(join(ROOT, 'dist', 'cli', 'app.cjs'));
  assert.ok(bundle.length > 100_000, `the bundle holds the command line: ${bundle.length} bytes`);
  const at = bundle.findIndex((b) => b > 0x7f);
  assert.equal(at, -1, `a non-ASCII byte at ${at}: ${bundle.subarray(Math.max(0, at - 40), at + 10)}`);
});

test('run as a program, the bin starts node with the young generation its first line asks for', async () => {
  const first = readFileSync(BIN, 'latin1').split('\n', 1)[0];
  assert.equal(first, '#!/usr/bin/env -S node --max-semi-space-size=2');
  const p = h.spawn(BIN, ['tracker', '--host', '127.0.0.1', '--port', '0']);
  await p.waitFor(/tracker listening on http:\/\/127\.0\.0\.1:\d+\/announce/);
  const argv = readFileSync(`/proc/${p.child.pid}/cmdline`, 'latin1').split('\0');
  assert.ok(argv.includes('--max-semi-space-size=2'), `node's arguments: ${argv.join(' ')}`);
  assert.equal(argv.at(argv.indexOf(BIN) + 1), 'tracker');
  p.child.kill('SIGINT');
  await p.exited();
});
