import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Harness, makeFile, requireBuild } from '../integration/harness.js';

const h = new Harness();
let torrent = '';

before(async () => {
  requireBuild();
  await h.setup();
  const root = join(h.dir, 'album');
  await makeFile(join(root, 'a.mkv'), 40_000, 'a');
  await makeFile(join(root, 'b.srt'), 1_000, 'b');
  await makeFile(join(root, 'extras', 'c.nfo'), 30_000, 'c');
  torrent = join(h.dir, 'album.torrent');
  const c = h.cs([
    'create',
    root,
    '--tracker',
    'http://127.0.0.1:1/announce',
    '--piece-length',
    '16384',
    '-o',
    torrent,
  ]);
  assert.equal(await c.exited(), 0, c.output());
});
after(() => h.teardown());

test('info numbers the files as --select takes them, with the chunks each spans', async () => {
  const j = h.cs(['info', torrent, '--json']);
  assert.equal(await j.exited(), 0, j.output());
  const info = JSON.parse(j.output()) as {
    files: { index: number; path: string; length: number; chunks: number[] | null }[];
  };
  assert.deepEqual(info.files, [
    { index: 0, path: 'a.mkv', length: 40_000, chunks: [0, 2] },
    { index: 1, path: 'b.srt', length: 1_000, chunks: [2, 2] },
    { index: 2, path: 'extras/c.nfo', length: 30_000, chunks: [2, 4] },
  ]);
  const p = h.cs(['info', torrent]);
  assert.equal(await p.exited(), 0, p.output());
  assert.match(p.output(), /^ {2}0 +39\.1 KiB {2}a\.mkv$/m);
  assert.match(p.output(), /^ {2}2 +29\.3 KiB {2}extras\/c\.nfo$/m);
});
