import { formatAddress } from '../shared/types.js';

/** Addresses remembered per torrent: plenty for a swarm, bounded against a flood of PEX or tracker peers. */
export const BOOK_SIZE = 500;
/** First wait before an address whose dial failed is dialled again; it doubles with each failure in a row. */
export const BOOK_RETRY_FIRST_MS = 5_000;
export const BOOK_RETRY_CAP_MS = 300_000;
/** An address that failed this many dials in a row is forgotten until someone names it again. */
export const BOOK_FORGET_AFTER = 8;
/**
 * A seeder does not dial back, for this long, a peer that closed the connection on it: that peer chose to
 * leave (a shell's `/disconnect_peer`, a full peer making room), and a seeder back at once is unwelcome.
 */
export const BOOK_LEFT_US_MS = 300_000;

interface Entry {
  readonly ip: string;
  readonly port: number;
  /** It held every piece when we last heard of it (a PEX flag, or its bitfield when we parted). */
  seed: boolean;
  failures: number;
  /** Not dialled again before this (ms on the session's clock). */
  retryAt: number;
  /** When it last closed a connection with us. */
  leftUsAt: number | undefined;
}

/**
 * Every peer a torrent has heard of — from its trackers, PEX, the DHT, a magnet, or a connection that
 * ended — kept after the answer that named it is replaced. A leecher whose peers all left and a seeder
 * whose first leechers all finished dial from it instead of waiting for the next announce: in a swarm
 * where every leecher keeps a dozen connections, the seeder's first neighbours finish first and leave it
 * alone while the rest still download. While we seed, known seeds are skipped (two seeds have nothing to
 * trade), and so are peers that left us a while ago; an address whose dials fail waits longer each time.
 */
export class PeerBook {
  /** In the order heard: the oldest is forgotten first when the book is full. */
  readonly #entries = new Map<string, Entry>();

  constructor(private readonly size = BOOK_SIZE) {}

  get count(): number {
    return this.#entries.size;
  }

  /** Someone named this address; `seed` when they said it holds everything. */
  heard(ip: string, port: number, opts: { seed?: boolean } = {}): void {
    if (!(port > 0 && port < 65536)) return;
    const key = formatAddress(ip, port);
    const known = this.#entries.get(key);
    if (known) {
      if (opts.seed !== undefined) known.seed = opts.seed;
      return;
    }
    if (this.#entries.size >= this.size) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, {
      ip,
      port,
      seed: opts.seed ?? false,
      failures: 0,
      retryAt: 0,
      leftUsAt: undefined,
    });
  }

  /** A dial reached the peer: its next dial, if any, need not wait. */
  reached(address: string): void {
    const e = this.#entries.get(address);
    if (e) {
      e.failures = 0;
      e.retryAt = 0;
    }
  }

  /** A dial failed: wait before the next, longer each time; forget it after BOOK_FORGET_AFTER in a row. */
  failed(address: string, now: number): void {
    const e = this.#entries.get(address);
    if (!e) return;
    e.failures++;
    if (e.failures >= BOOK_FORGET_AFTER) this.#entries.delete(address);
    else e.retryAt = now + Math.min(BOOK_RETRY_CAP_MS, BOOK_RETRY_FIRST_MS * 2 ** (e.failures - 1));
  }

  /** The peer closed a connection with us. */
  leftUs(address: string, now: number): void {
    const e = this.#entries.get(address);
    if (e) e.leftUsAt = now;
  }

  /**
   * Addresses that may be dialled at `now`: not waiting after a failure; while `seeding`, neither seeds
   * nor peers that closed a connection with us in the last BOOK_LEFT_US_MS.
   */
  dialable(now: number, opts: { seeding: boolean }): { ip: string; port: number }[] {
    const out: { ip: string; port: number }[] = [];
    for (const e of this.#entries.values()) {
      if (e.retryAt > now) continue;
      if (opts.seeding && (e.seed || leftLately(e, now))) continue;
      out.push({ ip: e.ip, port: e.port });
    }
    return out;
  }

  /** What the book knows of an address, for the status page: `leftUs` within the last BOOK_LEFT_US_MS. */
  about(address: string, now: number): { seed: boolean; leftUs: boolean } | undefined {
    const e = this.#entries.get(address);
    return e && { seed: e.seed, leftUs: leftLately(e, now) };
  }

  /** Every address in the book, oldest heard first. */
  addresses(): { ip: string; port: number }[] {
    return [...this.#entries.values()].map((e) => ({ ip: e.ip, port: e.port }));
  }
}

function leftLately(e: Entry, now: number): boolean {
  return e.leftUsAt !== undefined && now - e.leftUsAt < BOOK_LEFT_US_MS;
}
