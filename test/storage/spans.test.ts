import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { pieceLengthOf, spansOf } from '../../src/storage/spans.js';
import { buildLayout, multiLayout } from './helpers.js';

describe('spansOf', () => {
  const built = multiLayout();
  const { layout } = built;

  it('splits a piece over three files and skips the zero-length one', () => {
    assert.deepEqual(spansOf(layout, 0), [
      { fileIndex: 0, fileOffset: 0, pieceOffset: 0, length: 10_000 },
      { fileIndex: 2, fileOffset: 0, pieceOffset: 10_000, length: 3_000 },
      { fileIndex: 3, fileOffset: 0, pieceOffset: 13_000, length: 3_384 },
    ]);
  });

  it('maps a short last piece up to the end of the data', () => {
    assert.equal(layout.pieceCount, 3);
    assert.equal(pieceLengthOf(layout, 2), 34_000 - 2 * 16_384);
    assert.deepEqual(spansOf(layout, 2), [
      { fileIndex: 3, fileOffset: 32_768 - 13_000, pieceOffset: 0, length: 33_000 - 32_768 },
      { fileIndex: 4, fileOffset: 0, pieceOffset: 33_000 - 32_768, length: 1_000 },
    ]);
  });

  it('maps a block inside a piece with piece offsets counted from the piece start', () => {
    assert.deepEqual(spansOf(layout, 0, 9_000, 2_000), [
      { fileIndex: 0, fileOffset: 9_000, pieceOffset: 9_000, length: 1_000 },
      { fileIndex: 2, fileOffset: 0, pieceOffset: 10_000, length: 1_000 },
    ]);
    assert.deepEqual(spansOf(layout, 1, 100, 0), []);
  });

  it('refuses ranges outside the piece and pieces that do not exist', () => {
    for (const [index, begin, length] of [
      [0, 0, 16_385],
      [0, -1, 10],
      [2, 0, 1_233],
      [3, 0, 1],
      [-1, 0, 1],
      [0.5, 0, 1],
    ] as const) {
      assert.throws(
        () => spansOf(layout, index, begin, length),
        (e: unknown) => isChunkswarmError(e, 'ESTORAGE'),
      );
    }
  });

  it('refuses a layout whose files do not cover the pieces', () => {
    const broken = { ...layout, files: layout.files.slice(0, 3) };
    assert.throws(
      () => spansOf(broken, 1),
      (e: unknown) => isChunkswarmError(e, 'ESTORAGE') && /do not cover|disagree/.test(e.message),
    );
  });

  it('reassembles exactly the piece bytes for any layout and range', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(70), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 50 }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        (lengths, pieceLength, pick, b, l) => {
          const total = lengths.reduce((a, n) => a + n, 0);
          fc.pre(total > 0);
          const files = lengths.map((length, i) => ({ path: [`f${i}`], length }));
          const { layout: lay, fileData, content } = buildLayout('x', files, pieceLength);
          const index = pick % lay.pieceCount;
          const size = pieceLengthOf(lay, index);
          const begin = b % (size + 1);
          const length = l % (size - begin + 1);
          const spans = spansOf(lay, index, begin, length);
          const joined = Buffer.concat(
            spans.map((s) => fileData[s.fileIndex]!.subarray(s.fileOffset, s.fileOffset + s.length)),
          );
          const start = index * pieceLength + begin;
          assert.deepEqual(joined, content.subarray(start, start + length));
          let at = begin;
          for (const s of spans) {
            assert.equal(s.pieceOffset, at);
            assert.ok(s.length > 0);
            at += s.length;
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
