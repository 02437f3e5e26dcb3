/**
 * Resume data and saved metadata, through the real `download` command: a download stopped with SIGTERM
 * restarts from its record without hashing its files again, a changed file is checked in full (and
 * repaired), and a magnet's metadata fetched once is read from disk on the next run.
 */
import assert from 'node:assert/strict';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Harness, makeFile, sameBytes } from './harness.js';

const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

const RESUMED = /^resuming: (\d+) of (\d+) chunks already verified \((.*)\)$/m;
const FROM_RECORD = ', as recorded when it stopped';

async function seeded(name: string, bytes: number, uploadLimit: string) {
  const source = join(h.dir, 'src', name);
  await makeFile(source, bytes, name);
  const { announce } = await h.tracker();
  const torrent = join(h.dir, `${name}.torrent`);
  const create = h.cs(['create', source, '--tracker', announce, '--piece-length', '262144', '-o', torrent]);
  assert.equal(await create.exited(), 0, create.output());
  const magnet = /^magnet:\S+/m.exec(create.output())![0];
  const seed = h.cs(['seed', torrent, '--data', source, '--port', '0', '--upload-limit', uploadLimit]);
  await seed.waitFor(/^seeding /m);
  return { source, torrent, magnet };
}

test('a download stopped with SIGTERM resumes from its record; a changed file is checked in full', async () => {
  // 6 MiB at 1 MiB/s: still running when it is stopped.
  const { source, torrent } = await seeded('lecture.bin', 6 * 1024 * 1024 + 5, '1MiB');
  const out = join(h.dir, 'out');
  const first = h.cs(['download', torrent, '--out', out, '--port', '0']);
  await first.waitFor(/^lecture\.bin: [1-9]\d*\/25 chunks/m, 30_000);
  first.child.kill('SIGTERM');
  assert.equal(await first.exited(), 0, first.output());
  assert.doesNotMatch(first.output(), /^complete /m);
  const state = await readdir(join(out, '.chunkswarm'));
  assert.ok(
    state.some((f) => f.endsWith('.resume')),
    `no resume data in ${state.join(', ')}`,
  );

  const second = h.cs(['download', torrent, '--out', out, '--port', '0']);
  const m = await second.waitFor(RESUMED, 30_000);
  assert.ok(Number(m[1]) > 0 && Number(m[1]) < 25, m[0]);
  assert.ok(m[3]!.endsWith(FROM_RECORD), `expected the record to be used: ${m[0]}`);
  assert.equal(await second.exited(60_000), 0, second.output());
  assert.ok(await sameBytes(source, join(out, 'lecture.bin')));

  // Complete and untouched: the next start trusts the record and has nothing to do.
  const third = h.cs(['download', torrent, '--out', out, '--port', '0']);
  assert.equal(await third.exited(30_000), 0, third.output());
  const all = RESUMED.exec(third.output());
  assert.ok(all && all[1] === '25' && all[3]!.endsWith(FROM_RECORD), third.output());

  // One byte changed behind its back (and so its time): the record no longer stands, the data is hashed,
  // the damaged chunk fetched again.
  const f = await open(join(out, 'lecture.bin'), 'r+');
  await f.write(Buffer.from([0xff ^ (await sourceByte(source, 3_000_000))]), 0, 1, 3_000_000);
  await f.close();
  const fourth = h.cs(['download', torrent, '--out', out, '--port', '0']);
  assert.equal(await fourth.exited(60_000), 0, fourth.output());
  const checked = RESUMED.exec(fourth.output());
  assert.ok(checked && checked[1] === '24' && !checked[3]!.endsWith(FROM_RECORD), fourth.output());
  assert.ok(await sameBytes(source, join(out, 'lecture.bin')));
});

test("a magnet's metadata is fetched once and read from disk on the next run", async () => {
  const { source, magnet } = await seeded('notes.bin', 1024 * 1024 + 3, '0');
  const out = join(h.dir, 'magnet-out');
  const first = h.cs(['download', magnet, '--out', out, '--port', '0']);
  assert.equal(await first.exited(60_000), 0, first.output());
  assert.match(first.output(), /^fetching the metadata of /m);
  const second = h.cs(['download', magnet, '--out', out, '--port', '0']);
  assert.equal(await second.exited(30_000), 0, second.output());
  assert.doesNotMatch(second.output(), /^fetching the metadata/m);
  assert.match(second.output(), /^metadata of notes\.bin: read from .*\.chunkswarm.*\.torrent/m);
  assert.ok(await sameBytes(source, join(out, 'notes.bin')));
});

async function sourceByte(path: string, at: number): Promise<number> {
  const f = await open(path, 'r');
  const b = Buffer.alloc(1);
  await f.read(b, 0, 1, at);
  await f.close();
  return b[0]!;
}
