import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isChunkswarmError } from '../../src/shared/errors.js';
import {
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  HANDSHAKE_LENGTH,
  MessageId,
  PROTOCOL,
  WireDecoder,
  type WireMessage,
} from '../../src/wire/index.js';
import { EVERY_MESSAGE, INFO_HASH, PEER_ID, PIECES } from './stream.js';

describe('encodeHandshake', () => {
  it('lays out pstrlen, pstr, reserved, infohash and peer id in 68 bytes (BEP 3)', () => {
    const h = encodeHandshake({ infoHash: INFO_HASH, peerId: PEER_ID });
    assert.equal(h.length, 68);
    assert.equal(HANDSHAKE_LENGTH, 68);
    assert.equal(h[0], 19);
    assert.equal(h.subarray(1, 20).toString('latin1'), PROTOCOL);
    assert.deepEqual(h.subarray(20, 28), Buffer.alloc(8));
    assert.deepEqual(h.subarray(28, 48), INFO_HASH);
    assert.deepEqual(h.subarray(48, 68), PEER_ID);
  });

  it('sets the BEP 10 bit (byte 5, 0x10) and the BEP 6 bit (byte 7, 0x04) only when asked', () => {
    const ext = encodeHandshake({ infoHash: INFO_HASH, peerId: PEER_ID, extended: true });
    assert.deepEqual([...ext.subarray(20, 28)], [0, 0, 0, 0, 0, 0x10, 0, 0]);
    const fast = encodeHandshake({ infoHash: INFO_HASH, peerId: PEER_ID, fast: true });
    assert.deepEqual([...fast.subarray(20, 28)], [0, 0, 0, 0, 0, 0, 0, 0x04]);
  });

  it('refuses an infohash or peer id that is not 20 bytes', () => {
    assert.throws(
      () => encodeHandshake({ infoHash: Buffer.alloc(19), peerId: PEER_ID }),
      (e) => isChunkswarmError(e, 'EWIRE_HANDSHAKE'),
    );
    assert.throws(
      () => encodeHandshake({ infoHash: INFO_HASH, peerId: Buffer.alloc(21) }),
      (e) => isChunkswarmError(e, 'EWIRE_HANDSHAKE'),
    );
  });

  it('round-trips through the decoder, reading the DHT bit too', () => {
    const bytes = encodeHandshake({ infoHash: INFO_HASH, peerId: PEER_ID, extended: true });
    bytes[27] = (bytes[27] ?? 0) | 0x01;
    const [event] = new WireDecoder({}).push(bytes);
    assert.ok(event?.kind === 'handshake');
    assert.deepEqual(event.handshake.infoHash, INFO_HASH);
    assert.deepEqual(event.handshake.peerId, PEER_ID);
    assert.equal(event.handshake.extended, true);
    assert.equal(event.handshake.fast, false);
    assert.equal(event.handshake.dht, true);
  });
});

describe('encodeMessage', () => {
  it('gives the BEP 3 bytes for a few messages', () => {
    assert.deepEqual([...encodeMessage({ type: 'keep-alive' })], [0, 0, 0, 0]);
    assert.deepEqual([...encodeMessage({ type: 'interested' })], [0, 0, 0, 1, 2]);
    assert.deepEqual([...encodeMessage({ type: 'have', index: 258 })], [0, 0, 0, 5, 4, 0, 0, 1, 2]);
    assert.deepEqual(
      [...encodeMessage({ type: 'request', index: 1, begin: 0x4000, length: 0x4000 })],
      [0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0],
    );
    assert.deepEqual([...encodeMessage({ type: 'port', port: 6881 })], [0, 0, 0, 3, 9, 0x1a, 0xe1]);
    assert.deepEqual([...encodeMessage({ type: 'have-all' })], [0, 0, 0, 1, 14]);
    assert.deepEqual(
      [...encodeMessage({ type: 'extended', id: 2, payload: Buffer.from([9, 8]) })],
      [0, 0, 0, 4, 20, 2, 9, 8],
    );
  });

  it('uses the BEP 6 and BEP 10 message ids', () => {
    const ids = (m: WireMessage) => encodeMessage(m)[4];
    assert.equal(ids({ type: 'suggest', index: 0 }), 13);
    assert.equal(ids({ type: 'have-all' }), 14);
    assert.equal(ids({ type: 'have-none' }), 15);
    assert.equal(ids({ type: 'reject', index: 0, begin: 0, length: 1 }), 16);
    assert.equal(ids({ type: 'allowed-fast', index: 0 }), 17);
    assert.equal(ids({ type: 'extended', id: 0, payload: Buffer.alloc(0) }), 20);
    assert.equal(MessageId.extended, 20);
  });

  it('every message decodes back to itself', () => {
    for (const message of EVERY_MESSAGE) {
      const decoder = new WireDecoder({ expectHandshake: false, limits: { pieceCount: PIECES } });
      const events = decoder.push(encodeMessage(message));
      assert.deepEqual(events, [{ kind: 'message', message }], message.type);
    }
  });

  it('refuses fields that do not fit their wire width', () => {
    const bad: WireMessage[] = [
      { type: 'have', index: -1 },
      { type: 'have', index: 2 ** 32 },
      { type: 'request', index: 0, begin: 1.5, length: 1 },
      { type: 'cancel', index: 0, begin: 0, length: Number.NaN },
      { type: 'port', port: 65536 },
      { type: 'extended', id: 256, payload: Buffer.alloc(0) },
      { type: 'piece', index: -3, begin: 0, block: Buffer.alloc(1) },
    ];
    for (const m of bad) {
      assert.throws(
        () => encodeMessage(m),
        (e) => isChunkswarmError(e, 'EWIRE_MESSAGE'),
        JSON.stringify(m),
      );
    }
  });

  it('refuses an unknown type from an untyped caller', () => {
    assert.throws(
      () => encodeMessage({ type: 'nonsense' } as unknown as WireMessage),
      (e) => isChunkswarmError(e, 'EWIRE_MESSAGE'),
    );
  });
});

describe('encodePieceHeader', () => {
  it('followed by the block equals the whole piece message', () => {
    const block = Buffer.from('sixteen kilobytes, or fewer');
    const header = encodePieceHeader(5, 32768, block.length);
    assert.equal(header.length, 13);
    assert.deepEqual(
      Buffer.concat([header, block]),
      encodeMessage({ type: 'piece', index: 5, begin: 32768, block }),
    );
  });

  it('refuses a negative block length', () => {
    assert.throws(
      () => encodePieceHeader(0, 0, -1),
      (e) => isChunkswarmError(e, 'EWIRE_MESSAGE'),
    );
  });
});
