/**
 * A DHT node (BEP 5), sans I/O: datagrams come in through `onDatagram` and go out through the injected
 * `send`, time and timers come from the injected `Clock`, randomness from `randomBytes`. The same code
 * runs over a real UDP socket (`udp.ts`) and over an in-memory network of thousands of nodes on a
 * simulated clock (`sim.ts`).
 *
 * What it does: answers ping, find_node, get_peers and announce_peer; keeps a routing table (K = 8,
 * ping-before-evict); runs iterative lookups; stores announced peers; refreshes stale buckets.
 * What bounds it: every datagram is capped and parsed with limits, each sender (address and port) and
 * all senders together are rate-limited, our queries awaiting an answer are capped, lookups at once are
 * capped (more wait in a bounded queue), each lookup's queries are capped, and the peer store is capped.
 */
import type { Clock } from '../shared/clock.js';
import { ChunkswarmError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import {
  decodeKrpc,
  type Endpoint,
  encodeError,
  encodeQuery,
  encodeResponse,
  ID_LENGTH,
  KrpcErrorCode,
  type KrpcMessage,
  type KrpcResponseBody,
  type NodeContact,
  type OutgoingQuery,
} from './krpc.js';
import { Lookup, type LookupResult } from './lookup.js';
import { PeerStore } from './peer-store.js';
import { SenderRateLimiter } from './rate-limit.js';
import { RoutingTable } from './routing-table.js';
import { TOKEN_ROTATE_MS, TokenSecrets } from './tokens.js';

export interface DhtEnvironment {
  readonly clock: Clock;
  randomBytes(n: number): Buffer;
  /** Sends one datagram; failures are the transport's to swallow (UDP promises nothing anyway). */
  send(datagram: Buffer, host: string, port: number): void;
}

export interface DhtOptions {
  /** Our node id; random when absent (a saved id keeps our place in others' tables across restarts). */
  readonly id?: Buffer;
  readonly k?: number;
  readonly alpha?: number;
  /** How long a query may go unanswered, ms (default 2 s: a DHT answer is one round trip). */
  readonly queryTimeoutMs?: number;
  readonly maxPending?: number;
  readonly perSenderRate?: number;
  readonly totalRate?: number;
  readonly maxLookups?: number;
  readonly lookupMaxQueries?: number;
  /** How often buckets are checked for staleness and expired peers swept, ms (default 60 s). */
  readonly maintenanceIntervalMs?: number;
  /** After joining, look up a random id in every bucket (BEP 5's refresh) to fill the far ones (default true). */
  readonly refreshOnJoin?: boolean;
}

export interface DhtStats {
  readonly id: string;
  /** Nodes in the routing table, and of those how many are good (BEP 5). */
  readonly nodes: number;
  readonly goodNodes: number;
  readonly buckets: number;
  /** Our queries awaiting an answer. */
  readonly inFlight: number;
  readonly lookups: number;
  readonly queuedLookups: number;
  readonly storedPeers: number;
  readonly storedInfoHashes: number;
  readonly sent: number;
  readonly received: number;
  /** Datagrams dropped: not KRPC, or over a rate limit. */
  readonly malformed: number;
  readonly rateLimited: number;
}

export interface PeerLookupResult {
  readonly peers: Endpoint[];
  /** Nodes that took our announce_peer (0 for a plain get_peers). */
  readonly announcedTo: number;
  readonly queries: number;
  /** Of those, queries that went unanswered (timeout or error). */
  readonly failed: number;
  readonly closest: NodeContact[];
}

interface Pending {
  readonly host: string;
  readonly port: number;
  /** The id we expect to answer, when we know it (a node of our table or a lookup candidate). */
  readonly expectId: Buffer | undefined;
  readonly cancel: () => void;
  readonly done: (answer: { id: Buffer; body: KrpcResponseBody } | undefined) => void;
}

interface RunningLookup {
  readonly lookup: Lookup;
  readonly method: 'find_node' | 'get_peers';
  readonly onValues: ((peers: Endpoint[]) => void) | undefined;
  readonly seenPeers: Set<string>;
  readonly peers: Endpoint[];
  readonly finish: (r: LookupResult, peers: Endpoint[]) => void;
  ended: boolean;
}

/** Values per get_peers answer: 50 compact peers (400 bytes) plus 8 nodes stays well inside a datagram. */
const MAX_VALUES_PER_ANSWER = 50;
const MAX_BOOTSTRAP = 32;
/** First wait before joining again when the table is still short (it doubles each time). */
const JOIN_RETRY_MS = 5000;
const MAX_QUEUED_LOOKUPS = 256;
/** Peers a lookup collects at most (its callback still sees them as they come). */
const MAX_PEERS_PER_LOOKUP = 1000;

function endpointKey(host: string, port: number): string {
  return `${host}:${port}`;
}

export class DhtNode {
  readonly id: Buffer;
  readonly #env: DhtEnvironment;
  readonly #clock: Clock;
  readonly #table: RoutingTable;
  readonly #tokens: TokenSecrets;
  readonly #store = new PeerStore();
  readonly #k: number;
  readonly #alpha: number;
  readonly #queryTimeout: number;
  readonly #maxPending: number;
  readonly #maxLookups: number;
  readonly #lookupMaxQueries: number;
  readonly #maintenanceMs: number;
  readonly #refreshOnJoin: boolean;
  readonly #perSender: SenderRateLimiter;
  readonly #total: SenderRateLimiter;
  readonly #pending = new Map<number, Pending>();
  /** Endpoints we are pinging because they queried us and would get a place: one ping each at a time. */
  readonly #probing = new Set<string>();
  #nextTid = 0;
  readonly #running = new Set<RunningLookup>();
  readonly #queue: (() => void)[] = [];
  #bootstrap: Endpoint[] = [];
  readonly #timers: (() => void)[] = [];
  #started = false;
  #closed = false;
  #sent = 0;
  #received = 0;
  #malformed = 0;
  #rateLimited = 0;

  constructor(env: DhtEnvironment, opts: DhtOptions = {}) {
    this.#env = env;
    this.#clock = env.clock;
    this.id = Buffer.from(opts.id ?? env.randomBytes(ID_LENGTH));
    if (this.id.length !== ID_LENGTH) throw new RangeError(`a node id is ${ID_LENGTH} bytes`);
    this.#k = opts.k ?? 8;
    this.#alpha = opts.alpha ?? 3;
    this.#queryTimeout = opts.queryTimeoutMs ?? 2000;
    this.#maxPending = opts.maxPending ?? LIMITS.dhtMaxPending;
    this.#maxLookups = opts.maxLookups ?? LIMITS.dhtMaxLookups;
    this.#lookupMaxQueries = opts.lookupMaxQueries ?? LIMITS.dhtLookupMaxQueries;
    this.#maintenanceMs = opts.maintenanceIntervalMs ?? 60_000;
    this.#refreshOnJoin = opts.refreshOnJoin ?? true;
    this.#table = new RoutingTable(this.id, { k: this.#k, now: this.#clock.now() });
    this.#tokens = new TokenSecrets((n) => env.randomBytes(n));
    const rate = opts.perSenderRate ?? LIMITS.dhtPerSenderRate;
    this.#perSender = new SenderRateLimiter({ ratePerSecond: rate, maxSenders: LIMITS.dhtTrackedSenders });
    const total = opts.totalRate ?? LIMITS.dhtTotalRate;
    this.#total = new SenderRateLimiter({ ratePerSecond: total, maxSenders: 1 });
  }

  /** The routing table, read-only use: for pages and tests. */
  get table(): RoutingTable {
    return this.#table;
  }

  /**
   * Joins the DHT through `bootstrap` (and whatever nodes are already known, from `addNode`), then keeps
   * the table fresh. With no node at all it waits: nothing is contacted that nobody named.
   */
  start(bootstrap: readonly Endpoint[] = []): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#bootstrap = bootstrap.slice(0, MAX_BOOTSTRAP).map((e) => ({ host: e.host, port: e.port }));
    this.#timers.push(this.#clock.setInterval(() => this.#tokens.rotate(), TOKEN_ROTATE_MS));
    this.#timers.push(this.#clock.setInterval(() => this.#maintain(), this.#maintenanceMs));
    this.#join();
  }

  /**
   * Looks up our own id, then refreshes every bucket. While that leaves the table short of K nodes and
   * each try still finds more (answers lost under load, a network still forming), it tries again, 5 s
   * later, then 10 s, 20 s...: a small network that has nothing more to give stops it at once.
   */
  #join(retryMs = JOIN_RETRY_MS, sizeBefore = 0): void {
    this.#lookup(this.id, 'find_node', undefined, (r) => {
      const grew = this.#table.size > sizeBefore;
      if (this.#table.size < this.#k && grew && retryMs < this.#maintenanceMs && !this.#closed) {
        const size = this.#table.size;
        this.#timers.push(this.#clock.setTimeout(() => this.#join(retryMs * 2, size), retryMs));
      }
      if (!this.#refreshOnJoin || r.closest.length === 0) return;
      // BEP 5: after the lookup of our own id, refresh the other buckets, to fill the far ones.
      const now = this.#clock.now();
      for (const target of this.#table.staleBuckets(now, (n) => this.#env.randomBytes(n), true)) {
        this.#lookup(target, 'find_node', undefined, () => {});
      }
    });
  }

  #maintain(): void {
    const now = this.#clock.now();
    this.#store.expire(now);
    if (this.#table.size === 0) {
      // Lost every node (or never had one): try the bootstrap nodes again, once a round.
      if (this.#bootstrap.length > 0 && this.#running.size === 0) this.#join();
      return;
    }
    for (const target of this.#table.staleBuckets(now, (n) => this.#env.randomBytes(n))) {
      this.#lookup(target, 'find_node', undefined, () => {});
    }
  }

  /** Pings a node (a torrent's `nodes`, a saved table): it enters the table if it answers. */
  addNode(e: Endpoint): void {
    if (this.#closed) return;
    this.#query({ host: e.host, port: e.port }, undefined, { method: 'ping' }, () => {});
  }

  /** The nodes of the routing table, for saving (BEP 5 suggests keeping them across restarts). */
  nodes(): NodeContact[] {
    return this.#table.all().map((e) => ({ id: Buffer.from(e.id), host: e.host, port: e.port }));
  }

  /** Looks up nodes close to `target`. */
  findNode(target: Buffer): Promise<NodeContact[]> {
    return new Promise((resolve) => {
      this.#lookup(target, 'find_node', undefined, (r) => resolve(r.closest.map((c) => c.node)));
    });
  }

  /** Peers of `infoHash` from the DHT; `onPeers` sees each new batch as it arrives. */
  getPeers(infoHash: Buffer, onPeers?: (peers: Endpoint[]) => void): Promise<PeerLookupResult> {
    checkId(infoHash, 'infohash');
    return new Promise((resolve) => {
      this.#lookup(infoHash, 'get_peers', onPeers, (r, peers) =>
        resolve({
          peers,
          announcedTo: 0,
          queries: r.queries,
          failed: r.failed,
          closest: r.closest.map((c) => c.node),
        }),
      );
    });
  }

  /**
   * get_peers, then announce_peer (BEP 5) to the closest nodes that gave us a token. `port` is the TCP
   * port peers should dial; absent, `implied_port` asks them to take our UDP source port.
   */
  announce(
    infoHash: Buffer,
    port?: number,
    onPeers?: (peers: Endpoint[]) => void,
  ): Promise<PeerLookupResult> {
    checkId(infoHash, 'infohash');
    return new Promise((resolve) => {
      this.#lookup(infoHash, 'get_peers', onPeers, (r, peers) => {
        const targets = r.closest.filter((c) => c.token !== undefined);
        let left = targets.length;
        let ok = 0;
        const closest = r.closest.map((c) => c.node);
        if (left === 0) {
          resolve({ peers, announcedTo: 0, queries: r.queries, failed: r.failed, closest });
          return;
        }
        for (const t of targets) {
          const q: OutgoingQuery = {
            method: 'announce_peer',
            infoHash,
            port: port ?? 1,
            token: t.token!,
            impliedPort: port === undefined,
          };
          this.#query(t.node, t.node.id, q, (answer) => {
            if (answer !== undefined) ok++;
            if (--left === 0)
              resolve({
                peers,
                announcedTo: ok,
                queries: r.queries + targets.length,
                failed: r.failed + targets.length - ok,
                closest,
              });
          });
        }
      });
    });
  }

  stats(): DhtStats {
    const now = this.#clock.now();
    const all = this.#table.all();
    return {
      id: this.id.toString('hex'),
      nodes: all.length,
      goodNodes: all.filter((e) => this.#table.status(e, now) === 'good').length,
      buckets: this.#table.bucketCount,
      inFlight: this.#pending.size,
      lookups: this.#running.size,
      queuedLookups: this.#queue.length,
      storedPeers: this.#store.peers,
      storedInfoHashes: this.#store.infoHashes,
      sent: this.#sent,
      received: this.#received,
      malformed: this.#malformed,
      rateLimited: this.#rateLimited,
    };
  }

  /** Stops timers and answers every waiting caller; datagrams after this are ignored. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const cancel of this.#timers.splice(0)) cancel();
    this.#queue.length = 0;
    for (const [tid, p] of [...this.#pending]) {
      this.#pending.delete(tid);
      p.cancel();
      p.done(undefined);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Input

  onDatagram(datagram: Buffer, host: string, port: number): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    // Rate limits first: a flood costs a map lookup per datagram, not a parse.
    if (!this.#total.allow('*', now) || !this.#perSender.allow(endpointKey(host, port), now)) {
      this.#rateLimited++;
      return;
    }
    let msg: KrpcMessage;
    try {
      msg = decodeKrpc(datagram);
    } catch (err) {
      if (!(err instanceof ChunkswarmError)) throw err;
      this.#malformed++;
      return;
    }
    this.#received++;
    if (msg.kind === 'query') this.#onQuery(msg, host, port, now);
    else this.#onAnswer(msg, host, port);
  }

  #onAnswer(msg: Exclude<KrpcMessage, { kind: 'query' }>, host: string, port: number): void {
    if (msg.t.length !== 2) return;
    const tid = msg.t.readUInt16BE(0);
    const p = this.#pending.get(tid);
    // Only the endpoint we asked may answer: anyone else guessing transaction ids is ignored.
    if (p === undefined || p.host !== host || p.port !== port) return;
    this.#pending.delete(tid);
    p.cancel();
    if (msg.kind === 'error') {
      p.done(undefined);
      return;
    }
    const contact = { id: msg.id, host, port };
    const heard = this.#table.heard(contact, 'response', this.#clock.now());
    if (heard.kind === 'ping') this.#checkQuestionable(heard.node);
    p.done({ id: msg.id, body: msg.body });
  }

  /** Ping-before-evict: a questionable node that does not answer makes room for the newcomer. */
  #checkQuestionable(node: NodeContact): void {
    const key = endpointKey(node.host, node.port);
    if (this.#probing.has(key)) return;
    this.#probing.add(key);
    this.#query(node, node.id, { method: 'ping' }, () => this.#probing.delete(key));
  }

  #onQuery(msg: Extract<KrpcMessage, { kind: 'query' }>, host: string, port: number, now: number): void {
    if (msg.id.equals(this.id)) return;
    const contact = { id: msg.id, host, port };
    if (!msg.readOnly) {
      const heard = this.#table.heard(contact, 'query', now);
      // A stranger earns a place by answering us, so a forged id costs its sender a round trip.
      if (heard.kind === 'ignored' && this.#table.wants(msg.id, now)) this.#probe(contact);
    }
    const q = msg.query;
    let reply: Buffer;
    switch (q.method) {
      case 'ping':
        reply = encodeResponse(msg.t, this.id, {});
        break;
      case 'find_node':
        reply = encodeResponse(msg.t, this.id, { nodes: this.#table.closest(q.target, this.#k, now) });
        break;
      case 'get_peers': {
        const values = this.#store.get(q.infoHash, now, MAX_VALUES_PER_ANSWER);
        reply = encodeResponse(msg.t, this.id, {
          token: this.#tokens.token(host, q.infoHash),
          nodes: this.#table.closest(q.infoHash, this.#k, now),
          values,
        });
        break;
      }
      case 'announce_peer': {
        if (!this.#tokens.valid(q.token, host, q.infoHash)) {
          reply = encodeError(msg.t, KrpcErrorCode.protocol, 'bad token');
          break;
        }
        this.#store.add(q.infoHash, { host, port: q.impliedPort ? port : q.port }, now);
        reply = encodeResponse(msg.t, this.id, {});
        break;
      }
      default:
        reply = encodeError(msg.t, KrpcErrorCode.methodUnknown, 'method unknown');
    }
    this.#send(reply, host, port);
  }

  #probe(contact: NodeContact): void {
    const key = endpointKey(contact.host, contact.port);
    // Strangers get at most half of the pending slots: our own lookups keep the rest.
    if (this.#probing.has(key) || this.#pending.size >= this.#maxPending / 2) return;
    this.#probing.add(key);
    this.#query(contact, contact.id, { method: 'ping' }, () => this.#probing.delete(key));
  }

  // -------------------------------------------------------------------------------------------
  // Output

  #send(datagram: Buffer, host: string, port: number): void {
    if (this.#closed) return;
    this.#sent++;
    this.#env.send(datagram, host, port);
  }

  /** Sends a query; `done` gets the answer, or undefined on timeout, error or a full pending table. */
  #query(
    to: Endpoint,
    expectId: Buffer | undefined,
    q: OutgoingQuery,
    done: (answer: { id: Buffer; body: KrpcResponseBody } | undefined) => void,
  ): void {
    if (this.#closed || this.#pending.size >= this.#maxPending) {
      // Answered on a later turn, so that a caller looping over queries cannot recurse into itself.
      if (!this.#closed) this.#clock.setTimeout(() => done(undefined), 0);
      return;
    }
    let tid = this.#nextTid;
    while (this.#pending.has(tid)) tid = (tid + 1) & 0xffff;
    this.#nextTid = (tid + 1) & 0xffff;
    const t = Buffer.alloc(2);
    t.writeUInt16BE(tid);
    const cancel = this.#clock.setTimeout(() => {
      if (this.#pending.get(tid) !== pending) return;
      this.#pending.delete(tid);
      const id = expectId ?? this.#table.all().find((e) => e.host === to.host && e.port === to.port)?.id;
      if (id !== undefined) this.#table.failed(id, this.#clock.now());
      done(undefined);
    }, this.#queryTimeout);
    const pending: Pending = { host: to.host, port: to.port, expectId, cancel, done };
    this.#pending.set(tid, pending);
    this.#send(encodeQuery(t, this.id, q), to.host, to.port);
  }

  // -------------------------------------------------------------------------------------------
  // Lookups

  #lookup(
    target: Buffer,
    method: 'find_node' | 'get_peers',
    onValues: ((peers: Endpoint[]) => void) | undefined,
    finish: (r: LookupResult, peers: Endpoint[]) => void,
  ): void {
    if (this.#closed) {
      finish({ closest: [], queries: 0, answered: 0, failed: 0 }, []);
      return;
    }
    const begin = (): void => {
      const now = this.#clock.now();
      const known = this.#table.closest(target, this.#k * 2, now);
      const seeds: (Endpoint & { id?: Buffer })[] = known.map((e) => ({
        host: e.host,
        port: e.port,
        id: e.id,
      }));
      // Bootstrap nodes are asked only while the table is short of a bucket's worth.
      if (known.length < this.#k) seeds.push(...this.#bootstrap);
      const run: RunningLookup = {
        lookup: new Lookup(target, seeds, {
          k: this.#k,
          alpha: this.#alpha,
          maxQueries: this.#lookupMaxQueries,
          ownId: this.id,
        }),
        method,
        onValues,
        seenPeers: new Set(),
        peers: [],
        finish,
        ended: false,
      };
      this.#running.add(run);
      this.#table.touchBucketOf(target, now);
      this.#pump(run);
    };
    if (this.#running.size < this.#maxLookups) begin();
    else if (this.#queue.length < MAX_QUEUED_LOOKUPS) this.#queue.push(begin);
    else finish({ closest: [], queries: 0, answered: 0, failed: 0 }, []);
  }

  #pump(run: RunningLookup): void {
    if (run.ended) return;
    for (const to of run.lookup.next()) {
      const q: OutgoingQuery =
        run.method === 'find_node'
          ? { method: 'find_node', target: run.lookup.target }
          : { method: 'get_peers', infoHash: run.lookup.target };
      this.#query(to, undefined, q, (answer) => {
        if (answer === undefined) run.lookup.failed(to);
        else {
          run.lookup.answered(to, answer.id, answer.body.nodes ?? [], answer.body.token);
          if (run.method === 'get_peers' && answer.body.values !== undefined)
            this.#gotPeers(run, answer.body.values);
        }
        this.#pump(run);
      });
    }
    if (run.lookup.done && !run.ended) {
      run.ended = true;
      this.#running.delete(run);
      run.finish(run.lookup.result(), run.peers);
      // A finished lookup frees a place for a queued one.
      while (this.#running.size < this.#maxLookups && this.#queue.length > 0) this.#queue.shift()!();
    }
  }

  #gotPeers(run: RunningLookup, values: readonly Endpoint[]): void {
    const fresh: Endpoint[] = [];
    for (const v of values) {
      const key = endpointKey(v.host, v.port);
      if (run.seenPeers.has(key) || run.seenPeers.size >= MAX_PEERS_PER_LOOKUP) continue;
      run.seenPeers.add(key);
      run.peers.push(v);
      fresh.push(v);
    }
    if (fresh.length > 0 && run.onValues !== undefined) run.onValues(fresh);
  }
}

function checkId(id: Buffer, what: string): void {
  if (id.length !== ID_LENGTH) throw new ChunkswarmError('EUSAGE', `a DHT ${what} is ${ID_LENGTH} bytes`);
}
