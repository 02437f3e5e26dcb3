/**
 * A swarm that lacks a chunk: the only seeder's copy of chunk 3 is damaged, so it seeds the rest. The
 * download gets everything else and then says, in one line, what it waits for: that chunk, by number.
 */
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Harness, makeFile } from './harness.js';

const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

test('a download missing a chunk nobody has names that chunk', async () => {
  const { announce } = await h.tracker();
  const source = join(h.dir, 'lecture.bin');
  await makeFile(source, 8 * 262144, 'stall');
  const torrent = join(h.dir, 'lecture.torrent');
  const create = h.cs(['create', source, '--tracker', announce, '--piece-length', '262144', '-o', torrent]);
  assert.equal(await create.exited(), 0, create.output());
  // Damage chunk 3 of the seeder's copy: it no longer verifies, so it is not offered.
  const f = await open(source, 'r+');
  await f.write(Buffer.from('damaged'), 0, 7, 3 * 262144 + 100);
  await f.close();
  const seed = h.cs(['seed', torrent, '--data', source, '--port', '0']);
  await seed.waitFor(/^seeding /m);
  const download = h.cs(['download', torrent, '--out', join(h.dir, 'out'), '--port', '0']);
  await download.waitFor(/^lecture\.bin: waiting: no connected peer has chunk 3$/m, 30_000);
  assert.doesNotMatch(download.output(), /^complete /m);
});
