import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type ErrorCode, isChunkswarmError } from '../../src/shared/errors.js';
import { LIMITS } from '../../src/shared/limits.js';
import { encodeHandshake, encodeMessage, MessageId, PROTOCOL, WireDecoder } from '../../src/wire/index.js';
import {
  chunkings,
  cut,
  decodeChunks,
  INFO_HASH,
  PEER_ID,
  PIECES,
  sampleStream,
  wireMessage,
} from './stream.js';

const isCode = (code: ErrorCode) => (e: unknown) => isChunkswarmError(e, code);

/** A message header: 4-byte length and the id, with no payload behind it. */
function header(length: number, id?: number): Buffer {
  const out = Buffer.alloc(id === undefined ? 4 : 5);
  out.writeUInt32BE(length, 0);
  if (id !== undefined) out[4] = id;
  return out;
}

function messages(opts: { pieceCount?: number; maxBlock?: number; maxExtension?: number } = {}): WireDecoder {
  return new WireDecoder({ expectHandshake: false, limits: opts });
}

describe('WireDecoder: any chunking gives the same events', () => {
  const { bytes, events } = sampleStream();
  const opts = { limits: { pieceCount: PIECES } };

  it('decodes the stream in one push', () => {
    assert.deepEqual(decodeChunks([bytes], opts), { events });
  });

  it('decodes it split at every single byte boundary', () => {
    for (let i = 0; i <= bytes.length; i++) {
      assert.deepEqual(decodeChunks(cut(bytes, [i]), opts), { events }, `split at ${i}`);
    }
  });

  it('decodes it split at every pair of byte boundaries', () => {
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) {
        const got = decodeChunks(cut(bytes, [i, j]), opts);
        if (got.error || got.events.length !== events.length) assert.fail(`split at ${i} and ${j}`);
      }
    }
    assert.deepEqual(decodeChunks(cut(bytes, [17, 90]), opts), { events });
  });

  it('decodes it fed one byte at a time', () => {
    const ones = [...bytes].map((b) => Uint8Array.of(b));
    assert.deepEqual(decodeChunks(ones, opts), { events });
  });

  it('decodes it under random chunkings (fast-check)', () => {
    fc.assert(
      fc.property(chunkings(bytes), (chunks) => {
        assert.deepEqual(decodeChunks(chunks, opts), { events });
      }),
      { numRuns: 300 },
    );
  });

  it('decodes any sequence of messages to itself, however it is chunked (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(wireMessage, { maxLength: 10 }).chain((list) => {
          const bytes = Buffer.concat(list.map(encodeMessage));
          return fc.tuple(fc.constant(list), chunkings(bytes));
        }),
        ([list, chunks]) => {
          const expected = list.map((message) => ({ kind: 'message', message }));
          assert.deepEqual(decodeChunks(chunks, { expectHandshake: false }), { events: expected });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('returns each event once, from the push that completes it', () => {
    const decoder = new WireDecoder({ limits: { pieceCount: PIECES } });
    const have = encodeMessage({ type: 'have', index: 4 });
    const hs = encodeHandshake({ infoHash: INFO_HASH, peerId: PEER_ID });
    assert.deepEqual(decoder.push(hs.subarray(0, 67)), []);
    const first = decoder.push(Buffer.concat([hs.subarray(67), have.subarray(0, 8)]));
    assert.deepEqual(
      first.map((e) => e.kind),
      ['handshake'],
    );
    assert.deepEqual(decoder.push(have.subarray(8)), [
      { kind: 'message', message: { type: 'have', index: 4 } },
    ]);
    assert.deepEqual(decoder.push(new Uint8Array(0)), []);
  });

  it('reassembles a full 16 KiB block sent one byte at a time', () => {
    const block = Buffer.alloc(LIMITS.blockSize);
    for (let i = 0; i < block.length; i++) block[i] = (i * 31) & 0xff;
    const bytes = encodeMessage({ type: 'piece', index: 9, begin: 0, block });
    const decoder = messages();
    const got = [];
    for (let i = 0; i < bytes.length; i++) got.push(...decoder.push(bytes.subarray(i, i + 1)));
    assert.deepEqual(got, [{ kind: 'message', message: { type: 'piece', index: 9, begin: 0, block } }]);
  });

  it('hands out payloads that do not alias the pushed chunk', () => {
    const chunk = encodeMessage({ type: 'piece', index: 1, begin: 0, block: Buffer.from('keep me') });
    const [event] = messages().push(chunk);
    chunk.fill(0);
    assert.ok(event?.kind === 'message' && event.message.type === 'piece');
    assert.equal(event.message.block.toString(), 'keep me');
  });

  it('with zeroCopy, hands out views of a chunk that holds the whole message, and copies split ones', () => {
    const chunk = encodeMessage({ type: 'piece', index: 1, begin: 0, block: Buffer.from('a view') });
    const decoder = new WireDecoder({ expectHandshake: false, zeroCopy: true });
    const [event] = decoder.push(chunk);
    assert.ok(event?.kind === 'message' && event.message.type === 'piece');
    assert.equal(event.message.block.buffer, chunk.buffer, 'a view of the pushed chunk');
    assert.equal(event.message.block.toString(), 'a view');
    const split = encodeMessage({ type: 'piece', index: 2, begin: 0, block: Buffer.from('split in two') });
    const first = decoder.push(split.subarray(0, 15));
    const [second] = decoder.push(split.subarray(15));
    assert.deepEqual(first, []);
    assert.ok(second?.kind === 'message' && second.message.type === 'piece');
    assert.equal(second.message.block.toString(), 'split in two');
  });

  it('reads a length of 2^31 or more as a positive number (and refuses it)', () => {
    assert.throws(() => messages().push(header(0x8000_0001)), isCode('EWIRE_LENGTH'));
  });
});

describe('WireDecoder: the handshake fails fast', () => {
  it('rejects every first byte other than 19 at once (an MSE handshake, as aria2 sends)', () => {
    for (let b = 0; b < 256; b++) {
      if (b === 19) continue;
      assert.throws(() => new WireDecoder({}).push(Uint8Array.of(b)), isCode('EWIRE_HANDSHAKE'), `byte ${b}`);
    }
  });

  it('rejects an HTTP request at its first byte', () => {
    const decoder = new WireDecoder({});
    assert.throws(() => decoder.push(Buffer.from('G')), isCode('EWIRE_HANDSHAKE'));
    assert.throws(
      () => new WireDecoder({}).push(Buffer.from('GET / HTTP/1.1\r\n')),
      isCode('EWIRE_HANDSHAKE'),
    );
  });

  it('rejects a wrong protocol string at the first byte that differs', () => {
    const good = Buffer.concat([Uint8Array.of(19), Buffer.from(PROTOCOL, 'latin1')]);
    for (let at = 1; at < good.length; at++) {
      const decoder = new WireDecoder({});
      assert.deepEqual(decoder.push(good.subarray(0, at)), []);
      const wrong = Uint8Array.of((good[at]! + 1) & 0xff);
      assert.throws(() => decoder.push(wrong), isCode('EWIRE_HANDSHAKE'), `byte ${at}`);
    }
  });

  it('waits for the rest of a correct prefix', () => {
    const hs = encodeHandshake({ infoHash: INFO_HASH, peerId: PEER_ID });
    const decoder = new WireDecoder({});
    for (let i = 0; i < 67; i++) assert.deepEqual(decoder.push(hs.subarray(i, i + 1)), []);
    assert.equal(decoder.push(hs.subarray(67)).length, 1);
  });

  it('keeps failing after the first error', () => {
    const decoder = new WireDecoder({});
    assert.throws(() => decoder.push(Uint8Array.of(0x16)), isCode('EWIRE_HANDSHAKE'));
    assert.throws(
      () => decoder.push(encodeHandshake({ infoHash: INFO_HASH, peerId: PEER_ID })),
      isCode('EWIRE_HANDSHAKE'),
    );
  });

  it('with expectHandshake false, starts with messages', () => {
    assert.deepEqual(messages().push(encodeMessage({ type: 'unchoke' })), [
      { kind: 'message', message: { type: 'unchoke' } },
    ]);
  });
});

describe('WireDecoder: caps, checked from the header before any payload', () => {
  it('refuses a length no message can have after 4 bytes, without waiting for the id', () => {
    assert.throws(() => messages().push(header(0xffff_ffff)), isCode('EWIRE_LENGTH'));
    assert.throws(() => messages().push(header(LIMITS.extensionMessageBytes + 2)), isCode('EWIRE_LENGTH'));
  });

  it('caps a piece at 9 + maxBlock and needs its 8 bytes of index and offset', () => {
    assert.deepEqual(messages().push(header(9 + LIMITS.blockSize, MessageId.piece)), []);
    assert.throws(
      () => messages().push(header(10 + LIMITS.blockSize, MessageId.piece)),
      isCode('EWIRE_LENGTH'),
    );
    assert.throws(
      () => messages({ maxBlock: 100 }).push(header(110, MessageId.piece)),
      isCode('EWIRE_LENGTH'),
    );
    assert.deepEqual(messages({ maxBlock: 100 }).push(header(109, MessageId.piece)), []);
    assert.throws(() => messages().push(header(5, MessageId.piece)), isCode('EWIRE_LENGTH'));
    assert.throws(() => messages().push(header(9, MessageId.piece)), isCode('EWIRE_MESSAGE'));
  });

  it('wants a bitfield of exactly 1 + ceil(pieces / 8) once the piece count is known (BEP 3)', () => {
    assert.deepEqual(messages({ pieceCount: 20 }).push(header(4, MessageId.bitfield)), []);
    assert.throws(
      () => messages({ pieceCount: 20 }).push(header(5, MessageId.bitfield)),
      isCode('EWIRE_LENGTH'),
    );
    assert.throws(
      () => messages({ pieceCount: 20 }).push(header(3, MessageId.bitfield)),
      isCode('EWIRE_LENGTH'),
    );
    assert.deepEqual(messages({ pieceCount: 16 }).push(header(3, MessageId.bitfield)), []);
  });

  it('refuses a bitfield with spare bits set past the last piece', () => {
    const bits = Buffer.from([0xff, 0xff, 0xf8]);
    const bytes = encodeMessage({ type: 'bitfield', bits });
    assert.throws(() => messages({ pieceCount: 20 }).push(bytes), isCode('EWIRE_MESSAGE'));
    assert.deepEqual(messages({ pieceCount: 21 }).push(bytes), [
      { kind: 'message', message: { type: 'bitfield', bits } },
    ]);
  });

  it('while the piece count is unknown, takes a bitfield up to the largest torrent and nothing bigger', () => {
    const most = Math.ceil(LIMITS.maxPieces / 8);
    assert.deepEqual(messages().push(header(1 + most, MessageId.bitfield)), []);
    assert.throws(() => messages().push(header(2 + most, MessageId.bitfield)), isCode('EWIRE_LENGTH'));
    const bits = Buffer.from([0xff, 0xff, 0xff]);
    assert.deepEqual(messages().push(encodeMessage({ type: 'bitfield', bits })), [
      { kind: 'message', message: { type: 'bitfield', bits } },
    ]);
  });

  it('uses a piece count set later (a magnet once its metadata is in)', () => {
    const decoder = messages();
    decoder.setPieceCount(20);
    assert.throws(() => decoder.push(header(5, MessageId.bitfield)), isCode('EWIRE_LENGTH'));
    const late = messages();
    const bytes = encodeMessage({ type: 'bitfield', bits: Buffer.alloc(4) });
    assert.deepEqual(late.push(bytes.subarray(0, 6)), []);
    late.setPieceCount(20);
    assert.throws(() => late.push(bytes.subarray(6)), isCode('EWIRE_LENGTH'));
  });

  it('caps an extension message at 1 + maxExtension and needs its extension id', () => {
    assert.deepEqual(messages().push(header(1 + LIMITS.extensionMessageBytes, MessageId.extended)), []);
    assert.throws(
      () => messages().push(header(2 + LIMITS.extensionMessageBytes, MessageId.extended)),
      isCode('EWIRE_LENGTH'),
    );
    assert.throws(
      () => messages({ maxExtension: 64 }).push(header(66, MessageId.extended)),
      isCode('EWIRE_LENGTH'),
    );
    assert.deepEqual(messages({ maxExtension: 64 }).push(header(65, MessageId.extended)), []);
    assert.throws(() => messages().push(header(1, MessageId.extended)), isCode('EWIRE_LENGTH'));
  });

  it('wants fixed-size messages at exactly their size', () => {
    const sizes: [number, number][] = [
      [MessageId.choke, 1],
      [MessageId.unchoke, 1],
      [MessageId.interested, 1],
      [MessageId.notInterested, 1],
      [MessageId.have, 5],
      [MessageId.request, 13],
      [MessageId.cancel, 13],
      [MessageId.port, 3],
      [MessageId.suggest, 5],
      [MessageId.haveAll, 1],
      [MessageId.haveNone, 1],
      [MessageId.reject, 13],
      [MessageId.allowedFast, 5],
    ];
    for (const [id, size] of sizes) {
      assert.throws(() => messages().push(header(size + 1, id)), isCode('EWIRE_LENGTH'), `id ${id} too long`);
      if (size > 1) {
        assert.throws(
          () => messages().push(header(size - 1, id)),
          isCode('EWIRE_LENGTH'),
          `id ${id} too short`,
        );
      }
    }
  });

  it('refuses a request for 0 bytes or for more than a block, and takes exactly a block', () => {
    const request = (length: number) => encodeMessage({ type: 'request', index: 0, begin: 0, length });
    assert.throws(() => messages().push(request(0)), isCode('EWIRE_MESSAGE'));
    assert.throws(() => messages().push(request(LIMITS.blockSize + 1)), isCode('EWIRE_MESSAGE'));
    assert.equal(messages().push(request(LIMITS.blockSize)).length, 1);
    assert.throws(() => messages({ maxBlock: 1024 }).push(request(1025)), isCode('EWIRE_MESSAGE'));
  });

  it('passes index fields through unchecked: the peer layer knows the torrent', () => {
    const have = { type: 'have', index: 0xffff_ffff } as const;
    assert.deepEqual(messages({ pieceCount: 3 }).push(encodeMessage(have)), [
      { kind: 'message', message: have },
    ]);
  });

  it('skips a message with an unknown id and goes on with the next', () => {
    const unknown = Buffer.concat([header(1 + 300, 42), Buffer.alloc(300, 7)]);
    const bytes = Buffer.concat([unknown, encodeMessage({ type: 'have', index: 2 })]);
    const expected = { events: [{ kind: 'message', message: { type: 'have', index: 2 } }] };
    assert.deepEqual(decodeChunks([bytes], { expectHandshake: false }), expected);
    const ones = [...bytes].map((b) => Uint8Array.of(b));
    assert.deepEqual(decodeChunks(ones, { expectHandshake: false }), expected);
    assert.deepEqual(decodeChunks([header(1, 99)], { expectHandshake: false }), { events: [] });
  });

  it('caps a message with an unknown id like an extension message', () => {
    assert.deepEqual(messages().push(header(1 + LIMITS.extensionMessageBytes, 42)), []);
    assert.throws(() => messages({ maxExtension: 10 }).push(header(12, 42)), isCode('EWIRE_LENGTH'));
  });

  it('reports keep-alives', () => {
    assert.deepEqual(messages().push(Buffer.alloc(8)), [
      { kind: 'message', message: { type: 'keep-alive' } },
      { kind: 'message', message: { type: 'keep-alive' } },
    ]);
  });
});

describe('WireDecoder: limits', () => {
  it('refuses nonsense limits', () => {
    assert.throws(() => new WireDecoder({ limits: { maxBlock: 0 } }), isCode('EUSAGE'));
    assert.throws(() => new WireDecoder({ limits: { pieceCount: -1 } }), isCode('EUSAGE'));
    assert.throws(() => new WireDecoder({ limits: { pieceCount: LIMITS.maxPieces + 1 } }), isCode('EUSAGE'));
    assert.throws(() => new WireDecoder({ limits: { maxExtension: 1.5 } }), isCode('EUSAGE'));
    assert.throws(() => new WireDecoder({}).setPieceCount(Number.NaN), isCode('EUSAGE'));
  });
});
