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

test('a call can cap the share below perPeer: the peer is topped up to that many outstanding', () => {
  const d = new SeedDistributor(10, size, { perPeer: 3, random: () => 0 });
  assert.deepEqual(
    d.next('a', () => true, 1, 1),
    [0],
  );
  assert.deepEqual(
    d.next('a', () => true, 1, 1),
    [],
    'one outstanding already',
  );
  assert.deepEqual(
    d.next('a', () => true),
    [1, 2],
    'without the cap, topped up to three',
  );
});

test('a fully served piece frees the slot; pieces a peer holds are skipped', () => {
  const d = new SeedDistributor(6, size, { perPeer: 2, random: () => 0 });
  assert.deepEqual(
    d.next('a', (i) => i !== 0),
    [1, 2],
  );
  d.take(1, 'a');
  assert.equal(d.served(1, 0, 60, 'a'), false);
  assert.equal(d.served(1, 60, 40, 'a'), true);
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
  for (const i of [1, 2, 3]) {
    d.take(i, 'b');
    d.served(i, 0, 100, 'b');
  }
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

test('a piece is out once whole at the peer that took it; blocks of it to another peer are second copies', () => {
  const d = new SeedDistributor(2, size, { random: () => 0 });
  assert.equal(d.isSecondCopy(0, 'a'), false);
  d.take(0, 'a');
  d.take(0, 'b'); // too late: a took it
  assert.equal(d.isSecondCopy(0, 'a'), false);
  assert.equal(d.isSecondCopy(0, 'b'), true);
  // Halves to two peers are no copy: only a's bytes count.
  assert.equal(d.served(0, 0, 50, 'a'), false);
  assert.equal(d.served(0, 50, 50, 'b'), false);
  assert.equal(d.sentCount, 0);
  assert.equal(d.served(0, 50, 50, 'a'), true);
  assert.equal(d.isSecondCopy(0, 'a'), true, 'out once: any more is a second copy');
  // A taker that leaves before it has the piece gives it back, from its first byte.
  d.take(1, 'c');
  d.served(1, 0, 60, 'c');
  d.release('c');
  assert.equal(d.isSecondCopy(1, 'd'), false);
  d.take(1, 'd');
  assert.equal(d.served(1, 0, 60, 'd'), false);
  assert.equal(d.served(1, 60, 40, 'd'), true);
  assert.equal(d.done, true);
});

test('a choked peer gives back the suggestions it has not begun, and keeps the piece it is being sent', () => {
  const d = new SeedDistributor(4, size, { perPeer: 2, random: () => 0 });
  assert.deepEqual(
    d.next('a', () => true),
    [0, 1],
  );
  assert.deepEqual(
    d.next('b', () => true),
    [2, 3],
  );
  assert.equal(d.unclaimed, false, 'every unsent piece is suggested to someone');
  d.take(0, 'a');
  d.served(0, 0, 50, 'a');
  d.withdraw('a');
  assert.equal(d.unclaimed, true);
  assert.equal(d.outstanding('a'), 1, 'the piece it is being sent stays its own');
  assert.deepEqual(
    d.next('c', () => true),
    [1],
    'the piece it had not begun goes to another peer',
  );
  assert.equal(d.isSecondCopy(0, 'c'), true, 'half of piece 0 went to a: it is a’s to finish');
  assert.equal(d.served(0, 50, 50, 'a'), true);
});

test('a block sent twice to the taker counts once: the piece is out only when every block went', () => {
  // Two blocks of 50: the taker asked for the first again (it gave up on it, then renewed the request).
  const d = new SeedDistributor(1, size, { random: () => 0 });
  d.take(0, 'a');
  assert.equal(d.served(0, 0, 50, 'a'), false);
  assert.equal(d.served(0, 0, 50, 'a'), false, 'the same block again is no progress');
  assert.equal(d.isSecondCopy(0, 'a'), false, 'the second block is still a first copy');
  assert.equal(d.sentCount, 0);
  assert.equal(d.served(0, 50, 50, 'a'), true);
  assert.equal(d.done, true);
});
