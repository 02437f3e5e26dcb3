/**
 * A seeder's unchoke slots. While its first pass runs (every piece sent once, steered by SUGGESTs) it
 * unchokes every interested peer, so each leecher gets pieces of its own to relay; once every piece is
 * out in the swarm it goes back to tit-for-tat's 4 regular slots and 1 optimistic. And, once its peers are
 * unchoked, what a capped peer sends first.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Metainfo } from '../../src/metainfo/types.js';
import { Client } from '../../src/session/client.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { closeAll, ScriptedPeer } from '../hostile/scripted-peer.js';
import { makeTorrent, startSeeder } from '../magnet/helpers.js';
import { storedInMemory } from './torrents.js';

const clients: Client[] = [];
after(async () => {
  closeAll();
  for (const c of clients) await c.close({ announce: false });
});

async function interestedPeer(port: number, metainfo: Metainfo): Promise<ScriptedPeer> {
  const p = await ScriptedPeer.dial(port, { pieceCount: metainfo.pieceCount });
  p.handshake({ infoHash: metainfo.infoHash, fast: true, extended: false });
  await p.waitHandshake();
  p.send({ type: 'have-none' }, { type: 'interested' });
  return p;
}

const unchoked = (p: ScriptedPeer): boolean => p.messages().some((m) => m.type === 'unchoke');
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await sleep(25);
  assert.ok(cond(), 'condition not met within 5 s');
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a seeder unchokes', () => {
  it('every interested leecher while its first pass runs, each with pieces of its own', async () => {
    const metainfo = makeTorrent(64);
    const seeder = await startSeeder(metainfo);
    clients.push(seeder.client);
    const peers = await Promise.all(Array.from({ length: 8 }, () => interestedPeer(seeder.port, metainfo)));
    await Promise.all(peers.map((p) => p.waitMessage((m) => m.type === 'unchoke', 'unchoke')));
    const suggested = peers.map((p) => p.messages().flatMap((m) => (m.type === 'suggest' ? [m.index] : [])));
    for (const s of suggested) assert.ok(s.length > 0, 'each leecher is steered to some pieces');
    const all = suggested.flat();
    assert.equal(new Set(all).size, all.length, 'no piece suggested to two leechers');
  });

  it('4 + 1 interested leechers once every piece is out in the swarm', async () => {
    const metainfo = makeTorrent(8);
    const seeder = await startSeeder(metainfo);
    clients.push(seeder.client);
    // Two peers that announce half the pieces each: the first pass is over without the seeder sending
    // anything. (One peer with every piece would be a seeder, and two seeders part.)
    const half = metainfo.pieceCount / 2;
    for (const first of [0, half]) {
      const holder = await ScriptedPeer.dial(seeder.port, { pieceCount: metainfo.pieceCount });
      holder.handshake({ infoHash: metainfo.infoHash, fast: true, extended: false });
      await holder.waitHandshake();
      holder.send({ type: 'have-none' });
      for (let i = first; i < first + half; i++) holder.send({ type: 'have', index: i });
    }
    const session = [...seeder.client.sessions.values()][0]!;
    await until(() => session.choking.distributor.done);
    const peers: ScriptedPeer[] = [];
    for (let i = 0; i < 8; i++) peers.push(await interestedPeer(seeder.port, metainfo));
    await Promise.all(peers.slice(0, 5).map((p) => p.waitMessage((m) => m.type === 'unchoke', 'unchoke')));
    // Time for the seeder to (wrongly) admit the rest; 10 s before its next rechoke.
    await sleep(300);
    assert.equal(peers.filter(unchoked).length, 5);
    assert.ok(peers.every((p) => !p.messages().some((m) => m.type === 'suggest')));
  });
});

describe('a capped downloading peer serves', () => {
  it('a piece at most one neighbour holds before the common ones asked for earlier', async () => {
    const metainfo = makeTorrent(8);
    // 8 KiB/s: each 16 KiB block waits 2 s for its budget, time enough for the later request to arrive
    // while the second common piece still waits, however busy the machine.
    const client = new Client({ port: 0, uploadLimit: 8 * 1024 });
    clients.push(client);
    const { port } = await client.listen();
    const have = new Bitfield(metainfo.pieceCount);
    for (let i = 0; i < 6; i++) have.set(i);
    const session = client.addSession({
      metainfo,
      // The pieces' bytes do not matter here: nobody checks what it serves.
      storage: await storedInMemory(metainfo, Buffer.alloc(metainfo.totalLength)),
      have,
      mode: 'auto',
    });
    // Piece 1 is held by one neighbour, pieces 2 to 5 by two.
    for (const held of [
      [2, 3, 4, 5],
      [1, 2, 3, 4, 5, 6, 7],
    ]) {
      const holder = await ScriptedPeer.dial(port, { pieceCount: metainfo.pieceCount });
      holder.handshake({ infoHash: metainfo.infoHash, fast: true, extended: false });
      await holder.waitHandshake();
      holder.send({ type: 'have-none' });
      for (const i of held) holder.send({ type: 'have', index: i });
    }
    await until(() => session.picker.availability(1) === 1 && session.picker.availability(2) === 2);
    const common = await interestedPeer(port, metainfo);
    const rare = await interestedPeer(port, metainfo);
    await Promise.all([common, rare].map((p) => p.waitMessage((m) => m.type === 'unchoke', 'unchoke')));
    const block = (index: number) => ({ type: 'request' as const, index, begin: 0, length: 16 * 1024 });
    // The common pieces are asked for first: the first goes once there is budget, the next waits behind it.
    common.send(block(2), block(3), block(4));
    await common.waitMessage((m) => m.type === 'piece' && m.index === 2, 'piece 2');
    rare.send(block(1));
    await rare.waitMessage((m) => m.type === 'piece' && m.index === 1, 'piece 1');
    const commonGot = common.messages().flatMap((m) => (m.type === 'piece' ? [m.index] : []));
    assert.deepEqual(commonGot, [2], 'the rare piece went ahead of the common ones asked for before it');
  });
});
