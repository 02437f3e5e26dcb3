/**
 * The BEP 9 codec: exact bytes, round trips, every cap, and the two fuzzing moves of the project —
 * a message carried in an extension frame split at every byte boundary, and mutations of valid ones.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encode } from '../../src/codec/index.js';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { LIMITS } from '../../src/shared/limits.js';
import {
  decodeMetadataMessage,
  encodeMessage,
  encodeMetadataMessage,
  METADATA_PIECE_LENGTH,
  type MetadataMessage,
  metadataPieceCount,
  metadataPieceLength,
  metadataPieceMessage,
  WireDecoder,
} from '../../src/wire/index.js';

const KiB = 1024;
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const isMessageError = (e: unknown): boolean => isChunkswarmError(e, 'EWIRE_MESSAGE');

/** Metadata whose bytes tell where they are, so a misplaced slice shows. */
function metadata(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + (i >> 8)) & 0xff;
  return out;
}

describe('BEP 9 metadata messages: encoding', () => {
  it('writes the dictionaries of BEP 9, keys sorted, data right after', () => {
    assert.equal(
      encodeMetadataMessage({ type: 'request', piece: 0 }).toString('latin1'),
      'd8:msg_typei0e5:piecei0ee',
    );
    assert.equal(
      encodeMetadataMessage({ type: 'reject', piece: 3 }).toString('latin1'),
      'd8:msg_typei2e5:piecei3ee',
    );
    assert.equal(
      encodeMetadataMessage({ type: 'data', piece: 0, totalSize: 5, data: Buffer.from('abcde') }).toString(
        'latin1',
      ),
      'd8:msg_typei1e5:piecei0e10:total_sizei5eeabcde',
    );
  });

  it('splits metadata into 16 KiB pieces, the last one shorter', () => {
    assert.equal(metadataPieceCount(1), 1);
    assert.equal(metadataPieceCount(16 * KiB), 1);
    assert.equal(metadataPieceCount(16 * KiB + 1), 2);
    assert.equal(metadataPieceLength(16 * KiB + 1, 0), 16 * KiB);
    assert.equal(metadataPieceLength(16 * KiB + 1, 1), 1);
    assert.equal(metadataPieceLength(32 * KiB, 1), 16 * KiB);
    assert.throws(() => metadataPieceLength(32 * KiB, 2), isMessageError);
    assert.throws(() => metadataPieceLength(32 * KiB, -1), isMessageError);
  });

  it('serves each piece of the info bytes and refuses a piece past the end', () => {
    const info = metadata(40 * KiB + 7);
    const pieces = [0, 1, 2].map((i) => metadataPieceMessage(info, i));
    assert.deepEqual(
      pieces.map((p) => (p.type === 'data' ? p.data.length : -1)),
      [16 * KiB, 16 * KiB, 8 * KiB + 7],
    );
    const joined = Buffer.concat(pieces.map((p) => (p.type === 'data' ? p.data : Buffer.alloc(0))));
    assert.ok(joined.equals(info));
    assert.throws(() => metadataPieceMessage(info, 3), isMessageError);
  });

  it('refuses to encode a block of the wrong length or a size past the cap', () => {
    assert.throws(
      () => encodeMetadataMessage({ type: 'data', piece: 0, totalSize: 10, data: Buffer.alloc(9) }),
      isMessageError,
    );
    assert.throws(
      () => encodeMetadataMessage({ type: 'data', piece: 1, totalSize: 10, data: Buffer.alloc(10) }),
      isMessageError,
    );
    assert.throws(
      () =>
        encodeMetadataMessage({
          type: 'data',
          piece: 0,
          totalSize: LIMITS.metainfoBytes + 1,
          data: Buffer.alloc(METADATA_PIECE_LENGTH),
        }),
      isMessageError,
    );
    assert.throws(() => encodeMetadataMessage({ type: 'request', piece: -1 }), isMessageError);
    assert.throws(() => encodeMetadataMessage({ type: 'request', piece: 1.5 }), isMessageError);
  });
});

describe('BEP 9 metadata messages: decoding', () => {
  it('round-trips requests, rejects and every piece of a metadata', () => {
    const info = metadata(3 * METADATA_PIECE_LENGTH + 100);
    const messages: MetadataMessage[] = [
      { type: 'request', piece: 0 },
      { type: 'request', piece: 0x7fff_ffff },
      { type: 'reject', piece: 2 },
      ...[0, 1, 2, 3].map((i) => metadataPieceMessage(info, i)),
    ];
    for (const m of messages) {
      assert.deepEqual(decodeMetadataMessage(encodeMetadataMessage(m), { metadataSize: info.length }), m);
    }
  });

  it('reads keys in any order and ignores extra keys (other clients add their own)', () => {
    const payload = Buffer.concat([
      Buffer.from('d5:piecei1e10:total_sizei16390e8:msg_typei1e1:xli1eee', 'latin1'),
      Buffer.alloc(6, 7),
    ]);
    const m = decodeMetadataMessage(payload);
    assert.equal(m.type, 'data');
    assert.equal(m.piece, 1);
    assert.deepEqual(m.type === 'data' && [...m.data], [7, 7, 7, 7, 7, 7]);
  });

  it('passes an unknown msg_type up so it can be ignored (BEP 9)', () => {
    assert.deepEqual(decodeMetadataMessage(encode({ msg_type: 7, piece: 1 })), {
      type: 'unknown',
      msgType: 7,
      piece: 1,
    });
  });

  it('ignores bytes after the dictionary of a request or a reject', () => {
    const payload = Buffer.concat([encodeMetadataMessage({ type: 'request', piece: 4 }), Buffer.from('xyz')]);
    assert.deepEqual(decodeMetadataMessage(payload), { type: 'request', piece: 4 });
  });

  it('gives the block as a view, without copying what the message claims', () => {
    const payload = encodeMetadataMessage({ type: 'data', piece: 0, totalSize: 3, data: Buffer.from('abc') });
    const m = decodeMetadataMessage(payload);
    assert.ok(m.type === 'data');
    assert.equal(m.data.buffer, payload.buffer);
  });

  const refused: [string, Buffer, { maxMetadataBytes?: number; metadataSize?: number }?][] = [
    ['not bencode', Buffer.from('hello'), undefined],
    ['a list', Buffer.from('li1ee'), undefined],
    ['no msg_type', Buffer.from('d5:piecei0ee'), undefined],
    ['no piece', Buffer.from('d8:msg_typei0ee'), undefined],
    ['a string msg_type', Buffer.from('d8:msg_type1:05:piecei0ee'), undefined],
    ['a negative piece', Buffer.from('d8:msg_typei0e5:piecei-1ee'), undefined],
    ['a piece past 32 bits', Buffer.from('d8:msg_typei0e5:piecei4294967296ee'), undefined],
    ['data without total_size', Buffer.from('d8:msg_typei1e5:piecei0eeabc'), undefined],
    ['data of total_size 0', Buffer.from('d8:msg_typei1e5:piecei0e10:total_sizei0ee'), undefined],
    [
      'data of total_size past the 16 MiB cap',
      Buffer.from(`d8:msg_typei1e5:piecei0e10:total_sizei${LIMITS.metainfoBytes + 1}ee`),
      undefined,
    ],
    [
      'data of total_size past a tighter cap',
      Buffer.concat([Buffer.from('d8:msg_typei1e5:piecei0e10:total_sizei100ee'), Buffer.alloc(100)]),
      { maxMetadataBytes: 99 },
    ],
    [
      'a total_size other than the announced metadata_size',
      Buffer.concat([Buffer.from('d8:msg_typei1e5:piecei0e10:total_sizei100ee'), Buffer.alloc(100)]),
      { metadataSize: 101 },
    ],
    [
      'a piece past the last one',
      Buffer.concat([Buffer.from('d8:msg_typei1e5:piecei1e10:total_sizei100ee'), Buffer.alloc(100)]),
      undefined,
    ],
    [
      'a block one byte short',
      Buffer.concat([Buffer.from('d8:msg_typei1e5:piecei0e10:total_sizei100ee'), Buffer.alloc(99)]),
      undefined,
    ],
    [
      'a block one byte long',
      Buffer.concat([Buffer.from('d8:msg_typei1e5:piecei0e10:total_sizei100ee'), Buffer.alloc(101)]),
      undefined,
    ],
    [
      'a full-size first piece that is short',
      Buffer.concat([Buffer.from('d8:msg_typei1e5:piecei0e10:total_sizei20000ee'), Buffer.alloc(16383)]),
      undefined,
    ],
    [
      'a dictionary nested too deep',
      Buffer.from(`d8:msg_typei0e5:piecei0e1:x${'l'.repeat(10)}${'e'.repeat(10)}e`),
      undefined,
    ],
    [
      'a dictionary larger than 4 KiB',
      Buffer.from(`d1:x5000:${'a'.repeat(5000)}8:msg_typei0e5:piecei0ee`),
      undefined,
    ],
  ];
  for (const [what, payload, limits] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(() => decodeMetadataMessage(payload, limits), isMessageError);
    });
  }
});

describe('BEP 9 metadata messages: fuzzing', () => {
  const message: fc.Arbitrary<{ m: MetadataMessage; size: number }> = fc
    .integer({ min: 1, max: 3 * METADATA_PIECE_LENGTH })
    .chain((size) =>
      fc.record({
        size: fc.constant(size),
        m: fc.oneof(
          fc
            .integer({ min: 0, max: metadataPieceCount(size) - 1 })
            .map((p) => metadataPieceMessage(metadata(size), p)),
          fc.nat({ max: 0x7fff_ffff }).map((piece): MetadataMessage => ({ type: 'request', piece })),
          fc.nat({ max: 0x7fff_ffff }).map((piece): MetadataMessage => ({ type: 'reject', piece })),
        ),
      }),
    );

  it('decodes a message the same whatever byte boundaries its extension frame arrives in', () => {
    const info = metadata(20 * KiB + 3);
    const m = metadataPieceMessage(info, 1);
    const frame = encodeMessage({ type: 'extended', id: 2, payload: encodeMetadataMessage(m) });
    // Every split point, as two chunks; then every byte on its own.
    const splits: Buffer[][] = [];
    for (let i = 0; i <= frame.length; i++) splits.push([frame.subarray(0, i), frame.subarray(i)]);
    splits.push([...frame].map((b) => Buffer.of(b)));
    for (const chunks of splits) {
      const decoder = new WireDecoder({ expectHandshake: false });
      const events = chunks.flatMap((c) => decoder.push(c));
      assert.equal(events.length, 1);
      const ev = events[0]!;
      assert.ok(ev.kind === 'message' && ev.message.type === 'extended');
      assert.deepEqual(decodeMetadataMessage(ev.message.payload, { metadataSize: info.length }), m);
    }
  });

  it('round-trips any message, split anywhere in its frame', () => {
    fc.assert(
      fc.property(message, fc.array(fc.nat(), { maxLength: 4 }), ({ m, size }, cuts) => {
        const frame = encodeMessage({ type: 'extended', id: 3, payload: encodeMetadataMessage(m) });
        const points = [...new Set(cuts.map((c) => c % (frame.length + 1)))].sort((a, b) => a - b);
        const decoder = new WireDecoder({ expectHandshake: false });
        let at = 0;
        const events = [];
        for (const p of [...points, frame.length]) {
          events.push(...decoder.push(frame.subarray(at, p)));
          at = p;
        }
        assert.equal(events.length, 1);
        const ev = events[0]!;
        assert.ok(ev.kind === 'message' && ev.message.type === 'extended');
        assert.deepEqual(decodeMetadataMessage(ev.message.payload, { metadataSize: size }), m);
      }),
      { numRuns: RUNS },
    );
  });

  it('on mutated messages either decodes something consistent or throws EWIRE_MESSAGE', () => {
    fc.assert(
      fc.property(
        message,
        fc.array(
          fc.record({
            kind: fc.constantFrom('set', 'insert', 'delete', 'truncate'),
            at: fc.nat(),
            byte: fc.integer({ min: 0, max: 255 }),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        ({ m, size }, edits) => {
          let bytes = encodeMetadataMessage(m);
          for (const { kind, at, byte } of edits) {
            // Most edits land in the dictionary: that is where the interesting bytes are.
            const i = at % Math.min(bytes.length + 1, 64);
            if (kind === 'set' && i < bytes.length) bytes[i] = byte;
            else if (kind === 'insert')
              bytes = Buffer.concat([bytes.subarray(0, i), Uint8Array.of(byte), bytes.subarray(i)]);
            else if (kind === 'delete') bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]);
            else if (kind === 'truncate') bytes = bytes.subarray(0, i);
          }
          let out: MetadataMessage;
          try {
            out = decodeMetadataMessage(bytes, { metadataSize: size });
          } catch (err) {
            assert.ok(isMessageError(err), `unexpected error: ${String(err)}`);
            return;
          }
          // Whatever got through obeys the caps.
          assert.ok(Number.isSafeInteger(out.piece) && out.piece >= 0 && out.piece <= 0x7fff_ffff);
          if (out.type === 'data') {
            assert.equal(out.totalSize, size);
            assert.ok(out.piece < metadataPieceCount(size));
            assert.equal(out.data.length, metadataPieceLength(size, out.piece));
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
