/**
 * A selection changed while a torrent downloads (FileSelection over TorrentSession.setPriorities), on
 * loopback between two in-memory clients: a file left out mid-download is no longer wanted (the session
 * is done without it and stops being interested), and the file added back is fetched to the end.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, it } from 'node:test';
import { pieceSize } from '../../src/metainfo/index.js';
import { Client } from '../../src/session/client.js';
import { FileSelection } from '../../src/session/selection.js';
import type { TorrentSession } from '../../src/session/session.js';
import { torrentStatus } from '../../src/session/status.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { MemoryStorage } from '../../src/storage/index.js';
import { torrentOf } from './torrents.js';

const PIECE = 16 * 1024;
const clients: Client[] = [];
after(async () => {
  for (const c of clients) await c.close({ announce: false });
});

async function client(opts: { uploadLimit?: number } = {}): Promise<Client> {
  const c = new Client({ port: 0, ...opts });
  clients.push(c);
  await c.listen();
  return c;
}

const once = (s: TorrentSession, event: 'done' | 'complete'): Promise<void> =>
  new Promise((r) => s.events.once(event, () => r()));

it('a file left out mid-download stops being wanted; added back, it is fetched', async () => {
  const data = randomBytes(96 * PIECE + 777);
  const split = 48 * PIECE + 100; // piece 48 holds the end of a.bin and the start of b.bin
  const m = torrentOf(data, {
    name: 'two',
    files: [
      { path: ['a.bin'], length: split },
      { path: ['b.bin'], length: data.length - split },
    ],
  });
  const seedClient = await client({ uploadLimit: 1024 * 1024 });
  const storage = new MemoryStorage(m);
  for (let i = 0; i < m.pieceCount; i++)
    await storage.writePiece(i, data.subarray(i * PIECE, (i + 1) * PIECE));
  seedClient.addSession({ metainfo: m, storage, have: Bitfield.full(m.pieceCount), mode: 'seed' });

  const leechClient = await client();
  const leech = leechClient.addSession({
    metainfo: m,
    storage: new MemoryStorage(m),
    have: new Bitfield(m.pieceCount),
    mode: 'auto',
  });
  const selection = FileSelection.of(leech);
  assert.deepEqual([...selection.files], [0, 1]);
  const first = new Promise<void>((r) => leech.events.once('piece-verified', () => r()));
  leech.dialUntilComplete([{ ip: '127.0.0.1', port: seedClient.port }]);
  await first;
  assert.equal(leech.done, false);

  // Only a.bin: pieces 0-48 are the goal now.
  const done = once(leech, 'done');
  await selection.set(new Set([0]));
  assert.ok([...Array(49).keys()].every((i) => leech.picker.priority(i) > 0));
  assert.ok([...Array(47).keys()].every((i) => leech.picker.priority(49 + i) === 0));
  await done;
  for (let i = 0; i <= 48; i++) assert.ok(leech.have.has(i), `piece ${i} of a.bin`);
  assert.equal(leech.complete, false, 'b.bin is not all here');
  assert.ok(
    torrentStatus(leech).peers.every((p) => !p.amInterested),
    'nothing left to want',
  );
  assert.deepEqual(
    selection.status().map((f) => [f.path, f.selected, f.done === f.size]),
    [
      ['a.bin', true, true],
      ['b.bin', false, false],
    ],
  );

  // b.bin back: done fires again once it is here, and the torrent completes.
  const complete = once(leech, 'complete');
  const doneAgain = once(leech, 'done');
  await selection.set(new Set([0, 1]));
  assert.equal(leech.done, false);
  await Promise.all([complete, doneAgain]);
  for (let i = 0; i < m.pieceCount; i++)
    assert.deepEqual(
      await leech.storage.read(i, 0, pieceSize(m, i)),
      data.subarray(i * PIECE, i * PIECE + pieceSize(m, i)),
    );
});
