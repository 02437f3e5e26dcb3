import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ChunkswarmError, isChunkswarmError } from '../../src/shared/errors.js';
import {
  decodeUdpAnnounceFields,
  decodeUdpAnnounceRequest,
  decodeUdpAnnounceResponse,
  decodeUdpConnectRequest,
  decodeUdpConnectResponse,
  decodeUdpRequestHeader,
  decodeUdpScrapeRequest,
  decodeUdpScrapeResponse,
  encodeUdpAnnounceRequest,
  encodeUdpAnnounceResponse,
  encodeUdpConnectRequest,
  encodeUdpConnectResponse,
  encodeUdpErrorResponse,
  encodeUdpScrapeRequest,
  encodeUdpScrapeResponse,
  UDP_MAX_SCRAPE_HASHES,
} from '../../src/tracker/protocol/index.js';

/** Hex with spaces and `|` allowed, so each field of a packet can be written apart. */
const hex = (s: string) => Buffer.from(s.replace(/[\s|]/g, ''), 'hex');

const isCode = (code: Parameters<typeof isChunkswarmError>[1], msg?: RegExp) => (err: unknown) =>
  isChunkswarmError(err, code) && (msg === undefined || msg.test(err.message));
const badRequest = (msg?: RegExp) => isCode('ETRACKER_REQUEST', msg);

const AA = 'aa'.repeat(20);
const BB = 'bb'.repeat(20);

/** A 98-byte announce written field by field at BEP 15's offsets; `fields` overrides any of them. */
function announceBytes(fields: Partial<Record<'event' | 'port' | 'left' | 'numWant' | 'ip', string>> = {}) {
  return hex(
    `1122334455667788 | 00000001 | 0badcafe | ${AA} | ${BB} |
     0000000000000102 | ${fields.left ?? '0000010000000000'} | 0000000000000007 |
     ${fields.event ?? '00000002'} | ${fields.ip ?? '00000000'} | cafef00d | ${fields.numWant ?? 'ffffffff'} |
     ${fields.port ?? '1ae1'}`,
  );
}

describe('UDP tracker requests, read by the tracker (BEP 15)', () => {
  it('header: connection id, action, transaction id; undefined below 16 bytes', () => {
    assert.deepEqual(decodeUdpRequestHeader(hex('0000041727101980 | 00000000 | 01020304')), {
      connectionId: 0x41727101980n,
      action: 0,
      transactionId: 0x01020304,
    });
    assert.deepEqual(decodeUdpRequestHeader(hex('ffffffffffffffff | 00000063 | ffffffff')), {
      connectionId: 0xffffffffffffffffn,
      action: 99,
      transactionId: 0xffffffff,
    });
    assert.equal(decodeUdpRequestHeader(Buffer.alloc(15)), undefined);
    assert.equal(decodeUdpRequestHeader(Buffer.alloc(0)), undefined);
  });

  it('connect: the protocol id and action 0; returns the transaction id', () => {
    assert.equal(decodeUdpConnectRequest(hex('0000041727101980 | 00000000 | 01020304')), 0x01020304);
    // What our own client sends.
    assert.equal(decodeUdpConnectRequest(encodeUdpConnectRequest(77)), 77);
    assert.throws(
      () => decodeUdpConnectRequest(hex('0000041727101981 | 00000000 | 01020304')),
      badRequest(/protocol id/),
    );
    assert.throws(
      () => decodeUdpConnectRequest(hex('0000041727101980 | 00000001 | 01020304')),
      badRequest(/action 1/),
    );
    assert.throws(
      () => decodeUdpConnectRequest(hex('0000041727101980 | 00000000 | 010203')),
      badRequest(/15 bytes/),
    );
  });

  it('announce: every field from its offset', () => {
    const a = decodeUdpAnnounceRequest(announceBytes());
    assert.deepEqual(a, {
      connectionId: 0x1122334455667788n,
      transactionId: 0x0badcafe,
      infoHash: Buffer.alloc(20, 0xaa),
      peerId: Buffer.alloc(20, 0xbb),
      downloaded: 0x102,
      left: 2 ** 40,
      uploaded: 7,
      event: 'started',
      ipv4: 0,
      key: 0xcafef00d,
      numWant: -1,
      port: 6881,
      urlData: undefined,
    });
  });

  it('announce: event codes 0..3, the IP field, num_want, counters out of range', () => {
    const ev = (code: string) => decodeUdpAnnounceRequest(announceBytes({ event: code })).event;
    assert.equal(ev('00000000'), undefined);
    assert.equal(ev('00000001'), 'completed');
    assert.equal(ev('00000002'), 'started');
    assert.equal(ev('00000003'), 'stopped');
    assert.throws(() => ev('00000004'), badRequest(/event 4/));
    assert.equal(decodeUdpAnnounceRequest(announceBytes({ ip: '7f000001' })).ipv4, 0x7f000001);
    assert.equal(decodeUdpAnnounceRequest(announceBytes({ numWant: '000000c8' })).numWant, 200);
    assert.equal(decodeUdpAnnounceRequest(announceBytes({ numWant: '80000000' })).numWant, -(2 ** 31));
    // left as -1 (signed 64 bits) means unknown; past 2^53 the count is held at the largest safe one.
    assert.equal(decodeUdpAnnounceRequest(announceBytes({ left: 'ffffffffffffffff' })).left, undefined);
    assert.equal(
      decodeUdpAnnounceRequest(announceBytes({ left: '7fffffffffffffff' })).left,
      Number.MAX_SAFE_INTEGER,
    );
    assert.throws(() => decodeUdpAnnounceRequest(announceBytes({ port: '0000' })), badRequest(/port 0/));
  });

  it('announce: shorter than 98 bytes, another action, or a header alone is refused', () => {
    const full = announceBytes();
    assert.throws(() => decodeUdpAnnounceRequest(full.subarray(0, 97)), badRequest(/97 bytes.*98/));
    assert.throws(() => decodeUdpAnnounceRequest(full.subarray(0, 16)), badRequest(/16 bytes/));
    assert.throws(() => decodeUdpAnnounceRequest(full.subarray(0, 10)), badRequest(/10 bytes/));
    const scrapeAction = Buffer.from(full);
    scrapeAction.writeUInt32BE(2, 8);
    assert.throws(() => decodeUdpAnnounceRequest(scrapeAction), badRequest(/action 2/));
  });

  it('announce: BEP 41 options (NOP, URL data in parts, end of options) are read', () => {
    const opts = hex(`01 | 02 05 2f616e6e6f | 01 | 02 06 756e63653f78 | 00 | 02 03 2f2f2f`);
    const a = decodeUdpAnnounceRequest(Buffer.concat([announceBytes(), opts]));
    // The option after EndOfOptions is not read.
    assert.equal(a.urlData, '/announce?x');
  });

  it('announce: malformed or oversized options end the reading, never the announce', () => {
    const base = announceBytes();
    // A length past the end of the packet.
    const cut = decodeUdpAnnounceRequest(Buffer.concat([base, hex('02 05 2f61')]));
    assert.equal(cut.urlData, undefined);
    // A type with no room for its length byte; an unknown type with a length is skipped.
    assert.equal(decodeUdpAnnounceRequest(Buffer.concat([base, hex('07')])).urlData, undefined);
    assert.equal(decodeUdpAnnounceRequest(Buffer.concat([base, hex('07 02 ffff | 02 01 2f')])).urlData, '/');
    // Past the cap, the URL data is dropped whole.
    const long = Buffer.concat([
      base,
      hex('02 ff'),
      Buffer.alloc(255, 0x61),
      hex('02 10'),
      Buffer.alloc(16, 0x62),
    ]);
    assert.equal(decodeUdpAnnounceRequest(long, { maxUrlDataBytes: 256 }).urlData, undefined);
    assert.equal(decodeUdpAnnounceRequest(long, { maxUrlDataBytes: 271 }).urlData?.length, 271);
  });

  it("announce: our client's packets read back as they were written", () => {
    const packet = encodeUdpAnnounceRequest({
      connectionId: 5n,
      transactionId: 6,
      infoHash: Buffer.alloc(20, 1),
      peerId: Buffer.alloc(20, 2),
      downloaded: 3,
      left: 0,
      uploaded: 4,
      event: 'completed',
      key: 9,
      numWant: 30,
      port: 51413,
      urlData: `/announce?passkey=${'k'.repeat(300)}`,
    });
    const a = decodeUdpAnnounceRequest(packet);
    assert.equal(a.event, 'completed');
    assert.equal(a.left, 0);
    assert.equal(a.numWant, 30);
    assert.equal(a.port, 51413);
    assert.equal(a.urlData, `/announce?passkey=${'k'.repeat(300)}`);
  });

  it('scrape: 1..74 infohashes of 20 bytes each', () => {
    const one = decodeUdpScrapeRequest(hex(`0000000000000009 | 00000002 | 00000005 | ${AA}`));
    assert.deepEqual(one, { connectionId: 9n, transactionId: 5, infoHashes: [Buffer.alloc(20, 0xaa)] });
    const hashes = Array.from({ length: UDP_MAX_SCRAPE_HASHES }, (_, i) => Buffer.alloc(20, i));
    const many = decodeUdpScrapeRequest(encodeUdpScrapeRequest(1n, 2, hashes));
    assert.deepEqual(many.infoHashes, hashes);
    const tooMany = Buffer.concat([hex('0000000000000001 | 00000002 | 00000002'), Buffer.alloc(20 * 75)]);
    assert.throws(() => decodeUdpScrapeRequest(tooMany), badRequest(/75 infohashes; at most 74/));
    assert.throws(
      () => decodeUdpScrapeRequest(encodeUdpScrapeRequest(1n, 2, hashes.slice(0, 3)), { maxScrapeHashes: 2 }),
      badRequest(/at most 2/),
    );
    assert.throws(
      () => decodeUdpScrapeRequest(hex('0000000000000001 | 00000002 | 00000002')),
      badRequest(/no infohash/),
    );
    assert.throws(
      () => decodeUdpScrapeRequest(hex(`0000000000000001 | 00000002 | 00000002 | ${'aa'.repeat(19)}`)),
      badRequest(/19 bytes/),
    );
  });
});

describe('UDP tracker replies, written by the tracker (BEP 15)', () => {
  it('connect: action 0, transaction id, connection id', () => {
    const out = encodeUdpConnectResponse(0x01020304, 0xfedcba9876543210n);
    assert.deepEqual(out, hex('00000000 | 01020304 | fedcba9876543210'));
    assert.equal(decodeUdpConnectResponse(out, 0x01020304), 0xfedcba9876543210n);
  });

  it('announce over IPv4: 6-byte peers after interval, leechers, seeders', () => {
    const peers = hex('7f000001 1ae1 | 0a000002 c8d5');
    const out = encodeUdpAnnounceResponse({
      transactionId: 7,
      interval: 1800,
      leechers: 3,
      seeders: 2,
      family: 4,
      peers,
    });
    assert.deepEqual(
      out,
      hex(`00000001 | 00000007 | 00000708 | 00000003 | 00000002 | 7f0000011ae1 | 0a000002c8d5`),
    );
    assert.deepEqual(decodeUdpAnnounceResponse(out, 7, { family: 4 }), {
      interval: 1800,
      complete: 2,
      incomplete: 3,
      peers: [
        { ip: '127.0.0.1', port: 6881 },
        { ip: '10.0.0.2', port: 51413 },
      ],
    });
  });

  it('announce over IPv6: 18-byte peers; a list of the wrong size is refused', () => {
    const peers = hex(`${'00'.repeat(15)}01 1ae1`);
    const out = encodeUdpAnnounceResponse({
      transactionId: 1,
      interval: 60,
      leechers: 1,
      seeders: 0,
      family: 6,
      peers,
    });
    assert.equal(out.length, 20 + 18);
    assert.deepEqual(decodeUdpAnnounceResponse(out, 1, { family: 6 }).peers, [{ ip: '::1', port: 6881 }]);
    assert.throws(
      () =>
        encodeUdpAnnounceResponse({
          transactionId: 1,
          interval: 60,
          leechers: 0,
          seeders: 0,
          family: 6,
          peers: Buffer.alloc(12),
        }),
      isCode('EUSAGE'),
    );
    // Counts past BEP 15's signed 32 bits are held at its largest.
    const big = encodeUdpAnnounceResponse({
      transactionId: 1,
      interval: 60,
      leechers: 2 ** 40,
      seeders: 0,
      family: 4,
      peers: Buffer.alloc(0),
    });
    assert.equal(big.readInt32BE(12), 0x7fffffff);
  });

  it('scrape: seeders, completed, leechers for each hash, in order', () => {
    const out = encodeUdpScrapeResponse(9, [
      { complete: 1, downloaded: 2, incomplete: 3 },
      { complete: 0, downloaded: 0, incomplete: 0 },
    ]);
    assert.deepEqual(
      out,
      hex('00000002 | 00000009 | 00000001 00000002 00000003 | 00000000 00000000 00000000'),
    );
    assert.deepEqual(decodeUdpScrapeResponse(out, 9, 2), [
      { complete: 1, downloaded: 2, incomplete: 3 },
      { complete: 0, downloaded: 0, incomplete: 0 },
    ]);
  });

  it('error: action 3 and the message, cut to fit a size on a character boundary', () => {
    assert.deepEqual(encodeUdpErrorResponse(4, 'no'), hex('00000003 | 00000004 | 6e6f'));
    assert.throws(
      () => decodeUdpConnectResponse(encodeUdpErrorResponse(4, 'connection id expired'), 4),
      isCode('ETRACKER_FAILURE', /tracker said: connection id expired/),
    );
    assert.deepEqual(encodeUdpErrorResponse(4, 'abcdef', 10), hex('00000003 | 00000004 | 6162'));
    // 'é' is two bytes: a cut through it drops it whole.
    assert.deepEqual(encodeUdpErrorResponse(4, 'aé', 10), hex('00000003 | 00000004 | 61'));
    assert.deepEqual(encodeUdpErrorResponse(4, 'abc', 4), hex('00000003 | 00000004'));
  });
});

describe('UDP request decoders under fast-check', () => {
  const decoders = [
    (p: Buffer) => decodeUdpConnectRequest(p),
    (p: Buffer) => decodeUdpAnnounceRequest(p),
    (p: Buffer) => decodeUdpScrapeRequest(p),
  ];

  it('any bytes: a value or a ChunkswarmError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1600 }), fc.integer({ min: 0, max: 2 }), (bytes, action) => {
        const packet = Buffer.from(bytes);
        // Steer the action field so each decoder gets past the header now and then.
        if (packet.length >= 12 && packet[0]! % 2 === 0) packet.writeUInt32BE(action, 8);
        for (const decode of decoders) {
          try {
            decode(packet);
          } catch (err) {
            assert.ok(err instanceof ChunkswarmError, `not a ChunkswarmError: ${String(err)}`);
            assert.equal(err.code, 'ETRACKER_REQUEST');
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it("the tracker's announce reader (no BigInt id) reads and refuses exactly as the full one", () => {
    const outcome = (read: () => object) => {
      try {
        return read();
      } catch (err) {
        return { error: (err as Error).message };
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 60, maxLength: 200 }), (bytes) => {
        const packet = Buffer.from(bytes);
        // Mostly announces (action 1), so the fields are read past the header as often as not.
        if (packet.length >= 12 && packet[0]! % 4 !== 0) packet.writeUInt32BE(1, 8);
        // And a known event most of the time: a random code is nearly always refused.
        if (packet.length >= 84 && packet[1]! % 4 !== 0) packet.writeUInt32BE(packet[2]! % 4, 80);
        const full = outcome(() => decodeUdpAnnounceRequest(packet));
        const fields = outcome(() => decodeUdpAnnounceFields(packet));
        if ('connectionId' in full) {
          const { connectionId: _id, ...rest } = full;
          assert.deepEqual(fields, rest);
        } else assert.deepEqual(fields, full);
      }),
      { numRuns: 500 },
    );
  });

  it('announces read back field for field, and every cut below 98 bytes is refused', () => {
    const counter = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
    fc.assert(
      fc.property(
        fc.record({
          connectionId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          transactionId: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
          infoHash: fc.uint8Array({ minLength: 20, maxLength: 20 }),
          peerId: fc.uint8Array({ minLength: 20, maxLength: 20 }),
          downloaded: counter,
          left: counter,
          uploaded: counter,
          event: fc.constantFrom('started' as const, 'completed' as const, 'stopped' as const, undefined),
          key: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
          numWant: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
          port: fc.integer({ min: 1, max: 65535 }),
          urlData: fc.option(fc.string({ minLength: 1, maxLength: 300 }), { nil: undefined }),
        }),
        fc.integer({ min: 0, max: 97 }),
        (r, cut) => {
          const packet = encodeUdpAnnounceRequest(r);
          const a = decodeUdpAnnounceRequest(packet);
          assert.equal(a.connectionId, r.connectionId);
          assert.equal(a.transactionId, r.transactionId);
          assert.deepEqual(new Uint8Array(a.infoHash), r.infoHash);
          assert.deepEqual(new Uint8Array(a.peerId), r.peerId);
          assert.deepEqual(
            [a.downloaded, a.left, a.uploaded, a.event, a.key, a.numWant, a.port],
            [r.downloaded, r.left, r.uploaded, r.event, r.key, r.numWant, r.port],
          );
          assert.equal(a.urlData, r.urlData === undefined ? undefined : Buffer.from(r.urlData).toString());
          assert.throws(() => decodeUdpAnnounceRequest(packet.subarray(0, cut)), badRequest());
        },
      ),
      { numRuns: 300 },
    );
  });

  it('an error reply never exceeds the size it is given, and keeps a prefix of the message', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.integer({ min: 8, max: 120 }), (message, max) => {
        const out = encodeUdpErrorResponse(1, message, max);
        assert.ok(out.length <= max);
        const text = out.subarray(8).toString('utf8');
        assert.ok(message.startsWith(text), `${JSON.stringify(text)} is not a prefix of the message`);
      }),
      { numRuns: 300 },
    );
  });
});
