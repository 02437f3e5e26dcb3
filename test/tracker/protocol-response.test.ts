import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decode, encode } from '../../src/codec/index.js';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { LIMITS } from '../../src/shared/limits.js';
import {
  buildScrapeUrl,
  encodeAnnounceResponse,
  encodeBytes,
  encodeFailure,
  encodeScrapeResponse,
  isSeeder,
  parseAnnounceResponse,
  parseScrapeQuery,
  parseScrapeResponse,
  type ResponsePeer,
  withHead,
} from '../../src/tracker/protocol/index.js';

function peer(ip: string, port: number, extra: Partial<ResponsePeer> = {}): ResponsePeer {
  return {
    ip,
    port,
    peerId: Buffer.alloc(20, port & 0xff),
    uploaded: 0,
    downloaded: 0,
    left: 100,
    lastSeen: 1_700_000_000_500,
    ...extra,
  };
}

const base = { interval: 1800, minInterval: 900, complete: 1, incomplete: 2, noPeerId: false };

describe('encodeAnnounceResponse / parseAnnounceResponse', () => {
  it('compact IPv4 (BEP 23) and IPv6 (BEP 7) round trip', () => {
    const peers = [peer('10.0.0.1', 6881), peer('2001:db8::7', 51413), peer('127.0.0.1', 1)];
    const body = encodeAnnounceResponse({
      ...base,
      peers,
      compact: true,
      includeStatus: false,
      trackerId: 'T1',
    });
    const d = decode(body) as Map<string, unknown>;
    assert.deepEqual(d.get('peers'), Buffer.from([10, 0, 0, 1, 0x1a, 0xe1, 127, 0, 0, 1, 0, 1]));
    assert.equal((d.get('peers6') as Buffer).length, 18);
    const r = parseAnnounceResponse(body);
    assert.equal(r.interval, 1800);
    assert.equal(r.minInterval, 900);
    assert.equal(r.complete, 1);
    assert.equal(r.incomplete, 2);
    assert.equal(r.trackerId, 'T1');
    assert.deepEqual(r.peers, [
      { ip: '10.0.0.1', port: 6881 },
      { ip: '127.0.0.1', port: 1 },
      { ip: '2001:db8::7', port: 51413 },
    ]);
  });

  it('leaves peers6 out when there is no IPv6 peer, and writes sorted keys', () => {
    const body = encodeAnnounceResponse({
      ...base,
      peers: [],
      compact: true,
      includeStatus: false,
      warning: 'w',
    });
    assert.equal(
      body.toString('latin1'),
      'd8:completei1e10:incompletei2e8:intervali1800e12:min intervali900e5:peers0:15:warning message1:we',
    );
  });

  it('writes the compact answer exactly as the general encoder would', () => {
    const peers = [peer('10.0.0.1', 6881), peer('2001:db8::7', 51413), peer('127.0.0.1', 1)];
    for (const extra of [
      {},
      { trackerId: 'T', warning: 'numwant capped — sorry' },
      { minInterval: undefined },
    ]) {
      const r = { ...base, peers, compact: true, includeStatus: false, ...extra };
      const expected = encode({
        complete: r.complete,
        incomplete: r.incomplete,
        interval: r.interval,
        'min interval': r.minInterval,
        peers: Buffer.from([10, 0, 0, 1, 0x1a, 0xe1, 127, 0, 0, 1, 0, 1]),
        peers6: Buffer.concat([
          Buffer.from('20010db8000000000000000000000007', 'hex'),
          Buffer.from([0xc8, 0xd5]),
        ]),
        'tracker id': 'trackerId' in r ? r.trackerId : undefined,
        'warning message': 'warning' in r ? r.warning : undefined,
      });
      assert.deepEqual(encodeAnnounceResponse(r), expected);
      // Peers the store packed already come out the same.
      const packed = {
        v4: Buffer.from([10, 0, 0, 1, 0x1a, 0xe1, 127, 0, 0, 1, 0, 1]),
        v6: Buffer.from('20010db8000000000000000000000007c8d5', 'hex'),
      };
      assert.deepEqual(encodeAnnounceResponse({ ...r, peers: [], packed }), expected);
    }
  });

  it('puts a framing in front of the answer, with the body length in it, in the same buffer', () => {
    const head = { before: Buffer.from('LEN '), after: Buffer.from('\n') };
    const peers = [peer('10.0.0.1', 6881), peer('2001:db8::7', 51413)];
    for (const r of [
      { ...base, peers, compact: true, includeStatus: false, trackerId: 'T' },
      { ...base, peers, compact: false, includeStatus: false },
    ]) {
      const body = encodeAnnounceResponse(r);
      const framed = encodeAnnounceResponse(r, head);
      assert.equal(framed.toString('latin1'), `LEN ${body.length}\n${body.toString('latin1')}`);
    }
    assert.equal(withHead(head, Buffer.from('de')).toString(), 'LEN 2\nde');
    assert.equal(withHead(head, Buffer.alloc(1234)).subarray(0, 9).toString(), 'LEN 1234\n');
  });

  it('dictionary list round trip, with and without peer ids', () => {
    const peers = [peer('10.0.0.1', 6881), peer('::1', 7000)];
    const r = parseAnnounceResponse(
      encodeAnnounceResponse({ ...base, peers, compact: false, includeStatus: false }),
    );
    assert.deepEqual(r.peers, [
      { ip: '10.0.0.1', port: 6881, peerId: Buffer.alloc(20, 6881 & 0xff) },
      { ip: '::1', port: 7000, peerId: Buffer.alloc(20, 7000 & 0xff) },
    ]);
    const anon = parseAnnounceResponse(
      encodeAnnounceResponse({ ...base, peers, compact: false, includeStatus: false, noPeerId: true }),
    );
    assert.equal(anon.peers[0]!.peerId, undefined);
    assert.equal(anon.peers[0]!.status, undefined);
  });

  it('with status: bitfield, counts, seeder flag, last seen; status derived from left for other clients', () => {
    const bits = Buffer.from([0b1010_0000]);
    const peers = [
      peer('10.0.0.1', 1, { bitfield: bits, have: 2, pieces: 3, uploaded: 5, downloaded: 6, left: 7 }),
      peer('10.0.0.2', 2, { left: 0 }),
      peer('10.0.0.3', 3, { left: undefined, have: 3, pieces: 3 }),
      peer('10.0.0.4', 4, { left: 50 }),
    ];
    const body = encodeAnnounceResponse({ ...base, peers, compact: true, includeStatus: true, pieces: 3 });
    const r = parseAnnounceResponse(body);
    assert.deepEqual(r.peers[0]!.status, {
      have: 2,
      pieces: 3,
      bitfield: bits,
      uploaded: 5,
      downloaded: 6,
      left: 7,
      seeder: false,
      lastSeen: 1_700_000_000,
    });
    assert.equal(r.peers[1]!.status!.seeder, true);
    assert.equal(r.peers[1]!.status!.have, 3, 'a seeder that sent no bitfield holds every chunk');
    assert.equal(r.peers[2]!.status!.seeder, true);
    assert.equal(r.peers[2]!.status!.left, undefined);
    assert.equal(r.peers[3]!.status!.seeder, false);
    assert.equal(r.peers[3]!.status!.have, 0);
    assert.ok(r.peers.every((p) => p.peerId?.length === 20));
  });

  it('isSeeder', () => {
    assert.equal(isSeeder({ left: 0 }), true);
    assert.equal(isSeeder({ left: 1, have: 3, pieces: 3 }), false);
    assert.equal(isSeeder({ left: undefined, have: 3, pieces: 3 }), true);
    assert.equal(isSeeder({ left: undefined }), false);
  });

  it('failure reason throws ETRACKER_FAILURE with the reason', () => {
    const body = encodeFailure('torrent not registered');
    assert.equal(body.toString(), 'd14:failure reason22:torrent not registerede');
    assert.throws(
      () => parseAnnounceResponse(body),
      (err: unknown) =>
        isChunkswarmError(err, 'ETRACKER_FAILURE') && err.message === 'tracker said: torrent not registered',
    );
  });

  it('refuses what is not a response, skips unusable peers', () => {
    const bad = (body: Uint8Array) =>
      assert.throws(
        () => parseAnnounceResponse(body),
        (e: unknown) => isChunkswarmError(e, 'ETRACKER_RESPONSE'),
      );
    bad(Buffer.from('<html>nope</html>'));
    bad(Buffer.from('le'));
    bad(encode({ interval: 10, peers: Buffer.alloc(7) }));
    bad(encode({ interval: 10, peers6: Buffer.alloc(6) }));
    bad(encode({ interval: 10, peers: 5 }));
    bad(encode({ interval: -1, peers: '' }));
    bad(encode({ interval: 10, 'warning message': 3 }));
    const r = parseAnnounceResponse(
      encode({
        peers: [
          { ip: '1.2.3.4', port: 0 },
          { ip: 'not an ip', port: 5 },
          { ip: '1.2.3.4', port: 70000 },
          'junk',
          { ip: '::ffff:1.2.3.4', port: 9, 'peer id': 'short' },
        ],
        peers6: Buffer.concat([Buffer.alloc(16), Buffer.from([0, 0])]),
      }),
    );
    assert.equal(r.interval, 1800, 'a missing interval means the usual 30 minutes');
    assert.deepEqual(r.peers, [{ ip: '1.2.3.4', port: 9 }]);
  });

  it('accepts keys out of order, as some trackers write them', () => {
    const body = Buffer.from('d8:intervali60e5:peers0:8:completei3ee');
    assert.equal(parseAnnounceResponse(body).complete, 3);
  });
});

describe('scrape', () => {
  const h1 = Buffer.alloc(20, 1);
  const h2 = Buffer.from('%&+=?\x00\xff'.padEnd(20, 'x'), 'latin1');

  it('parses repeated info_hash, ignores repeats, empty means all', () => {
    assert.deepEqual(parseScrapeQuery(''), []);
    assert.deepEqual(
      parseScrapeQuery(
        `info_hash=${encodeBytes(h1)}&x=1&info_hash=${encodeBytes(h2)}&info_hash=${encodeBytes(h1)}`,
      ),
      [h1, h2],
    );
  });

  it('refuses bad hashes and too many', () => {
    const reason = (q: string) => {
      try {
        parseScrapeQuery(q);
      } catch (err) {
        assert.ok(isChunkswarmError(err, 'ETRACKER_REQUEST'));
        return err.message;
      }
      assert.fail('no error');
    };
    assert.equal(reason('info_hash=abc'), 'info_hash must be 20 bytes');
    assert.equal(reason('info_hash=%Z1'), 'invalid percent-encoding in info_hash');
    const many = Array.from({ length: LIMITS.trackerMaxScrapeHashes + 1 }, (_, i) => {
      const h = Buffer.alloc(20);
      h.writeUInt32BE(i);
      return `info_hash=${encodeBytes(h)}`;
    }).join('&');
    assert.match(reason(many), /too many info_hash values/);
  });

  it('response round trip with binary hashes and names', () => {
    const body = encodeScrapeResponse([
      { infoHash: h1, complete: 1, incomplete: 2, downloaded: 3, name: 'one' },
      { infoHash: h2, complete: 0, incomplete: 5, downloaded: 0 },
    ]);
    const m = parseScrapeResponse(body);
    assert.deepEqual(m.get(h1.toString('hex')), { complete: 1, incomplete: 2, downloaded: 3, name: 'one' });
    assert.deepEqual(m.get(h2.toString('hex')), { complete: 0, incomplete: 5, downloaded: 0 });
    assert.equal(m.size, 2);
    assert.throws(() => parseScrapeResponse(encodeFailure('no')), /tracker said: no/);
    assert.throws(() => parseScrapeResponse(encode({ files: [] })), /'files' is not a dictionary/);
  });

  it('builds the scrape URL by the BEP 48 convention', () => {
    assert.equal(buildScrapeUrl('http://t:80/announce'), 'http://t:80/scrape');
    assert.equal(buildScrapeUrl('http://t/x/announce.php?pk=1'), 'http://t/x/scrape.php?pk=1');
    assert.equal(
      buildScrapeUrl('http://t/a/announce', [h1]),
      `http://t/a/scrape?info_hash=${encodeBytes(h1)}`,
    );
    assert.equal(
      buildScrapeUrl('http://t/announce?pk=1', [h1, h1]),
      `http://t/scrape?pk=1&info_hash=${encodeBytes(h1)}&info_hash=${encodeBytes(h1)}`,
    );
    assert.equal(buildScrapeUrl('http://t/a'), undefined);
    assert.equal(buildScrapeUrl('http://t/announce/x'), undefined);
  });
});
