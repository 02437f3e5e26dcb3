/**
 * Peers announced to us with announce_peer (BEP 5), per infohash, so get_peers can hand them out.
 * Bounded: at most `maxPeersPerHash` peers per infohash (the longest-silent one makes room) and
 * `maxInfoHashes` infohashes (a new one is refused when full, after expired ones are swept), and every
 * peer expires `ttlMs` after its last announce.
 */
import { LIMITS } from '../shared/limits.js';
import type { Endpoint } from './krpc.js';

export interface PeerStoreOptions {
  readonly maxPeersPerHash?: number;
  readonly maxInfoHashes?: number;
  readonly ttlMs?: number;
}

export class PeerStore {
  readonly #maxPeers: number;
  readonly #maxHashes: number;
  readonly #ttl: number;
  /** infohash hex -> "host:port" -> (peer, expiry). A Map keeps insertion order: oldest announce first. */
  readonly #swarms = new Map<string, Map<string, { peer: Endpoint; expires: number }>>();

  constructor(opts: PeerStoreOptions = {}) {
    this.#maxPeers = opts.maxPeersPerHash ?? LIMITS.dhtPeersPerInfoHash;
    this.#maxHashes = opts.maxInfoHashes ?? LIMITS.dhtMaxInfoHashes;
    this.#ttl = opts.ttlMs ?? LIMITS.dhtPeerTtlMs;
  }

  get infoHashes(): number {
    return this.#swarms.size;
  }

  get peers(): number {
    let n = 0;
    for (const s of this.#swarms.values()) n += s.size;
    return n;
  }

  /** Records an announce; false when the store is full of other infohashes. */
  add(infoHash: Buffer, peer: Endpoint, now: number): boolean {
    const h = infoHash.toString('hex');
    let swarm = this.#swarms.get(h);
    if (swarm === undefined) {
      if (this.#swarms.size >= this.#maxHashes) this.expire(now);
      if (this.#swarms.size >= this.#maxHashes) return false;
      swarm = new Map();
      this.#swarms.set(h, swarm);
    }
    const k = `${peer.host}:${peer.port}`;
    // Re-inserted so that the order stays "least recently announced first".
    swarm.delete(k);
    swarm.set(k, { peer: { host: peer.host, port: peer.port }, expires: now + this.#ttl });
    if (swarm.size > this.#maxPeers) {
      const oldest = swarm.keys().next().value;
      if (oldest !== undefined) swarm.delete(oldest);
    }
    return true;
  }

  /** Up to `max` live peers of the infohash, the most recently announced first. */
  get(infoHash: Buffer, now: number, max: number): Endpoint[] {
    const swarm = this.#swarms.get(infoHash.toString('hex'));
    if (swarm === undefined) return [];
    const out: Endpoint[] = [];
    const entries = [...swarm.values()];
    for (let i = entries.length - 1; i >= 0 && out.length < max; i--) {
      const e = entries[i]!;
      if (e.expires > now) out.push(e.peer);
    }
    return out;
  }

  /** Drops expired peers and empty infohashes. */
  expire(now: number): void {
    for (const [h, swarm] of this.#swarms) {
      for (const [k, e] of swarm) if (e.expires <= now) swarm.delete(k);
      if (swarm.size === 0) this.#swarms.delete(h);
    }
  }
}
