/**
 * One peer stack for torrents and magnets: a magnet's metadata comes over ordinary connections
 * (ut_metadata is one more extension on them), which the torrent's session then adopts as they are — no
 * peer is dialled twice — and a peer that dials us while the metadata is fetched is taken in too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { pieceSize } from '../../src/metainfo/index.js';
import type { Metainfo } from '../../src/metainfo/types.js';
import type { Client } from '../../src/session/client.js';
import type { TorrentSession } from '../../src/session/session.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { MemoryStorage } from '../../src/storage/index.js';
import { magnetOf } from '../magnet/helpers.js';
import { completed, listeningClient, storedInMemory, torrentOf } from './torrents.js';

const clients: Client[] = [];
after(async () => {
  for (const c of clients) await c.close({ announce: false });
});

async function seeder(
  metainfo: Metainfo,
  data: Buffer,
): Promise<{ client: Client; session: TorrentSession }> {
  const client = await listeningClient(clients);
  const session = client.addSession({
    metainfo,
    storage: await storedInMemory(metainfo, data),
    have: Bitfield.full(metainfo.pieceCount),
    mode: 'seed',
  });
  return { client, session };
}

function leecher(): Promise<Client> {
  return listeningClient(clients);
}

const openInMemory = async (metainfo: Metainfo) => ({
  storage: new MemoryStorage(metainfo),
  have: new Bitfield(metainfo.pieceCount),
  mode: 'auto' as const,
});

async function readAll(session: TorrentSession): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < session.pieceCount; i++)
    parts.push(await session.storage.read(i, 0, pieceSize(session.metainfo, i)));
  return Buffer.concat(parts);
}

describe('one peer stack', () => {
  it('a magnet downloads over the connection that brought its metadata: the seeder is dialled once', async () => {
    const data = randomBytes(40 * 16 * 1024 + 123);
    const metainfo = torrentOf(data);
    const seed = await seeder(metainfo, data);
    let incoming = 0;
    seed.session.events.on('peer-connected', () => incoming++);
    const me = await leecher();
    const session = await me.add(
      { magnet: magnetOf(metainfo, [`127.0.0.1:${seed.client.port}`]) },
      openInMemory,
    );
    await completed(session);
    assert.ok((await readAll(session)).equals(data));
    assert.equal(incoming, 1, 'the seeder saw one connection from the leecher, not a second dial');
  });

  it('a peer that dials us while the metadata is fetched serves it, and then the data', async () => {
    const data = randomBytes(24 * 16 * 1024);
    const metainfo = torrentOf(data);
    const seed = await seeder(metainfo, data);
    const me = await leecher();
    // The only peer the magnet names is gone: the metadata can only come from a peer that dials in.
    const dead = await leecher();
    const deadPort = dead.port;
    await dead.close({ announce: false });
    let connectionsDuringFetch = 0;
    const adding = me.add(
      {
        magnet: magnetOf(metainfo, [`127.0.0.1:${deadPort}`]),
        onFetch: (fetch) => fetch.events.on('peer-connected', () => connectionsDuringFetch++),
      },
      openInMemory,
    );
    let seederConnections = 0;
    seed.session.events.on('peer-connected', () => seederConnections++);
    await seed.session.connect('127.0.0.1', me.port);
    const session = await adding;
    await completed(session);
    assert.ok((await readAll(session)).equals(data));
    assert.equal(connectionsDuringFetch, 1);
    assert.equal(
      seederConnections,
      1,
      'the incoming connection went on into the download, no other was made',
    );
  });

  it('connections of a fetch count in the process-wide limit', async () => {
    const data = randomBytes(4 * 16 * 1024);
    const metainfo = torrentOf(data);
    const seed = await seeder(metainfo, data);
    const me = await leecher();
    const fetch = me.fetchMetadata(magnetOf(metainfo, [`127.0.0.1:${seed.client.port}`]));
    let counted = 0;
    fetch.events.on('peer-connected', () => {
      counted = me.connectionCount;
    });
    const result = await fetch.run();
    assert.equal(counted, 1);
    for (const c of result.connections) c.close('test over');
  });
});
