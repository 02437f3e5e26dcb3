import { ChunkswarmError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import type { AnnounceEvent } from '../protocol/announce-request.js';
import { compactEntry, isSeeder, type ResponsePeer } from '../protocol/announce-response.js';
import type { PeerRate } from '../protocol/rates.js';

/**
 * One peer of one swarm, as the tracker keeps it: the seed's PEER_SET entry.
 *
 * `key` identifies the peer within its swarm: `<peer id hex>@<ip>` (see peerKey). A re-announce
 * with the same peer id from the same address updates the record, whatever its port; the address
 * is part of the key because non-compact responses reveal peer ids, and without it anyone who saw
 * an id could move that peer's port or announce it `stopped`.
 */
export interface PeerRecord extends ResponsePeer {
  readonly key: string;
  /** Undefined when the client did not send `left`. */
  readonly left: number | undefined;
  /** The torrent's name, when a chunkswarm peer sent it (`cs_name`). */
  readonly name?: string | undefined;
  /**
   * Rates with its busiest peers, when a chunkswarm peer sent them (`cs_rates`); kept in memory and
   * in Redis, not in SQLite.
   */
  readonly rates?: readonly PeerRate[] | undefined;
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
  /**
   * The same selection as `peers`, as compact entries (BEP 23 for IPv4, BEP 7 for IPv6): what
   * most announces want, without building a record per peer. Optional; the tracker falls back
   * to `peers`.
   */
  compactPeers?(infoHash: string, limit: number, excludeKey: string | undefined, now: number): CompactPeers;
  /** Counts of a swarm; zeros for a swarm the store does not know. */
  stats(infoHash: string): SwarmStats;
  /** Infohashes of every swarm with at least one peer (or not yet expired). */
  swarms(): string[];
  /** Removes peers last seen before `olderThan` (ms) and swarms left empty; returns peers removed. */
  expire(olderThan: number): number;
  /** What /metrics reports of the whole store. Optional: a store without it reports no gauges. */
  totals?(): StoreTotals;
  close(): void;
}

/** Swarms, peers and seeders of a whole store. */
export interface StoreTotals {
  readonly swarms: number;
  readonly peers: number;
  readonly seeders: number;
}

/** What one announce gives back from an async store: its selection and the swarm's counts. */
export interface StoreExchange {
  /** Set when compact entries were asked for; `peers` is then empty. */
  readonly packed: CompactPeers | undefined;
  readonly peers: PeerRecord[];
  readonly stats: SwarmStats;
}

/**
 * A store across the network (Redis): the same operations as SwarmStore, answered later. An
 * announce goes through `exchange`, which records it, picks peers and counts the swarm in one
 * round trip; the tracker awaits only for such a store, so the in-memory path stays synchronous.
 * Errors: ChunkswarmError `ETRACKER_FAILURE` with the failure reason to send (caps, or the store
 * being unreachable).
 */
export interface AsyncSwarmStore {
  readonly async: true;
  announce(infoHash: string, peer: PeerRecord, event: AnnounceEvent | undefined, now: number): Promise<void>;
  /**
   * `announce`, then up to `numwant` peers as `peers` or (`compact`) `compactPeers` would pick
   * them for this peer, then `stats`: one atomic step.
   */
  exchange(
    infoHash: string,
    peer: PeerRecord,
    event: AnnounceEvent | undefined,
    now: number,
    numwant: number,
    compact: boolean,
  ): Promise<StoreExchange>;
  peers(infoHash: string, limit: number, excludeKey: string | undefined, now: number): Promise<PeerRecord[]>;
  compactPeers(
    infoHash: string,
    limit: number,
    excludeKey: string | undefined,
    now: number,
  ): Promise<CompactPeers>;
  stats(infoHash: string): Promise<SwarmStats>;
  /** `stats` of each swarm, in order, in one round trip (a scrape). */
  statsMany(infoHashes: readonly string[]): Promise<SwarmStats[]>;
  /** Infohashes of the swarms, at most `limit` of them when given. */
  swarms(limit?: number): Promise<string[]>;
  expire(olderThan: number): Promise<number>;
  totals(): Promise<StoreTotals>;
  /**
   * A secret every tracker sharing this store gets the same of (the first one draws it): UDP
   * connection ids (BEP 15) made by one tracker then verify at any other, as they must behind a
   * load balancer or across `--workers`. Optional.
   */
  sharedSecret?(): Promise<Buffer>;
  close(): Promise<void>;
}

/** The failure reason announcers get while a store across the network cannot be reached. */
export const STORE_UNAVAILABLE = 'tracker store unavailable, try again later';

export function storeUnavailable(cause?: unknown): ChunkswarmError {
  return new ChunkswarmError('ETRACKER_FAILURE', STORE_UNAVAILABLE, { cause });
}

/** Either kind of store, as a tracker accepts it. */
export type AnySwarmStore = SwarmStore | AsyncSwarmStore;

export function isAsyncStore(store: AnySwarmStore): store is AsyncSwarmStore {
  return (store as { async?: unknown }).async === true;
}

/** Peers as compact entries: 6 bytes each (IPv4 address, port) and 18 bytes each (IPv6). */
export interface CompactPeers {
  readonly v4: Buffer;
  readonly v6: Buffer;
}

/** The key a PeerRecord is stored under (see PeerRecord). */
export function peerKey(peerId: Uint8Array, ip: string): string {
  // Written into one scratch buffer and read out as one string: a concatenation would give a
  // rope that every Map lookup by this key has to walk (each announce looks it up twice).
  const need = peerId.length * 2 + 1 + ip.length;
  if (need > KEY_SCRATCH.length) {
    return `${Buffer.from(peerId.buffer, peerId.byteOffset, peerId.byteLength).toString('hex')}@${ip}`;
  }
  let o = 0;
  for (let i = 0; i < peerId.length; i++) {
    const b = peerId[i]!;
    KEY_SCRATCH[o++] = HEX_DIGITS[b >> 4]!;
    KEY_SCRATCH[o++] = HEX_DIGITS[b & 15]!;
  }
  KEY_SCRATCH[o++] = 0x40;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    // Address text is ASCII; anything else takes the general path so the key stays the same text.
    if (c > 0x7f) {
      return `${Buffer.from(peerId.buffer, peerId.byteOffset, peerId.byteLength).toString('hex')}@${ip}`;
    }
    KEY_SCRATCH[o++] = c;
  }
  return KEY_SCRATCH.toString('latin1', 0, o);
}

const KEY_SCRATCH = Buffer.allocUnsafeSlow(128);
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

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
  /** Where a selection of peers starts (default Math.random; the simulator passes a seeded one). */
  readonly random?: () => number;
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

type MutablePeer = { -readonly [K in keyof PeerRecord]: PeerRecord[K] };

interface Entry {
  /** The stored record; later announces update it in place (see MemorySwarmStore). */
  rec: MutablePeer;
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
  /**
   * What a compact answer needs of each peer, by list index, in flat arrays: SLOT bytes of compact
   * entry, flag bits and last-seen time. Reading 50 peers then touches a few cache lines instead
   * of a record, a Buffer and its memory per peer, which a tracker's cold cache pays for dearly.
   */
  addr: Buffer;
  flags: Uint8Array;
  seen: Float64Array;
  seeders: number;
  downloaded: number;
  name: string | undefined;
  pieces: number | undefined;
}

/** Bytes per peer in Swarm.addr: room for an IPv6 compact entry. */
const SLOT = 18;
const F_SEEDER = 1;
const F_V6 = 2;
const FIRST_CAPACITY = 4;

/**
 * Swarms in memory: what a single tracker process needs, and what tests drive directly.
 *
 * A re-announce updates the stored record in place rather than keeping the new one: peers
 * re-announce every interval, and records replaced that often would each live just long enough
 * to be promoted to the old generation and then die there, the costliest kind of garbage.
 */
export class MemorySwarmStore implements SwarmStore {
  readonly #swarms = new Map<string, Swarm>();
  readonly #maxPeers: number;
  readonly #maxSwarms: number;
  readonly #maxPerIp: number;
  readonly #staleAfter: number;
  readonly #journal: SwarmJournal | undefined;
  readonly #keep = new ByteKeeper();
  readonly #random: () => number;
  /**
   * What the last lookups found. One announce looks its swarm up three times (record, pick,
   * count) and its peer twice, always with the same strings; every change to #swarms or to a
   * swarm's byKey forgets them.
   */
  #memoHash: string | undefined;
  #memoSwarm: Swarm | undefined;
  #memoKeyOf: Swarm | undefined;
  #memoKey: string | undefined;
  #memoEntry: Entry | undefined;

  constructor(opts: MemorySwarmStoreOptions = {}) {
    this.#random = opts.random ?? Math.random;
    this.#maxPeers = opts.maxPeersPerSwarm ?? LIMITS.trackerMaxPeersPerSwarm;
    this.#maxSwarms = opts.maxSwarms ?? LIMITS.trackerMaxSwarms;
    this.#maxPerIp = opts.maxPeersPerIp ?? DEFAULT_MAX_PEERS_PER_IP;
    this.#staleAfter = opts.staleAfterMs ?? Number.POSITIVE_INFINITY;
    this.#journal = opts.journal;
  }

  #swarm(infoHash: string): Swarm | undefined {
    if (infoHash === this.#memoHash) return this.#memoSwarm;
    const swarm = this.#swarms.get(infoHash);
    this.#memoHash = infoHash;
    this.#memoSwarm = swarm;
    return swarm;
  }

  #entry(swarm: Swarm, key: string): Entry | undefined {
    if (swarm === this.#memoKeyOf && key === this.#memoKey) return this.#memoEntry;
    const entry = swarm.byKey.get(key);
    this.#memoKeyOf = swarm;
    this.#memoKey = key;
    this.#memoEntry = entry;
    return entry;
  }

  #forget(): void {
    this.#memoHash = undefined;
    this.#memoSwarm = undefined;
    this.#memoKeyOf = undefined;
    this.#memoKey = undefined;
    this.#memoEntry = undefined;
  }

  announce(infoHash: string, peer: PeerRecord, event: AnnounceEvent | undefined, now: number): void {
    const swarm = this.#swarm(infoHash);
    if (event === 'stopped') {
      const entry = swarm && this.#entry(swarm, peer.key);
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
    const entry = swarm && this.#entry(swarm, rec.key);
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
      const moved = this.#update(entry.rec, rec);
      entry.seeder = seeder;
      entry.uploadOnly = uploadOnly;
      if (countCompleted) entry.completed = true;
      writeSlot(target, entry, moved ? (rec.compact ?? compactEntry(rec.ip, rec.port)) : undefined);
    } else {
      this.#add(
        target,
        { rec: this.#stored(rec), seeder, uploadOnly, completed: countCompleted, index: 0 },
        rec.compact,
      );
    }
  }

  /**
   * Puts back a swarm and its peers as a journal saved them (after a restart). Caps are not
   * applied: what was accepted once stays. Replaces a swarm of the same infohash.
   */
  restore(infoHash: string, saved: SavedSwarm, peers: Iterable<SavedPeer>): void {
    this.#swarms.delete(infoHash);
    this.#forget();
    const swarm = this.#newSwarm(infoHash);
    swarm.downloaded = saved.downloaded;
    swarm.name = saved.name;
    swarm.pieces = saved.pieces;
    for (const p of peers) {
      if (swarm.byKey.has(p.peer.key)) continue;
      this.#add(swarm, {
        rec: this.#stored(p.peer),
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
      addr: Buffer.allocUnsafe(FIRST_CAPACITY * SLOT),
      flags: new Uint8Array(FIRST_CAPACITY),
      seen: new Float64Array(FIRST_CAPACITY),
      seeders: 0,
      downloaded: 0,
      name: undefined,
      pieces: undefined,
    };
    this.#swarms.set(infoHash, swarm);
    this.#forget();
    return swarm;
  }

  /**
   * The record as the store keeps it: its byte strings copied out of Node's shared Buffer pool,
   * where one long-lived 20-byte peer id would otherwise hold a whole 8 KiB pool slab of
   * short-lived request bytes. The compact entry lives in the swarm's slots instead.
   */
  #stored(rec: PeerRecord): MutablePeer {
    // Every field written, always in this order: all stored records then share one hidden class,
    // so the property reads and writes of a re-announce (#update) stay monomorphic. Records made
    // by spreading had one shape per set of optional fields, and the announce path paid an inline
    // cache miss on most of its stores (measured: a sixth of the in-process announce time).
    return {
      key: rec.key,
      ip: rec.ip,
      port: rec.port,
      peerId: this.#keep.keep(rec.peerId),
      compact: undefined,
      uploaded: rec.uploaded,
      downloaded: rec.downloaded,
      left: rec.left,
      have: rec.have,
      pieces: rec.pieces,
      bitfield: rec.bitfield === undefined ? undefined : this.#keep.keep(rec.bitfield),
      lastSeen: rec.lastSeen,
      name: rec.name,
      rates: rec.rates,
    };
  }

  /** Copies what a re-announce may change into the stored record; true when the port moved. */
  #update(into: MutablePeer, from: PeerRecord): boolean {
    const moved = into.port !== from.port;
    into.port = from.port;
    into.uploaded = from.uploaded;
    into.downloaded = from.downloaded;
    into.left = from.left;
    into.have = from.have;
    into.pieces = from.pieces;
    const bits = from.bitfield;
    if (bits === undefined) into.bitfield = undefined;
    else if (into.bitfield?.length === bits.length) into.bitfield.set(bits);
    else into.bitfield = this.#keep.keep(bits);
    into.lastSeen = from.lastSeen;
    into.name = from.name;
    into.rates = from.rates;
    return moved;
  }

  #add(swarm: Swarm, entry: Entry, compact?: Buffer): void {
    entry.index = swarm.list.length;
    swarm.list.push(entry);
    if (entry.index >= swarm.flags.length) grow(swarm);
    writeSlot(swarm, entry, compact ?? compactEntry(entry.rec.ip, entry.rec.port));
    swarm.byKey.set(entry.rec.key, entry);
    this.#forget();
    if (entry.seeder) swarm.seeders++;
    const ip = entry.rec.ip;
    if (!isLoopback(ip)) swarm.perIp.set(ip, (swarm.perIp.get(ip) ?? 0) + 1);
  }

  peers(infoHash: string, limit: number, excludeKey: string | undefined, now: number): PeerRecord[] {
    const swarm = this.#swarm(infoHash);
    const out: PeerRecord[] = [];
    if (!swarm || limit <= 0) return out;
    const asker = excludeKey === undefined ? undefined : this.#entry(swarm, excludeKey);
    const leechersOnly = asker?.uploadOnly === true;
    const freshSince = now - this.#staleAfter;
    const n = swarm.list.length;
    // A random starting point and a walk from there: a fresh selection per call, with no shuffle.
    const start = Math.floor(this.#random() * n);
    for (let i = 0; i < n && out.length < limit; i++) {
      const e = swarm.list[(start + i) % n]!;
      if (e === asker || (leechersOnly && e.seeder) || e.rec.lastSeen < freshSince) continue;
      out.push(e.rec);
    }
    return out;
  }

  compactPeers(infoHash: string, limit: number, excludeKey: string | undefined, now: number): CompactPeers {
    const swarm = this.#swarm(infoHash);
    if (!swarm || limit <= 0) return NO_PEERS;
    const asker = excludeKey === undefined ? -1 : (this.#entry(swarm, excludeKey)?.index ?? -1);
    const skip = asker >= 0 && swarm.list[asker]!.uploadOnly ? F_SEEDER : 0;
    const freshSince = now - this.#staleAfter;
    const { addr, flags, seen } = swarm;
    const n = swarm.list.length;
    const want = Math.min(limit, n);
    const v4 = Buffer.allocUnsafe(want * 6);
    let v6: Buffer | undefined;
    let o4 = 0;
    let o6 = 0;
    let taken = 0;
    // Same walk as `peers`: a random start, then onwards.
    const start = Math.floor(this.#random() * n);
    for (let k = 0; k < n && taken < want; k++) {
      let i = start + k;
      if (i >= n) i -= n;
      const f = flags[i]!;
      if (i === asker || (f & skip) !== 0 || seen[i]! < freshSince) continue;
      const from = i * SLOT;
      if ((f & F_V6) === 0) {
        v4[o4] = addr[from]!;
        v4[o4 + 1] = addr[from + 1]!;
        v4[o4 + 2] = addr[from + 2]!;
        v4[o4 + 3] = addr[from + 3]!;
        v4[o4 + 4] = addr[from + 4]!;
        v4[o4 + 5] = addr[from + 5]!;
        o4 += 6;
      } else {
        v6 ??= Buffer.allocUnsafe(want * 18);
        addr.copy(v6, o6, from, from + 18);
        o6 += 18;
      }
      taken++;
    }
    // Usually every slot was filled: the buffer itself then, not one more view of it.
    return {
      v4: o4 === v4.length ? v4 : v4.subarray(0, o4),
      v6: v6 === undefined ? EMPTY : v6.subarray(0, o6),
    };
  }

  stats(infoHash: string): SwarmStats {
    const swarm = this.#swarm(infoHash);
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

  totals(): StoreTotals {
    let peers = 0;
    let seeders = 0;
    for (const swarm of this.#swarms.values()) {
      peers += swarm.list.length;
      seeders += swarm.seeders;
    }
    return { swarms: this.#swarms.size, peers, seeders };
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
      if (swarm.list.length === 0) {
        this.#swarms.delete(hash);
        this.#forget();
      }
    }
    return removed;
  }

  close(): void {
    this.#swarms.clear();
    this.#forget();
  }

  #remove(swarm: Swarm, entry: Entry): void {
    const last = swarm.list.pop()!;
    if (last !== entry) {
      swarm.list[entry.index] = last;
      last.index = entry.index;
      swarm.addr.copy(
        swarm.addr,
        entry.index * SLOT,
        swarm.list.length * SLOT,
        (swarm.list.length + 1) * SLOT,
      );
      swarm.flags[entry.index] = swarm.flags[swarm.list.length]!;
      swarm.seen[entry.index] = swarm.seen[swarm.list.length]!;
    }
    swarm.byKey.delete(entry.rec.key);
    this.#forget();
    if (entry.seeder) swarm.seeders--;
    const ip = entry.rec.ip;
    const n = swarm.perIp.get(ip);
    if (n !== undefined) {
      if (n <= 1) swarm.perIp.delete(ip);
      else swarm.perIp.set(ip, n - 1);
    }
  }
}

const EMPTY = Buffer.alloc(0);
const NO_PEERS: CompactPeers = { v4: EMPTY, v6: EMPTY };

/** Records a peer's slot; the address bytes only when given (a new peer, or a new port). */
function writeSlot(swarm: Swarm, entry: Entry, compact: Buffer | undefined): void {
  const i = entry.index;
  if (compact !== undefined) {
    compact.copy(swarm.addr, i * SLOT);
    swarm.flags[i] = (swarm.flags[i]! & ~F_V6) | (compact.length === 18 ? F_V6 : 0);
  }
  swarm.flags[i] = (swarm.flags[i]! & ~F_SEEDER) | (entry.seeder ? F_SEEDER : 0);
  swarm.seen[i] = entry.rec.lastSeen;
}

/** Bytes per slab of ByteKeeper; larger strings get a buffer of their own. */
const KEEP_SLAB = 64 * 1024;

/**
 * Small byte strings that live as long as their peer, packed into slabs of their own so they do
 * not pin Node's shared pool (whose slabs are otherwise full of one request's short-lived bytes).
 */
class ByteKeeper {
  #slab: Buffer = Buffer.alloc(0);
  #used = 0;

  keep(src: Uint8Array): Buffer {
    const n = src.length;
    if (n > KEEP_SLAB / 16) {
      const own = Buffer.allocUnsafeSlow(n);
      own.set(src);
      return own;
    }
    if (this.#used + n > this.#slab.length) {
      this.#slab = Buffer.allocUnsafeSlow(KEEP_SLAB);
      this.#used = 0;
    }
    const out = this.#slab.subarray(this.#used, this.#used + n);
    out.set(src);
    this.#used += n;
    return out;
  }
}

function grow(swarm: Swarm): void {
  const capacity = swarm.flags.length * 2;
  const addr = Buffer.allocUnsafe(capacity * SLOT);
  swarm.addr.copy(addr);
  swarm.addr = addr;
  const flags = new Uint8Array(capacity);
  flags.set(swarm.flags);
  swarm.flags = flags;
  const seen = new Float64Array(capacity);
  seen.set(swarm.seen);
  swarm.seen = seen;
}
