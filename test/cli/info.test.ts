import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encode } from '../../src/codec/index.js';
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

test('info of a torrent with BEP 47 padding lists the real files only and says how much is padding', async () => {
  // Another client's torrent: a.bin padded to the next 16 KiB chunk, then b.bin.
  const info = {
    files: [
      { length: 10_000, path: ['a.bin'] },
      { attr: 'p', length: 6_384, path: ['.pad', '6384'] },
      { length: 20_000, path: ['b.bin'] },
    ],
    name: 'padded',
    'piece length': 16_384,
    pieces: Buffer.alloc(3 * 20),
  };
  const padded = join(h.dir, 'padded.torrent');
  await writeFile(padded, encode({ info, 'url-list': ['http://127.0.0.1:1/pub/', 'ftp://not.http/'] }));
  const j = h.cs(['info', padded, '--json']);
  assert.equal(await j.exited(), 0, j.output());
  const summary = JSON.parse(j.output()) as {
    size: number;
    padding: number;
    files: { path: string }[];
    webSeeds: string[];
  };
  assert.deepEqual(summary.webSeeds, ['http://127.0.0.1:1/pub/']);
  assert.equal(summary.size, 36_384);
  assert.equal(summary.padding, 6_384);
  assert.deepEqual(
    summary.files.map((f) => f.path),
    ['a.bin', 'b.bin'],
  );
  const p = h.cs(['info', padded]);
  assert.equal(await p.exited(), 0, p.output());
  assert.match(p.output(), /^padding: +6\.2 KiB \(6384 bytes .*BEP 47/m);
  assert.match(p.output(), /^files: +2$/m);
  assert.match(
    p.output(),
    /^web seeds: +http:\/\/127\.0\.0\.1:1\/pub\/ \(BEP 19: a download fetches from them beside its peers\)$/m,
  );
  assert.match(p.output(), /^ {2}1 +19\.5 KiB {2}b\.bin$/m);
});
