import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isChunkswarmError } from '../../src/shared/errors.js';
import { LIMITS } from '../../src/shared/limits.js';
import {
  buildAnnounceUrl,
  encodeBytes,
  formatIp,
  MAX_ANNOUNCE_URL_LENGTH,
  normalizeIp,
  parseAnnounceQuery,
  parseIp,
} from '../../src/tracker/protocol/index.js';

const HASH = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex');
const PEER = Buffer.from('-CS0001-abcdefghijkl', 'latin1');
const BASE = `info_hash=${encodeBytes(HASH)}&peer_id=${encodeBytes(PEER)}&port=6881`;

function rejects(query: string, reason: string | RegExp, opts?: { trustIpParam?: boolean }): void {
  assert.throws(
    () => parseAnnounceQuery(query, '127.0.0.1', opts),
    (err: unknown) => {
      assert.ok(isChunkswarmError(err, 'ETRACKER_REQUEST'), String(err));
      if (typeof reason === 'string') assert.equal(err.message, reason);
      else assert.match(err.message, reason);
      return true;
    },
  );
}

describe('parseAnnounceQuery', () => {
  it('reads a typical libtorrent announce', () => {
    const q =
      `${BASE}&uploaded=10&downloaded=20&left=30&corrupt=0&key=8A3F21C4&event=started` +
      '&numwant=80&compact=1&no_peer_id=1&supportcrypto=1&redundant=0';
    const r = parseAnnounceQuery(q, '10.1.2.3');
    assert.deepEqual(r.infoHash, HASH);
    assert.deepEqual(r.peerId, PEER);
    assert.equal(r.port, 6881);
    assert.equal(r.uploaded, 10);
    assert.equal(r.downloaded, 20);
    assert.equal(r.left, 30);
    assert.equal(r.event, 'started');
    assert.equal(r.numwant, 80);
    assert.equal(r.numwantCapped, false);
    assert.equal(r.compact, true);
    assert.equal(r.noPeerId, true);
    assert.equal(r.key, '8A3F21C4');
    assert.equal(r.ip, '10.1.2.3');
    assert.deepEqual(r.compactAddress, Buffer.from([10, 1, 2, 3, 0x1a, 0xe1]));
    assert.equal(r.wantStatus, false);
    assert.equal(r.bitfield, undefined);
  });

  it('decodes info_hash byte-wise: escapes, literal characters and a literal +', () => {
    // Bytes that clients send unescaped: letters, digits and a few marks, including '+'.
    const hash = Buffer.from('ab+cd~ef.gh-ij_kl\xff\x00\x80', 'latin1');
    assert.equal(hash.length, 20);
    const raw = 'ab+cd~ef.gh-ij_kl%FF%00%80';
    const r = parseAnnounceQuery(`info_hash=${raw}&peer_id=${encodeBytes(PEER)}&port=1`, '1.2.3.4');
    assert.deepEqual(r.infoHash, hash);
    // Lower-case hex escapes are the same bytes.
    const lower = parseAnnounceQuery(
      `info_hash=${encodeBytes(HASH).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())}&peer_id=${encodeBytes(PEER)}&port=1`,
      '::1',
    );
    assert.deepEqual(lower.infoHash, HASH);
  });

  it('takes literal bytes above 0x7f as Node hands them over (latin1, one char per byte)', () => {
    const bytes = Buffer.from(Array.from({ length: 20 }, (_, i) => 0xe0 + i));
    const r = parseAnnounceQuery(
      `info_hash=${bytes.toString('latin1')}&peer_id=${encodeBytes(PEER)}&port=1`,
      '1.2.3.4',
    );
    assert.deepEqual(r.infoHash, bytes);
  });

  it('applies defaults: numwant, compact, no event, zero counters, unknown left', () => {
    const r = parseAnnounceQuery(BASE, '127.0.0.1');
    assert.equal(r.numwant, LIMITS.trackerDefaultNumwant);
    assert.equal(r.compact, true);
    assert.equal(r.noPeerId, false);
    assert.equal(r.event, undefined);
    assert.equal(r.uploaded, 0);
    assert.equal(r.downloaded, 0);
    assert.equal(r.left, undefined);
    assert.equal(r.key, undefined);
    assert.equal(r.trackerId, undefined);
  });

  it('treats event=empty and event= as a regular announce; knows paused', () => {
    assert.equal(parseAnnounceQuery(`${BASE}&event=empty`, '1.1.1.1').event, undefined);
    assert.equal(parseAnnounceQuery(`${BASE}&event=`, '1.1.1.1').event, undefined);
    assert.equal(parseAnnounceQuery(`${BASE}&event=paused`, '1.1.1.1').event, 'paused');
    assert.equal(parseAnnounceQuery(`${BASE}&event=stopped`, '1.1.1.1').event, 'stopped');
    assert.equal(parseAnnounceQuery(`${BASE}&event=completed`, '1.1.1.1').event, 'completed');
  });

  it('caps numwant and says so; numwant=0 is allowed', () => {
    const capped = parseAnnounceQuery(`${BASE}&numwant=100000`, '1.1.1.1');
    assert.equal(capped.numwant, LIMITS.trackerMaxNumwant);
    assert.equal(capped.numwantCapped, true);
    assert.equal(parseAnnounceQuery(`${BASE}&numwant=0`, '1.1.1.1').numwant, 0);
  });

  it('compact=0 asks for the dictionary list', () => {
    assert.equal(parseAnnounceQuery(`${BASE}&compact=0`, '1.1.1.1').compact, false);
  });

  it('keeps the first copy of a repeated parameter', () => {
    const r = parseAnnounceQuery(`${BASE}&port=7000&left=5&left=9&info_hash=short`, '1.1.1.1');
    assert.equal(r.port, 6881);
    assert.equal(r.left, 5);
    assert.deepEqual(r.infoHash, HASH);
  });

  it('decodes escaped parameter names', () => {
    const r = parseAnnounceQuery(
      `info%5Fhash=${encodeBytes(HASH)}&peer_id=${encodeBytes(PEER)}&port=1`,
      '1.1.1.1',
    );
    assert.deepEqual(r.infoHash, HASH);
  });

  it('uses the socket address, normalises IPv4-mapped IPv6, ignores ip unless trusted', () => {
    assert.equal(parseAnnounceQuery(`${BASE}&ip=6.6.6.6`, '::ffff:127.0.0.1').ip, '127.0.0.1');
    const v6 = parseAnnounceQuery(BASE, '2001:db8:0:0:0:0:0:1');
    assert.equal(v6.ip, '2001:db8::1');
    assert.equal(v6.compactAddress.length, 18);
    assert.equal(v6.compactAddress.readUInt16BE(16), 6881);
    const trusted = parseAnnounceQuery(`${BASE}&ip=6.6.6.6`, '127.0.0.1', { trustIpParam: true });
    assert.equal(trusted.ip, '6.6.6.6');
    assert.deepEqual(trusted.compactAddress, Buffer.from([6, 6, 6, 6, 0x1a, 0xe1]));
    // Trusted, but absent: the socket's address.
    assert.equal(parseAnnounceQuery(BASE, '127.0.0.2', { trustIpParam: true }).ip, '127.0.0.2');
  });

  it('reads the chunkswarm extras', () => {
    const bits = Buffer.from([0b1011_0000, 0b0100_0000]);
    const q = `${BASE}&left=1&cs_pieces=10&cs_bitfield=${bits.toString('base64url')}&cs_name=my+file%C3%A9.iso&cs_status=1`;
    const r = parseAnnounceQuery(q, '1.1.1.1');
    assert.equal(r.pieces, 10);
    assert.deepEqual(r.bitfield, bits);
    assert.equal(r.have, 4);
    assert.equal(r.name, 'my fileé.iso');
    assert.equal(r.wantStatus, true);
    const counted = parseAnnounceQuery(`${BASE}&cs_pieces=10&cs_have=7`, '1.1.1.1');
    assert.equal(counted.have, 7);
    assert.equal(counted.bitfield, undefined);
    // Both given and agreeing is fine; padding is tolerated.
    const both = parseAnnounceQuery(`${BASE}&cs_pieces=10&cs_bitfield=sEA%3D&cs_have=4`, '1.1.1.1');
    assert.equal(both.have, 4);
  });

  it('gives a failure reason for every bad field', () => {
    const peer = `peer_id=${encodeBytes(PEER)}`;
    const hash = `info_hash=${encodeBytes(HASH)}`;
    rejects('', 'missing info_hash');
    rejects(`${peer}&port=1`, 'missing info_hash');
    rejects(`info_hash=abc&${peer}&port=1`, 'info_hash must be 20 bytes');
    rejects(`info_hash=${encodeBytes(HASH)}00&${peer}&port=1`, 'info_hash must be 20 bytes');
    rejects(`info_hash=%zz${'a'.repeat(19)}&${peer}&port=1`, 'invalid percent-encoding in info_hash');
    rejects(`info_hash=${'a'.repeat(19)}%4&${peer}&port=1`, 'invalid percent-encoding in info_hash');
    rejects(`${hash}&port=1`, 'missing peer_id');
    rejects(`${hash}&peer_id=x&port=1`, 'peer_id must be 20 bytes');
    rejects(`${hash}&${peer}`, 'missing port');
    rejects(`${hash}&${peer}&port=`, 'invalid port');
    rejects(`${hash}&${peer}&port=0`, 'invalid port');
    rejects(`${hash}&${peer}&port=65536`, 'invalid port');
    rejects(`${hash}&${peer}&port=-1`, 'invalid port');
    rejects(`${hash}&${peer}&port=80a`, 'invalid port');
    rejects(`${BASE}&uploaded=-5`, 'invalid uploaded');
    rejects(`${BASE}&uploaded=1.5`, 'invalid uploaded');
    rejects(`${BASE}&uploaded=99999999999999999999`, 'invalid uploaded');
    rejects(`${BASE}&uploaded=9007199254740993`, 'invalid uploaded');
    rejects(`${BASE}&downloaded=x`, 'invalid downloaded');
    rejects(`${BASE}&left=+1`, 'invalid left');
    rejects(`${BASE}&left=`, 'invalid left');
    rejects(`${BASE}&event=begin`, 'invalid event');
    rejects(`${BASE}&numwant=-1`, 'invalid numwant');
    rejects(`${BASE}&compact=yes`, 'invalid compact (0 or 1)');
    rejects(`${BASE}&no_peer_id=2`, 'invalid no_peer_id (0 or 1)');
    rejects(`${BASE}&key=${'k'.repeat(65)}`, 'invalid key');
    rejects(`${BASE}&key=%zz`, 'invalid key');
    rejects(`${BASE}&trackerid=%00`, 'invalid trackerid');
    rejects(`${BASE}&ip=evil.example`, 'invalid ip (an IPv4 or IPv6 address is needed)', {
      trustIpParam: true,
    });
    rejects(`${BASE}&ip=1.2.3.04`, 'invalid ip (an IPv4 or IPv6 address is needed)', { trustIpParam: true });
    rejects(`${BASE}&cs_pieces=0`, 'invalid cs_pieces');
    rejects(`${BASE}&cs_pieces=${LIMITS.maxPieces + 1}`, 'invalid cs_pieces');
    rejects(`${BASE}&cs_bitfield=AA`, 'cs_bitfield needs cs_pieces');
    rejects(`${BASE}&cs_pieces=8&cs_bitfield=A!`, 'invalid cs_bitfield');
    rejects(`${BASE}&cs_pieces=8&cs_bitfield=A`, 'invalid cs_bitfield');
    rejects(`${BASE}&cs_pieces=8&cs_bitfield=AAAA`, 'cs_bitfield does not match cs_pieces');
    // 7 pieces: the spare low bit of the one byte must be zero.
    rejects(`${BASE}&cs_pieces=7&cs_bitfield=AQ`, 'cs_bitfield does not match cs_pieces');
    rejects(`${BASE}&cs_pieces=8&cs_have=9`, 'cs_have is more than cs_pieces');
    rejects(`${BASE}&cs_pieces=8&cs_bitfield=gA&cs_have=2`, 'cs_have does not match cs_bitfield');
    rejects(`${BASE}&cs_have=x`, 'invalid cs_have');
    rejects(`${BASE}&cs_name=${'n'.repeat(256)}`, 'cs_name is longer than 255 bytes');
    rejects(`${BASE}&cs_name=%FF`, 'cs_name is not valid UTF-8');
    rejects(`${BASE}&cs_name=a%0Ab`, 'cs_name contains control characters');
    rejects(`${BASE}&cs_name=%G0`, 'invalid percent-encoding in cs_name');
    rejects(`${BASE}&cs_status=yes`, 'invalid cs_status (0 or 1)');
    rejects(`info%ZZhash=1&${BASE}`, 'invalid percent-encoding in a parameter name');
    assert.throws(() => parseAnnounceQuery(BASE, 'not-an-address'), /could not tell your address/);
  });
});

describe('IP helpers', () => {
  it('parses and formats IPv4 and IPv6', () => {
    assert.deepEqual(parseIp('192.168.0.1'), Buffer.from([192, 168, 0, 1]));
    assert.equal(parseIp('256.0.0.1'), undefined);
    assert.equal(parseIp('1.2.3'), undefined);
    assert.equal(parseIp('1.2.3.4.5'), undefined);
    assert.equal(parseIp(''), undefined);
    assert.equal(formatIp(parseIp('::')!), '::');
    assert.equal(formatIp(parseIp('::1')!), '::1');
    assert.equal(formatIp(parseIp('2001:DB8:0:0:1:0:0:1')!), '2001:db8::1:0:0:1');
    assert.equal(formatIp(parseIp('fe80::1:2')!), 'fe80::1:2');
    assert.equal(formatIp(parseIp('1:0:2:3:4:5:6:7')!), '1:0:2:3:4:5:6:7');
    assert.equal(formatIp(parseIp('::ffff:10.0.0.1')!), '10.0.0.1');
    assert.equal(parseIp('1::2::3'), undefined);
    assert.equal(parseIp('1:2:3:4:5:6:7:8:9'), undefined);
    assert.equal(parseIp('1:2:3:4:5:6:7'), undefined);
    assert.equal(parseIp('12345::'), undefined);
    assert.equal(parseIp('fe80::1%eth0'), undefined);
    assert.equal(normalizeIp('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeIp('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(normalizeIp('::ffff:999.0.0.1'), undefined);
  });
});

describe('buildAnnounceUrl', () => {
  const params = {
    infoHash: HASH,
    peerId: PEER,
    port: 6881,
    uploaded: 1,
    downloaded: 2,
    left: 3,
  };

  it('round-trips through parseAnnounceQuery', () => {
    const url = buildAnnounceUrl('http://t.example/announce', {
      ...params,
      event: 'started',
      numwant: 10,
      key: 'abc',
      trackerId: 'tid-42',
      chunks: { pieces: 12, bitfield: Buffer.from([0xff, 0xf0]), name: 'a b&c=d', wantStatus: true },
      extras: { 'x y': 'z&w' },
    });
    assert.ok(url.startsWith('http://t.example/announce?info_hash='));
    assert.match(url, /&x%20y=z%26w/);
    const r = parseAnnounceQuery(url.slice(url.indexOf('?') + 1), '1.1.1.1');
    assert.deepEqual(r.infoHash, HASH);
    assert.deepEqual(r.peerId, PEER);
    assert.equal(r.port, 6881);
    assert.equal(r.left, 3);
    assert.equal(r.event, 'started');
    assert.equal(r.numwant, 10);
    assert.equal(r.compact, true);
    assert.equal(r.key, 'abc');
    assert.equal(r.pieces, 12);
    assert.equal(r.have, 12);
    assert.equal(r.name, 'a b&c=d');
    assert.equal(r.wantStatus, true);
    assert.equal(r.trackerId, 'tid-42');
  });

  it('keeps an existing query and drops a fragment', () => {
    assert.match(
      buildAnnounceUrl('http://t/announce?passkey=xyz', params),
      /^http:\/\/t\/announce\?passkey=xyz&info_hash=/,
    );
    assert.match(buildAnnounceUrl('http://t/announce?', params), /^http:\/\/t\/announce\?info_hash=/);
    assert.match(buildAnnounceUrl('http://t/a?k=1&', params), /^http:\/\/t\/a\?k=1&info_hash=/);
    assert.ok(!buildAnnounceUrl('http://t/announce#frag', params).includes('#'));
    assert.match(buildAnnounceUrl('http://t/announce', { ...params, compact: false }), /&compact=0/);
  });

  it('sends cs_have instead of a bitfield that would make the URL too long', () => {
    const pieces = 80_000;
    const bitfield = Buffer.alloc(pieces / 8, 0xff);
    bitfield[0] = 0x7f;
    const url = buildAnnounceUrl('http://t/announce', { ...params, chunks: { pieces, bitfield } });
    assert.ok(url.length <= MAX_ANNOUNCE_URL_LENGTH);
    assert.ok(!url.includes('cs_bitfield'));
    const r = parseAnnounceQuery(url.slice(url.indexOf('?') + 1), '1.1.1.1');
    assert.equal(r.have, pieces - 1);
    assert.equal(r.pieces, pieces);
    // Without a bitfield, the given count goes as it is.
    const counted = buildAnnounceUrl('http://t/announce', { ...params, chunks: { pieces: 4, have: 2 } });
    assert.match(counted, /&cs_have=2$/);
  });
});

describe('opaque key', () => {
  it('accepts a binary key as aria2 sends it', () => {
    const r = parseAnnounceQuery(`${BASE}&key=%F8%01S%E4%FC%99%19%8E`, '127.0.0.1');
    assert.equal(Buffer.from(r.key!, 'latin1').toString('hex'), 'f80153e4fc99198e');
  });
});
