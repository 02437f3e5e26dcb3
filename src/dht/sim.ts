/**
 * An in-memory DHT network on a simulated clock, for tests and the bench: thousands of `DhtNode`s, each
 * with its own address, exchanging datagrams with a latency drawn from a seeded generator. Nothing here
 * touches a socket or the real clock; `run` moves time forward and fires timers in order.
 */
import type { Clock } from '../shared/clock.js';
import type { Endpoint } from './krpc.js';
import { DhtNode, type DhtOptions } from './node.js';

interface Timer {
  at: number;
  seq: number;
  every: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock with a binary heap of timers: FakeClock's linear scan is too slow for thousands of nodes. */
export class SimClock implements Clock {
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

  get pending(): number {
    return this.#heap.length;
  }

  /** Fires every timer due up to `now + ms`, in time order, and leaves the clock there. */
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

/** A small, fast, seeded generator (mulberry32): the same seed builds the same network. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimNetworkOptions {
  readonly seed?: number;
  /** One-way delay of a datagram, ms: uniform in [min, max]. */
  readonly minLatencyMs?: number;
  readonly maxLatencyMs?: number;
  /** Share of datagrams lost, 0 to 1. */
  readonly loss?: number;
}

/** The datagrams the network carried, in total and per kind of query (answers counted apart). */
export interface SimCounters {
  datagrams: number;
  bytes: number;
}

export class SimNetwork {
  readonly clock = new SimClock();
  readonly counters: SimCounters = { datagrams: 0, bytes: 0 };
  readonly #random: () => number;
  readonly #minLatency: number;
  readonly #maxLatency: number;
  readonly #loss: number;
  readonly #nodes = new Map<string, DhtNode>();
  /** Raw handlers (a hostile sender in a test) by endpoint, besides nodes. */
  readonly #taps = new Map<string, (buf: Buffer, from: Endpoint) => void>();
  #count = 0;

  constructor(opts: SimNetworkOptions = {}) {
    this.#random = seededRandom(opts.seed ?? 1);
    this.#minLatency = opts.minLatencyMs ?? 10;
    this.#maxLatency = opts.maxLatencyMs ?? 100;
    this.#loss = opts.loss ?? 0;
  }

  randomBytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.#random() * 256);
    return out;
  }

  /** A fresh endpoint: 10.x.y.z, port 6881, one address per node as on a real network. */
  nextEndpoint(): Endpoint {
    const i = ++this.#count;
    return { host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 6881 };
  }

  /** A node at a fresh endpoint (not started). */
  addNode(opts: DhtOptions = {}, at: Endpoint = this.nextEndpoint()): { node: DhtNode; endpoint: Endpoint } {
    const node = new DhtNode(
      {
        clock: this.clock,
        randomBytes: (n) => this.randomBytes(n),
        send: (buf, host, port) => this.deliver(buf, at, { host, port }),
      },
      opts,
    );
    this.#nodes.set(`${at.host}:${at.port}`, node);
    return { node, endpoint: at };
  }

  /** Something other than a node at `at`: it sees what is sent there and may send with `deliver`. */
  tap(at: Endpoint, handler: (buf: Buffer, from: Endpoint) => void): void {
    this.#taps.set(`${at.host}:${at.port}`, handler);
  }

  /** Carries one datagram from `from` to `to`, after a random delay, unless it is lost. */
  deliver(buf: Buffer, from: Endpoint, to: Endpoint): void {
    this.counters.datagrams++;
    this.counters.bytes += buf.length;
    if (this.#loss > 0 && this.#random() < this.#loss) return;
    const delay = this.#minLatency + this.#random() * (this.#maxLatency - this.#minLatency);
    const key = `${to.host}:${to.port}`;
    this.clock.setTimeout(() => {
      const node = this.#nodes.get(key);
      if (node !== undefined) node.onDatagram(buf, from.host, from.port);
      else this.#taps.get(key)?.(buf, from);
    }, delay);
  }

  /**
   * Moves the clock in steps of `stepMs` until `promise` settles (letting its callbacks run between
   * steps) or `maxMs` of simulated time pass; returns the value, or throws past `maxMs`.
   */
  async run<T>(promise: Promise<T>, maxMs = 600_000, stepMs = 5): Promise<T> {
    let settled = false;
    let value: T | undefined;
    let error: unknown;
    promise.then(
      (v) => {
        settled = true;
        value = v;
      },
      (e: unknown) => {
        settled = true;
        error = e;
      },
    );
    const end = this.clock.now() + maxMs;
    while (!settled && this.clock.now() < end) {
      this.clock.advance(stepMs);
      await Promise.resolve();
      await Promise.resolve();
    }
    await Promise.resolve();
    if (!settled) throw new Error(`not settled within ${maxMs} ms of simulated time`);
    if (error !== undefined) throw error;
    return value as T;
  }

  /** Moves the clock by `ms`, in steps, letting promise callbacks run between them. */
  async advance(ms: number, stepMs = 50): Promise<void> {
    for (let left = ms; left > 0; left -= stepMs) {
      this.clock.advance(Math.min(stepMs, left));
      await Promise.resolve();
    }
  }
}
