/**
 * The routing table as pictures: one line per bucket, `depth: nodes (+replacements)`, the bucket holding
 * our own id last (`depth+`). Our id is all zeros, so a node's bucket is the number of leading zero bits
 * of its id.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commonPrefixBits, compareDistance, idInBucket } from '../../src/dht/distance.js';
import { QUESTIONABLE_AFTER_MS, RoutingTable } from '../../src/dht/routing-table.js';

const OWN = Buffer.alloc(20);
let serial = 0;

/** A node id with exactly `zeros` leading zero bits (so it falls in bucket `zeros`), unique per call. */
function idAt(zeros: number): Buffer {
  serial++;
  const id = Buffer.alloc(20);
  id.writeUInt32BE(serial, 16);
  id[zeros >> 3] = id[zeros >> 3]! | (0x80 >> (zeros & 7));
  return id;
}

function node(zeros: number, port = 1000 + serial) {
  return { id: idAt(zeros), host: '10.0.0.1', port };
}

describe('XOR distance helpers', () => {
  it('counts common prefix bits and orders by distance', () => {
    assert.equal(commonPrefixBits(OWN, OWN), 160);
    assert.equal(commonPrefixBits(OWN, idAt(0)), 0);
    assert.equal(commonPrefixBits(OWN, idAt(13)), 13);
    const t = Buffer.alloc(20);
    assert.ok(compareDistance(idAt(10), idAt(2), t) < 0);
    for (const depth of [0, 5, 100, 159]) {
      assert.equal(commonPrefixBits(OWN, idInBucket(OWN, depth, Buffer.alloc(20, 0xff))), depth);
    }
  });
});

describe('routing table (BEP 5, K = 8)', () => {
  it('splits only the bucket that holds our own id', () => {
    const t = new RoutingTable(OWN);
    for (let i = 0; i < 8; i++) t.heard(node(0), 'response', 0);
    assert.deepEqual(t.picture(), ['0+: 8']);
    // A ninth node near us splits the bucket: the far half keeps its eight.
    t.heard(node(3), 'response', 0);
    assert.deepEqual(t.picture(), ['0: 8', '1+: 1']);
    for (let i = 0; i < 9; i++) t.heard(node(1), 'response', 0);
    for (let i = 0; i < 8; i++) t.heard(node(5), 'response', 0);
    // Splits happen only as far as needed: the depth-5 nodes share the nearest bucket, '4+'.
    assert.deepEqual(t.picture(), ['0: 8', '1: 8 (+1)', '2: 0', '3: 1', '4+: 8']);
    // A full far bucket is never split: a newcomer waits among the replacements.
    assert.deepEqual(t.heard(node(0), 'response', 0), { kind: 'full' });
    assert.equal(t.picture()[0], '0: 8 (+1)');
    assert.equal(t.size, 8 + 8 + 1 + 8);
  });

  it('lets in only nodes that answered us, and one id per address and port', () => {
    const t = new RoutingTable(OWN);
    const a = node(4);
    assert.deepEqual(t.heard(a, 'query', 0), { kind: 'ignored' });
    assert.equal(t.size, 0);
    assert.equal(t.wants(a.id, 0), true);
    assert.deepEqual(t.heard(a, 'response', 0), { kind: 'added' });
    // The same id from another endpoint is refused; another id querying from a known endpoint too.
    assert.deepEqual(t.heard({ ...a, port: a.port + 1 }, 'response', 0), { kind: 'ignored' });
    assert.deepEqual(t.heard({ ...a, id: idAt(4) }, 'query', 0), { kind: 'ignored' });
    assert.deepEqual(t.heard({ ...a, id: OWN }, 'response', 0), { kind: 'ignored' });
    assert.deepEqual(t.heard(a, 'query', 5), { kind: 'updated' });
    assert.equal(t.get(a.id)?.lastQuery, 5);
    assert.equal(t.wants(a.id, 0), false);
    // Another id answering our query from that endpoint: the node there restarted; the old entry goes.
    const renamed = { ...a, id: idAt(4) };
    assert.deepEqual(t.heard(renamed, 'response', 6), { kind: 'added' });
    assert.equal(t.get(a.id), undefined);
    assert.ok(t.get(renamed.id));
    assert.equal(t.size, 1);
  });

  it('pings the longest-silent questionable node before evicting it for a newcomer', () => {
    const t = new RoutingTable(OWN);
    const far = Array.from({ length: 8 }, () => node(0));
    for (const [i, n] of far.entries()) t.heard(n, 'response', i);
    t.heard(node(2), 'response', 0); // split: bucket 0 now holds the eight far nodes
    const later = QUESTIONABLE_AFTER_MS + 100;
    // Seven of the eight answered again recently; far[3] is questionable.
    for (const [i, n] of far.entries()) if (i !== 3) t.heard(n, 'response', later);
    const newcomer = node(0);
    const r = t.heard(newcomer, 'response', later);
    assert.equal(r.kind, 'ping');
    assert.deepEqual(r.kind === 'ping' && r.node.id, far[3]!.id);
    assert.deepEqual(t.picture(), ['0: 8 (+1)', '1+: 1']);
    // The ping goes unanswered: the questionable node goes, the newcomer takes its place.
    t.failed(far[3]!.id, later + 2000);
    assert.deepEqual(t.picture(), ['0: 8', '1+: 1']);
    assert.ok(t.get(newcomer.id));
    assert.equal(t.get(far[3]!.id), undefined);
  });

  it('keeps a good node through one failure, drops it after two, and drops bad nodes for newcomers', () => {
    const t = new RoutingTable(OWN);
    const far = Array.from({ length: 8 }, () => node(0));
    for (const n of far) t.heard(n, 'response', 0);
    t.heard(node(2), 'response', 0);
    t.failed(far[0]!.id, 10);
    assert.ok(t.get(far[0]!.id));
    assert.equal(t.status(t.get(far[0]!.id)!, 10), 'questionable');
    t.heard(far[0]!, 'response', 20); // it answers again: good
    assert.equal(t.status(t.get(far[0]!.id)!, 20), 'good');
    t.failed(far[1]!.id, 30);
    t.failed(far[1]!.id, 40);
    assert.equal(t.get(far[1]!.id), undefined);
    assert.deepEqual(t.picture(), ['0: 7', '1+: 1']);
    assert.deepEqual(t.heard(node(0), 'response', 50), { kind: 'added' });
    assert.deepEqual(t.picture(), ['0: 8', '1+: 1']);
  });

  it('gives the closest nodes by XOR distance and the stale buckets to refresh', () => {
    const t = new RoutingTable(OWN);
    const nodes = [node(0), node(1), node(2), node(3), node(7)];
    for (const n of nodes) t.heard(n, 'response', 0);
    const target = idInBucket(OWN, 3, Buffer.alloc(20));
    const closest = t.closest(target, 2).map((e) => e.id);
    assert.deepEqual(closest, [nodes[3]!.id, nodes[4]!.id]);
    assert.deepEqual(
      t.staleBuckets(1000, () => Buffer.alloc(20)),
      [],
    );
    const stale = t.staleBuckets(QUESTIONABLE_AFTER_MS + 1, () => Buffer.alloc(20, 0x55));
    assert.equal(stale.length, t.bucketCount);
    assert.deepEqual(
      stale.map((id) => commonPrefixBits(OWN, id)),
      stale.map((_, i) => i),
    );
    // Refreshed buckets are not stale again at once.
    assert.deepEqual(
      t.staleBuckets(QUESTIONABLE_AFTER_MS + 2, () => Buffer.alloc(20)),
      [],
    );
  });
});
