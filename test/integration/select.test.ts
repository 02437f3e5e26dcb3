/**
 * `download --select` / `--exclude`: only the chosen files are fetched and created, byte-identical; no
 * other file appears under --out (chunks shared with a left-out file go to the part file in
 * .chunkswarm); `--on-complete` runs once they are done. Also from a libtorrent seeder.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ltMake, startLt } from '../interop/clients.js';
import { needPackages } from '../interop/gate.js';
import { makeCourse, tree } from './course.js';
import { freePort, Harness, sameBytes } from './harness.js';

const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

async function course(name: string): Promise<string> {
  const root = join(h.dir, name, 'course');
  await makeCourse(root, name);
  return root;
}

test('--select and --exclude fetch and create only the chosen files; --on-complete runs', async () => {
  const root = await course('cs');
  const { announce } = await h.tracker();
  const torrent = join(h.dir, 'course.torrent');
  const create = h.cs(['create', root, '--tracker', announce, '--piece-length', '65536', '-o', torrent]);
  assert.equal(await create.exited(), 0, create.output());
  // Files are ordered by path: 0 a.bin, 1 c.bin, 2 notes/b.txt.
  const info = h.cs(['info', torrent]);
  assert.equal(await info.exited(), 0);
  assert.match(info.output(), /^ {2}2 .* notes\/b\.txt$/m);
  const seed = h.cs(['seed', torrent, '--data', root, '--port', '0']);
  await seed.waitFor(/^seeding /m);

  const out1 = join(h.dir, 'out1');
  const marker = join(h.dir, 'done.txt');
  const one = h.cs([
    'download',
    torrent,
    '--out',
    out1,
    '--port',
    '0',
    '--select',
    '2',
    '--on-complete',
    `printf '%s|%s' "$CHUNKSWARM_NAME" "$CHUNKSWARM_PATH" > '${marker}'`,
  ]);
  assert.equal(await one.exited(60_000), 0, one.output());
  assert.deepEqual(await tree(out1), ['course/notes/b.txt']);
  assert.ok(await sameBytes(join(root, 'notes', 'b.txt'), join(out1, 'course', 'notes', 'b.txt')));
  for (let i = 0; i < 50 && !(await readFile(marker, 'utf8').catch(() => '')); i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.equal(await readFile(marker, 'utf8'), `course|${join(out1, 'course')}`);

  const out2 = join(h.dir, 'out2');
  const two = h.cs(['download', torrent, '--out', out2, '--port', '0', '--exclude', '*.bin']);
  assert.equal(await two.exited(60_000), 0, two.output());
  assert.deepEqual(await tree(out2), ['course/notes/b.txt']);

  const bad = h.cs(['download', torrent, '--out', join(h.dir, 'out3'), '--port', '0', '--select', '7']);
  assert.equal(await bad.exited(), 2);
  assert.equal(bad.output().trim().split('\n').length, 1, bad.output());
});

test('--select fetches only the chosen file from a libtorrent seeder', { timeout: 90_000 }, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  const root = await course('lt');
  const { announce } = await h.tracker();
  const torrent = join(h.dir, 'lt.torrent');
  await ltMake(root, torrent, { pieceLength: 64 * 1024, trackers: [announce] });
  const lt = await startLt(h, 'seed', { torrent, save: join(h.dir, 'lt'), maxSeconds: 80 });
  await lt.proc.waitFor(/^announced$/m);
  const info = h.cs(['info', torrent, '--json']);
  assert.equal(await info.exited(), 0);
  const files: { index: number; path: string }[] = JSON.parse(info.output()).files;
  const c = files.find((f) => f.path.endsWith('c.bin'))!;
  const out = join(h.dir, 'lt-out');
  const dl = h.cs([
    'download',
    torrent,
    '--out',
    out,
    '--port',
    String(await freePort()),
    '--select',
    String(c.index),
  ]);
  assert.equal(await dl.exited(70_000), 0, `${dl.output()}\n--- libtorrent ---\n${lt.proc.output()}`);
  assert.deepEqual(await tree(out), ['course/c.bin']);
  assert.ok(await sameBytes(join(root, 'c.bin'), join(out, 'course', 'c.bin')));
});
