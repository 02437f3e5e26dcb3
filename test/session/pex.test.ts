/**
 * Peer exchange (BEP 11) between chunkswarm peers on loopback, with no tracker: two leechers that only know
 * the seeder learn of each other from it and connect; a private torrent offers no ut_pex (BEP 27). And the
 * peer book those peers go in: a seeder with nobody to serve dials from it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { Metainfo } from '../../src/metainfo/types.js';
import { Client } from '../../src/session/client.js';
import type { TorrentSession } from '../../src/session/session.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { MemoryStorage } from '../../src/storage/index.js';
import { torrentOf } from './torrents.js';

const clients: Client[] = [];
after(async () => {
  for (const c of clients) await c.close({ announce: false });
});

async function peer(
  metainfo: Metainfo,
  data: Buffer | undefined,
  uploadLimit = 0,
): Promise<{ client: Client; session: TorrentSession }> {
  const client = new Client({ port: 0, uploadLimit });
  clients.push(client);
  await client.listen();
  const storage = new MemoryStorage(metainfo);
  const have = new Bitfield(metainfo.pieceCount);
  if (data) {
    for (let i = 0; i < metainfo.pieceCount; i++) {
      await storage.writePiece(i, data.subarray(i * metainfo.pieceLength, (i + 1) * metainfo.pieceLength));
      have.set(i);
    }
  }
  const session = await client.add({ metainfo }, { storage, have, mode: data ? 'seed' : 'auto' });
  return { client, session };
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('peer exchange', () => {
  it('two leechers that know only the seeder learn of each other through it, and connect', async () => {
    const data = randomBytes(64 * 16 * 1024);
    const metainfo = torrentOf(data, { name: 'pex.bin' });
    // Slow enough that both are still downloading when the seeder's first PEX message goes out.
    const seed = await peer(metainfo, data, 64 * 1024);
    const a = await peer(metainfo, undefined);
    const b = await peer(metainfo, undefined);
    await a.session.connect('127.0.0.1', seed.client.port);
    await b.session.connect('127.0.0.1', seed.client.port);
    await until('a connection from PEX', () =>
      [...a.session.peers.values(), ...b.session.peers.values()].some((p) => p.source === 'pex'),
    );
    const viaPex = [...a.session.peers.values(), ...b.session.peers.values()].find(
      (p) => p.source === 'pex',
    )!;
    const other = viaPex.listenPort === a.client.port ? a.client.port : b.client.port;
    assert.equal(viaPex.listenPort, other, 'the peer dialled through PEX is the other leecher');
  });

  it('a seeder left with nobody to serve dials back a leecher it parted from, on real sockets', async () => {
    // The seeder closes its connection (as one too many, say); the leecher it knew stays in its peer book,
    // and with nobody else to serve the seeder dials it within a second or two. Its own close, not the
    // leecher's: a peer that closes on a seeder is left alone for a while.
    const data = randomBytes(64 * 16 * 1024);
    const metainfo = torrentOf(data, { name: 'book.bin' });
    const seed = await peer(metainfo, data, 64 * 1024);
    const a = await peer(metainfo, undefined);
    await a.session.connect('127.0.0.1', seed.client.port);
    const at = `127.0.0.1:${a.client.port}`;
    // Its listening port comes in its extension handshake.
    await until('the seeder knows where the leecher listens', () =>
      [...seed.session.peers.values()].some((p) => p.listenPort === a.client.port),
    );
    assert.ok(seed.session.disconnectPeer(at, 'one too many'), 'the seeder closed it');
    await until(
      'the seeder dials the leecher back',
      () => [...seed.session.peers.values()].some((p) => p.outgoing && p.listenPort === a.client.port),
      4000,
    );
  });

  it('is not offered for a private torrent', async () => {
    const data = randomBytes(4 * 16 * 1024);
    const metainfo = torrentOf(data, { name: 'pex.bin', private: true });
    const seed = await peer(metainfo, data, 16 * 1024);
    const a = await peer(metainfo, undefined);
    const conn = await a.session.connect('127.0.0.1', seed.client.port);
    await until('the extension handshake', () => conn.extension !== undefined);
    assert.equal(conn.pexId, undefined, 'the seeder offered no ut_pex');
  });
});
