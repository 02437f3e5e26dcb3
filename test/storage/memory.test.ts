import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { MemoryStorage, PieceHasher } from '../../src/storage/index.js';
import { multiLayout, piece } from './helpers.js';

describe('MemoryStorage', () => {
  it('stores copies of pieces and reads blocks back', async () => {
    const built = multiLayout();
    const s = new MemoryStorage(built.layout);
    const p0 = Buffer.from(piece(built, 0));
    await s.writePiece(0, p0);
    p0.fill(0); // the caller reusing its buffer must not change what is held
    await s.writePiece(2, piece(built, 2));
    assert.deepEqual(await s.read(0, 10, 20), piece(built, 0).subarray(10, 30));
    assert.deepEqual(await s.read(2, 0, 1_232), piece(built, 2));
    assert.deepEqual(s.held(), [0, 2]);
    await assert.rejects(s.read(1, 0, 1), (e: unknown) => isChunkswarmError(e, 'ESTORAGE'));
    await assert.rejects(s.read(2, 1, 1_232), (e: unknown) => isChunkswarmError(e, 'ESTORAGE'));
    await assert.rejects(s.writePiece(1, Buffer.alloc(3)), (e: unknown) => isChunkswarmError(e, 'ESTORAGE'));
  });

  it('verifyExisting reports what it holds, with or without a hasher', async () => {
    const built = multiLayout();
    const s = new MemoryStorage(built.layout);
    const bad = Buffer.from(piece(built, 1));
    bad[0]! ^= 1;
    await s.writePiece(1, bad);
    await s.writePiece(2, piece(built, 2));
    const progress: [number, number][] = [];
    assert.equal((await s.verifyExisting({ onProgress: (d, t) => progress.push([d, t]) })).toString(), '001');
    assert.deepEqual(progress.at(-1), [3, 3]);
    const hasher = new PieceHasher({ threads: 1, inlineBelow: 0, inlineBelowRate: 0 });
    assert.equal((await s.verifyExisting({ hasher })).toString(), '001');
    await hasher.close();
    await s.flush();
    await s.close();
    await assert.rejects(s.read(2, 0, 1), (e: unknown) => isChunkswarmError(e, 'ESTORAGE'));
  });
});
