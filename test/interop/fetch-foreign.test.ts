/**
 * `chunkswarm download` fetches torrents that libtorrent made, from a libtorrent seeder alone and
 * from a mixed swarm of a libtorrent seeder and an aria2 seeder, all found through the chunkswarm
 * tracker.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, Harness, makeFile } from '../integration/harness.js';
import {
  aria2Args,
  aria2TrackerFailure,
  assertSameTree,
  listFiles,
  ltMake,
  scrape,
  startLt,
  until,
} from './clients.js';
import { needPackages } from './gate.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

test('chunkswarm download fetches a multi-file torrent made and seeded by libtorrent', {
  timeout: 90_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  const src = join(h.dir, 'src1');
  await makeFile(join(src, 'pack', 'a.bin'), 7 * MiB + 5, 'pack a');
  await makeFile(join(src, 'pack', 'b', 'c.bin'), 999_999, 'pack c');
  const { announce } = await h.tracker();
  const torrent = join(h.dir, 'pack.torrent');
  await ltMake(join(src, 'pack'), torrent, { pieceLength: 256 * KiB, trackers: [announce] });
  const lt = await startLt(h, 'seed', { torrent, save: src, maxSeconds: 80 });
  await lt.proc.waitFor(/^announced$/m);

  const out = join(h.dir, 'dl1');
  const dl = h.cs(['download', torrent, '--out', out, '--port', String(await freePort())]);
  const code = await dl.exited(70_000);
  assert.equal(code, 0, `download exited ${code}:\n${dl.output()}\n--- libtorrent ---\n${lt.proc.output()}`);
  assert.match(dl.output(), /^complete pack\b/m);
  await assertSameTree(join(src, 'pack'), join(out, 'pack'), 'chunkswarm from libtorrent');
  // libtorrent saw our BEP 10 handshake: it names us by the `v` we sent.
  assert.match(lt.proc.output(), /^peer 127\.0\.0\.1:\d+ client="chunkswarm[^"]*" ext=1/m);
});

test('chunkswarm download fetches from a mixed swarm: a libtorrent seeder and an aria2 seeder', {
  timeout: 120_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent', 'aria2')) return;
  const size = 8 * MiB + 12_345;
  // Two copies of the same content: each seeder reads its own.
  const ltSrc = join(h.dir, 'lt-src');
  const ariaSrc = join(h.dir, 'aria-src');
  await makeFile(join(ltSrc, 'mixed.bin'), size, 'mixed');
  await makeFile(join(ariaSrc, 'mixed.bin'), size, 'mixed');
  const { announce } = await h.tracker();
  const torrent = join(h.dir, 'mixed.torrent');
  const infoHash = await ltMake(join(ltSrc, 'mixed.bin'), torrent, {
    pieceLength: 256 * KiB,
    trackers: [announce],
  });

  // libtorrent uploads at 512 KiB/s at most, so the download cannot finish in reasonable time
  // without aria2's share; afterwards libtorrent's own count shows it did not send everything.
  const lt = await startLt(h, 'seed', { torrent, save: ltSrc, uploadLimit: 512 * KiB, maxSeconds: 100 });
  await lt.proc.waitFor(/^announced$/m);
  // aria2 is capped too (1 MiB/s): unlimited, it could hand over all 8 MiB before libtorrent's first
  // unchoke, and the test would prove nothing about a mixed swarm.
  const aria = h.spawn('aria2c', [
    '--bt-seed-unverified=true',
    '--max-upload-limit=1M',
    ...aria2Args({ dir: ariaSrc, port: await freePort(), torrent, seedMinutes: 2 }),
  ]);
  await until('aria2 and libtorrent to be seeders on the tracker', async () => {
    if (aria.child.exitCode !== null) assert.fail(`aria2c exited early:\n${aria.output()}`);
    const refused = aria2TrackerFailure(aria.output());
    if (refused) assert.fail(`our tracker refused aria2's announce: ${refused}`);
    return (await scrape(announce, infoHash)).complete >= 2;
  });

  const out = join(h.dir, 'dl2');
  const dl = h.cs(['download', torrent, '--out', out, '--port', String(await freePort())]);
  const code = await dl.exited(90_000);
  assert.equal(
    code,
    0,
    `download exited ${code}:\n${dl.output()}\n--- libtorrent ---\n${lt.proc.output()}\n--- aria2 ---\n${aria.output()}`,
  );
  await assertSameTree(ltSrc, out, 'chunkswarm from libtorrent + aria2');

  lt.proc.child.kill('SIGTERM');
  const res = await lt.result(15_000);
  assert.ok(res.payloadUp > 0, `libtorrent sent nothing:\n${lt.proc.output()}\n${dl.output()}`);
  assert.ok(
    res.payloadUp < size,
    `libtorrent sent all ${res.payloadUp} bytes itself: aria2 contributed nothing\n${dl.output()}\n${aria.output()}`,
  );
});

test('chunkswarm download fetches a torrent in libtorrent’s default form: hybrid v1+v2 with pad files', {
  timeout: 60_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  const src = join(h.dir, 'src3');
  await makeFile(join(src, 'hy', 'a.bin'), 300_000, 'hybrid a');
  await makeFile(join(src, 'hy', 'sub', 'b.bin'), 70_000, 'hybrid b');
  const { announce } = await h.tracker();
  const torrent = join(h.dir, 'hy.torrent');
  await ltMake(join(src, 'hy'), torrent, { pieceLength: 16 * KiB, trackers: [announce], hybrid: true });
  const lt = await startLt(h, 'seed', { torrent, save: src, maxSeconds: 50 });
  await lt.proc.waitFor(/^announced$/m);
  const out = join(h.dir, 'dl3');
  const dl = h.cs(['download', torrent, '--out', out, '--port', String(await freePort())]);
  const code = await dl.exited(40_000);
  assert.equal(code, 0, `download exited ${code}:\n${dl.output()}\n--- libtorrent ---\n${lt.proc.output()}`);
  await assertSameTree(join(src, 'hy'), join(out, 'hy'), 'chunkswarm from libtorrent (hybrid)');
  // The padding files (BEP 47) that align each file to a chunk are zeros held by no file: none on disk.
  assert.deepEqual(await listFiles(join(out, 'hy')), ['a.bin', 'sub/b.bin']);
});
