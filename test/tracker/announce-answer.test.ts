import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LIMITS } from '../../src/shared/limits.js';
import { parseAnnounceQuery, parseAnnounceResponse } from '../../src/tracker/protocol/index.js';
import { announceAnswer, type PeerRecord, type SwarmAnswer } from '../../src/tracker/server/index.js';

const HASH = '%01'.repeat(20);
const ID = '-CS0001-abcdefghijkl';

function peer(i: number, bitfield: Buffer): PeerRecord {
  return {
    key: `p${i}`,
    ip: `10.0.${i >> 8}.${i & 255}`,
    port: 6881,
    peerId: Buffer.alloc(20, i),
    uploaded: 0,
    downloaded: 0,
    left: 1,
    pieces: bitfield.length * 8,
    bitfield,
    lastSeen: 0,
  };
}

describe('announceAnswer', () => {
  it('answers compact, with the settings and the swarm counts', () => {
    const a = parseAnnounceQuery(`info_hash=${HASH}&peer_id=${ID}&port=1&left=0`, '127.0.0.1');
    const r: SwarmAnswer = {
      infoHash: '01'.repeat(20),
      packed: { v4: Buffer.from([10, 0, 0, 1, 0x1a, 0xe1]), v6: Buffer.alloc(0) },
      peers: [],
      stats: { complete: 3, incomplete: 4, downloaded: 0 },
    };
    const got = parseAnnounceResponse(
      announceAnswer(a, r, { interval: 60, minInterval: 30, trackerId: 'T' }),
    );
    assert.deepEqual(got, {
      interval: 60,
      minInterval: 30,
      complete: 3,
      incomplete: 4,
      trackerId: 'T',
      peers: [{ ip: '10.0.0.1', port: 6881 }],
    });
  });

  it('shortens a status answer past its budget and says so, after a capped numwant', () => {
    const a = parseAnnounceQuery(
      `info_hash=${HASH}&peer_id=${ID}&port=1&left=0&numwant=100000&cs_status=1`,
      '127.0.0.1',
    );
    // 200 peers with 8 KiB bitfields: 1.6 MiB of status, more than the answer may carry.
    const peers = Array.from({ length: LIMITS.trackerMaxNumwant }, (_, i) =>
      peer(i, Buffer.alloc(8192, 0xff)),
    );
    const r: SwarmAnswer = {
      infoHash: '01'.repeat(20),
      packed: undefined,
      peers,
      stats: { complete: 0, incomplete: 200, downloaded: 0 },
    };
    const body = announceAnswer(a, r, { interval: 60 });
    assert.ok(body.length < 1024 * 1024, `${body.length} bytes`);
    const got = parseAnnounceResponse(body);
    assert.ok(got.peers.length > 0 && got.peers.length < peers.length);
    assert.equal(
      got.warning,
      `numwant capped at ${LIMITS.trackerMaxNumwant}; peer list shortened to ${got.peers.length} to keep the answer under 1 MiB`,
    );
  });
});
