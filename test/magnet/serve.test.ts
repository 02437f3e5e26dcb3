/**
 * Serving metadata (BEP 9): every chunkswarm peer that has a torrent's metainfo advertises ut_metadata
 * with metadata_size and answers requests from the exact info bytes; past the end it rejects, and a
 * flood is capped.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Client } from '../../src/session/client.js';
import { metadataPieceCount } from '../../src/wire/index.js';
import { makeTorrent, RawClient, startSeeder } from './helpers.js';

const open: { clients: Client[]; raw: RawClient[] } = { clients: [], raw: [] };
after(async () => {
  for (const r of open.raw) r.close();
  for (const c of open.clients) await c.close({ announce: false });
});

async function seeder(pieces: number, opts: { private?: boolean } = {}) {
  const metainfo = makeTorrent(pieces, opts);
  const s = await startSeeder(metainfo);
  open.clients.push(s.client);
  const raw = await RawClient.open(s.port, metainfo.infoHash);
  open.raw.push(raw);
  return { metainfo, raw };
}

describe('serving metadata to magnet peers', () => {
  it('advertises ut_metadata and the exact size of the info dictionary', async () => {
    const { metainfo, raw } = await seeder(1700);
    assert.ok((raw.extension?.m.get('ut_metadata') ?? 0) > 0);
    assert.equal(raw.extension?.metadataSize, metainfo.infoBytes.length);
  });

  it('sends every piece, which put together are the info bytes', async () => {
    const { metainfo, raw } = await seeder(1700);
    const count = metadataPieceCount(metainfo.infoBytes.length);
    assert.equal(count, 3);
    for (let i = 0; i < count; i++) raw.request(i);
    await raw.until(() => raw.metadataMessages().length === count, 'three data messages');
    const got = raw.metadataMessages();
    assert.deepEqual(
      got.map((m) => [m.type, m.piece]),
      [
        ['data', 0],
        ['data', 1],
        ['data', 2],
      ],
    );
    const joined = Buffer.concat(got.map((m) => (m.type === 'data' ? m.data : Buffer.alloc(0))));
    assert.ok(joined.equals(metainfo.infoBytes));
    for (const m of got) assert.ok(m.type === 'data' && m.totalSize === metainfo.infoBytes.length);
  });

  it('rejects a piece past the end and stays connected', async () => {
    const { raw } = await seeder(10);
    raw.request(1);
    raw.request(0x7fff_ffff);
    raw.request(0);
    await raw.until(() => raw.metadataMessages().length === 3, 'three answers');
    assert.deepEqual(
      raw.metadataMessages().map((m) => [m.type, m.piece]),
      [
        ['reject', 1],
        ['reject', 0x7fff_ffff],
        ['data', 0],
      ],
    );
    assert.equal(raw.closed, false);
  });

  it('serves the metadata about twice over per connection, then rejects, then drops a peer that keeps on', async () => {
    const { raw } = await seeder(10);
    // One metadata piece: an allowance of 2 * 1 + 8 = 10.
    for (let i = 0; i < 10; i++) raw.request(0);
    await raw.until(() => raw.metadataMessages().length === 10, 'ten answers');
    assert.ok(raw.metadataMessages().every((m) => m.type === 'data'));
    for (let i = 0; i < 20; i++) raw.request(0);
    await raw.until(() => raw.metadataMessages().length === 30, 'twenty more answers');
    assert.ok(
      raw
        .metadataMessages()
        .slice(10)
        .every((m) => m.type === 'reject'),
    );
    assert.equal(raw.closed, false);
    // As many refusals again as reqq (500): that is a flood, and the connection goes.
    for (let i = 0; i < 520; i++) raw.request(0);
    await raw.until(() => raw.closed, 'the seeder to hang up');
  });

  it('answers nothing to a peer that did not offer ut_metadata itself (there is no id to answer under)', async () => {
    const metainfo = makeTorrent(10);
    const s = await startSeeder(metainfo);
    open.clients.push(s.client);
    const raw = await RawClient.open(s.port, metainfo.infoHash, 0);
    open.raw.push(raw);
    raw.request(0);
    // A request it can answer afterwards shows the first one was dropped, not delayed.
    const ours = await RawClient.open(s.port, metainfo.infoHash);
    open.raw.push(ours);
    ours.request(0);
    await ours.until(() => ours.metadataMessages().length === 1, 'the answer to the second client');
    assert.equal(raw.metadataMessages().length, 0);
    assert.equal(raw.closed, false);
  });

  it('does not offer the metadata of a private torrent', async () => {
    const { metainfo, raw } = await seeder(10, { private: true });
    assert.equal(metainfo.private, true);
    assert.equal(raw.extension?.m.get('ut_metadata'), undefined);
    assert.equal(raw.extension?.metadataSize, undefined);
  });
});
