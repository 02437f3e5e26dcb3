import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Harness, makeFile, sameBytes } from './harness.js';

const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

const LEECHERS = 20;
const SIZE = 3 * 1024 * 1024;

test('a seeder at 512 KiB/s before 20 leechers that relay among themselves stands aside after its first pass, and says so', async () => {
  // Each leecher passes on what the seeder sends at once, so the leechers together get about twenty times the
  // seeder's rate: once every chunk is out, the seeder's upload could add a twenty-first to theirs.
  const dir = h.dir;
  await makeFile(join(dir, 'src', 'lecture.bin'), SIZE, 'aside');
  const { announce } = await h.tracker(['--interval', '2']);
  const create = h.cs([
    'create',
    join(dir, 'src', 'lecture.bin'),
    '--tracker',
    announce,
    '--piece-length',
    '65536',
    '-o',
    join(dir, 'l.torrent'),
  ]);
  assert.equal(await create.exited(), 0, create.output());
  const leechers = [];
  for (let i = 0; i < LEECHERS; i++)
    leechers.push(
      h.cs(['download', join(dir, 'l.torrent'), '--out', join(dir, `l${i}`), '--seed', '--port', '0']),
    );
  const seed = h.cs([
    'seed',
    join(dir, 'l.torrent'),
    '--data',
    join(dir, 'src', 'lecture.bin'),
    '--port',
    '0',
    '--upload-limit',
    '512KiB',
  ]);
  await seed.waitFor(/^seeding lecture\.bin on /m);
  for (const l of leechers) await l.waitFor(/^complete lecture\.bin /m, 90_000);
  for (let i = 0; i < LEECHERS; i++)
    assert.ok(
      await sameBytes(join(dir, 'src', 'lecture.bin'), join(dir, `l${i}`, 'lecture.bin')),
      `leecher ${i}`,
    );
  assert.match(
    seed.output(),
    /^every chunk is out and the leechers pass them on: standing aside/m,
    seed.output(),
  );
  seed.child.kill('SIGTERM');
  assert.equal(await seed.exited(), 0);
  const m = /^totals lecture\.bin: downloaded \d+ B, uploaded (\d+) B/m.exec(seed.output());
  assert.ok(m, seed.output());
  const copies = Number(m[1]) / SIZE;
  assert.ok(copies < 1.25, `the seeder sent ${copies.toFixed(2)} copies:\n${seed.output()}`);
});
