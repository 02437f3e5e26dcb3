import { ChunkswarmError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import type { AnnounceEvent } from '../protocol/announce-request.js';
import { isSeeder } from '../protocol/announce-response.js';

/**
 * One peer of one swarm, as the tracker keeps it: the seed's PEER_SET entry.
 *
 * `key` identifies the peer within its swarm: `<peer id hex>@<ip>` (see peerKey). A re-announce
 * with the same peer id from the same address updates the record, whatever its port; the address
 * is part of the key because non-compact responses reveal peer ids, and without it anyone who saw
 * an id could move that peer's port or announce it `stopped`.
 */
export interface PeerRecord {
  readonly key: string;
  readonly ip: string;
  readonly port: number;
  readonly peerId: Buffer;
  readonly uploaded: number;
  readonly downloaded: number;
  /** Undefined when the client did not send `left`. */
  readonly left: number | undefined;
  readonly have?: number | undefined;
  readonly pieces?: number | undefined;
  readonly bitfield?: Buffer | undefined;
  /** Milliseconds since the epoch, of the last announce. */
  readonly lastSeen: number;
  readonly name?: string | undefined;
  /** The compact peer entry (address + port), so responses need not rebuild it for every reader. */
  readonly compact?: Buffer | undefined;
}

export interface SwarmStats {
  /** Seeders. */
  readonly complete: number;
  /** Leechers. */
  readonly incomplete: number;
  /** `completed` events counted, once per peer record. */
  readonly downloaded: number;
  readonly name?: string | undefined;
  readonly pieces?: number | undefined;
}

/**
 * Where a tracker keeps its swarms. Synchronous on purpose: an SQLite store (better-sqlite3) is
 * synchronous too, and an announce should not wait on an event-loop turn between read and write.
 * `infoHash` is always 40 lowercase hex characters.
 */
export interface SwarmStore {
  /**
   * Adds or updates a peer (its lastSeen becomes `now`); `stopped` removes it; `completed` counts
   * a download once per peer record. Throws ChunkswarmError `ETRACKER_FAILURE` when a new peer or
   * a new swarm would go past the store's caps; the message is the failure reason to send.
   */
  announce(infoHash: string, peer: PeerRecord, event: AnnounceEvent | undefined, now: number): void;
  /**
   * Up to `limit` peers of the swarm other than `excludeKey`, a different selection on each call
   * when the swarm is larger than `limit`. When the asking peer (`excludeKey`) is a seeder, or a
   * partial seed (BEP 21 `paused`), only leechers are returned: seeders have nothing to trade.
   */
  peers(infoHash: string, limit: number, excludeKey: string | undefined, now: number): PeerRecord[];
  /** Counts of a swarm; zeros for a swarm the store does not know. */
  stats(infoHash: string): SwarmStats;
  /** Infohashes of every swarm with at least one peer (or not yet expired). */
  swarms(): string[];
  /** Removes peers last seen before `olderThan` (ms) and swarms left empty; returns peers removed. */
  expire(olderThan: number): number;
  close(): void;
}

/** The key a PeerRecord is stored under (see PeerRecord). */
export function peerKey(peerId: Uint8Array, ip: string): string {
  return `${Buffer.from(peerId.buffer, peerId.byteOffset, peerId.byteLength).toString('hex')}@${ip}`;
}

export interface MemorySwarmStoreOptions {
  readonly maxPeersPerSwarm?: number;
  readonly maxSwarms?: number;
  /** Peers older than this (ms) are no longer handed out, even before `expire` removes them. */
  readonly staleAfterMs?: number;
}

interface Entry {
  rec: PeerRecord;
  seeder: boolean;
  /** Seeder or BEP 21 partial seed: it only uploads, so it gets no seeders. */
  uploadOnly: boolean;
  completed: boolean;
  index: number;
}

interface Swarm {
  /** Dense array for random selection; `Entry.index` allows O(1) swap-removal. */
  readonly list: Entry[];
  readonly byKey: Map<string, Entry>;
  seeders: number;
  downloaded: number;
  name: string | undefined;
  pieces: number | undefined;
}

/** Swarms in memory: what a single tracker process needs, and what tests drive directly. */
export class MemorySwarmStore implements SwarmStore {
  readonly #swarms = new Map<string, Swarm>();
  readonly #maxPeers: number;
  readonly #maxSwarms: number;
  readonly #staleAfter: number;

  constructor(opts: MemorySwarmStoreOptions = {}) {
    this.#maxPeers = opts.maxPeersPerSwarm ?? LIMITS.trackerMaxPeersPerSwarm;
    this.#maxSwarms = opts.maxSwarms ?? LIMITS.trackerMaxSwarms;
    this.#staleAfter = opts.staleAfterMs ?? Number.POSITIVE_INFINITY;
  }

  announce(infoHash: string, peer: PeerRecord, event: AnnounceEvent | undefined, now: number): void {
    let swarm = this.#swarms.get(infoHash);
    if (event === 'stopped') {
      const entry = swarm?.byKey.get(peer.key);
      if (swarm && entry) this.#remove(swarm, entry);
      return;
    }
    if (!swarm) {
      if (this.#swarms.size >= this.#maxSwarms) {
        throw new ChunkswarmError(
          'ETRACKER_FAILURE',
          'tracker is full: it tracks as many torrents as it can',
        );
      }
      swarm = { list: [], byKey: new Map(), seeders: 0, downloaded: 0, name: undefined, pieces: undefined };
      this.#swarms.set(infoHash, swarm);
    }
    const rec = peer.lastSeen === now ? peer : { ...peer, lastSeen: now };
    const seeder = isSeeder(rec);
    let entry = swarm.byKey.get(rec.key);
    if (entry) {
      if (entry.seeder !== seeder) swarm.seeders += seeder ? 1 : -1;
      entry.rec = rec;
      entry.seeder = seeder;
    } else {
      if (swarm.list.length >= this.#maxPeers) {
        if (swarm.list.length === 0) this.#swarms.delete(infoHash);
        throw new ChunkswarmError('ETRACKER_FAILURE', `swarm is full: ${this.#maxPeers} peers already`);
      }
      entry = { rec, seeder, uploadOnly: seeder, completed: false, index: swarm.list.length };
      swarm.list.push(entry);
      swarm.byKey.set(rec.key, entry);
      if (seeder) swarm.seeders++;
    }
    entry.uploadOnly = seeder || event === 'paused';
    if (event === 'completed' && !entry.completed) {
      entry.completed = true;
      swarm.downloaded++;
    }
    // The first name and chunk count a peer gives stick, so a later peer cannot rename a swarm.
    if (swarm.name === undefined && rec.name !== undefined) swarm.name = rec.name;
    if (swarm.pieces === undefined && rec.pieces !== undefined) swarm.pieces = rec.pieces;
  }

  peers(infoHash: string, limit: number, excludeKey: string | undefined, now: number): PeerRecord[] {
    const swarm = this.#swarms.get(infoHash);
    const out: PeerRecord[] = [];
    if (!swarm || limit <= 0) return out;
    const asker = excludeKey === undefined ? undefined : swarm.byKey.get(excludeKey);
    const leechersOnly = asker?.uploadOnly === true;
    const freshSince = now - this.#staleAfter;
    const n = swarm.list.length;
    // A random starting point and a walk from there: a fresh selection per call, with no shuffle.
    const start = Math.floor(Math.random() * n);
    for (let i = 0; i < n && out.length < limit; i++) {
      const e = swarm.list[(start + i) % n]!;
      if (e === asker || (leechersOnly && e.seeder) || e.rec.lastSeen < freshSince) continue;
      out.push(e.rec);
    }
    return out;
  }

  stats(infoHash: string): SwarmStats {
    const swarm = this.#swarms.get(infoHash);
    if (!swarm) return { complete: 0, incomplete: 0, downloaded: 0 };
    return {
      complete: swarm.seeders,
      incomplete: swarm.list.length - swarm.seeders,
      downloaded: swarm.downloaded,
      name: swarm.name,
      pieces: swarm.pieces,
    };
  }

  swarms(): string[] {
    return [...this.#swarms.keys()];
  }

  expire(olderThan: number): number {
    let removed = 0;
    for (const [hash, swarm] of this.#swarms) {
      // Walk backwards: swap-removal only moves entries from the end, which were already checked.
      for (let i = swarm.list.length - 1; i >= 0; i--) {
        const e = swarm.list[i]!;
        if (e.rec.lastSeen < olderThan) {
          this.#remove(swarm, e);
          removed++;
        }
      }
      if (swarm.list.length === 0) this.#swarms.delete(hash);
    }
    return removed;
  }

  close(): void {
    this.#swarms.clear();
  }

  #remove(swarm: Swarm, entry: Entry): void {
    const last = swarm.list.pop()!;
    if (last !== entry) {
      swarm.list[entry.index] = last;
      last.index = entry.index;
    }
    swarm.byKey.delete(entry.rec.key);
    if (entry.seeder) swarm.seeders--;
  }
}
