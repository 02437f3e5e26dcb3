import type { Clock } from '../shared/clock.js';
import { systemClock } from '../shared/clock.js';

/** Bytes per second over a sliding window of one-second buckets. */
export class RateMeter {
  readonly #clock: Clock;
  readonly #buckets: number[];
  readonly #born: number;
  #second = 0;
  total = 0;

  constructor(clock: Clock = systemClock, windowSeconds = 5) {
    this.#clock = clock;
    this.#buckets = new Array<number>(windowSeconds).fill(0);
    this.#born = clock.now();
    this.#second = Math.floor(this.#born / 1000);
  }

  add(bytes: number): void {
    this.#roll();
    this.#buckets[this.#second % this.#buckets.length]! += bytes;
    this.total += bytes;
  }

  /**
   * The window's bytes over the whole window, the current second counted whole: low by up to a fifth,
   * and low for a peer younger than the window. What the session decides by (request depth, stalls,
   * rechokes), as it was tuned on it; what a user reads is `current`.
   */
  get rate(): number {
    return this.#sum() / this.#buckets.length;
  }

  /**
   * The window's bytes over the time it really spans: its whole seconds, the part of the current one gone
   * by, and no more than the meter's age (over its first second, what came counts as a second's worth). A
   * steady 4 MiB/s reads 4 MiB/s at every point of a second, where `rate` reads 3.2 to 4.
   */
  get current(): number {
    const sum = this.#sum();
    const now = this.#clock.now();
    const spanMs = Math.min(
      (this.#buckets.length - 1) * 1000 + (now - this.#second * 1000),
      now - this.#born,
    );
    return (sum * 1000) / Math.max(1000, spanMs);
  }

  #sum(): number {
    this.#roll();
    let sum = 0;
    for (const b of this.#buckets) sum += b;
    return sum;
  }

  #roll(): void {
    const now = Math.floor(this.#clock.now() / 1000);
    const steps = Math.min(now - this.#second, this.#buckets.length);
    for (let i = 1; i <= steps; i++) this.#buckets[(this.#second + i) % this.#buckets.length] = 0;
    if (now > this.#second) this.#second = now;
  }
}

/**
 * The shortest wait for more budget. Woken for each batch (8 ms at 8 MiB/s), a capped process spent
 * a wake-up, a timer and a write per 64 KiB; waking less often lets one wake-up release what several
 * waiters need, and the rate over any span longer than this stays the same.
 */
const MIN_WAKE_MS = 25;

/**
 * Waiters ranked at or above this give way: served only once the bucket holds, besides what they take, the
 * budget of a whole wake-up (MIN_WAKE_MS) that nobody else took. Being first in the queue is not enough: a
 * serving loop queues its next batch some promise steps after its last was let out, and that batch should
 * have the budget. A full bucket (a quarter second of budget) would hold endgame requests to a seeder back
 * as long. Once only such waiters are left, they take the whole rate, each as the budget refills.
 */
export const GIVE_WAY_RANK = 2 ** 40;

/**
 * A token bucket shared by every connection of the process, so `--upload-limit` is a total. A
 * limit of 0 means unlimited. Waiters are served in order, so one busy peer cannot starve others.
 */
export class TokenBucket {
  #rate: number;
  #tokens: number;
  #last: number;
  readonly #clock: Clock;
  readonly #queue: { bytes: number; rank: number; resolve: () => void }[] = [];
  #timer: (() => void) | undefined;

  constructor(bytesPerSecond: number, clock: Clock = systemClock) {
    this.#rate = bytesPerSecond;
    this.#clock = clock;
    this.#tokens = bytesPerSecond;
    this.#last = clock.now();
  }

  get rate(): number {
    return this.#rate;
  }

  setRate(bytesPerSecond: number): void {
    this.#rate = bytesPerSecond;
    this.#tokens = Math.min(this.#tokens, this.#burst());
    this.#drain();
  }

  /**
   * Resolves once `bytes` may be sent. Waiters with a lower `rank` go first, in order of arrival among
   * equals: serving ranks a batch by the bytes its piece still lacks, so the budget finishes pieces one
   * after another instead of spreading over every peer's piece at once (see Serving). A rank of
   * GIVE_WAY_RANK or more waits for spare budget (see there). A waiter whose `signal` aborts leaves the
   * queue without budget; its promise resolves all the same.
   */
  take(bytes: number, rank = 0, signal?: AbortSignal): Promise<void> {
    // Aborted before it waited: the listener below would never fire, and the waiter would never leave.
    if (signal?.aborted || (this.#rate <= 0 && this.#queue.length === 0)) return Promise.resolve();
    return new Promise((resolve) => {
      let at = this.#queue.length;
      while (at > 0 && this.#queue[at - 1]!.rank > rank) at--;
      const waiter = { bytes, rank, resolve };
      this.#queue.splice(at, 0, waiter);
      // Aborted while waiting: it leaves the queue, takes no budget, and resolves (the caller's signal says which).
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.#queue.indexOf(waiter);
          if (i < 0) return;
          this.#queue.splice(i, 1);
          resolve();
          this.#drain();
        },
        { once: true },
      );
      this.#drain();
    });
  }

  // A burst of a quarter second keeps the rate smooth on loopback, where a whole second's worth at once
  // would make every capped peer look like it sends in bursts.
  #burst(): number {
    return Math.max(this.#rate / 4, 64 * 1024);
  }

  /** Budget the waiter needs before it may go. */
  #needs(w: { bytes: number; rank: number }): number {
    const own = Math.min(w.bytes, this.#burst());
    return w.rank >= GIVE_WAY_RANK ? Math.min(this.#burst(), own + (this.#rate * MIN_WAKE_MS) / 1000) : own;
  }

  /** `woken`: called by the bucket's timer, the only place a waiter that gives way is let out. */
  #drain(woken = false): void {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#burst(), this.#tokens + ((now - this.#last) / 1000) * this.#rate);
    this.#last = now;
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      if (this.#rate > 0 && this.#tokens < this.#needs(head)) break;
      // Not from `take`: what else is asked for in the same turn (a burst of requests) gets its turn first.
      if (this.#rate > 0 && head.rank >= GIVE_WAY_RANK && !woken) break;
      this.#tokens -= head.bytes;
      this.#queue.shift();
      head.resolve();
    }
    if (this.#queue.length > 0 && !this.#timer) {
      const need = this.#needs(this.#queue[0]!) - this.#tokens;
      const wait = Math.max(MIN_WAKE_MS, Math.min(1000, Math.ceil((need / this.#rate) * 1000)));
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        this.#drain(true);
      }, wait);
    }
  }
}
