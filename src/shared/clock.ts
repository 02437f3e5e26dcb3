/** Time and timers behind an interface, so the choker and expiry logic can be tested with a fake clock. */
export interface Clock {
  now(): number;
  setInterval(fn: () => void, ms: number): () => void;
  setTimeout(fn: () => void, ms: number): () => void;
  /** Runs `fn` once this turn's work is done (after I/O callbacks queued now): batches per turn. */
  defer(fn: () => void): void;
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
  defer: (fn) => void setImmediate(fn),
};

interface FakeTimer {
  at: number;
  every: number;
  fn: () => void;
  id: number;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to; timers fire in order (by time, then by creation) as `advance`
 * passes them. Timers sit in a binary heap, so a simulation with thousands of peers stays cheap.
 */
export class FakeClock implements Clock {
  #now: number;
  readonly #heap: FakeTimer[] = [];
  #nextId = 0;

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

  defer(fn: () => void): void {
    this.#add(fn, 0, 0);
  }

  /** When the next timer is due; undefined when none is set. */
  nextAt(): number | undefined {
    this.#dropCancelled();
    return this.#heap[0]?.at;
  }

  /** Moves time forward by `ms`, running every timer due on the way (synchronously). */
  advance(ms: number): void {
    const end = this.#now + ms;
    while (this.#fireNext(end)) {}
    this.#now = Math.max(this.#now, end);
  }

  /**
   * Like `advance`, but lets promise chains started by each timer settle before the next one fires, as they
   * would between real timers: for code with `await` in it (a session, a serving loop).
   */
  async advanceAsync(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    while (this.#fireNext(end)) await settle();
    this.#now = Math.max(this.#now, end);
  }

  /** Runs the earliest timer due at or before `end`; false when there is none. */
  #fireNext(end: number): boolean {
    this.#dropCancelled();
    const due = this.#heap[0];
    if (!due || due.at > end) return false;
    this.#now = due.at;
    if (due.every > 0) {
      due.at += due.every;
      due.id = this.#nextId++;
      this.#siftDown(0);
    } else {
      this.#pop();
      due.cancelled = true;
    }
    due.fn();
    return true;
  }

  #add(fn: () => void, ms: number, every: number): () => void {
    const timer: FakeTimer = {
      at: this.#now + Math.max(0, ms),
      every,
      fn,
      id: this.#nextId++,
      cancelled: false,
    };
    this.#heap.push(timer);
    this.#siftUp(this.#heap.length - 1);
    return () => {
      timer.cancelled = true;
    };
  }

  #dropCancelled(): void {
    while (this.#heap[0]?.cancelled) this.#pop();
  }

  #pop(): void {
    const last = this.#heap.pop()!;
    if (this.#heap.length > 0 && last !== this.#heap[0]) {
      this.#heap[0] = last;
      this.#siftDown(0);
    }
  }

  #before(a: FakeTimer, b: FakeTimer): boolean {
    return a.at < b.at || (a.at === b.at && a.id < b.id);
  }

  #siftUp(i: number): void {
    const h = this.#heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  #siftDown(i: number): void {
    const h = this.#heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < h.length && this.#before(h[l]!, h[best]!)) best = l;
      if (r < h.length && this.#before(h[r]!, h[best]!)) best = r;
      if (best === i) return;
      [h[i], h[best]] = [h[best]!, h[i]!];
      i = best;
    }
  }
}

/** Resolves after every promise callback queued so far (and those they queue) has run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
