import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Harness, makeFile, sameBytes } from './harness.js';

const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

const LEECHERS = 4;
const SIZE = 8 * 1024 * 1024;

test('a seeder at 64 KiB/s beside one at 2 MiB/s stands aside while four leechers at 256 KiB/s relay, and says so', async () => {
  // Every chunk is out once the fast seeder's first pass ends (about 4 s), and the leechers then pass on what
  // they lack at 256 KiB/s each for several seconds more: they get about 3 MiB/s from the fast seeder and one
  // another, so the slow seeder's upload could add about 2%. (With the leechers unlimited they were done so
  // soon after the pass that on a loaded machine the slow seeder once found nobody left to stand aside from.)
  const dir = h.dir;
  const data = join(dir, 'src', 'lecture.bin');
  await makeFile(data, SIZE, 'aside');
  const { announce } = await h.tracker(['--interval', '2']);
  const torrent = join(dir, 'l.torrent');
  const create = h.cs(['create', data, '--tracker', announce, '--piece-length', '131072', '-o', torrent]);
  assert.equal(await create.exited(), 0, create.output());
  const seed = (limit: string) =>
    h.cs(['seed', torrent, '--data', data, '--port', '0', '--upload-limit', limit]);
  const slow = seed('64KiB');
  await slow.waitFor(/^seeding lecture\.bin on /m);
  const fast = seed('2MiB');
  await fast.waitFor(/^seeding lecture\.bin on /m);
  const leechers = [];
  for (let i = 0; i < LEECHERS; i++)
    leechers.push(
      h.cs([
        'download',
        torrent,
        '--out',
        join(dir, `l${i}`),
        '--seed',
        '--port',
        '0',
        '--upload-limit',
        '256KiB',
      ]),
    );
  await slow.waitFor(/^every chunk is out and the leechers pass them on: standing aside/m, 30_000);
  for (const l of leechers) await l.waitFor(/^complete lecture\.bin /m, 60_000);
  for (let i = 0; i < LEECHERS; i++)
    assert.ok(await sameBytes(data, join(dir, `l${i}`, 'lecture.bin')), `leecher ${i}`);
  // With every leecher done, its log's last word is not "standing aside" but that nobody asks for anything.
  await slow.waitFor(
    /^every connected peer has every chunk it wants: nothing to send until someone asks$/m,
    10_000,
  );
  slow.child.kill('SIGTERM');
  assert.equal(await slow.exited(), 0);
  const m = /^totals lecture\.bin: downloaded \d+ B, uploaded (\d+) B/m.exec(slow.output());
  assert.ok(m, slow.output());
  // At 64 KiB/s for the whole download it would have sent about 0.03 copies a second: it sent less.
  const copies = Number(m[1]) / SIZE;
  assert.ok(copies < 0.1, `the slow seeder sent ${copies.toFixed(2)} copies:\n${slow.output()}`);
});
