import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeedDistributor } from '../../src/session/distributor.js';

const size = () => 100;

test('no piece is suggested to two peers, and each peer gets its share', () => {
  const d = new SeedDistributor(10, size, { perPeer: 3, random: () => 0 });
  const a = d.next('a', () => true);
  const b = d.next('b', () => true);
  assert.deepEqual(a, [0, 1, 2]);
  assert.deepEqual(b, [3, 4, 5]);
  assert.deepEqual(
    d.next('a', () => true),
    [],
    'a already has three outstanding',
  );
});

test('a fully served piece frees the slot; pieces a peer holds are skipped', () => {
  const d = new SeedDistributor(6, size, { perPeer: 2, random: () => 0 });
  assert.deepEqual(
    d.next('a', (i) => i !== 0),
    [1, 2],
  );
  assert.equal(d.served(1, 60), false);
  assert.equal(d.served(1, 40), true);
  assert.deepEqual(
    d.next('a', (i) => i !== 0),
    [3],
  );
  assert.equal(d.sentCount, 1);
});

test('a HAVE from anyone counts a piece as out; a departed peer returns its pieces', () => {
  const d = new SeedDistributor(4, size, { perPeer: 2, random: () => 0 });
  assert.deepEqual(
    d.next('a', () => true),
    [0, 1],
  );
  d.peerHas(0);
  d.release('a');
  assert.deepEqual(
    d.next('b', () => true),
    [2, 3],
  );
  assert.deepEqual(
    d.next('c', () => true),
    [1],
  );
  for (const i of [1, 2, 3]) d.served(i, 100);
  assert.equal(d.done, true);
  assert.deepEqual(
    d.next('c', () => true),
    [],
  );
});

test('with many leechers each gets a smaller share, never less than one piece', () => {
  const d = new SeedDistributor(10, size, { perPeer: 4, random: () => 0 });
  // 10 unsent pieces among 4 leechers: 2 each, so every one of them has a piece of its own.
  assert.deepEqual(
    d.next('a', () => true, 4),
    [0, 1],
  );
  assert.equal(d.outstanding('a'), 2);
  // Among 20 leechers: one each (more leechers than pieces still get one while any is unclaimed).
  assert.deepEqual(
    d.next('b', () => true, 20),
    [2],
  );
  // One leecher alone gets the full share.
  assert.deepEqual(
    d.next('c', () => true, 1),
    [3, 4, 5, 6],
  );
  assert.equal(d.outstanding('nobody'), 0);
});
