import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, Harness, makeFile } from './harness.js';

const CHUNK = 512 * 1024;
const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

test('a tracker, a seeder and two shells run every seed command in separate processes', async () => {
  const dir = h.dir;
  const original = await makeFile(join(dir, 'data', 'lecture.bin'), 5 * 1024 * 1024 + 12_345, 'lecture');
  const { announce } = await h.tracker();
  const create = h.cs([
    'create',
    join(dir, 'data', 'lecture.bin'),
    '--tracker',
    announce,
    '-o',
    join(dir, 't.torrent'),
  ]);
  assert.equal(await create.exited(), 0, create.output());
  assert.match(create.output(), /^[0-9a-f]{40}\nmagnet:\?xt=urn:btih:[0-9a-f]{40}/);

  const [sp, pa, pb] = [await freePort(), await freePort(), await freePort()];
  const seed = h.cs([
    'seed',
    join(dir, 't.torrent'),
    '--data',
    join(dir, 'data', 'lecture.bin'),
    '--port',
    String(sp),
  ]);
  await seed.waitFor(/^seeding lecture\.bin on 127\.0\.0\.1:\d+/m);

  const b = h.cs(['peer', join(dir, 't.torrent'), '--dir', join(dir, 'memB'), '--port', String(pb)], {
    stdin: 'pipe',
  });
  b.write('/connect_tracker');
  await b.waitFor(/Tracker established connection to Peer\[127\.0\.0\.1:\d+\]/);

  const a = h.cs(['peer', join(dir, 't.torrent'), '--dir', join(dir, 'memA'), '--port', String(pa)], {
    stdin: 'pipe',
  });
  const S = `127.0.0.1:${sp}`;
  const B = `127.0.0.1:${pb}`;
  const script = [
    '/check_tracker_connected',
    '/connect_tracker',
    '/get_peer_set',
    '/see_peer_set',
    `/connect_peer ${S}`,
    `/check_target_peer_connected ${S}`,
    `/request_download ${S} 0`,
    '/see_current_chunks',
    '/update_status_to_tracker',
    `/merge_chunks ${join(dir, 'outA')}`,
    `/request_download ${S} all`,
    '/see_connected_seeders',
    '/see_connected_leechers',
    `/merge_chunks ${join(dir, 'outA')}`,
    '/bogus_command',
    `/request_download ${S} 99`,
    `/request_download 10.9.9.9:1 0`,
    `/connect_peer ${B}`,
    `/upload_chunk ${B} 3`,
    `/disconnect_peer ${B}`,
    `/check_target_peer_connected ${B}`,
    '/disconnect_tracker',
    '/check_tracker_connected',
    '/quit_torrent',
  ];
  for (const line of script) a.write(line);
  a.child.stdin!.end();
  assert.equal(await a.exited(45_000), 0, a.output());
  const out = a.output();

  for (const want of [
    /Peer is not connected to tracker/,
    /Tracker established connection to Peer\[127\.0\.0\.1:\d+\]/,
    new RegExp(`Peer\\[${S}\\] established connection to Peer\\[127\\.0\\.0\\.1:${pa}\\]`),
    new RegExp(`This peer is connected to Peer\\[${S}\\]`),
    new RegExp(`Peer\\[${S}\\] starts uploading chunk 0 to Peer`),
    /Chunk 0 received and verified/,
    /Tracker updated Peer\[127\.0\.0\.1:\d+\] status/,
    /Not enough chunks to merge: missing 1, 2, 3/,
    /Merge complete!/,
    /1 connected seeder/,
    /Invalid command — type \/help/,
    /chunk 99 is out of range/,
    new RegExp(`Peer\\[${B}\\] received chunk 3`),
    new RegExp(`This peer is not connected to Peer\\[${B}\\]`),
    /disconnected from tracker/,
    /quited torrent/,
  ]) {
    assert.match(out, want);
  }
  // The merged file is the original, byte for byte; A's memory folder has all 11 chunks.
  const merged = await readFile(join(dir, 'outA', 'lecture.bin'));
  assert.ok(merged.equals(original), 'merged file differs from the original');
  const chunksA = (await readdir(join(dir, 'memA'))).filter((f) => /\.part\d+$/.test(f));
  assert.equal(chunksA.length, 11);

  // B holds exactly the chunk A uploaded, with the right bytes.
  b.write('/see_current_chunks');
  await b.waitFor(/Holding 1 of 11 chunks/);
  b.write('/quit_torrent');
  assert.equal(await b.exited(), 0, b.output());
  const chunksB = (await readdir(join(dir, 'memB'))).filter((f) => /\.part\d+$/.test(f));
  assert.deepEqual(chunksB, ['lecture.bin.part3']);
  const chunk3 = await readFile(join(dir, 'memB', 'lecture.bin.part3'));
  assert.ok(chunk3.equals(original.subarray(3 * CHUNK, 4 * CHUNK)));
});
