import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, Harness, makeFile, sameBytes } from './harness.js';

const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

const FILES: [string, number][] = [
  ['slides.pdf', 3 * 1024 * 1024 + 1],
  ['videos/lecture 1.mp4', 5 * 1024 * 1024 + 777],
  ['notes.txt', 10_240],
];

test('one rate-limited seeder and five leechers: every leecher verified, leechers fed each other', async () => {
  const dir = h.dir;
  for (const [rel, size] of FILES) await makeFile(join(dir, 'src', 'course', rel), size, rel);
  const { announce } = await h.tracker(['--interval', '2']);
  const create = h.cs([
    'create',
    join(dir, 'src', 'course'),
    '--tracker',
    announce,
    '--piece-length',
    '262144',
    '-o',
    join(dir, 'c.torrent'),
  ]);
  assert.equal(await create.exited(), 0, create.output());

  const leechers = [];
  const ports: number[] = [];
  for (let i = 0; i < 5; i++) {
    const port = await freePort();
    ports.push(port);
    leechers.push(
      h.cs([
        'download',
        join(dir, 'c.torrent'),
        '--out',
        join(dir, `l${i}`),
        '--seed',
        '--port',
        String(port),
      ]),
    );
  }
  // 1 MiB/s from the seeder alone would take 40 s for five copies: most must come from the other leechers.
  const seed = h.cs([
    'seed',
    join(dir, 'c.torrent'),
    '--data',
    join(dir, 'src', 'course'),
    '--port',
    '0',
    '--upload-limit',
    '1MiB',
  ]);
  await seed.waitFor(/^seeding course on /m);
  for (const l of leechers) await l.waitFor(/^complete course /m, 90_000);

  for (let i = 0; i < 5; i++) {
    for (const [rel] of FILES) {
      assert.ok(
        await sameBytes(join(dir, 'src', 'course', rel), join(dir, `l${i}`, 'course', rel)),
        `leecher ${i}: ${rel} differs`,
      );
    }
  }
  let fromLeechers = 0;
  for (const l of leechers) {
    l.child.kill('SIGTERM');
    assert.equal(await l.exited(), 0);
    const m = /^totals course: downloaded (\d+) B, uploaded (\d+) B/m.exec(l.output());
    assert.ok(m, l.output());
    fromLeechers += Number(m[2]);
  }
  const total = FILES.reduce((n, [, size]) => n + size, 0);
  assert.ok(fromLeechers > total, `leechers uploaded only ${fromLeechers} B to each other`);

  // The seeder's log shows its upload as it goes, the leechers leaving, and its totals as it stops.
  await seed.waitFor(/^peer left: 127\.0\.0\.1:\d+ \(.+\)$/m);
  seed.child.kill('SIGTERM');
  assert.equal(await seed.exited(), 0);
  const out = seed.output();
  assert.match(out, /^course: uploaded [\d.]+ (B|KiB|MiB), [\d.]+ (B|KiB|MiB)\/s up, \d+ peers?$/m);
  // Its tracker's first answer, though nothing failed: a seeder has no progress line to show it.
  assert.match(out, /^tracker: http:\/\/127\.0\.0\.1:\d+\/announce answered: \d+ peers?$/m);
  // Each leecher by the port it was started with, whichever side dialled, and by its client's own name.
  assert.doesNotMatch(out, /^peer connected: (?!.* \(chunkswarm \d+\.\d+\.\d+\)$)/m);
  const named = [...out.matchAll(/^peer (?:connected|left): 127\.0\.0\.1:(\d+)/gm)].map((x) => Number(x[1]));
  assert.ok(named.length > 0 && named.every((p) => ports.includes(p)), `${named} against ${ports}`);
  const m = /^totals course: downloaded 0 B, uploaded (\d+) B, 0 hash failures$/m.exec(out);
  assert.ok(m, out);
  // Every leecher got the whole torrent, from the seeder or from each other.
  assert.ok(
    Number(m[1]) + fromLeechers >= 5 * total,
    `${m[1]} B from the seeder, ${fromLeechers} B from leechers`,
  );
});

test('two torrents in one download command both complete', async () => {
  const dir = h.dir;
  const a = await makeFile(join(dir, 'two', 'a.bin'), 2 * 1024 * 1024 + 5, 'a');
  const b = await makeFile(join(dir, 'two', 'b.bin'), 1024 * 1024 + 3, 'b');
  const { announce } = await h.tracker();
  for (const name of ['a', 'b']) {
    const c = h.cs([
      'create',
      join(dir, 'two', `${name}.bin`),
      '--tracker',
      announce,
      '-o',
      join(dir, `${name}.torrent`),
    ]);
    assert.equal(await c.exited(), 0, c.output());
    const s = h.cs([
      'seed',
      join(dir, `${name}.torrent`),
      '--data',
      join(dir, 'two', `${name}.bin`),
      '--port',
      '0',
    ]);
    await s.waitFor(/^seeding /m);
  }
  const dl = h.cs([
    'download',
    join(dir, 'a.torrent'),
    join(dir, 'b.torrent'),
    '--out',
    join(dir, 'both'),
    '--port',
    '0',
  ]);
  assert.equal(await dl.exited(60_000), 0, dl.output());
  assert.match(dl.output(), /^complete a\.bin /m);
  assert.match(dl.output(), /^complete b\.bin /m);
  assert.ok(a.equals(await import('node:fs/promises').then((fs) => fs.readFile(join(dir, 'both', 'a.bin')))));
  assert.ok(b.equals(await import('node:fs/promises').then((fs) => fs.readFile(join(dir, 'both', 'b.bin')))));
});

test('a download announces to every tracker tier and finds a seeder that only the second one knows', async () => {
  const dir = h.dir;
  const data = await makeFile(join(dir, 'tiers', 'tiers.bin'), 1024 * 1024 + 9, 'tiers');
  const first = await h.tracker();
  const second = await h.tracker();
  const make = async (out: string, trackers: string[]) => {
    const args = ['create', join(dir, 'tiers', 'tiers.bin'), '-o', join(dir, out)];
    for (const t of trackers) args.push('--tracker', t);
    const c = h.cs(args);
    assert.equal(await c.exited(), 0, c.output());
  };
  // The same info dictionary (so the same swarm) under two announce lists.
  await make('second-only.torrent', [second.announce]);
  await make('both.torrent', [first.announce, second.announce]);
  const seed = h.cs([
    'seed',
    join(dir, 'second-only.torrent'),
    '--data',
    join(dir, 'tiers', 'tiers.bin'),
    '--port',
    '0',
  ]);
  await seed.waitFor(/^seeding /m);
  const dl = h.cs(['download', join(dir, 'both.torrent'), '--out', join(dir, 'tiers-out'), '--port', '0']);
  assert.equal(await dl.exited(30_000), 0, dl.output());
  const fs = await import('node:fs/promises');
  assert.ok(data.equals(await fs.readFile(join(dir, 'tiers-out', 'tiers.bin'))));
});
