/**
 * Magnet links between chunkswarm and libtorrent, both ways (BEP 9 over BEP 10): chunkswarm fetches the
 * metadata, then the data, from a libtorrent seeder; libtorrent does the same from a chunkswarm seeder.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, Harness, makeFile, sameBytes } from '../integration/harness.js';
import { assertSameTree, csCreate, ltMake, startLt } from './clients.js';
import { needPackages, PYTHON } from './gate.js';

const LT_MAGNET = join(dirname(fileURLToPath(import.meta.url)), '..', 'magnet', 'lt_magnet.py');
const KiB = 1024;
const MiB = 1024 * KiB;
const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

test('chunkswarm downloads a magnet link from a libtorrent seeder found through the tracker', {
  timeout: 90_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  const src = join(h.dir, 'src1');
  await makeFile(join(src, 'album', 'one.bin'), 2 * MiB + 9, 'lt magnet one');
  await makeFile(join(src, 'album', 'two', 'three.bin'), 600 * KiB, 'lt magnet three');
  const { announce } = await h.tracker();
  const torrent = join(h.dir, 'album.torrent');
  const hash = await ltMake(join(src, 'album'), torrent, { pieceLength: 64 * KiB, trackers: [announce] });
  const lt = await startLt(h, 'seed', { torrent, save: src, maxSeconds: 80 });
  await lt.proc.waitFor(/^announced$/m);

  const magnet = `magnet:?xt=urn:btih:${hash}&dn=album&tr=${encodeURIComponent(announce)}`;
  const out = join(h.dir, 'dl1');
  const dl = h.cs(['download', magnet, '--out', out, '--port', String(await freePort())]);
  const code = await dl.exited(70_000);
  assert.equal(code, 0, `download exited ${code}:\n${dl.output()}\n--- libtorrent ---\n${lt.proc.output()}`);
  assert.match(dl.output(), /^metadata of album: /m);
  assert.match(dl.output(), /^complete album\b/m);
  await assertSameTree(join(src, 'album'), join(out, 'album'), 'chunkswarm from libtorrent by magnet');
});

test('chunkswarm downloads a magnet link naming a libtorrent seeder by x.pe, for a hybrid v1+v2 torrent', {
  timeout: 60_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  const src = join(h.dir, 'src2');
  await makeFile(join(src, 'hy', 'a.bin'), 300_000, 'lt magnet hybrid a');
  await makeFile(join(src, 'hy', 'sub', 'b.bin'), 70_000, 'lt magnet hybrid b');
  const torrent = join(h.dir, 'hy.torrent');
  // libtorrent's default form: its info dictionary has v2 keys and pad files, all of it in the metadata.
  const hash = await ltMake(join(src, 'hy'), torrent, { pieceLength: 16 * KiB, hybrid: true });
  const lt = await startLt(h, 'seed', { torrent, save: src, maxSeconds: 50 });

  const magnet = `magnet:?xt=urn:btih:${hash}&x.pe=${lt.address}`;
  const out = join(h.dir, 'dl2');
  const dl = h.cs(['download', magnet, '--out', out, '--port', String(await freePort())]);
  const code = await dl.exited(40_000);
  assert.equal(code, 0, `download exited ${code}:\n${dl.output()}\n--- libtorrent ---\n${lt.proc.output()}`);
  await assertSameTree(join(src, 'hy'), join(out, 'hy'), 'chunkswarm from libtorrent by magnet (hybrid)');
});

test('libtorrent downloads a magnet link from a chunkswarm seeder: metadata first, then the data', {
  timeout: 90_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  const src = join(h.dir, 'src3', 'talk.bin');
  await makeFile(src, 3 * MiB + 77, 'cs magnet talk');
  const { announce } = await h.tracker();
  const torrent = join(h.dir, 'talk.torrent');
  // 16 KiB pieces: 193 piece hashes make an info dictionary of about 4 KiB.
  const hash = await csCreate(src, torrent, { trackers: [announce], pieceLength: 16 * KiB });
  const seed = h.cs(['seed', torrent, '--data', src, '--port', '0']);
  const m = await seed.waitFor(/^seeding talk\.bin on 127\.0\.0\.1:(\d+)/m);

  const save = join(h.dir, 'lt-save');
  const magnet = `magnet:?xt=urn:btih:${hash}&dn=talk.bin&tr=${encodeURIComponent(announce)}`;
  const lt = h.spawn(PYTHON, [
    LT_MAGNET,
    '--magnet',
    magnet,
    '--save',
    save,
    '--connect',
    `127.0.0.1:${m[1]}`,
    '--max-seconds',
    '70',
  ]);
  const code = await lt.exited(80_000);
  assert.equal(
    code,
    0,
    `libtorrent exited ${code}:\n${lt.output()}\n--- chunkswarm seed ---\n${seed.output()}`,
  );
  assert.match(lt.output(), new RegExp(`^metadata talk\\.bin ${3 * MiB + 77}$`, 'm'));
  assert.match(lt.output(), /^finished$/m);
  assert.ok(await sameBytes(src, join(save, 'talk.bin')), 'libtorrent’s copy differs from the original');
});

test('libtorrent fetches metadata of several BEP 9 pieces from a chunkswarm seeder', {
  timeout: 90_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  // 1200 pieces of 16 KiB: 24 KiB of piece hashes, so the metadata takes two BEP 9 pieces.
  const src = join(h.dir, 'src4', 'big.bin');
  await makeFile(src, 1200 * 16 * KiB - 5, 'cs magnet big');
  const { announce } = await h.tracker();
  const torrent = join(h.dir, 'big.torrent');
  const hash = await csCreate(src, torrent, { trackers: [announce], pieceLength: 16 * KiB });
  const seed = h.cs(['seed', torrent, '--data', src, '--port', '0']);
  const m = await seed.waitFor(/^seeding big\.bin on 127\.0\.0\.1:(\d+)/m);
  const save = join(h.dir, 'lt-save4');
  const lt = h.spawn(PYTHON, [
    LT_MAGNET,
    '--magnet',
    `magnet:?xt=urn:btih:${hash}`,
    '--save',
    save,
    '--connect',
    `127.0.0.1:${m[1]}`,
    '--max-seconds',
    '70',
  ]);
  const code = await lt.exited(80_000);
  assert.equal(
    code,
    0,
    `libtorrent exited ${code}:\n${lt.output()}\n--- chunkswarm seed ---\n${seed.output()}`,
  );
  assert.match(lt.output(), /^metadata big\.bin \d+$/m);
  assert.ok(await sameBytes(src, join(save, 'big.bin')), 'libtorrent’s copy differs from the original');
});
