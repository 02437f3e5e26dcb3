/**
 * The DHT as a source of peers for one torrent: announce (get_peers, then announce_peer) at once and
 * every `intervalMs`, hand every peer found to `onPeers`, and look again on demand when the session runs
 * short of peers. Sooner retries while no node took the announce (the node may still be joining).
 * Never for a private torrent (BEP 27): `DhtPeerSource.for` returns undefined for one.
 */
import type { Clock } from '../shared/clock.js';
import type { Endpoint } from './krpc.js';
import type { DhtNode, PeerLookupResult } from './node.js';

/** How often a torrent is announced again (libtorrent's default is the same 15 minutes). */
export const DHT_ANNOUNCE_INTERVAL_MS = 15 * 60_000;
/** How soon to try again when no node took the announce. */
const RETRY_MS = 30_000;

export interface DhtPeerSourceOptions {
  readonly infoHash: Buffer;
  /** Our TCP listening port, announced for peers to dial. */
  readonly port: number;
  readonly clock: Clock;
  /** Each batch of peers, as found (the same peer may come again in a later round). */
  readonly onPeers: (peers: Endpoint[]) => void;
  readonly intervalMs?: number;
}

export interface DhtSourceStatus {
  /** Rounds finished, peers found in the last one, and nodes that took its announce. */
  readonly rounds: number;
  readonly lastPeers: number;
  readonly lastAnnouncedTo: number;
  readonly lastAt: number | undefined;
  readonly running: boolean;
}

export class DhtPeerSource {
  readonly #node: DhtNode;
  readonly #opts: DhtPeerSourceOptions;
  #cancelTimer: (() => void) | undefined;
  #running = false;
  #stopped = false;
  #rounds = 0;
  #last: PeerLookupResult | undefined;
  #lastAt: number | undefined;

  /** A source for a public torrent, undefined for a private one (BEP 27: no DHT). */
  static for(
    node: DhtNode,
    torrent: { readonly private: boolean },
    opts: DhtPeerSourceOptions,
  ): DhtPeerSource | undefined {
    return torrent.private ? undefined : new DhtPeerSource(node, opts);
  }

  private constructor(node: DhtNode, opts: DhtPeerSourceOptions) {
    this.#node = node;
    this.#opts = opts;
  }

  /** Announces now, then every interval. */
  start(): void {
    if (this.#stopped || this.#cancelTimer !== undefined || this.#running) return;
    this.#round();
  }

  /** An extra round now (the session is short of peers); ignored while one is running. */
  lookupNow(): void {
    if (this.#stopped || this.#running) return;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#round();
  }

  stop(): void {
    this.#stopped = true;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
  }

  status(): DhtSourceStatus {
    return {
      rounds: this.#rounds,
      lastPeers: this.#last?.peers.length ?? 0,
      lastAnnouncedTo: this.#last?.announcedTo ?? 0,
      lastAt: this.#lastAt,
      running: this.#running,
    };
  }

  #round(): void {
    this.#running = true;
    const { infoHash, port, onPeers } = this.#opts;
    this.#node
      .announce(infoHash, port, (peers) => {
        if (!this.#stopped) onPeers(peers);
      })
      .then((r) => {
        this.#running = false;
        this.#rounds++;
        this.#last = r;
        this.#lastAt = this.#opts.clock.now();
        if (this.#stopped) return;
        const wait = r.announcedTo > 0 ? (this.#opts.intervalMs ?? DHT_ANNOUNCE_INTERVAL_MS) : RETRY_MS;
        this.#cancelTimer = this.#opts.clock.setTimeout(() => {
          this.#cancelTimer = undefined;
          this.#round();
        }, wait);
      });
  }
}
