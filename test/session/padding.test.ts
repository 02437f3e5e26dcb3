/**
 * A torrent with BEP 47 padding files, as libtorrent makes by default, between two sessions on loopback: the
 * leecher asks for no block that is wholly padding, writes no padding file, and ends with the original files.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Client } from '../../src/session/client.js';
import { torrentProgress } from '../../src/session/status.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { nodeEnv } from '../../src/shared/node-env.js';
import { FileStorage } from '../../src/storage/index.js';
import { completed, filesTorrent, listeningClient, storedInMemory } from './torrents.js';

const KiB16 = 16 * 1024;

const clients: Client[] = [];
const dirs: string[] = [];
after(async () => {
  for (const c of clients) await c.close({ announce: false });
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/**
 * Pieces of four blocks: a.bin (20,000 bytes) padded to the end of piece 0 (its blocks 2 and 3 wholly
 * padding), b.bin (100,000) padded to the end of piece 2 (its block 3 wholly padding), then c.bin (5,000).
 */
function paddedTorrent() {
  const files = [
    { path: ['a.bin'], data: randomBytes(20_000) },
    { path: ['.pad', '45536'], data: Buffer.alloc(45_536), pad: true },
    { path: ['b.bin'], data: randomBytes(100_000) },
    { path: ['.pad', '31072'], data: Buffer.alloc(31_072), pad: true },
    { path: ['c.bin'], data: randomBytes(5_000) },
  ];
  const { metainfo, content } = filesTorrent('padded', files);
  return { metainfo, content, files: files.filter((f) => !f.pad) };
}

describe('BEP 47 padding between two sessions', () => {
  it('the leecher fetches every byte but the blocks wholly in padding, and stores only the files', {
    timeout: 20_000,
  }, async () => {
    const { metainfo, content, files } = paddedTorrent();
    assert.deepEqual(
      metainfo.files.map((f) => f.path.join('/')),
      ['a.bin', 'b.bin', 'c.bin'],
    );
    const seederClient = await listeningClient(clients);
    const seeder = seederClient.addSession({
      metainfo,
      storage: await storedInMemory(metainfo, content),
      have: Bitfield.full(metainfo.pieceCount),
      mode: 'seed',
    });
    const dir = await mkdtemp(join(tmpdir(), 'chunkswarm-padding-'));
    dirs.push(dir);
    const storage = new FileStorage(metainfo, join(dir, 'padded'));
    await storage.prepare();
    // Piece buffers full of other bytes, as a pool's reused ones are: the padding's zeros are the leecher's to write.
    const leecherClient = await listeningClient(clients, {
      env: { ...nodeEnv, pieceBuffers: { take: (size) => Buffer.alloc(size, 0xa5), give() {} } },
    });
    const leecher = leecherClient.addSession({
      metainfo,
      storage,
      have: new Bitfield(metainfo.pieceCount),
      mode: 'auto',
    });
    // Its progress counts the files' bytes, as `info` does, not the padding's zeros.
    assert.deepEqual([torrentProgress(leecher).size, torrentProgress(leecher).done], [125_000, 0]);
    await leecher.connect('127.0.0.1', seederClient.port);
    await completed(leecher);
    assert.deepEqual([torrentProgress(leecher).size, torrentProgress(leecher).done], [125_000, 125_000]);

    const wholePadBlocks = 3 * KiB16;
    assert.equal(seeder.uploaded, content.length - wholePadBlocks, 'no block of padding alone was asked for');
    assert.equal(leecher.downloaded, content.length - wholePadBlocks);
    assert.deepEqual((await readdir(join(dir, 'padded'))).sort(), ['a.bin', 'b.bin', 'c.bin']);
    for (const f of files)
      assert.ok((await readFile(join(dir, 'padded', ...f.path))).equals(f.data), f.path[0]);
  });
});
