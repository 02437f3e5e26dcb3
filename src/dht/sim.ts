/**
 * An in-memory DHT network on a simulated clock, for tests and the bench: thousands of `DhtNode`s, each
 * with its own address, exchanging datagrams with a latency drawn from a seeded generator. Nothing here
 * touches a socket or the real clock; `run` moves time forward and fires timers in order.
 */
import { FakeClock } from '../shared/clock.js';
import { seededGenerator as seededRandom } from '../shared/random.js';
import type { Endpoint } from './krpc.js';
import { DhtNode, type DhtOptions } from './node.js';

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
  readonly clock = new FakeClock();
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
   * `n` started nodes, joined one after another (`spacingMs` apart) through the first, then `settleMs`
   * for every join and bucket refresh to finish.
   */
  async grow(
    n: number,
    opts: { spacingMs?: number; settleMs?: number; node?: DhtOptions } = {},
  ): Promise<{ nodes: DhtNode[]; endpoints: Endpoint[] }> {
    const first = this.addNode(opts.node);
    first.node.start([]);
    const nodes = [first.node];
    const endpoints = [first.endpoint];
    for (let i = 1; i < n; i++) {
      const { node, endpoint } = this.addNode(opts.node);
      node.start([first.endpoint]);
      nodes.push(node);
      endpoints.push(endpoint);
      await this.advance(opts.spacingMs ?? 20, opts.spacingMs ?? 20);
    }
    await this.advance(opts.settleMs ?? 30_000, 100);
    return { nodes, endpoints };
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
