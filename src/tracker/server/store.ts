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

/**
 * Peers one address may have in one swarm. Many honest peers can share an address (a household or
 * a campus behind NAT), but thousands from one address are someone filling the swarm with fake
 * peer ids to crowd out real peers or to point downloaders at one victim.
 */
export const DEFAULT_MAX_PEERS_PER_IP = 32;

export interface MemorySwarmStoreOptions {
  readonly maxPeersPerSwarm?: number;
  readonly maxSwarms?: number;
  /**
   * Peers per address per swarm (default DEFAULT_MAX_PEERS_PER_IP). Loopback addresses are not
   * counted: peers on the tracker's own machine are its operator's (demos, tests, benchmarks).
   */
  readonly maxPeersPerIp?: number;
  /** Peers older than this (ms) are no longer handed out, even before `expire` removes them. */
  readonly staleAfterMs?: number;
  /**
   * Told of every change before it is made in memory, so a store on disk can write it first; when
   * the journal throws, the change is not made and the error goes to the announcer.
   */
  readonly journal?: SwarmJournal;
}

/** What one announce changed, as a journal needs it to write the same state down. */
export type SwarmChange =
  | { readonly kind: 'remove'; readonly infoHash: string; readonly key: string }
  | {
      readonly kind: 'upsert';
      readonly infoHash: string;
      /** The peer as it now is (lastSeen is the announce's time). */
      readonly peer: PeerRecord;
      readonly uploadOnly: boolean;
      readonly completed: boolean;
      /** The swarm's numbers after the change; `swarmChanged` when they (or the swarm) are new. */
      readonly swarm: SavedSwarm;
      readonly swarmChanged: boolean;
    };

/** A swarm's own numbers, as a journal keeps them. */
export interface SavedSwarm {
  readonly downloaded: number;
  readonly name: string | undefined;
  readonly pieces: number | undefined;
}

/** A peer with the flags the store keeps beside it, as a journal keeps it. */
export interface SavedPeer {
  readonly peer: PeerRecord;
  readonly uploadOnly: boolean;
  readonly completed: boolean;
}

export interface SwarmJournal {
  announce(change: SwarmChange): void;
  /** Peers last seen before `olderThan` go, and then swarms without peers. */
  expire(olderThan: number): void;
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
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
  /** Peers per address, loopback left out (see MemorySwarmStoreOptions.maxPeersPerIp). */
  readonly perIp: Map<string, number>;
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
  readonly #maxPerIp: number;
  readonly #staleAfter: number;
  readonly #journal: SwarmJournal | undefined;

  constructor(opts: MemorySwarmStoreOptions = {}) {
    this.#maxPeers = opts.maxPeersPerSwarm ?? LIMITS.trackerMaxPeersPerSwarm;
    this.#maxSwarms = opts.maxSwarms ?? LIMITS.trackerMaxSwarms;
    this.#maxPerIp = opts.maxPeersPerIp ?? DEFAULT_MAX_PEERS_PER_IP;
    this.#staleAfter = opts.staleAfterMs ?? Number.POSITIVE_INFINITY;
    this.#journal = opts.journal;
  }

  announce(infoHash: string, peer: PeerRecord, event: AnnounceEvent | undefined, now: number): void {
    const swarm = this.#swarms.get(infoHash);
    if (event === 'stopped') {
      const entry = swarm?.byKey.get(peer.key);
      if (swarm && entry) {
        this.#journal?.announce({ kind: 'remove', infoHash, key: peer.key });
        this.#remove(swarm, entry);
      }
      return;
    }
    // Every check first, so a refused announce changes nothing anywhere.
    if (!swarm && this.#swarms.size >= this.#maxSwarms) {
      throw new ChunkswarmError('ETRACKER_FAILURE', 'tracker is full: it tracks as many torrents as it can');
    }
    const rec = peer.lastSeen === now ? peer : { ...peer, lastSeen: now };
    const entry = swarm?.byKey.get(rec.key);
    if (!entry) {
      const count = swarm?.list.length ?? 0;
      if (count >= this.#maxPeers) {
        throw new ChunkswarmError('ETRACKER_FAILURE', `swarm is full: ${this.#maxPeers} peers already`);
      }
      if (!isLoopback(rec.ip) && (swarm?.perIp.get(rec.ip) ?? 0) >= this.#maxPerIp) {
        throw new ChunkswarmError(
          'ETRACKER_FAILURE',
          `too many peers from ${rec.ip} in this swarm (at most ${this.#maxPerIp} per address)`,
        );
      }
    }
    const seeder = isSeeder(rec);
    const uploadOnly = seeder || event === 'paused';
    const countCompleted = event === 'completed' && entry?.completed !== true;
    // The first name and chunk count a peer gives stick, so a later peer cannot rename a swarm.
    const name = swarm?.name ?? rec.name;
    const pieces = swarm?.pieces ?? rec.pieces;
    const downloaded = (swarm?.downloaded ?? 0) + (countCompleted ? 1 : 0);
    if (this.#journal) {
      this.#journal.announce({
        kind: 'upsert',
        infoHash,
        peer: rec,
        uploadOnly,
        completed: countCompleted || entry?.completed === true,
        swarm: { downloaded, name, pieces },
        swarmChanged: !swarm || countCompleted || name !== swarm.name || pieces !== swarm.pieces,
      });
    }
    const target = swarm ?? this.#newSwarm(infoHash);
    target.downloaded = downloaded;
    target.name = name;
    target.pieces = pieces;
    if (entry) {
      if (entry.seeder !== seeder) target.seeders += seeder ? 1 : -1;
      entry.rec = rec;
      entry.seeder = seeder;
      entry.uploadOnly = uploadOnly;
      if (countCompleted) entry.completed = true;
    } else {
      this.#add(target, { rec, seeder, uploadOnly, completed: countCompleted, index: 0 });
    }
  }

  /**
   * Puts back a swarm and its peers as a journal saved them (after a restart). Caps are not
   * applied: what was accepted once stays. Replaces a swarm of the same infohash.
   */
  restore(infoHash: string, saved: SavedSwarm, peers: Iterable<SavedPeer>): void {
    this.#swarms.delete(infoHash);
    const swarm = this.#newSwarm(infoHash);
    swarm.downloaded = saved.downloaded;
    swarm.name = saved.name;
    swarm.pieces = saved.pieces;
    for (const p of peers) {
      if (swarm.byKey.has(p.peer.key)) continue;
      this.#add(swarm, {
        rec: p.peer,
        seeder: isSeeder(p.peer),
        uploadOnly: p.uploadOnly,
        completed: p.completed,
        index: 0,
      });
    }
  }

  #newSwarm(infoHash: string): Swarm {
    const swarm: Swarm = {
      list: [],
      byKey: new Map(),
      perIp: new Map(),
      seeders: 0,
      downloaded: 0,
      name: undefined,
      pieces: undefined,
    };
    this.#swarms.set(infoHash, swarm);
    return swarm;
  }

  #add(swarm: Swarm, entry: Entry): void {
    entry.index = swarm.list.length;
    swarm.list.push(entry);
    swarm.byKey.set(entry.rec.key, entry);
    if (entry.seeder) swarm.seeders++;
    const ip = entry.rec.ip;
    if (!isLoopback(ip)) swarm.perIp.set(ip, (swarm.perIp.get(ip) ?? 0) + 1);
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
    this.#journal?.expire(olderThan);
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
    const ip = entry.rec.ip;
    const n = swarm.perIp.get(ip);
    if (n !== undefined) {
      if (n <= 1) swarm.perIp.delete(ip);
      else swarm.perIp.set(ip, n - 1);
    }
  }
}
