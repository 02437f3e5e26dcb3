import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ASIDE_SHARE,
  type ChokerOptions,
  type ChokerPeer,
  isStarving,
  pickOptimistic,
  rechoke,
  STARVING_MS,
  seederStandsAside,
  tradeScore,
} from '../../src/session/choker.js';
import { FakeClock } from '../../src/shared/clock.js';

const peer = (key: string, down: number, up = 0, o: Partial<ChokerPeer> = {}): ChokerPeer => ({
  key,
  interested: true,
  downloadRate: down,
  uploadRate: up,
  missing: 0,
  unchoked: false,
  connectedAt: -1_000_000,
  ...o,
});

// A deterministic "random" that always picks the first candidate.
const first = () => 0;

test('leeching: the four peers that send to us fastest keep their slots, plus one optimistic', () => {
  const peers = [peer('a', 10), peer('b', 50), peer('c', 30), peer('d', 5), peer('e', 40), peer('f', 1)];
  const d = rechoke(peers, {
    regularSlots: 4,
    seeding: false,
    now: 0,
    rotateOptimistic: true,
    optimistic: undefined,
    random: first,
  });
  assert.deepEqual([...d.unchoke].slice(0, 4).sort(), ['a', 'b', 'c', 'e']);
  assert.equal(d.unchoke.size, 5);
  assert.ok(d.optimistic === 'd' || d.optimistic === 'f');
  assert.ok(d.unchoke.has(d.optimistic!));
});

/** Two regular slots, no rotation this round. */
const twoSlots = (seeding: boolean): ChokerOptions => ({
  regularSlots: 2,
  seeding,
  now: 0,
  rotateOptimistic: false,
  optimistic: undefined,
  random: first,
});

test('leeching: a peer we owe keeps its slot against a faster sender until the debt is repaid', () => {
  // 'giver' sent us 4 MiB more than we sent it and now sends 20 KiB/s; 'fast' sends 100 KiB/s and we are even.
  const giver = (owed: number) => peer('giver', 20_000, 0, { owed });
  const others = [peer('fast', 100_000), peer('mid', 60_000), peer('slow', 10_000)];
  const slots = (owed: number) => {
    const d = rechoke([giver(owed), ...others], twoSlots(false));
    return new Set([...d.unchoke].filter((k) => k !== d.optimistic));
  };
  // Repaid down to 512 KiB, the debt adds 26 KB/s: less than the others send, so the slot goes by rate again.
  assert.ok(!slots(512 * 1024).has('giver'));
  assert.deepEqual([...slots(0)].sort(), ['fast', 'mid']);
  assert.deepEqual([...slots(4 * 1024 * 1024)].sort(), ['fast', 'giver']);
  assert.equal(tradeScore({ downloadRate: 1000 }), 1000);
});

test('seeding ranks by what we upload to each peer when they lack as much', () => {
  const peers = [peer('a', 0, 1), peer('b', 0, 9), peer('c', 0, 5), peer('d', 0, 7), peer('e', 0, 3)];
  const d = rechoke(peers, twoSlots(true));
  assert.ok(d.unchoke.has('b') && d.unchoke.has('d'));
  assert.equal(d.unchoke.size, 3);
});

test('seeding: the peers that lack the most pieces get the regular slots, our upload rate to them breaks ties', () => {
  const peers = [
    peer('nearly-done', 0, 900, { missing: 2 }),
    peer('behind', 0, 10, { missing: 200 }),
    peer('half', 0, 500, { missing: 100 }),
    peer('half-fast', 0, 800, { missing: 100 }),
    peer('done-soon', 0, 1000, { missing: 5 }),
  ];
  const d = rechoke(peers, twoSlots(true));
  assert.deepEqual([...d.unchoke].slice(0, 2), ['behind', 'half-fast']);
  // Leeching, what a peer lacks does not count: tit-for-tat ranks by what it sends us.
  const leeching = rechoke(
    peers.map((p, i) => ({ ...p, downloadRate: i })),
    twoSlots(false),
  );
  assert.deepEqual([...leeching.unchoke].slice(0, 2), ['done-soon', 'half-fast']);
});

test('uninterested and snubbed peers get no regular slot', () => {
  const peers = [peer('a', 100, 0, { interested: false }), peer('b', 90, 0, { snubbed: true }), peer('c', 1)];
  const d = rechoke(peers, {
    regularSlots: 4,
    seeding: false,
    now: 0,
    rotateOptimistic: false,
    optimistic: undefined,
    random: first,
  });
  assert.ok(!d.unchoke.has('a'));
  assert.ok(d.unchoke.has('c'));
  // b may only come back as the optimistic unchoke.
  assert.equal(d.unchoke.has('b'), d.optimistic === 'b');
});

test('the optimistic unchoke stays between rotations and moves at each rotation (here every third rechoke) on a fake clock', () => {
  const clock = new FakeClock(0);
  const peers = [peer('fast', 100), peer('x', 0), peer('y', 0), peer('z', 0)];
  let optimistic: string | undefined;
  let rounds = 0;
  const seen: (string | undefined)[] = [];
  let r = 0;
  const cycle = () => {
    r = (r + 0.34) % 1;
    return r;
  };
  clock.setInterval(() => {
    const d = rechoke(peers, {
      regularSlots: 1,
      seeding: false,
      now: clock.now(),
      rotateOptimistic: rounds++ % 3 === 0,
      optimistic,
      random: cycle,
    });
    optimistic = d.optimistic;
    seen.push(optimistic);
  }, 10_000);
  clock.advance(90_000);
  assert.equal(seen.length, 9);
  // Unchanged within each 30 s window, changed at each rotation.
  for (const w of [0, 3, 6])
    assert.ok(seen[w] === seen[w + 1] && seen[w + 1] === seen[w + 2], `window at ${w}: ${seen}`);
  assert.notEqual(seen[0], seen[3]);
  assert.notEqual(seen[3], seen[6]);
});

test('newcomers are favoured for the optimistic slot', () => {
  const now = 10 * 60_000;
  const peers = [peer('old', 0, 0, { connectedAt: 0 }), peer('new', 0, 0, { connectedAt: now - 1000 })];
  let newcomer = 0;
  for (let i = 0; i < 100; i++) {
    const d = rechoke(peers, {
      regularSlots: 0,
      seeding: false,
      now,
      rotateOptimistic: true,
      optimistic: undefined,
      random: () => i / 100,
    });
    if (d.optimistic === 'new') newcomer++;
  }
  assert.equal(newcomer, 75);
});

test('a newcomer that holds nothing weighs three times as much again for the optimistic slot, an old empty peer no more than any', () => {
  const now = 10 * 60_000;
  const peers = [
    { key: 'old', connectedAt: 0 },
    { key: 'new', connectedAt: now - 1000 },
    { key: 'new-empty', connectedAt: now - 1000, holdsNothing: true },
    { key: 'old-empty', connectedAt: 0, holdsNothing: true },
  ];
  const picked = new Map<string | undefined, number>();
  for (let i = 0; i < 140; i++) {
    const key = pickOptimistic(peers, now, () => i / 140);
    picked.set(key, (picked.get(key) ?? 0) + 1);
  }
  // Weights 1, 3, 9 and 1 of 14.
  assert.deepEqual(Object.fromEntries(picked), { old: 10, new: 30, 'new-empty': 90, 'old-empty': 10 });
  assert.equal(
    pickOptimistic([], now, () => 0.5),
    undefined,
  );
});

test('a seeder stands aside only while its upload would add less than ASIDE_SHARE to what its neighbours get', () => {
  const MiB = 1024 * 1024;
  // The bench's 1 + 24 swarm: 4 MiB/s against 23 leechers relaying 4 MiB/s each.
  assert.equal(seederStandsAside(4 * MiB, 92 * MiB), true);
  // A seeder at 1 MiB/s before 20 leechers at 512 KiB/s: a tenth of the swarm's upload, so it serves on.
  assert.equal(seederStandsAside(MiB, 10 * MiB), false);
  // A fast seeder before slow leechers, and one whose leechers get nothing from one another.
  assert.equal(seederStandsAside(8 * MiB, 1.25 * MiB), false);
  assert.equal(seederStandsAside(MiB, 0), false);
  // At the edge: exactly the share is not less than it.
  const others = (1 / ASIDE_SHARE - 1) * MiB;
  assert.equal(seederStandsAside(MiB, others), false);
  assert.equal(seederStandsAside(MiB, others + 1), true);
  // Nothing known of what we could give (no limit, nothing sent yet): never aside.
  assert.equal(seederStandsAside(0, 100 * MiB), false);
});

test('a peer starves once STARVING_MS have passed since its last piece', () => {
  assert.equal(isStarving(10_000, 10_000 + STARVING_MS - 1), false);
  assert.equal(isStarving(10_000, 10_000 + STARVING_MS), true);
});
