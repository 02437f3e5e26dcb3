import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decode, encode } from '../../src/codec/index.js';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { decodeExtensionHandshake, encodeExtensionHandshake } from '../../src/wire/index.js';

const isWireMessage = (e: unknown) => isChunkswarmError(e, 'EWIRE_MESSAGE');

describe('BEP 10 extension handshake', () => {
  it('encodes the standard keys as a sorted bencoded dictionary', () => {
    const payload = encodeExtensionHandshake({
      m: { ut_pex: 2, ut_metadata: 1 },
      port: 6881,
      client: 'chunkswarm 0.1.0',
      reqq: 500,
      yourIp: Buffer.from([127, 0, 0, 1]),
      metadataSize: 31235,
    });
    assert.equal(
      payload.toString('latin1'),
      'd1:md11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei31235e1:pi6881e4:reqqi500e1:v16:chunkswarm 0.1.0' +
        '6:yourip4:\x7f\x00\x00\x01e',
    );
  });

  it('leaves out keys that are not given', () => {
    assert.equal(encodeExtensionHandshake({ m: {} }).toString('latin1'), 'd1:mdee');
  });

  it('round-trips', () => {
    const h = {
      m: { ut_metadata: 3, lt_donthave: 0, ü_ext: 7 },
      port: 51413,
      client: 'Transmission 4.0 ✓',
      reqq: 250,
      yourIp: Buffer.from('20010db8000000000000000000000001', 'hex'),
      metadataSize: 1,
    };
    assert.deepEqual(decodeExtensionHandshake(encodeExtensionHandshake(h)), {
      ...h,
      m: new Map(Object.entries(h.m)),
    });
  });

  it('refuses values the wire cannot carry', () => {
    assert.throws(() => encodeExtensionHandshake({ m: { x: 256 } }), isWireMessage);
    assert.throws(() => encodeExtensionHandshake({ m: { x: -1 } }), isWireMessage);
    assert.throws(() => encodeExtensionHandshake({ m: {}, port: 0 }), isWireMessage);
    assert.throws(() => encodeExtensionHandshake({ m: {}, port: 70000 }), isWireMessage);
    assert.throws(() => encodeExtensionHandshake({ m: {}, reqq: 0 }), isWireMessage);
    assert.throws(() => encodeExtensionHandshake({ m: {}, metadataSize: -5 }), isWireMessage);
    assert.throws(() => encodeExtensionHandshake({ m: {}, yourIp: Buffer.alloc(5) }), isWireMessage);
  });

  it('decodes a minimal handshake to an empty extension map', () => {
    assert.deepEqual(decodeExtensionHandshake(Buffer.from('de')), { m: new Map() });
  });

  it('ignores unknown keys and known keys of the wrong type or range', () => {
    const payload = encode({
      m: { ut_metadata: 2, bad_type: 'x', too_big: 300, negative: -1 },
      p: 'not a port',
      v: 12,
      reqq: -3,
      yourip: Buffer.alloc(7),
      metadata_size: 'big',
      e: 1,
      upload_only: 1,
      complete_ago: 5,
    });
    assert.deepEqual(decodeExtensionHandshake(payload), { m: new Map([['ut_metadata', 2]]) });
    assert.deepEqual(decodeExtensionHandshake(encode({ m: 'not a dict', p: 0 })), { m: new Map() });
  });

  it("carries a seeder's cs_steer as 1 or 0, and drops any other value", () => {
    for (const steering of [true, false]) {
      const payload = encodeExtensionHandshake({ m: {}, steering });
      assert.equal(payload.toString('latin1'), `d8:cs_steeri${Number(steering)}e1:mdee`);
      assert.equal(decodeExtensionHandshake(payload).steering, steering);
    }
    assert.equal(encodeExtensionHandshake({ m: {} }).includes('cs_steer'), false);
    for (const bad of [2, -1, 'yes'])
      assert.equal(decodeExtensionHandshake(encode({ m: {}, cs_steer: bad })).steering, undefined);
  });

  it('tolerates unsorted keys and bytes after the dictionary', () => {
    const unsorted = Buffer.from('d1:pi7e1:md6:ut_pexi1eee');
    assert.deepEqual(decodeExtensionHandshake(unsorted), { m: new Map([['ut_pex', 1]]), port: 7 });
    assert.deepEqual(decodeExtensionHandshake(Buffer.from('d4:reqqi9ee\x00\x01')), { m: new Map(), reqq: 9 });
  });

  it('copies yourip out of the payload', () => {
    const payload = encodeExtensionHandshake({ m: {}, yourIp: Buffer.from([10, 0, 0, 1]) });
    const h = decodeExtensionHandshake(payload);
    payload.fill(0);
    assert.deepEqual(h.yourIp, Buffer.from([10, 0, 0, 1]));
  });

  it('refuses a payload that is not a dictionary or not bencode', () => {
    // The last two are dictionaries cut short before their closing 'e'.
    for (const bad of ['i3e', 'l1:ae', '4:spam', '', 'x', 'd1:m', 'd1:mi1e']) {
      assert.throws(() => decodeExtensionHandshake(Buffer.from(bad)), isWireMessage, JSON.stringify(bad));
    }
  });
});

// Guard against the helper silently changing meaning: the codec's own reading of our payload.
describe('extension handshake bytes', () => {
  it('are one bencoded dictionary', () => {
    const value = decode(encodeExtensionHandshake({ m: { ut_metadata: 1 }, reqq: 10 }));
    assert.ok(value instanceof Map);
    assert.equal(value.get('reqq'), 10);
  });
});
