/**
 * A piece just verified is served from memory: a peer that relays pieces between a seeder and a peer lacking
 * them answers from the buffer it assembled each piece in, without reading its files back.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { TorrentLayout } from '../../src/metainfo/types.js';
import type { Client } from '../../src/session/client.js';
import type { TorrentSession } from '../../src/session/session.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { MemoryStorage } from '../../src/storage/index.js';
import { completed, listeningClient, storedInMemory, torrentOf } from './torrents.js';

/** Stands for a storage on disk (where a read copies the bytes) and counts its reads. */
class DiskLikeStorage extends MemoryStorage {
  readonly readsFromDisk = true;
  reads = 0;

  constructor(layout: TorrentLayout) {
    super(layout);
  }

  override read(index: number, begin: number, length: number, into?: Buffer): Promise<Buffer> {
    this.reads++;
    return super.read(index, begin, length, into);
  }
}

const clients: Client[] = [];
after(async () => {
  for (const c of clients) await c.close({ announce: false });
});

async function peer(
  metainfo: ReturnType<typeof torrentOf>,
  storage: MemoryStorage,
  have: Bitfield,
): Promise<{ client: Client; session: TorrentSession }> {
  const client = await listeningClient(clients);
  const session = client.addSession({ metainfo, storage, have, mode: have.complete ? 'seed' : 'auto' });
  return { client, session };
}

describe('serving', () => {
  it('a relay serves the pieces it has just verified without reading them back', async () => {
    // As many pieces as the read cache keeps at least: none leaves it before the last peer asks.
    const data = randomBytes(4 * 16 * 1024);
    const metainfo = torrentOf(data);
    const seedStorage = await storedInMemory(metainfo, data);
    const seeder = await peer(metainfo, seedStorage, Bitfield.full(metainfo.pieceCount));
    const relayStorage = new DiskLikeStorage(metainfo);
    const relay = await peer(metainfo, relayStorage, new Bitfield(metainfo.pieceCount));
    const last = await peer(metainfo, new MemoryStorage(metainfo), new Bitfield(metainfo.pieceCount));
    // The last peer meets the relay before the relay has anything: it lacks every piece the relay verifies.
    await last.session.connect('127.0.0.1', relay.client.port);
    await seeder.session.connect('127.0.0.1', relay.client.port);
    await Promise.all([completed(relay.session), completed(last.session)]);
    for (let i = 0; i < metainfo.pieceCount; i++) {
      const stored = await last.session.storage.read(i, 0, metainfo.pieceLength);
      assert.ok(stored.equals(data.subarray(i * metainfo.pieceLength, (i + 1) * metainfo.pieceLength)));
    }
    assert.ok(relay.session.uploaded > 0, 'the relay served the last peer');
    assert.equal(relayStorage.reads, 0, 'every block it served came from memory');
  });
});
