/**
 * The serving cache hands out blocks that are views on reused piece buffers: a buffer may be reused only
 * once its piece left the cache and every block handed out of it was released.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sameMemory } from '../../src/storage/aligned.js';
import { PieceBufferPool } from '../../src/storage/buffer-pool.js';
import { MemoryStorage, PieceReadCache, type Storage } from '../../src/storage/index.js';
import { alignedCopy, buildLayout, piece } from './helpers.js';

async function stored() {
  // Eight pieces of 4 KiB, each with its own bytes.
  const built = buildLayout('blocks.bin', [{ path: ['blocks.bin'], length: 8 * 4096 }], 4096, false);
  const storage = new MemoryStorage(built.layout);
  for (let i = 0; i < 8; i++) await storage.writePiece(i, piece(built, i));
  return { built, storage };
}

/** The same storage, saying its reads copy bytes out of files (as FileStorage does). */
function onDisk(storage: MemoryStorage): Storage {
  return {
    layout: storage.layout,
    readsFromDisk: true,
    read: (index, begin, length, into) => storage.read(index, begin, length, into),
  } as Pick<Storage, 'layout' | 'readsFromDisk' | 'read'> as Storage;
}

describe('PieceReadCache', () => {
  it('serves blocks of the right pieces', async () => {
    const { built, storage } = await stored();
    const cache = new PieceReadCache(storage, { pieces: 2 });
    for (const i of [0, 1, 0, 5, 7, 0]) {
      const b = await cache.read(i, 1024, 512);
      assert.deepEqual(b.data, piece(built, i).subarray(1024, 1536));
      b.release();
    }
  });

  it('never reuses a buffer while a block of it is still being sent', async () => {
    const { built, storage } = await stored();
    const cache = new PieceReadCache(storage, { pieces: 1 });
    const held = await cache.read(0, 0, 4096);
    // Piece 0 leaves the cache, and more pieces pass through it, while its block is unreleased.
    for (const i of [1, 2, 3, 4]) (await cache.read(i, 0, 16)).release();
    assert.deepEqual(held.data, piece(built, 0), 'the unreleased block kept its bytes');
    held.release();
    held.release(); // twice is harmless
    // Released and out of the cache: its buffer may now hold another piece.
    for (const i of [5, 6]) (await cache.read(i, 0, 16)).release();
    const later = await cache.read(7, 0, 4096);
    assert.deepEqual(later.data, piece(built, 7));
    later.release();
  });

  it('does reuse buffers once they are free', async () => {
    const { built, storage } = await stored();
    const cache = new PieceReadCache(storage, { pieces: 1 });
    const first = await cache.read(0, 0, 4096);
    first.release();
    // Piece 0 is evicted by piece 1; its buffer goes to the free list and piece 2 is read into it.
    (await cache.read(1, 0, 16)).release();
    (await cache.read(2, 0, 16)).release();
    // A stale view on the reused buffer now shows piece 2: proof the memory was reused, not reallocated.
    assert.deepEqual(first.data, piece(built, 2));
  });

  it('grows with the peers served, so taking turns re-reads no piece', async () => {
    const { storage } = await stored();
    // Six peers, each in its own piece, served a block at a time in turns (as the serving loops do).
    const turns = async (cache: PieceReadCache) => {
      for (let block = 0; block < 4; block++)
        for (let peer = 0; peer < 6; peer++) (await cache.read(peer, block * 1024, 1024)).release();
      return cache.bytesRead;
    };
    const small = new PieceReadCache(storage, { pieces: 2 });
    assert.equal(await turns(small), 24 * 4096, 'two slots for six peers: every turn reads its piece again');
    const fitted = new PieceReadCache(storage, { pieces: 2 });
    fitted.fitTo(6);
    assert.equal(await turns(fitted), 6 * 4096, 'each piece read once');
    // The byte bound holds however many peers there are: 3 pieces of 4 KiB fit in 12 KiB.
    const bounded = new PieceReadCache(storage, { pieces: 2, maxBytes: 3 * 4096 });
    bounded.fitTo(6);
    assert.equal(await turns(bounded), 24 * 4096, 'capped below the six peers, it cannot help');
  });

  for (const [kind, copyOf] of [
    ['its own memory', (b: Buffer) => Buffer.from(b)],
    // Views cut from the same slab as the pool's buffers: the same ArrayBuffer, not the same buffer.
    ['slab memory, as the pool', alignedCopy],
  ] as const) {
    it(`takes back at once a buffer the storage did not read into (views of ${kind})`, async () => {
      const { built, storage } = await stored();
      // Serves views of what MemoryStorage holds, as the simulator's storage does, and notes the buffers it is offered.
      const offered = new Set<Buffer>();
      const views = {
        layout: storage.layout,
        read: async (index: number, begin: number, length: number, into?: Buffer) => {
          if (into) offered.add(into);
          return copyOf(await storage.read(index, begin, length));
        },
      } as unknown as typeof storage;
      const cache = new PieceReadCache(views, { pieces: 2 });
      const held = await cache.read(0, 0, 16);
      for (const i of [1, 2, 3, 4, 5, 6, 7, 1, 3]) {
        const b = await cache.read(i, 0, 4096);
        assert.deepEqual(b.data, piece(built, i));
        b.release();
      }
      assert.deepEqual(held.data, piece(built, 0).subarray(0, 16));
      held.release();
      assert.equal(offered.size, 1, 'one buffer, offered again and again');
    });
  }

  it('serves a piece it adopted without reading it, and gives its buffer to the pool once it is out and free', async () => {
    const { built, storage } = await stored();
    const pool = new PieceBufferPool();
    const cache = new PieceReadCache(onDisk(storage), { pieces: 1, buffers: pool });
    const verified = pool.take(4096);
    piece(built, 3).copy(verified);
    assert.equal(cache.adopt(3, verified), true);
    const block = await cache.read(3, 100, 50);
    assert.deepEqual(block.data, piece(built, 3).subarray(100, 150));
    assert.ok(sameMemory(block.data, verified.subarray(100)), 'a view of the adopted buffer');
    assert.equal(cache.bytesRead, 0, 'nothing read back from storage');
    // Piece 4 pushes piece 3 out while a block of it is still being sent: the buffer is not lent again.
    (await cache.read(4, 0, 16)).release();
    assert.ok(!sameMemory(pool.take(4096), verified));
    block.release();
    assert.ok(sameMemory(pool.take(4096), verified), 'released and out: back in the pool');
  });

  it('adopts no piece it holds already, nor pieces too large to keep unasked, nor any over memory', async () => {
    const { built, storage } = await stored();
    const cache = new PieceReadCache(onDisk(storage), { pieces: 2 });
    (await cache.read(1, 0, 16)).release();
    assert.equal(cache.adopt(1, Buffer.from(piece(built, 1))), false, 'piece 1 is cached already');
    // Two pieces of 4 KiB would pass a bound of 6 KiB.
    const bounded = new PieceReadCache(onDisk(storage), { pieces: 2, maxBytes: 6 * 1024 });
    assert.equal(bounded.adopt(2, Buffer.from(piece(built, 2))), false);
    // Reading a piece back from memory costs no copy: nothing to gain by keeping it.
    const inMemory = new PieceReadCache(storage, { pieces: 2 });
    assert.equal(inMemory.adopt(3, Buffer.from(piece(built, 3))), false);
  });
});
