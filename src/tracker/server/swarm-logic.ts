/**
 * What an announce and a scrape do to the swarms, whatever carried them: the HTTP path
 * (server.ts) and the UDP path (udp.ts) both parse their request into a SwarmAnnounce and come
 * here, so a peer is kept, counted and handed out the same way over either.
 */
import type { Clock } from '../../shared/clock.js';
import type { AnnounceEvent } from '../protocol/announce-request.js';
import type { PeerRate } from '../protocol/rates.js';
import type { ScrapeFile } from '../protocol/scrape.js';
import {
  type AnySwarmStore,
  type AsyncSwarmStore,
  type CompactPeers,
  isAsyncStore,
  type PeerRecord,
  peerKey,
  type SwarmStats,
  type SwarmStore,
} from './store.js';

/** What the tracker tells its owner (logs, the web page); small on purpose. */
export type TrackerEvent =
  | {
      readonly type: 'announce';
      readonly infoHash: string;
      readonly ip: string;
      readonly port: number;
      readonly event: AnnounceEvent | undefined;
    }
  | { readonly type: 'scrape'; readonly ip: string; readonly infoHashes: number }
  | {
      readonly type: 'failure';
      readonly ip: string;
      /** The HTTP path, or `udp` for a UDP request. */
      readonly path: string;
      readonly reason: string;
    }
  | { readonly type: 'expire'; readonly removed: number };

/** One announce, checked, from either transport. The HTTP parser's AnnounceRequest is one. */
export interface SwarmAnnounce {
  /** 20 bytes. */
  readonly infoHash: Buffer;
  /** 20 bytes. */
  readonly peerId: Buffer;
  /** The peer's address, canonical (see normalizeIp): the request's source unless trusted otherwise. */
  readonly ip: string;
  readonly port: number;
  /** `ip` and `port` as a compact entry (4 or 16 address bytes, then the port). */
  readonly compactAddress: Buffer;
  readonly uploaded: number;
  readonly downloaded: number;
  /** Undefined when the client did not say: the peer counts as a leecher. */
  readonly left: number | undefined;
  readonly event: AnnounceEvent | undefined;
  /** Peers wanted, already capped (LIMITS.trackerMaxNumwant). */
  readonly numwant: number;
  /**
   * The client's `key` (HTTP's opaque token; the UDP path leaves BEP 15's 32 bits out, as nothing
   * reads them). A peer is known by peer id and address (peerKey), never by a key a stranger could
   * repeat.
   */
  readonly key?: string | undefined;
  /** chunkswarm extras (HTTP only). */
  readonly bitfield?: Buffer | undefined;
  readonly pieces?: number | undefined;
  readonly have?: number | undefined;
  readonly name?: string | undefined;
  readonly rates?: readonly PeerRate[] | undefined;
}

/** What an announce gives back: the peers for the asker and the swarm's counts after it. */
export interface SwarmAnswer {
  /** 40 lowercase hex characters. */
  readonly infoHash: string;
  /**
   * Set when `compact` was asked for and the store packs entries itself; `peers` is then empty.
   * Otherwise undefined and the peers are in `peers`.
   */
  readonly packed: CompactPeers | undefined;
  readonly peers: PeerRecord[];
  readonly stats: SwarmStats;
}

export interface SwarmLogicOptions {
  readonly store: AnySwarmStore;
  readonly clock: Clock;
  /** Undefined when nobody listens: then no event is even built. */
  readonly emit: ((e: TrackerEvent) => void) | undefined;
}

/**
 * With a synchronous store (memory, SQLite) every answer is ready when the call returns: no
 * promise, no event-loop turn, on the path that issue 14's announces per CPU-second measure. With
 * an async store (Redis) the answer is a promise; callers check which they got.
 */
export class SwarmLogic {
  readonly #store: SwarmStore | undefined;
  readonly #remote: AsyncSwarmStore | undefined;
  readonly #clock: Clock;
  readonly #emit: ((e: TrackerEvent) => void) | undefined;

  constructor(opts: SwarmLogicOptions) {
    if (isAsyncStore(opts.store)) this.#remote = opts.store;
    else this.#store = opts.store;
    this.#clock = opts.clock;
    this.#emit = opts.emit;
  }

  /**
   * Records the announce (`stopped` removes the peer) and picks up to `numwant` other peers of the
   * swarm. `compact`: the caller sends compact entries, so a store that packs them is asked to.
   * Throws (or rejects with) what the store throws: ETRACKER_FAILURE when the swarm or tracker is
   * full, or the store cannot be reached.
   */
  announce(a: SwarmAnnounce, compact: boolean): SwarmAnswer | Promise<SwarmAnswer> {
    const now = this.#clock.now();
    const infoHash = a.infoHash.toString('hex');
    const key = peerKey(a.peerId, a.ip);
    const rec: PeerRecord = {
      key,
      ip: a.ip,
      port: a.port,
      peerId: a.peerId,
      uploaded: a.uploaded,
      downloaded: a.downloaded,
      left: a.left,
      have: a.have,
      pieces: a.pieces,
      bitfield: a.bitfield,
      lastSeen: now,
      name: a.name,
      compact: a.compactAddress,
      // Always present (undefined when not sent): one object shape for every announce.
      rates: a.rates,
    };
    const remote = this.#remote;
    if (remote !== undefined) {
      return remote.exchange(infoHash, rec, a.event, now, a.numwant, compact).then((r) => {
        this.#emit?.({ type: 'announce', infoHash, ip: a.ip, port: a.port, event: a.event });
        return { infoHash, packed: r.packed, peers: r.peers, stats: r.stats };
      });
    }
    const store = this.#store!;
    store.announce(infoHash, rec, a.event, now);
    const stopped = a.event === 'stopped';
    // Most announces want compact peers: the store packs them without building a record each.
    const packed =
      !stopped && compact && store.compactPeers
        ? store.compactPeers(infoHash, a.numwant, key, now)
        : undefined;
    const peers = stopped || packed ? [] : store.peers(infoHash, a.numwant, key, now);
    const stats = store.stats(infoHash);
    this.#emit?.({ type: 'announce', infoHash, ip: a.ip, port: a.port, event: a.event });
    return { infoHash, packed, peers, stats };
  }

  /** The counts of each swarm asked for, in order; an unknown swarm counts zeros. */
  scrape(infoHashes: readonly Buffer[], ip: string): ScrapeFile[] | Promise<ScrapeFile[]> {
    const remote = this.#remote;
    if (remote !== undefined) {
      return remote.statsMany(infoHashes.map((h) => h.toString('hex'))).then((all) => {
        this.#emit?.({ type: 'scrape', ip, infoHashes: all.length });
        return all.map((st, i) => ({ infoHash: infoHashes[i]!, ...st }));
      });
    }
    const store = this.#store!;
    const files = infoHashes.map((h) => ({ infoHash: h, ...store.stats(h.toString('hex')) }));
    this.#emit?.({ type: 'scrape', ip, infoHashes: files.length });
    return files;
  }
}
