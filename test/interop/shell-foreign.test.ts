/**
 * The seed's shell against a foreign peer: `chunkswarm peer` with piped commands connects to a
 * libtorrent seeder by address, fetches single chunks, then the rest, and merges them.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, Harness, makeFile, sameBytes } from '../integration/harness.js';
import { ltMake, startLt } from './clients.js';
import { needPackages } from './gate.js';

const KiB = 1024;
const h = new Harness();
before(() => h.setup());
after(() => h.teardown());

test('the shell connects to a libtorrent seeder, downloads chunks one by one, then all, and merges them', {
  timeout: 90_000,
}, async (t) => {
  if (!needPackages(t, 'python3-libtorrent')) return;
  const src = join(h.dir, 'src');
  const original = join(src, 'lecture.bin');
  // Six 512 KiB chunks, the last one short.
  await makeFile(original, 5 * 512 * KiB + 54_321, 'shell lecture');
  const { announce } = await h.tracker();
  const torrent = join(h.dir, 'lecture.torrent');
  await ltMake(original, torrent, { pieceLength: 512 * KiB, trackers: [announce] });
  const lt = await startLt(h, 'seed', { torrent, save: src, maxSeconds: 80 });
  const L = lt.address;

  const mem = join(h.dir, 'mem');
  const merged = join(h.dir, 'merged');
  const me = await freePort();
  const shell = h.cs(['peer', torrent, '--dir', mem, '--port', String(me)], { stdin: 'pipe' });
  for (const line of [
    `/connect_peer ${L}`,
    `/check_target_peer_connected ${L}`,
    `/see_connected_seeders`,
    `/request_download ${L} 0`,
    `/request_download ${L} lecture.bin.part5`,
    '/see_current_chunks',
    `/merge_chunks ${merged}`,
    `/request_download ${L} all`,
    `/merge_chunks ${merged}`,
  ]) {
    shell.write(line);
  }
  shell.child.stdin!.end();
  const code = await shell.exited(60_000);
  const out = shell.output();
  assert.equal(code, 0, `${out}\n--- libtorrent ---\n${lt.proc.output()}`);

  const esc = L.replace(/\./g, '\\.');
  for (const want of [
    new RegExp(`Peer\\[${esc}\\] established connection to Peer\\[127\\.0\\.0\\.1:${me}\\]`),
    new RegExp(`This peer is connected to Peer\\[${esc}\\]`),
    /1 connected seeder/,
    new RegExp(`Peer\\[${esc}\\] starts uploading chunk 0 to Peer`),
    /Chunk 0 received and verified/,
    /Chunk 5 received and verified/,
    /Holding 2 of 6 chunks; 4 missing/,
    /Not enough chunks to merge: missing 1, 2, 3, 4/,
    /Chunk 1 received and verified/,
    /Chunk 4 received and verified/,
    /Merge complete!/,
  ]) {
    assert.match(out, want, `shell output lacks ${want}:\n${out}`);
  }
  // `all` fetched only what was missing: chunks 0 and 5 were not fetched twice.
  assert.equal(out.match(/Chunk 0 received and verified/g)?.length, 1);
  assert.ok(await sameBytes(join(merged, 'lecture.bin'), original), 'merged file differs from the original');
  assert.equal((await readdir(mem)).filter((n) => n.startsWith('lecture.bin.part')).length, 6);
  // libtorrent decoded our BEP 10 handshake and names us by it.
  assert.match(lt.proc.output(), /^peer 127\.0\.0\.1:\d+ client="chunkswarm[^"]*" ext=1/m);
});
