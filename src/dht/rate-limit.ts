/**
 * Token buckets per sender (address and port), in a bounded map: a flood from one endpoint is cut to
 * `rate` datagrams a second, and a flood of endpoints costs at most `maxSenders` small records (the
 * least recently seen sender is forgotten first). Pure: the time comes in as an argument.
 */
export class SenderRateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #maxSenders: number;
  /** key -> [tokens, last refill time]; Map order is least recently seen first. */
  readonly #senders = new Map<string, { tokens: number; at: number }>();

  constructor(opts: { ratePerSecond: number; burst?: number; maxSenders: number }) {
    this.#rate = opts.ratePerSecond;
    this.#burst = opts.burst ?? opts.ratePerSecond * 2;
    this.#maxSenders = opts.maxSenders;
  }

  get tracked(): number {
    return this.#senders.size;
  }

  /** Takes one token for `key`; false when its bucket is empty. */
  allow(key: string, now: number): boolean {
    let s = this.#senders.get(key);
    if (s === undefined) {
      s = { tokens: this.#burst, at: now };
      if (this.#senders.size >= this.#maxSenders) {
        const oldest = this.#senders.keys().next().value;
        if (oldest !== undefined) this.#senders.delete(oldest);
      }
    } else {
      this.#senders.delete(key);
      s.tokens = Math.min(this.#burst, s.tokens + ((now - s.at) / 1000) * this.#rate);
      s.at = now;
    }
    this.#senders.set(key, s);
    if (s.tokens < 1) return false;
    s.tokens -= 1;
    return true;
  }
}
