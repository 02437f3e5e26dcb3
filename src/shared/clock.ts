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

/** A clock that moves only when told to; timers fire in order as `advance` passes them. */
export class FakeClock implements Clock {
  #now: number;
  #timers: { at: number; every: number; fn: () => void; id: number }[] = [];
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

  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.#now = due.at;
      if (due.every > 0) due.at += due.every;
      else this.#timers = this.#timers.filter((t) => t !== due);
      due.fn();
    }
    this.#now = end;
  }

  #add(fn: () => void, ms: number, every: number): () => void {
    const timer = { at: this.#now + Math.max(0, ms), every, fn, id: this.#nextId++ };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  }
}
