import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { dataLength, paddingHeld, pieceSize, pieceSpans } from '../../src/metainfo/index.js';
import type { TorrentLayout } from '../../src/metainfo/types.js';
import { ChunkswarmError } from '../../src/shared/errors.js';
import { layoutFromPicture } from './helpers.js';

/**
 * Spans drawn as `<file letter><file offset>+<length>`, e.g. "A4+1 B0+2 D0+1": piece bytes 0..1
 * come from file A at offset 4, the next two from B at 0, the last from D at 0.
 */
function draw(layout: TorrentLayout, index: number, begin?: number, length?: number): string {
  return pieceSpans(layout, index, begin, length)
    .map((s) => `${String.fromCharCode(65 + s.fileIndex)}${s.fileOffset}+${s.length}`)
    .join(' ');
}

describe('pieceSize', () => {
  test('every piece is pieceLength except the short last one', () => {
    const layout = layoutFromPicture('AAAAA|BB||DDDDDD', 4); // 13 bytes, pieces 4 4 4 1
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => pieceSize(layout, i)),
      [4, 4, 4, 1],
    );
    const exact = layoutFromPicture('AAAA|BBBB', 4);
    assert.deepEqual(
      [0, 1].map((i) => pieceSize(exact, i)),
      [4, 4],
    );
  });

  test('out-of-range index is refused', () => {
    const layout = layoutFromPicture('AAAA', 4);
    for (const bad of [-1, 1, 0.5, Number.NaN]) {
      assert.throws(
        () => pieceSize(layout, bad),
        (e: unknown) => e instanceof ChunkswarmError && e.code === 'EMETAINFO',
      );
    }
  });
});

describe('pieceSpans: pictures', () => {
  //            bytes: AAAA ABBD DDDD D     (C is empty, between B and D)
  const layout = layoutFromPicture('AAAAA|BB||DDDDDD', 4);

  test('whole pieces', () => {
    assert.equal(draw(layout, 0), 'A0+4');
    assert.equal(draw(layout, 1), 'A4+1 B0+2 D0+1');
    assert.equal(draw(layout, 2), 'D1+4');
    assert.equal(draw(layout, 3), 'D5+1');
  });

  test('sub-ranges of a piece keep offsets within the piece', () => {
    assert.equal(draw(layout, 1, 1, 2), 'B0+2');
    assert.equal(draw(layout, 1, 2), 'B1+1 D0+1');
    assert.equal(draw(layout, 1, 0, 1), 'A4+1');
    assert.equal(draw(layout, 1, 3, 0), '');
    const spans = pieceSpans(layout, 1, 2);
    assert.deepEqual(
      spans.map((s) => s.pieceOffset),
      [2, 3],
    );
  });

  test('zero-length files never appear, even at the start or end or in a row', () => {
    const odd = layoutFromPicture('|BB|||EE|', 2); // A, C, D and F are empty
    assert.equal(draw(odd, 0), 'B0+2');
    assert.equal(draw(odd, 1), 'E0+2');
  });

  test('a piece spanning many small files', () => {
    const many = layoutFromPicture('A|B|C|D|E|F|G|H', 8);
    assert.equal(draw(many, 0), 'A0+1 B0+1 C0+1 D0+1 E0+1 F0+1 G0+1 H0+1');
    assert.equal(draw(many, 0, 3, 3), 'D0+1 E0+1 F0+1');
  });

  test('a range outside the piece is refused', () => {
    for (const [begin, length] of [
      [0, 5],
      [4, 1],
      [-1, 1],
      [1, -1],
      [0.5, 1],
    ] as const) {
      assert.throws(
        () => pieceSpans(layout, 0, begin, length),
        (e: unknown) => e instanceof ChunkswarmError && e.code === 'EMETAINFO',
      );
    }
    assert.throws(() => pieceSpans(layout, 3, 0, 2), ChunkswarmError);
    assert.throws(() => pieceSpans(layout, 4), ChunkswarmError);
  });
});

describe('pieceSpans: against a byte-by-byte model', () => {
  test('spans cover exactly the requested bytes, in order, from the right files', () => {
    const arb = fc
      .record({
        lengths: fc.array(fc.nat(20), { minLength: 1, maxLength: 12 }),
        pieceLength: fc.constantFrom(1, 2, 4, 8, 16),
      })
      .filter(({ lengths }) => lengths.some((l) => l > 0))
      .chain(({ lengths, pieceLength }) => {
        const total = lengths.reduce((a, b) => a + b, 0);
        const pieceCount = Math.ceil(total / pieceLength);
        return fc.record({
          lengths: fc.constant(lengths),
          pieceLength: fc.constant(pieceLength),
          index: fc.integer({ min: 0, max: pieceCount - 1 }),
          a: fc.nat(pieceLength),
          b: fc.nat(pieceLength),
        });
      });
    fc.assert(
      fc.property(arb, ({ lengths, pieceLength, index, a, b }) => {
        const layout = layoutFromPicture(lengths.map((n) => 'x'.repeat(n)).join('|'), pieceLength);
        const size = pieceSize(layout, index);
        const begin = Math.min(a, b, size);
        const end = Math.min(Math.max(a, b), size);
        // The model: which (file, offset) holds each byte of the stream.
        const owner: [number, number][] = [];
        lengths.forEach((len, f) => {
          for (let o = 0; o < len; o++) owner.push([f, o]);
        });
        const expected = owner.slice(index * pieceLength + begin, index * pieceLength + end);
        const got: [number, number][] = [];
        let at = begin;
        for (const s of pieceSpans(layout, index, begin, end - begin)) {
          assert.ok(s.length > 0);
          assert.equal(s.pieceOffset, at);
          for (let o = 0; o < s.length; o++) got.push([s.fileIndex, s.fileOffset + o]);
          at += s.length;
        }
        assert.deepEqual(got, expected);
      }),
      { numRuns: 500 },
    );
  });
});

describe('BEP 47 padding: the bytes in files, and the padding in held pieces', () => {
  // 10-byte pieces: a (7 bytes) and 3 of padding in piece 0, b (10) in piece 1, 6 of padding and c (4) in piece 2.
  const layout: TorrentLayout = {
    name: 't',
    pieceLength: 10,
    pieceCount: 3,
    totalLength: 30,
    files: [
      { path: ['a'], length: 7, offset: 0 },
      { path: ['b'], length: 10, offset: 10 },
      { path: ['c'], length: 4, offset: 26 },
    ],
    multiFile: true,
    pieceHashes: Buffer.alloc(60),
    padding: [
      { offset: 7, length: 3 },
      { offset: 20, length: 6 },
    ],
  };

  test('dataLength leaves the padding out; paddingHeld counts it in the pieces held', () => {
    assert.equal(dataLength(layout), 21);
    assert.equal(
      paddingHeld(layout, () => true),
      9,
    );
    assert.equal(
      paddingHeld(layout, () => false),
      0,
    );
    assert.equal(
      paddingHeld(layout, (i) => i === 0),
      3,
    );
    assert.equal(
      paddingHeld(layout, (i) => i === 2),
      6,
    );
    assert.equal(dataLength({ ...layout, padding: undefined }), 30);
  });
});
