import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ChunkswarmError, isChunkswarmError } from '../../src/shared/errors.js';
import {
  decodeUdpAnnounceResponse,
  decodeUdpConnectResponse,
  decodeUdpScrapeResponse,
  encodeUdpAnnounceRequest,
  encodeUdpConnectRequest,
  encodeUdpScrapeRequest,
  UDP_MAX_SCRAPE_HASHES,
  udpTransactionId,
} from '../../src/tracker/protocol/index.js';

/** Hex with spaces and `|` allowed, so each field of a packet can be written apart. */
const hex = (s: string) => Buffer.from(s.replace(/[\s|]/g, ''), 'hex');

const isCode = (code: Parameters<typeof isChunkswarmError>[1], msg?: RegExp) => (err: unknown) =>
  isChunkswarmError(err, code) && (msg === undefined || msg.test(err.message));

const infoHash = Buffer.alloc(20, 0xaa);
const peerId = Buffer.alloc(20, 0xbb);

describe('UDP tracker requests (BEP 15 layout)', () => {
  it('connect: protocol id, action 0, transaction id', () => {
    assert.deepEqual(encodeUdpConnectRequest(0x01020304), hex('00000417 27101980 | 00000000 | 01020304'));
  });

  it('announce: 98 bytes in BEP 15 order, IP 0, num_want -1 by default', () => {
    const packet = encodeUdpAnnounceRequest({
      connectionId: 0x1122334455667788n,
      transactionId: 0xdeadbeef,
      infoHash,
      peerId,
      downloaded: 0x0102,
      left: 2 ** 40,
      uploaded: 7,
      event: 'started',
      key: 0xcafef00d,
      port: 6881,
    });
    const expected = hex(
      `1122334455667788 | 00000001 | deadbeef | ${'aa'.repeat(20)} | ${'bb'.repeat(20)} |
       0000000000000102 | 0000010000000000 | 0000000000000007 |
       00000002 | 00000000 | cafef00d | ffffffff | 1ae1`,
    );
    assert.equal(expected.length, 98);
    assert.deepEqual(packet, expected);
  });

  it('announce: every event code, an explicit num_want', () => {
    const base = {
      connectionId: 1n,
      transactionId: 2,
      infoHash,
      peerId,
      downloaded: 0,
      left: 0,
      uploaded: 0,
      key: 3,
      port: 1,
    };
    const code = (event?: 'started' | 'completed' | 'stopped' | 'paused') =>
      encodeUdpAnnounceRequest({ ...base, event }).readUInt32BE(80);
    assert.deepEqual(
      [code(), code('completed'), code('started'), code('stopped'), code('paused')],
      [0, 1, 2, 3, 0],
    );
    assert.deepEqual(encodeUdpAnnounceRequest({ ...base, numWant: 50 }).subarray(92, 96), hex('00000032'));
  });

  it('announce: BEP 41 URL data after the fixed part, split at 255 bytes', () => {
    const base = {
      connectionId: 1n,
      transactionId: 2,
      infoHash,
      peerId,
      downloaded: 0,
      left: 0,
      uploaded: 0,
      key: 3,
      port: 1,
    };
    const short = encodeUdpAnnounceRequest({ ...base, urlData: '/announce?k=1' });
    assert.deepEqual(short.subarray(98), Buffer.concat([hex('02 0d'), Buffer.from('/announce?k=1')]));
    const long = `/${'x'.repeat(299)}`;
    const split = encodeUdpAnnounceRequest({ ...base, urlData: long });
    assert.deepEqual(
      split.subarray(98),
      Buffer.concat([
        hex('02 ff'),
        Buffer.from(long.slice(0, 255)),
        hex('02 2d'),
        Buffer.from(long.slice(255)),
      ]),
    );
    assert.throws(
      () => encodeUdpAnnounceRequest({ ...base, urlData: `/${'x'.repeat(2000)}` }),
      isCode('EUSAGE', /more than/),
    );
  });

  it('announce: refuses values the fields cannot hold', () => {
    const base = {
      connectionId: 1n,
      transactionId: 2,
      infoHash,
      peerId,
      downloaded: 0,
      left: 0,
      uploaded: 0,
      key: 3,
      port: 1,
    };
    assert.throws(() => encodeUdpAnnounceRequest({ ...base, left: -1 }), isCode('EUSAGE', /left/));
    assert.throws(() => encodeUdpAnnounceRequest({ ...base, key: 2 ** 32 }), isCode('EUSAGE', /key/));
    assert.throws(() => encodeUdpAnnounceRequest({ ...base, infoHash: Buffer.alloc(19) }), isCode('EUSAGE'));
    assert.throws(() => encodeUdpAnnounceRequest({ ...base, numWant: -2 }), isCode('EUSAGE', /num_want/));
  });

  it('scrape: connection id, action 2, transaction id, the hashes in order', () => {
    const other = Buffer.alloc(20, 0xcc);
    assert.deepEqual(
      encodeUdpScrapeRequest(0x0102030405060708n, 9, [infoHash, other]),
      hex(`0102030405060708 | 00000002 | 00000009 | ${'aa'.repeat(20)} | ${'cc'.repeat(20)}`),
    );
    assert.throws(() => encodeUdpScrapeRequest(1n, 1, []), isCode('EUSAGE'));
    assert.throws(
      () => encodeUdpScrapeRequest(1n, 1, new Array(UDP_MAX_SCRAPE_HASHES + 1).fill(infoHash)),
      isCode('EUSAGE'),
    );
  });
});

describe('UDP tracker replies', () => {
  it('connect reply: the connection id; extra bytes are not read', () => {
    const reply = hex('00000000 | 0000002a | 8000000000000001');
    assert.equal(decodeUdpConnectResponse(reply, 42), 0x8000000000000001n);
    assert.equal(decodeUdpConnectResponse(Buffer.concat([reply, Buffer.alloc(50)]), 42), 0x8000000000000001n);
    assert.equal(udpTransactionId(reply), 42);
    assert.equal(udpTransactionId(hex('0000')), undefined);
  });

  it('announce reply over IPv4: interval, counts, 6-byte peers; port 0 left out', () => {
    const reply = hex(
      `00000001 | 00000007 | 00000708 | 00000003 | 00000005 |
       7f000001 1ae1 | 0a000002 0000 | c0a80105 c350`,
    );
    assert.deepEqual(decodeUdpAnnounceResponse(reply, 7, { family: 4 }), {
      interval: 1800,
      incomplete: 3,
      complete: 5,
      peers: [
        { ip: '127.0.0.1', port: 6881 },
        { ip: '192.168.1.5', port: 50000 },
      ],
    });
    const empty = hex('00000001 | 00000007 | 0000003c | 00000000 | 00000000');
    assert.deepEqual(decodeUdpAnnounceResponse(empty, 7, { family: 4 }), {
      interval: 60,
      incomplete: 0,
      complete: 0,
      peers: [],
    });
  });

  it('announce reply over IPv6: 18-byte peers', () => {
    const reply = hex(
      `00000001 | 00000001 | 0000012c | 00000001 | 00000000 |
       00000000000000000000000000000001 1ae2 |
       20010db8000000000000000000000042 0050`,
    );
    assert.deepEqual(decodeUdpAnnounceResponse(reply, 1, { family: 6 }).peers, [
      { ip: '::1', port: 6882 },
      { ip: '2001:db8::42', port: 80 },
    ]);
    // The same 36 peer bytes read as IPv4 are six other entries: the caller's family decides.
    const asV4 = decodeUdpAnnounceResponse(reply, 1, { family: 4 }).peers;
    assert.ok(asV4.length > 0 && asV4.every((p) => !p.ip.includes(':')));
  });

  it('announce reply: reads no more peers than the cap', () => {
    const peers = Buffer.alloc(6 * 500);
    for (let i = 0; i < 500; i++) {
      peers.writeUInt32BE(0x0a000000 + i, i * 6);
      peers.writeUInt16BE(1000 + i, i * 6 + 4);
    }
    const reply = Buffer.concat([hex('00000001 | 00000003 | 00000708 | 00000000 | 000001f4'), peers]);
    const r = decodeUdpAnnounceResponse(reply, 3, { family: 4, maxPeers: 10 });
    assert.equal(r.peers.length, 10);
    assert.deepEqual(r.peers[9], { ip: '10.0.0.9', port: 1009 });
    assert.equal(decodeUdpAnnounceResponse(reply, 3, { family: 4 }).peers.length, 500);
  });

  it('scrape reply: seeders, completed, leechers for each hash', () => {
    const reply = hex('00000002 | 00000004 | 00000001 00000002 00000003 | 0000000a 0000000b 0000000c');
    assert.deepEqual(decodeUdpScrapeResponse(reply, 4, 2), [
      { complete: 1, downloaded: 2, incomplete: 3 },
      { complete: 10, downloaded: 11, incomplete: 12 },
    ]);
    assert.deepEqual(decodeUdpScrapeResponse(reply, 4, 1), [{ complete: 1, downloaded: 2, incomplete: 3 }]);
  });

  it('error reply: ETRACKER_FAILURE with the tracker’s words, from any decoder', () => {
    const reply = Buffer.concat([hex('00000003 | 00000005'), Buffer.from('torrent not registered\0')]);
    const said = isCode('ETRACKER_FAILURE', /^tracker said: torrent not registered$/);
    assert.throws(() => decodeUdpConnectResponse(reply, 5), said);
    assert.throws(() => decodeUdpAnnounceResponse(reply, 5, { family: 4 }), said);
    assert.throws(() => decodeUdpScrapeResponse(reply, 5, 1), said);
    assert.throws(
      () => decodeUdpConnectResponse(hex('00000003 | 00000005'), 5),
      isCode('ETRACKER_FAILURE', /no reason given/),
    );
    // An error for another transaction is not ours to report.
    assert.throws(() => decodeUdpConnectResponse(reply, 6), isCode('ETRACKER_RESPONSE', /transaction id/));
  });

  it('refuses truncated replies, wrong actions and wrong transaction ids', () => {
    const bad = (fn: () => unknown, msg: RegExp) => assert.throws(fn, isCode('ETRACKER_RESPONSE', msg));
    bad(() => decodeUdpConnectResponse(hex('000000'), 1), /too short/);
    bad(() => decodeUdpAnnounceResponse(hex('00000001 | 00000001'), 1, { family: 4 }), /no body/);
    bad(
      () => decodeUdpConnectResponse(hex('00000000 | 00000001 | 00000000'), 1),
      /connect reply is 12 bytes/,
    );
    bad(
      () => decodeUdpConnectResponse(hex('00000001 | 00000001 | 0000000000000000'), 1),
      /action 1, expected 0/,
    );
    bad(
      () => decodeUdpConnectResponse(hex('00000000 | 00000002 | 0000000000000000'), 1),
      /transaction id 2, not 1/,
    );
    bad(
      () => decodeUdpAnnounceResponse(hex('00000001 | 00000001 | 00000708 | 00000000'), 1, { family: 4 }),
      /header/,
    );
    bad(
      () =>
        decodeUdpAnnounceResponse(hex('00000001 | 00000001 | 00000708 | 00000000 | 00000000 | 7f00'), 1, {
          family: 4,
        }),
      /not a multiple of 6/,
    );
    bad(
      () =>
        decodeUdpAnnounceResponse(hex('00000001 | 00000001 | ffffffff | 00000000 | 00000000'), 1, {
          family: 4,
        }),
      /interval is negative/,
    );
    bad(
      () =>
        decodeUdpAnnounceResponse(hex('00000002 | 00000001 | 00000000 | 00000000 | 00000000'), 1, {
          family: 4,
        }),
      /action 2/,
    );
    bad(
      () => decodeUdpScrapeResponse(hex('00000002 | 00000001 | 00000001 00000002 00000003'), 1, 2),
      /need 32/,
    );
    bad(
      () => decodeUdpScrapeResponse(hex('00000002 | 00000001 | 80000000 00000002 00000003'), 1, 1),
      /negative/,
    );
  });

  it('decoders throw nothing but ChunkswarmError on random bytes', () => {
    const decoders: ((b: Uint8Array, tid: number) => unknown)[] = [
      (b, tid) => decodeUdpConnectResponse(b, tid),
      (b, tid) => decodeUdpAnnounceResponse(b, tid, { family: 4 }),
      (b, tid) => decodeUdpAnnounceResponse(b, tid, { family: 6, maxPeers: 3 }),
      (b, tid) => decodeUdpScrapeResponse(b, tid, 2),
      (b) => udpTransactionId(b),
    ];
    // Half the cases get a plausible header (action 0..3, our transaction id), so the decoders
    // go past the first checks and into the bodies.
    const packet = fc.oneof(
      fc.uint8Array({ maxLength: 120 }),
      fc.tuple(fc.integer({ min: 0, max: 3 }), fc.uint8Array({ maxLength: 120 })).map(([action, body]) => {
        const b = Buffer.alloc(8 + body.length);
        b.writeUInt32BE(action, 0);
        b.writeUInt32BE(77, 4);
        b.set(body, 8);
        return new Uint8Array(b);
      }),
    );
    fc.assert(
      fc.property(packet, (bytes) => {
        for (const decode of decoders) {
          try {
            decode(bytes, 77);
          } catch (err) {
            if (!(err instanceof ChunkswarmError)) throw err;
            assert.ok(err.code === 'ETRACKER_RESPONSE' || err.code === 'ETRACKER_FAILURE', err.code);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});
