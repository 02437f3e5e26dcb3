import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { copyInto, PieceBufferPool, plainSharedBuffer } from '../../src/storage/buffer-pool.js';

describe('copyInto', () => {
  it("copies a block from 13 bytes into a message into shared memory, as a PIECE message's block lies", () => {
    const message = Buffer.alloc(13 + 16384);
    for (let i = 0; i < message.length; i++) message[i] = (i * 7) & 255;
    const block = message.subarray(13);
    const piece = plainSharedBuffer(4 * 16384);
    copyInto(piece, block, 2 * 16384);
    assert.ok(piece.subarray(2 * 16384, 3 * 16384).equals(block));
    assert.equal(
      piece.subarray(0, 2 * 16384).findIndex((b) => b !== 0),
      -1,
      'nothing before it changed',
    );
    assert.equal(
      piece.subarray(3 * 16384).findIndex((b) => b !== 0),
      -1,
      'nothing after it changed',
    );
  });

  it('copies nothing for an empty block, and refuses to write past the end', () => {
    const piece = Buffer.alloc(8);
    copyInto(piece, Buffer.alloc(0), 8);
    assert.throws(() => copyInto(piece, Buffer.alloc(4, 1), 6), RangeError);
  });
});

describe('PieceBufferPool', () => {
  it('lends back a buffer given back, of the same size only, and keeps at most its limit', () => {
    const made: number[] = [];
    const pool = new PieceBufferPool(1, (size) => {
      made.push(size);
      return Buffer.alloc(size);
    });
    const a = pool.take(16);
    pool.give(a);
    pool.give(Buffer.alloc(16));
    assert.equal(pool.take(16), a);
    assert.notEqual(pool.take(32), a);
    assert.deepEqual(made, [16, 32]);
  });
});
