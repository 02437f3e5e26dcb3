import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { piecePriorities } from '../../src/metainfo/index.js';
import { PiecePicker } from '../../src/picker/index.js';
import { Bitfield } from '../../src/shared/bitfield.js';
import { MemoryStorage } from '../../src/storage/index.js';
import { startStreamServer, torrentFileSource } from '../../src/web/stream.js';
import { seeded } from '../picker/helpers.js';
import { buildLayout } from '../storage/helpers.js';

const PIECE = 16_384;

/**
 * The streaming pieces together, as the session will join them: a Range request tells the source
 * where the reader is, the source gives the picker its window, the picker picks those pieces first,
 * and the response completes as they are verified, long before the download does. The "network" is
 * the test itself: one piece from a seeder per step.
 */
test('a Range request before the download pulls its pieces first and returns the exact bytes', async () => {
  const built = buildLayout('movie.mp4', [{ path: ['movie.mp4'], length: 200 * PIECE - 123 }], PIECE, false);
  const { layout } = built;
  const storage = new MemoryStorage(layout);
  const picker = new PiecePicker(layout, { random: seeded(3) });
  picker.addPeer('seed', Bitfield.full(layout.pieceCount));
  // the streamed file's first and last pieces are high priority: players read both early
  picker.setPriorities(piecePriorities(layout, new Set([0]), { edgeFiles: new Set([0]) }));
  const listeners = new Set<(p: number) => void>();
  const source = torrentFileSource({
    storage,
    fileIndex: 0,
    isVerified: (p) => picker.have.has(p),
    onPieceVerified: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    onWindow: (w) => picker.setStreamWindow(w),
    readAheadBytes: 4 * PIECE,
  });
  const server = await startStreamServer({
    sources: (i) => (i === 0 ? { source, name: 'movie.mp4' } : undefined),
  });
  try {
    const order: number[] = [];
    const step = async () => {
      const [b] = picker.pick('seed', 1);
      assert.ok(b, 'the picker has something to fetch');
      const r = picker.blockReceived('seed', b);
      assert.ok(r.pieceDone);
      await storage.writePiece(b.index, built.content.subarray(b.index * PIECE, (b.index + 1) * PIECE));
      picker.pieceVerified(b.index);
      order.push(b.index);
      for (const fn of [...listeners]) fn(b.index);
    };

    const start = 100 * PIECE + 5;
    const end = 102 * PIECE + 10; // pieces 100, 101, 102
    let done = false;
    const answer = new Promise<{ status: number; range: string | undefined; body: Buffer }>(
      (resolve, reject) => {
        const req = request(`${server.url}0`, { headers: { Range: `bytes=${start}-${end}` } }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => {
            done = true;
            resolve({
              status: res.statusCode!,
              range: res.headers['content-range'],
              body: Buffer.concat(parts),
            });
          });
        });
        req.on('error', reject);
        req.end();
      },
    );
    // Nothing is fetched until the reader has said where it is.
    for (let n = 0; n < 2000 && picker.streamWindow === undefined; n++)
      await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(picker.streamWindow, { first: 100, count: 4 });
    for (let n = 0; n < 50 && !done; n++) {
      await step();
      await new Promise((r) => setImmediate(r));
    }
    const res = await answer;
    assert.equal(res.status, 206);
    assert.equal(res.range, `bytes ${start}-${end}/${layout.totalLength}`);
    assert.ok(res.body.equals(built.content.subarray(start, end + 1)));
    assert.ok(picker.missingCount() > 150, 'the range came long before the download');
    // The window in order, then the file's first and last pieces, then the rest.
    while (order.length < 6) await step();
    assert.deepEqual(order.slice(0, 6), [100, 101, 102, 103, 0, 199]);
  } finally {
    await server.close();
  }
});
