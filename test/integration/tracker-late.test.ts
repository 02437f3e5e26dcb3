/**
 * A seeder and a downloader started before their tracker (a class where the teacher starts the tracker
 * last): both keep asking it, from 2 s and backing off, and the download completes soon after the tracker
 * comes up — no restart. Before, the first failed announce was never tried again.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, Harness, makeFile, sameBytes } from './harness.js';

const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

test('a seeder and a downloader started 3 s before their tracker complete once it is up', async () => {
  const port = await freePort();
  const announce = `http://127.0.0.1:${port}/announce`;
  const source = join(h.dir, 'early.bin');
  await makeFile(source, 3 * 1024 * 1024 + 17, 'early');
  const torrent = join(h.dir, 'early.torrent');
  const create = h.cs(['create', source, '--tracker', announce, '--piece-length', '262144', '-o', torrent]);
  assert.equal(await create.exited(), 0, create.output());

  const seed = h.cs(['seed', torrent, '--data', source, '--port', '0']);
  const out = join(h.dir, 'out');
  const download = h.cs(['download', torrent, '--out', out, '--port', '0']);
  // Both tell the user the tracker is not there and when they will ask again.
  await seed.waitFor(/^tracker: .*; next try in [\d.]+s$/m);
  await download.waitFor(/^tracker: .*; next try in [\d.]+s$/m);
  await new Promise((r) => setTimeout(r, 3000));

  const tracker = h.cs(['tracker', '--port', String(port), '--no-udp']);
  await tracker.waitFor(/tracker listening on/);
  // Retries back off to at most 2 + 4 + 8 s (±20%) here; well within the wait below.
  assert.equal(await download.exited(60_000), 0, download.output());
  assert.match(download.output(), /^tracker: http:\/\/127\.0\.0\.1:\d+\/announce answered: \d+ peers?$/m);
  assert.match(download.output(), /^complete early\.bin /m);
  assert.ok(await sameBytes(source, join(out, 'early.bin')));
  assert.match(seed.output(), /^tracker: .* answered/m);
});
