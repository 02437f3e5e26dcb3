/** The DHT's small pure parts: lookup bookkeeping, tokens, the peer store, rate limits, the saved table. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Lookup } from '../../src/dht/lookup.js';
import { PeerStore } from '../../src/dht/peer-store.js';
import { SenderRateLimiter } from '../../src/dht/rate-limit.js';
import { decodeDhtState, encodeDhtState } from '../../src/dht/state.js';
import { TokenSecrets } from '../../src/dht/tokens.js';
import { isChunkswarmError } from '../../src/shared/errors.js';

const TARGET = Buffer.alloc(20);
/** An id at XOR distance `d` from TARGET (small d: close). */
function idAt(d: number): Buffer {
  const id = Buffer.alloc(20);
  id.writeUInt32BE(d, 16);
  return id;
}
const ep = (d: number) => ({ host: '10.0.0.1', port: 1000 + d });
const contact = (d: number) => ({ ...ep(d), id: idAt(d) });

describe('iterative lookup', () => {
  it('asks alpha at a time, closest first, and follows closer nodes until the K closest answered', () => {
    const l = new Lookup(TARGET, [contact(900), contact(800), contact(700), contact(600)], {
      k: 2,
      alpha: 2,
    });
    assert.deepEqual(l.next(), [ep(600), ep(700)]);
    assert.deepEqual(l.next(), [], 'no more than alpha in flight');
    l.answered(ep(600), idAt(600), [contact(50), contact(40)]);
    assert.deepEqual(l.next(), [ep(40)]);
    l.failed(ep(700));
    assert.deepEqual(l.next(), [ep(50)]);
    l.answered(ep(40), idAt(40), [contact(40), contact(600)]); // nothing new
    assert.equal(l.done, false);
    l.answered(ep(50), idAt(50), []);
    // The two closest (40, 50) answered: done, without asking 800 or 900.
    assert.equal(l.done, true);
    const r = l.result();
    assert.deepEqual(
      r.closest.map((c) => c.node.port),
      [1040, 1050],
    );
    assert.deepEqual([r.queries, r.answered, r.failed], [4, 3, 1]);
  });

  it('asks bootstrap nodes (no id yet) first and places them by the id they answer with', () => {
    const l = new Lookup(TARGET, [{ host: '10.9.9.9', port: 6881 }], { k: 8 });
    assert.deepEqual(l.next(), [{ host: '10.9.9.9', port: 6881 }]);
    l.answered({ host: '10.9.9.9', port: 6881 }, idAt(5), [contact(7)]);
    assert.deepEqual(l.next(), [ep(7)]);
    l.answered(ep(7), idAt(7), []);
    assert.equal(l.done, true);
    assert.deepEqual(
      l.result().closest.map((c) => c.node.port),
      [6881, 1007],
    );
  });

  it('never asks our own id, which others name among the nodes close to a target', () => {
    const l = new Lookup(TARGET, [contact(9)], { k: 8, ownId: idAt(3) });
    assert.deepEqual(l.next(), [ep(9)]);
    l.answered(ep(9), idAt(9), [contact(3), contact(5)]);
    assert.deepEqual(l.next(), [ep(5)]);
  });

  it('ends after maxQueries however many new nodes each answer names, and ignores unasked answers', () => {
    const l = new Lookup(TARGET, [contact(1_000_000)], { k: 8, alpha: 3, maxQueries: 10, maxCandidates: 16 });
    let d = 999_999;
    for (let round = 0; round < 100 && !l.done; round++) {
      for (const e of l.next()) l.answered(e, idAt(e.port - 1000), [contact(d--), contact(d--)]);
    }
    assert.equal(l.done, true);
    assert.equal(l.queries, 10);
    l.answered(ep(123), idAt(123), [contact(1)]);
    assert.equal(l.result().answered, 10);
  });
});

describe('announce tokens', () => {
  let n = 0;
  const random = (len: number) => Buffer.alloc(len, ++n);
  const ih = Buffer.alloc(20, 1);

  it('are tied to the address and infohash, and live through one rotation but not two', () => {
    const s = new TokenSecrets(random);
    const t = s.token('10.0.0.1', ih);
    assert.equal(t.length, 8);
    assert.ok(s.valid(t, '10.0.0.1', ih));
    assert.ok(!s.valid(t, '10.0.0.2', ih));
    assert.ok(!s.valid(t, '10.0.0.1', Buffer.alloc(20, 2)));
    assert.ok(!s.valid(Buffer.alloc(3), '10.0.0.1', ih));
    s.rotate();
    assert.ok(s.valid(t, '10.0.0.1', ih));
    s.rotate();
    assert.ok(!s.valid(t, '10.0.0.1', ih));
  });
});

describe('peer store', () => {
  const ih = (b: number) => Buffer.alloc(20, b);

  it('caps peers per infohash (oldest announce goes), caps infohashes, and expires peers', () => {
    const s = new PeerStore({ maxPeersPerHash: 3, maxInfoHashes: 2, ttlMs: 1000 });
    for (let p = 1; p <= 4; p++) s.add(ih(1), { host: '10.0.0.1', port: p }, p);
    assert.deepEqual(
      s.get(ih(1), 10, 10).map((e) => e.port),
      [4, 3, 2],
    );
    assert.deepEqual(
      s.get(ih(1), 10, 2).map((e) => e.port),
      [4, 3],
    );
    assert.ok(s.add(ih(2), { host: '10.0.0.1', port: 9 }, 10));
    assert.equal(s.add(ih(3), { host: '10.0.0.1', port: 9 }, 10), false, 'a third infohash is refused');
    assert.deepEqual(
      s.get(ih(1), 1003, 10).map((e) => e.port),
      [4],
    );
    // Once the first swarm has expired, there is room again.
    assert.ok(s.add(ih(3), { host: '10.0.0.1', port: 9 }, 1005));
    assert.equal(s.infoHashes, 2);
  });
});

describe('per-sender rate limit', () => {
  it('allows the burst, then the rate, and forgets the least recently seen sender past its cap', () => {
    const r = new SenderRateLimiter({ ratePerSecond: 10, burst: 5, maxSenders: 2 });
    let ok = 0;
    for (let i = 0; i < 20; i++) if (r.allow('a', 0)) ok++;
    assert.equal(ok, 5);
    assert.equal(r.allow('a', 50), false);
    assert.equal(r.allow('a', 100), true, 'a tenth of a second later, one more');
    r.allow('b', 100);
    r.allow('c', 100);
    assert.equal(r.tracked, 2);
    // 'a' was forgotten: it starts again with a full burst.
    assert.equal(r.allow('a', 100), true);
  });
});

describe('saved routing table', () => {
  it('round-trips the id and nodes, and refuses a damaged file with EDHT_STATE', () => {
    const state = {
      id: Buffer.alloc(20, 3),
      nodes: [{ id: Buffer.alloc(20, 4), host: '127.0.0.1', port: 6881 }],
    };
    assert.deepEqual(decodeDhtState(encodeDhtState(state)), state);
    const bytes = encodeDhtState(state);
    for (const bad of [bytes.subarray(0, 20), Buffer.from('d2:id3:abce'), Buffer.from('le')]) {
      assert.throws(
        () => decodeDhtState(bad),
        (e: unknown) => isChunkswarmError(e, 'EDHT_STATE'),
      );
    }
  });
});
