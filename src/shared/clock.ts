/** Time and timers behind an interface, so the choker and expiry logic can be tested with a fake clock. */
export interface Clock {
  now(): number;
  setInterval(fn: () => void, ms: number): () => void;
  setTimeout(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    t.unref();
    return () => clearInterval(t);
  },
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

interface Timer {
  at: number;
  /** Order of scheduling: timers due at the same time fire in the order they were set. */
  seq: number;
  every: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to; timers fire in order as `advance` passes them. Timers sit in a
 * binary heap, so a simulation with thousands of DHT nodes and their timers stays fast.
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #heap: Timer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): () => void {
    return this.#add(fn, ms, 0);
  }

  setInterval(fn: () => void, ms: number): () => void {
    return this.#add(fn, ms, Math.max(1, ms));
  }

  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined || top.at > end) break;
      this.#pop();
      if (top.cancelled) continue;
      this.#now = top.at;
      if (top.every > 0) {
        top.at += top.every;
        top.seq = this.#seq++;
        this.#push(top);
      }
      top.fn();
    }
    this.#now = end;
  }

  #add(fn: () => void, ms: number, every: number): () => void {
    const t: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, every, fn, cancelled: false };
    this.#push(t);
    return () => {
      t.cancelled = true;
    };
  }

  #less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(t: Timer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
