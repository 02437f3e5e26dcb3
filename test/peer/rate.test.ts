import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GIVE_WAY_RANK, RateMeter, TokenBucket } from '../../src/peer/rate.js';
import { FakeClock } from '../../src/shared/clock.js';

/** Moves the fake clock a millisecond at a time, letting promises settle, until `done` or `capMs`. */
async function tickUntil(clock: FakeClock, done: () => boolean, capMs: number): Promise<void> {
  for (let ms = 0; ms < capMs && !done(); ms++) {
    clock.advance(1);
    await new Promise((r) => setImmediate(r));
  }
}

test('rate meter averages over its window and forgets old seconds', () => {
  const clock = new FakeClock(0);
  const m = new RateMeter(clock, 5);
  for (let s = 0; s < 5; s++) {
    m.add(1000);
    clock.advance(1000);
  }
  assert.equal(m.current, 1000); // the current second has only begun: it does not dilute what is shown
  assert.equal(m.rate, 800); // what the session decides by counts the current (empty) second
  clock.advance(10_000);
  assert.equal(m.current, 0);
  assert.equal(m.rate, 0);
  assert.equal(m.total, 5000);
});

test('rate meter shows a steady rate as it is at every point of a second', () => {
  const clock = new FakeClock(0);
  const m = new RateMeter(clock, 5);
  // 100 bytes every 100 ms: 1,000 bytes a second, read at each step once the window is full
  for (let step = 1; step <= 100; step++) {
    clock.advance(100);
    m.add(100);
    // (within one add's 100 bytes over the 4 s or more the window spans)
    if (step > 50) assert.ok(Math.abs(m.current - 1000) <= 25, `${m.current} at ${clock.now()} ms`);
  }
});

test('rate meter of a young peer divides by its age, not by the whole window', () => {
  const clock = new FakeClock(10_600);
  const m = new RateMeter(clock, 5);
  clock.advance(500);
  m.add(2000);
  assert.equal(m.current, 2000); // half a second old: counted as one second, never more than what came
  clock.advance(1500);
  m.add(2000);
  assert.equal(m.current, 2000); // 4,000 bytes in its 2 s
});

test('an unlimited bucket never waits', async () => {
  const b = new TokenBucket(0);
  await b.take(10_000_000);
  await b.take(10_000_000);
});

test('a limited bucket serves waiters in order at its rate (fake clock)', async () => {
  const clock = new FakeClock(0);
  const b = new TokenBucket(100_000, clock);
  const order: number[] = [];
  const waits = [1, 2, 3, 4].map((i) => b.take(40_000).then(() => order.push(i)));
  await new Promise((r) => setImmediate(r));
  // The burst allowance (64 KiB here) lets the first through at once, not the second.
  assert.deepEqual(order, [1]);
  let steps = 0;
  while (order.length < 4 && steps < 100) {
    clock.advance(50);
    steps++;
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(waits);
  assert.deepEqual(order, [1, 2, 3, 4]);
  // 160 000 B at 100 000 B/s, less the 64 KiB burst: about 0.95 s of (fake) time.
  assert.ok(clock.now() >= 800 && clock.now() <= 1300, `took ${clock.now()} ms`);
});

test('a limited bucket serves the lowest rank first, in order of arrival among equals (fake clock)', async () => {
  const clock = new FakeClock(0);
  const b = new TokenBucket(100_000, clock);
  const order: string[] = [];
  const take = (name: string, rank: number) => b.take(40_000, rank).then(() => order.push(name));
  const waits = [take('first', 5), take('a', 9), take('b', 9), take('nearly done', 1), take('c', 9)];
  let steps = 0;
  while (order.length < 5 && steps < 200) {
    await new Promise((r) => setImmediate(r));
    clock.advance(50);
    steps++;
  }
  await Promise.all(waits);
  // `first` went at once on the burst; of those that waited, the lowest rank jumps the queue.
  assert.deepEqual(order, ['first', 'nearly done', 'a', 'b', 'c']);
});

test('a capped bucket wakes at most every 25 ms and then lets out all it can (fake clock)', async () => {
  const clock = new FakeClock(0);
  const rate = 8 << 20;
  const b = new TokenBucket(rate, clock);
  await b.take(2 << 20); // spends the quarter-second burst
  const releasedAt: number[] = [];
  const waits = Array.from({ length: 6 }, () => b.take(64 << 10).then(() => releasedAt.push(clock.now())));
  await tickUntil(clock, () => releasedAt.length === 6, 200);
  await Promise.all(waits);
  // 6 x 64 KiB at 8 MiB/s is 47 ms of budget: two wake-ups of three batches each, not one per batch.
  assert.deepEqual(releasedAt, [25, 25, 25, 50, 50, 50]);
});

test('a waiter that gives way goes only with a wake-up of spare budget, and then takes the whole rate (fake clock)', async () => {
  const clock = new FakeClock(0);
  const rate = 1 << 20;
  const b = new TokenBucket(rate, clock);
  await b.take(256 << 10); // spends the quarter-second burst
  const order: [string, number][] = [];
  const take = (name: string, rank: number) =>
    b.take(64 << 10, rank).then(() => order.push([name, clock.now()]));
  const second = take('second copy', GIVE_WAY_RANK);
  // A better waiter that comes after it, once the bucket holds what the second copy takes, still goes first.
  await tickUntil(clock, () => clock.now() >= 70, 70);
  const first = take('first copy', 0);
  await tickUntil(clock, () => order.length === 2, 1000);
  await Promise.all([second, first]);
  assert.deepEqual(
    order.map(([name]) => name),
    ['first copy', 'second copy'],
  );
  // The second copy then waits until the bucket holds its 64 KiB and 25 ms of budget besides (89.6 KiB at
  // 1 MiB/s), less the 7.7 KiB the first copy left: about 80 ms.
  const gap = order[1]![1] - order[0]![1];
  assert.ok(gap >= 75 && gap <= 110, `second copy ${gap} ms after the first`);
  // Alone, waiters that give way are let out at the bucket's rate: 8 x 64 KiB at 1 MiB/s is about 0.5 s.
  const start = clock.now();
  const times: number[] = [];
  const alone = Array.from({ length: 8 }, () =>
    b.take(64 << 10, GIVE_WAY_RANK).then(() => times.push(clock.now())),
  );
  await tickUntil(clock, () => times.length === 8, 3000);
  await Promise.all(alone);
  const took = times.at(-1)! - start;
  assert.ok(took >= 400 && took <= 800, `8 batches that give way took ${took} ms`);
});

test('a waiter whose signal aborts leaves the queue and takes no budget (fake clock)', async () => {
  const clock = new FakeClock(0);
  const b = new TokenBucket(1 << 20, clock);
  await b.take(256 << 10); // spends the quarter-second burst
  const order: string[] = [];
  const parked = new AbortController();
  const left = b.take(64 << 10, GIVE_WAY_RANK, parked.signal).then(() => order.push('aborted'));
  const behind = b.take(64 << 10, GIVE_WAY_RANK).then(() => order.push(`behind@${clock.now()}`));
  await tickUntil(clock, () => clock.now() >= 50, 50);
  parked.abort();
  await tickUntil(clock, () => order.length === 2, 1000);
  await Promise.all([left, behind]);
  assert.equal(order[0], 'aborted');
  // The waiter behind it goes as if the aborted one had never waited: at 87.5 ms, its own 64 KiB and 25 ms
  // of spare budget at 1 MiB/s (the wake-up rounds it up to the next millisecond).
  assert.equal(order[1], 'behind@88');
  // A signal aborted before the waiter queues: it resolves at once and takes nothing.
  const before = clock.now();
  await b.take(64 << 10, GIVE_WAY_RANK, parked.signal);
  assert.equal(clock.now(), before);
  const next: number[] = [];
  const after = b.take(64 << 10).then(() => next.push(clock.now()));
  await tickUntil(clock, () => next.length === 1, 1000);
  await after;
  assert.ok(next[0]! - before <= 70, `the next waiter took ${next[0]! - before} ms: budget was spent`);
});
