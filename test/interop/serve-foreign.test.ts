/**
 * A chunkswarm seeder behind a chunkswarm tracker serves the foreign clients: libtorrent and aria2
 * find it through the tracker alone and fetch a multi-file torrent whose last piece is short.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, Harness, makeFile, type Proc } from '../integration/harness.js';
import { aria2Args, assertSameTree, cs, csCreate, ltMake, startLt } from './clients.js';
import { hasPackage, needPackages } from './gate.js';

const MiB = 1024 * 1024;
const h = new Harness();
let data = '';
let torrent = '';
let seeder: Proc | undefined;

before(async () => {
  await h.setup();
  data = join(h.dir, 'course');
  // 512 KiB chunks: 3 MiB + 1 + 5 MiB + 777 + 10 KiB leaves the last chunk short, and the
  // files' boundaries fall inside chunks.
  await makeFile(join(data, 'slides.pdf'), 3 * MiB + 1, 'slides');
  await makeFile(join(data, 'videos', 'lecture 1.mp4'), 5 * MiB + 777, 'lecture');
  await makeFile(join(data, 'notes.txt'), 10_240, 'notes');
  if (!hasPackage('python3-libtorrent') && !hasPackage('aria2') && process.env.CI !== 'true') return;
  const { announce } = await h.tracker();
  torrent = join(h.dir, 'course.torrent');
  await csCreate(data, torrent, { trackers: [announce] });
  const port = await freePort();
  seeder = h.cs(['seed', torrent, '--data', data, '--host', '127.0.0.1', '--port', String(port)]);
  await seeder.waitFor(/^seeding course on 127\.0\.0\.1:\d+/m);
});
after(() => h.teardown());

test('libtorrent downloads a multi-file torrent from a chunkswarm seeder found through the chunkswarm tracker', {
  timeout: 90_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  const save = join(h.dir, 'lt');
  // No --connect: libtorrent learns the seeder from the tracker only.
  const lt = await startLt(h, 'leech', { torrent, save, maxSeconds: 60 });
  const res = await lt.result(70_000);
  assert.ok(
    res.finished,
    `libtorrent did not finish:\n${lt.proc.output()}\n--- seeder ---\n${seeder!.output()}`,
  );
  assert.equal(res.error, null);
  await assertSameTree(data, join(save, 'course'), 'libtorrent');
  // The seeder saw libtorrent's client name in its BEP 10 handshake.
  assert.match(seeder!.output(), /peer connected: 127\.0\.0\.1:\d+ \(.*libtorrent.*\)/i);
});

test('aria2 downloads the same torrent from the chunkswarm seeder (it opens with MSE, then retries in plain)', {
  timeout: 90_000,
}, async (t) => {
  if (!needPackages(t, 'aria2')) return;
  const dir = join(h.dir, 'aria');
  const aria = h.spawn('aria2c', aria2Args({ dir, port: await freePort(), torrent }));
  // Stop at once if the tracker refuses aria2's announce: aria2 would wait out the whole timeout.
  const refused = aria.waitFor(/Tracker returned failure reason: [^\n]*/, 75_000).then(
    (m) => m[0],
    () => undefined,
  );
  const code = await Promise.race([
    aria.exited(75_000),
    refused.then((r) => r ?? new Promise<never>(() => {})),
  ]);
  if (typeof code === 'string')
    assert.fail(`our tracker refused aria2's announce: ${code}\n${aria.output()}`);
  assert.equal(code, 0, `aria2c exited ${code}:\n${aria.output()}\n--- seeder ---\n${seeder!.output()}`);
  await assertSameTree(data, join(dir, 'course'), 'aria2');
  assert.match(seeder!.output(), /peer connected: 127\.0\.0\.1:\d+ \(.*aria2.*\)/i);
});

test('a chunkswarm seeder serves libtorrent’s default torrent (hybrid v1+v2, pad files) from the original files', {
  timeout: 90_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  // Three files whose ends fall inside chunks: libtorrent pads each to the next chunk (BEP 47). The
  // seeder's folder holds the files alone, as the author's did; the padding's zeros are in no file.
  const src = join(h.dir, 'hy-src');
  await makeFile(join(src, 'hy', 'a.bin'), 700_000, 'hybrid a');
  await makeFile(join(src, 'hy', 'b.bin'), 1_300_000, 'hybrid b');
  await makeFile(join(src, 'hy', 'c.txt'), 5_000, 'hybrid c');
  const { announce } = await h.tracker();
  const hyTorrent = join(h.dir, 'hy.torrent');
  await ltMake(join(src, 'hy'), hyTorrent, { pieceLength: 256 * 1024, trackers: [announce], hybrid: true });
  const info = await cs(['info', hyTorrent]);
  assert.match(info.stdout, /^padding: .*BEP 47/m, info.stdout);
  assert.match(info.stdout, /^files: {7}3$/m, info.stdout);
  const hySeeder = h.cs(['seed', hyTorrent, '--data', join(src, 'hy'), '--port', String(await freePort())]);
  // Its size is the files' 2,005,000 bytes, not the 2.25 MiB the chunks hold with their padding.
  await hySeeder.waitFor(/^seeding hy on \S+ \(1\.9 MiB, 9 chunks\)/m);
  assert.doesNotMatch(hySeeder.output(), /warning: only/, 'every chunk verifies from the files alone');
  const save = join(h.dir, 'lt-hy');
  const lt = await startLt(h, 'leech', { torrent: hyTorrent, save, maxSeconds: 60 });
  const res = await lt.result(70_000);
  assert.ok(
    res.finished,
    `libtorrent did not finish:\n${lt.proc.output()}\n--- seeder ---\n${hySeeder.output()}`,
  );
  await assertSameTree(join(src, 'hy'), join(save, 'hy'), 'libtorrent from chunkswarm (hybrid)');
});
