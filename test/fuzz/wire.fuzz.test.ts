/**
 * Fuzzing the wire decoder: whatever bytes a peer sends, in whatever chunks, the decoder either
 * returns events or throws a ChunkswarmError with an EWIRE_* code, and the chunking never changes
 * the outcome. FUZZ_RUNS sets the number of runs per property.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ChunkswarmError } from '../../src/shared/errors.js';
import { type DecoderLimits, encodeHandshake, encodeMessage, WireDecoder } from '../../src/wire/index.js';
import {
  chunkings,
  decodeChunks,
  decodeThroughOneBuffer,
  INFO_HASH,
  PEER_ID,
  sampleStream,
  wireMessage,
} from '../wire/stream.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

const handshake = encodeHandshake({ infoHash: INFO_HASH, peerId: PEER_ID, fast: true, extended: true });
const { bytes: validStream } = sampleStream();

/** Raw frames: any id up to 25, a length that is usually right. */
const rawFrame = fc
  .record({
    id: fc.integer({ min: 0, max: 25 }),
    payload: fc.uint8Array({ maxLength: 40 }),
    lengthDelta: fc.oneof(
      { weight: 4, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) },
    ),
  })
  .map(({ id, payload, lengthDelta }) => {
    const out = Buffer.alloc(5 + payload.length);
    out.writeUInt32BE(Math.max(0, 1 + payload.length + lengthDelta), 0);
    out[4] = id;
    out.set(payload, 5);
    return out;
  });

/** Mostly well-formed messages, with raw frames among them. */
const frame = fc.oneof(
  { weight: 3, arbitrary: wireMessage.map(encodeMessage) },
  { weight: 1, arbitrary: rawFrame },
);

/** Edits of a valid stream: byte changes, insertions, deletions, truncation. */
const mutated = fc
  .array(
    fc.record({
      kind: fc.constantFrom('set', 'insert', 'delete', 'truncate'),
      at: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((edits) => {
    let bytes = Buffer.from(validStream);
    for (const { kind, at, byte } of edits) {
      const i = at % (bytes.length + 1);
      if (kind === 'set' && i < bytes.length) bytes[i] = byte;
      else if (kind === 'insert')
        bytes = Buffer.concat([bytes.subarray(0, i), Uint8Array.of(byte), bytes.subarray(i)]);
      else if (kind === 'delete') bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]);
      else if (kind === 'truncate') bytes = bytes.subarray(0, i);
    }
    return bytes;
  });

const inputs = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => ({ bytes: Buffer.from(b), expectHandshake: false })),
  fc.uint8Array({ maxLength: 300 }).map((b) => ({ bytes: Buffer.from(b), expectHandshake: true })),
  fc
    .uint8Array({ maxLength: 300 })
    .map((b) => ({ bytes: Buffer.concat([handshake, b]), expectHandshake: true })),
  fc
    .array(frame, { maxLength: 12 })
    .map((f) => ({ bytes: Buffer.concat([handshake, ...f]), expectHandshake: true })),
  fc.array(frame, { maxLength: 12 }).map((f) => ({ bytes: Buffer.concat(f), expectHandshake: false })),
  mutated.map((bytes) => ({ bytes, expectHandshake: true })),
);

const limits: fc.Arbitrary<Partial<DecoderLimits>> = fc.record(
  {
    pieceCount: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 64 })),
    maxBlock: fc.oneof(fc.constant(16384), fc.integer({ min: 1, max: 64 })),
    maxExtension: fc.oneof(fc.constant(1 << 20), fc.integer({ min: 1, max: 64 })),
  },
  { requiredKeys: [] },
);

function assertWireError(error: unknown): asserts error is ChunkswarmError {
  if (!(error instanceof ChunkswarmError) || !error.code.startsWith('EWIRE_')) {
    assert.fail(`decoder threw something other than an EWIRE_* error: ${String(error)}`);
  }
}

describe('wire decoder fuzz', () => {
  it('throws nothing but EWIRE_* errors, whatever the bytes and chunking', () => {
    fc.assert(
      fc.property(
        inputs.chain((input) => fc.tuple(fc.constant(input), chunkings(input.bytes), limits)),
        ([{ expectHandshake }, chunks, lim]) => {
          const { error } = decodeChunks(chunks, { expectHandshake, limits: lim });
          if (error !== undefined) assertWireError(error);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('reaches the same outcome in one push as in any chunking', () => {
    fc.assert(
      fc.property(
        inputs.chain((input) => fc.tuple(fc.constant(input), chunkings(input.bytes), limits)),
        ([{ bytes, expectHandshake }, chunks, lim]) => {
          const whole = decodeChunks([bytes], { expectHandshake, limits: lim });
          const split = decodeChunks(chunks, { expectHandshake, limits: lim });
          if (whole.error === undefined) {
            assert.equal(split.error, undefined);
            assert.deepEqual(split.events, whole.events);
          } else {
            assertWireError(whole.error);
            assertWireError(split.error);
            assert.equal(split.error.code, whole.error.code);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('decodes the same from one read buffer used again for every chunk, as from fresh chunks', () => {
    fc.assert(
      fc.property(
        inputs.chain((input) => fc.tuple(fc.constant(input), chunkings(input.bytes), limits, fc.boolean())),
        ([{ bytes, expectHandshake }, chunks, lim, zeroCopy]) => {
          const whole = decodeChunks([bytes], { expectHandshake, limits: lim });
          const reused = decodeThroughOneBuffer(chunks, { expectHandshake, limits: lim, zeroCopy });
          if (whole.error === undefined) {
            assert.equal(reused.error, undefined);
            assert.deepEqual(reused.events, whole.events);
          } else {
            assertWireError(reused.error);
            assert.equal(reused.error.code, (whole.error as { code: string }).code);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a failed decoder keeps failing with the same error', () => {
    fc.assert(
      fc.property(inputs, fc.uint8Array({ maxLength: 20 }), ({ bytes, expectHandshake }, more) => {
        const decoder = new WireDecoder({ expectHandshake });
        let first: unknown;
        try {
          decoder.push(bytes);
        } catch (error) {
          first = error;
        }
        if (first === undefined) return;
        assert.throws(
          () => decoder.push(more),
          (e) => e === first,
        );
      }),
      { numRuns: Math.ceil(RUNS / 4) },
    );
  });
});
