import { PiecePriority } from '../metainfo/selection.js';
import { Bitfield } from '../shared/bitfield.js';
import { ChunkswarmError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import { RarityOrder } from './rarity.js';

/** One REQUEST's worth of a piece (BEP 3: index, begin, length). */
export interface BlockRef {
  readonly index: number;
  readonly begin: number;
  readonly length: number;
}

/** The part of a torrent's layout the picker needs (a TorrentLayout fits). */
export interface PickerLayout {
  readonly pieceCount: number;
  readonly pieceLength: number;
  readonly totalLength: number;
  /** BEP 47 padding (ascending runs of the torrent's bytes): blocks wholly inside it are never asked for. */
  readonly padding?: readonly { readonly offset: number; readonly length: number }[];
}

export interface PickerOptions {
  /** Bytes per request; 16 KiB is what every client sends and accepts. */
  blockSize?: number;
  /** Source of randomness in [0, 1): tie breaks among equally rare pieces and random-first picks. */
  random?: () => number;
  /** While we hold fewer verified pieces than this, new pieces are chosen at random, not rarest. */
  randomFirst?: number;
  /** Pieces already verified (resume). Copied: read `picker.have` for the live set. */
  have?: Bitfield;
  /**
   * Endgame: a block already in flight to another peer is asked of this one only while fewer than this
   * many blocks are in flight to it (default ENDGAME_QUEUE). Blocks in flight nowhere are not limited.
   */
  endgameQueue?: number;
}

/**
 * Endgame duplicates go only to a peer with nothing else in flight. A duplicate asked of a peer with a
 * deep queue waits behind that queue, and the sender cannot take back what it has already handed its
 * socket, so nearly every such copy is sent in full: with queues seconds deep (64 blocks at least), a
 * simulated flash crowd of 50 spent 8% of its upload (median leecher; 30% at worst) on copies nobody
 * needed, and finished later for it. libtorrent's picker likewise asks for a busy block only when the
 * peer has nothing else to do.
 */
export const ENDGAME_QUEUE = 1;

export interface BlockReceipt {
  /** We had asked this peer for this block and still lacked it: store it. Otherwise drop it. */
  readonly wanted: boolean;
  /** Every block of the piece is now here: hash it, then call pieceVerified or pieceFailed. */
  readonly pieceDone: boolean;
  /** Other peers that had the same block in flight (endgame): send them CANCEL. Their requests are already released. */
  readonly cancel: string[];
}

/** Blocks of one piece that are being fetched. Exists only while a piece is started and not yet verified. */
interface PieceProgress {
  readonly blockCount: number;
  readonly received: Uint8Array;
  /** Blocks wholly in BEP 47 padding: zeros, counted as received from the start (see #padBlocks). */
  readonly padCount: number;
  receivedCount: number;
  /** Peers that have the block in flight; undefined when none. A received block has none. */
  readonly owners: (string[] | undefined)[];
  /** Blocks not received that at least one peer has in flight. */
  requestedCount: number;
}

interface PeerState {
  /**
   * The pieces counted into availability for this peer: a private copy of the caller's bitfield,
   * kept current by peerHave, so a repeated HAVE is counted once and removePeer takes back exactly
   * what was added.
   */
  readonly bits: Bitfield;
  /** Block keys (see #key) in flight to this peer. */
  readonly requests: Set<number>;
}

/** Per-piece download priority (see setPriorities): metainfo's `PiecePriority`, under the picker's names. */
export const PRIORITY_SKIP = PiecePriority.skip;
export const PRIORITY_NORMAL = PiecePriority.normal;
export const PRIORITY_HIGH = PiecePriority.high;

/** Pieces a streaming reader needs next: `first` .. `first + count - 1`, fetched in that order. */
export interface StreamWindow {
  readonly first: number;
  readonly count: number;
}

function notWanted(): BlockReceipt {
  return { wanted: false, pieceDone: false, cancel: [] };
}

/**
 * Decides which blocks to request from which peer. Holds state only, never data, and does no I/O.
 *
 * Policy, in order (the rules BitTorrent clients converged on; BEP 3 leaves the choice open):
 * 1. Finish started pieces: pieces with blocks received or requested, that the peer has, fewest
 *    unrequested blocks first, so few pieces are open at a time and each reaches hashing soon.
 * 2. Otherwise start the rarest piece the peer has (lowest availability, random among equals), so
 *    rare pieces spread before their holders leave.
 * 3. While we hold fewer than `randomFirst` pieces, start a random piece instead: a fresh swarm does
 *    not all chase the same rare piece, and we get something to trade quickly.
 * 0. File selection and streaming (setPriorities, setStreamWindow): pieces of priority 0 are never
 *    started by `pick` (pickPiece, an explicit request, still fetches them); the pieces of the
 *    stream window come before everything else, in order, since a reader waits on the first of
 *    them; high-priority pieces are started before any other new piece, rarest first among them.
 * 4. A block goes to one peer at a time, except in endgame (every missing block received or in
 *    flight), when a block in flight elsewhere may also be asked of another peer, fewest copies first,
 *    never twice of the same peer, and only while that peer has fewer than `endgameQueue` blocks in
 *    flight (see ENDGAME_QUEUE); the first copy to arrive cancels the others.
 *
 * Costs (P pieces, N peers, B blocks in started pieces):
 * - addPeer / removePeer: O(P/8 + pieces the peer has), plus its in-flight blocks.
 * - peerHave: O(1). availability, inFlight, missingCount: O(1). interesting: O(P/8).
 * - pick: O(S log S) over the S started pieces the peer has, plus, when it must start new pieces,
 *   one pass over the availability order that stops once enough blocks are found: near O(1) when
 *   the peer has the rarest pieces, O(P) at worst, once per call however many pieces it starts.
 *   In endgame O(B log B).
 * - blockReceived / requestEnded: O(copies of the block). pieceVerified: O(N + blocks per piece).
 */
export class PiecePicker {
  readonly have: Bitfield;
  readonly #pieceCount: number;
  readonly #pieceLength: number;
  readonly #totalLength: number;
  readonly #blockSize: number;
  readonly #blocksPerPiece: number;
  readonly #random: () => number;
  readonly #randomFirst: number;
  readonly #endgameQueue: number;
  readonly #rarity: RarityOrder;
  readonly #peers = new Map<string, PeerState>();
  readonly #progress = new Map<number, PieceProgress>();
  /**
   * Per piece that has them, a flag per block wholly inside BEP 47 padding: zeros the caller fills in itself,
   * never asked of a peer (other clients do not ask for them either). A piece of nothing but padding is asked
   * for as usual, so that something still brings it to its hash check.
   */
  readonly #padBlocks = new Map<number, Uint8Array>();
  /** Blocks of wanted missing pieces that are neither received nor in flight: endgame when this reaches 0. */
  #freeBlocks = 0;
  /** Priority per piece; 0 = skip. */
  readonly #priority: Uint8Array;
  /** Bit set for pieces of priority above 0, for `interesting`. */
  readonly #wanted: Bitfield;
  /** Missing pieces of priority high or above. */
  readonly #high = new Set<number>();
  /** Wanted pieces not yet verified. */
  #wantedMissing: number;
  #window: StreamWindow | undefined;

  constructor(layout: PickerLayout, opts: PickerOptions = {}) {
    const { pieceCount, pieceLength, totalLength } = layout;
    if (!Number.isSafeInteger(pieceLength) || pieceLength <= 0) {
      throw new ChunkswarmError('EMETAINFO', `piece length must be a positive integer, got ${pieceLength}`);
    }
    if (!Number.isSafeInteger(totalLength) || totalLength < 0) {
      throw new ChunkswarmError(
        'EMETAINFO',
        `total length must be a non-negative integer, got ${totalLength}`,
      );
    }
    if (!Number.isSafeInteger(pieceCount) || pieceCount > LIMITS.maxPieces) {
      throw new ChunkswarmError(
        'EMETAINFO',
        `piece count must be an integer up to ${LIMITS.maxPieces}, got ${pieceCount}`,
      );
    }
    if (pieceCount !== Math.ceil(totalLength / pieceLength)) {
      throw new ChunkswarmError(
        'EMETAINFO',
        `${pieceCount} pieces of ${pieceLength} bytes do not match a total of ${totalLength} bytes`,
      );
    }
    const blockSize = opts.blockSize ?? LIMITS.blockSize;
    if (!Number.isSafeInteger(blockSize) || blockSize <= 0 || blockSize > LIMITS.blockSize) {
      throw new ChunkswarmError(
        'EUSAGE',
        `block size must be between 1 and ${LIMITS.blockSize}, got ${blockSize}`,
      );
    }
    const randomFirst = opts.randomFirst ?? 4;
    if (!Number.isSafeInteger(randomFirst) || randomFirst < 0) {
      throw new ChunkswarmError('EUSAGE', `randomFirst must be a non-negative integer, got ${randomFirst}`);
    }
    if (opts.have && opts.have.size !== pieceCount) {
      throw new ChunkswarmError(
        'EUSAGE',
        `the have bitfield has ${opts.have.size} bits but the torrent has ${pieceCount} pieces`,
      );
    }
    this.#pieceCount = pieceCount;
    this.#pieceLength = pieceLength;
    this.#totalLength = totalLength;
    this.#blockSize = blockSize;
    this.#blocksPerPiece = Math.ceil(pieceLength / blockSize);
    this.#random = opts.random ?? Math.random;
    this.#randomFirst = randomFirst;
    const endgameQueue = opts.endgameQueue ?? ENDGAME_QUEUE;
    if (!(endgameQueue >= 1)) {
      throw new ChunkswarmError('EUSAGE', `endgameQueue must be at least 1, got ${endgameQueue}`);
    }
    this.#endgameQueue = endgameQueue;
    this.have = opts.have ? opts.have.clone() : new Bitfield(pieceCount);
    this.#rarity = new RarityOrder(pieceCount, this.have, this.#random);
    for (const pad of layout.padding ?? []) this.#markPadding(pad.offset, pad.length);
    for (const [index, flags] of this.#padBlocks)
      if (flags.every((f) => f === 1)) this.#padBlocks.delete(index);
    for (let i = 0; i < pieceCount; i++) if (!this.have.has(i)) this.#freeBlocks += this.#toFetch(i);
    this.#priority = new Uint8Array(pieceCount).fill(PRIORITY_NORMAL);
    this.#wanted = Bitfield.full(pieceCount);
    this.#wantedMissing = pieceCount - this.have.count;
  }

  /** Endgame: wanted pieces are missing, and every block of them is either received or in flight. */
  get inEndgame(): boolean {
    return this.#freeBlocks === 0 && this.#wantedMissing > 0;
  }

  /**
   * Sets every piece's priority (one value per piece): 0 skips the piece (its files are not
   * selected), 1 is normal, 2 and above are started before normal pieces. Takes effect at the next
   * pick; blocks already in flight are left to arrive. O(P).
   */
  setPriorities(priorities: ArrayLike<number>): void {
    if (priorities.length !== this.#pieceCount) {
      throw new ChunkswarmError(
        'EUSAGE',
        `${priorities.length} priorities were given but the torrent has ${this.#pieceCount} pieces`,
      );
    }
    for (let i = 0; i < this.#pieceCount; i++) {
      const raw = priorities[i]!;
      const p = Number.isInteger(raw) ? Math.min(255, Math.max(0, raw)) : PRIORITY_NORMAL;
      const was = this.#priority[i]!;
      this.#priority[i] = p;
      if (this.have.has(i)) continue;
      if (p >= PRIORITY_HIGH) this.#high.add(i);
      else this.#high.delete(i);
      if (was > 0 === p > 0) continue;
      const prog = this.#progress.get(i);
      const free = prog ? freeIn(prog) : this.#toFetch(i);
      if (p > 0) {
        this.#wanted.set(i);
        this.#freeBlocks += free;
        this.#wantedMissing++;
        this.#rarity.restore(i);
      } else {
        this.#wanted.clear(i);
        this.#freeBlocks -= free;
        this.#wantedMissing--;
        // Out of the rarity order, a skipped piece costs rarest-first scans nothing.
        this.#rarity.retire(i);
      }
    }
  }

  /** The priority of a piece (0 for an index out of range). */
  priority(index: number): number {
    return this.#priority[index] ?? 0;
  }

  /**
   * A reader (`stream`) needs pieces `first ..` next: up to `count` of them, in order, are picked
   * before anything else, so each reaches hashing as soon as the peers allow. Seeking is a new
   * window; undefined ends streaming.
   */
  setStreamWindow(window: StreamWindow | undefined): void {
    if (window === undefined) {
      this.#window = undefined;
      return;
    }
    const { first, count } = window;
    this.#checkIndex(first);
    if (!Number.isSafeInteger(count) || count < 1) {
      throw new ChunkswarmError('EUSAGE', `a stream window needs at least one piece, got ${count}`);
    }
    this.#window = { first, count: Math.min(count, this.#pieceCount - first) };
  }

  get streamWindow(): StreamWindow | undefined {
    return this.#window;
  }

  /**
   * A peer joined with the pieces in `bits`; the caller then reports each HAVE with peerHave.
   * Adding a key that is already present replaces that peer (its requests are released).
   */
  addPeer(peer: string, bits: Bitfield): void {
    if (bits.size !== this.#pieceCount) {
      throw new ChunkswarmError(
        'EPEER',
        `peer ${peer} sent a bitfield of ${bits.size} pieces but the torrent has ${this.#pieceCount}`,
      );
    }
    if (this.#peers.has(peer)) this.removePeer(peer);
    const own = bits.clone();
    this.#peers.set(peer, { bits: own, requests: new Set() });
    forEachSetBit(own, (i) => this.#rarity.increment(i));
  }

  /** The peer announced a piece (HAVE). Unknown peers, out-of-range and repeated indexes are ignored. */
  peerHave(peer: string, index: number): void {
    const st = this.#peers.get(peer);
    if (st?.bits.set(index)) this.#rarity.increment(index);
  }

  /** The peer left: its pieces no longer count and every block it had in flight is free again. */
  removePeer(peer: string): void {
    const st = this.#peers.get(peer);
    if (!st) return;
    for (const key of [...st.requests]) this.#release(peer, st, key);
    forEachSetBit(st.bits, (i) => this.#rarity.decrement(i));
    this.#peers.delete(peer);
  }

  /** Wanted pieces we lack that at most `availability` connected peers have (0: nobody; 1: one source). O(1). */
  rareCount(availability: number): number {
    return this.#rarity.countUpTo(availability);
  }

  /** How many connected peers have the piece (0 for an index out of range). */
  availability(index: number): number {
    return Number.isInteger(index) ? this.#rarity.availability(index) : 0;
  }

  /**
   * Up to `max` blocks to request from `peer` now; they count as in flight to it from this moment,
   * until blockReceived or requestEnded. Empty for an unknown peer. `preferred` pieces (suggested by
   * the peer) are started before any other new piece; with `only`, nothing else is asked of this peer
   * (a seeder steering its leechers: whatever it did not suggest, the other leechers have or will have).
   * With `stalled` (peers whose queue of ours has not moved for a while), a peer that would get nothing
   * may share blocks in flight to a stalled peer (see #pickShared).
   */
  pick(
    peer: string,
    max: number,
    preferred?: ReadonlySet<number>,
    opts: { only?: boolean; stalled?: (peer: string) => boolean } = {},
  ): BlockRef[] {
    const st = this.#peers.get(peer);
    let room = Math.floor(max);
    if (!st || !(room > 0)) return [];
    const only = opts.only === true && preferred !== undefined;
    if (this.inEndgame) return this.#pickEndgame(peer, st, room, only ? preferred : undefined);
    const out: BlockRef[] = [];

    // The stream window first, in order, whatever a seeder suggests: a reader is waiting.
    const w = this.#window;
    if (w) {
      for (let index = w.first; index < w.first + w.count && room > 0; index++) {
        if (this.have.has(index) || !st.bits.has(index) || this.#priority[index] === PRIORITY_SKIP) continue;
        const prog = this.#progress.get(index) ?? this.#start(index);
        for (let b = 0; b < prog.blockCount && room > 0; b++) {
          if (prog.received[b] || prog.owners[b]) continue;
          this.#request(peer, st, index, prog, b, out);
          room--;
        }
        this.#dropIfIdle(index, prog);
      }
      if (room === 0) return out;
    }

    const started: [number, PieceProgress][] = [];
    for (const entry of this.#progress) {
      const prog = entry[1];
      if (
        freeIn(prog) > 0 &&
        st.bits.has(entry[0]) &&
        this.#priority[entry[0]] !== PRIORITY_SKIP &&
        (!only || preferred.has(entry[0]))
      )
        started.push(entry);
    }
    started.sort(([ia, a], [ib, b]) => freeIn(a) - freeIn(b) || b.receivedCount - a.receivedCount || ia - ib);
    for (const [index, prog] of started) {
      for (let b = 0; b < prog.blockCount && room > 0; b++) {
        if (prog.received[b] || prog.owners[b]) continue;
        this.#request(peer, st, index, prog, b, out);
        room--;
      }
      if (room === 0) return out;
    }

    // Pieces the peer has are counted in their availability, so groups below 1 hold none of them.
    const visit = (index: number): boolean => {
      if (this.#progress.has(index) || !st.bits.has(index) || this.#priority[index] === PRIORITY_SKIP)
        return false;
      if (only && !preferred.has(index)) return false;
      const prog = this.#start(index);
      for (let b = 0; b < prog.blockCount && room > 0; b++) {
        if (prog.received[b]) continue;
        this.#request(peer, st, index, prog, b, out);
        room--;
      }
      return room === 0;
    };
    // High-priority pieces (a streamed file's first and last, a file marked high) before any other
    // new piece, rarest first among them. O(H log H) for H such pieces.
    if (this.#high.size > 0) {
      const high = [...this.#high].filter((i) => st.bits.has(i) && !this.#progress.has(i));
      high.sort((a, b) => this.#rarity.availability(a) - this.#rarity.availability(b) || a - b);
      for (const index of high) if (visit(index)) return out;
    }
    // Pieces the peer suggested (BEP 6) come before rarest-first: a seeder uses them to hand each
    // leecher different pieces, so it sends every piece once before any piece twice.
    if (preferred) {
      for (const index of preferred) {
        if (
          Number.isInteger(index) &&
          index >= 0 &&
          index < this.have.size &&
          !this.have.has(index) &&
          visit(index)
        )
          return out;
      }
    }
    if (only) return out;
    if (this.have.count < this.#randomFirst) this.#rarity.scanRandom(1, this.#random, visit);
    else this.#rarity.scanRarest(1, this.#random, visit);
    if (opts.stalled && out.length === 0 && st.requests.size === 0)
      this.#pickShared(peer, st, room, opts.stalled, out);
    return out;
  }

  /**
   * For a peer that unchokes us, has nothing of ours in flight and nothing to give that is not already asked
   * of someone else: the last blocks of started pieces it has, each in flight to one other peer that is
   * `stalled`, pieces nearest completion first. A capped peer serves the piece nearest completion first
   * (see TokenBucket), so a leecher's whole piece can wait at one busy holder while other holders of it
   * unchoke that leecher and idle: a third of a 24-leecher swarm's upload idled so. The stalled holder
   * would send these tail blocks last; whichever copy arrives first wins and the other request is
   * cancelled (BlockReceipt.cancel). At most two peers have such a block in flight (endgame asks all).
   */
  #pickShared(
    peer: string,
    st: PeerState,
    room: number,
    stalled: (peer: string) => boolean,
    out: BlockRef[],
  ): void {
    const pieces: [number, PieceProgress][] = [];
    for (const entry of this.#progress) {
      if (st.bits.has(entry[0]) && this.#priority[entry[0]] !== PRIORITY_SKIP) pieces.push(entry);
    }
    pieces.sort(([ia, a], [ib, b]) => b.receivedCount - a.receivedCount || ia - ib);
    const verdicts = new Map<string, boolean>();
    const isStalled = (owner: string): boolean => {
      let v = verdicts.get(owner);
      if (v === undefined) {
        v = stalled(owner);
        verdicts.set(owner, v);
      }
      return v;
    };
    for (const [index, prog] of pieces) {
      for (let b = prog.blockCount - 1; b >= 0 && room > 0; b--) {
        const owners = prog.owners[b];
        if (prog.received[b] || owners?.length !== 1 || owners[0] === peer || !isStalled(owners[0]!))
          continue;
        this.#request(peer, st, index, prog, b, out);
        room--;
      }
      if (room === 0) return;
    }
  }

  /**
   * Up to `max` blocks of piece `index` for `peer`, for an explicit request of that piece: every
   * block not yet received and not already in flight to this peer, unrequested ones first. Whether
   * the peer has the piece is the caller's call. Empty when we have the piece or the peer is unknown.
   */
  pickPiece(peer: string, index: number, max: number): BlockRef[] {
    this.#checkIndex(index);
    const st = this.#peers.get(peer);
    let room = Math.floor(max);
    if (!st || !(room > 0) || this.have.has(index)) return [];
    const prog = this.#progress.get(index) ?? this.#start(index);
    const out: BlockRef[] = [];
    const elsewhere: number[] = [];
    for (let b = 0; b < prog.blockCount && room > 0; b++) {
      if (prog.received[b]) continue;
      const owners = prog.owners[b];
      if (!owners) {
        this.#request(peer, st, index, prog, b, out);
        room--;
      } else if (!owners.includes(peer)) elsewhere.push(b);
    }
    for (const b of elsewhere) {
      if (room === 0) break;
      this.#request(peer, st, index, prog, b, out);
      room--;
    }
    this.#dropIfIdle(index, prog);
    return out;
  }

  /** A block arrived from `peer`. See BlockReceipt; when `wanted` is false the picker changed nothing. */
  blockReceived(peer: string, block: BlockRef): BlockReceipt {
    const b = this.#blockOf(block);
    if (b < 0) return notWanted();
    const prog = this.#progress.get(block.index);
    const owners = prog?.owners[b];
    if (!prog || !owners?.includes(peer)) return notWanted();
    const key = this.#key(block.index, b);
    const cancel: string[] = [];
    for (const owner of owners) {
      this.#peers.get(owner)!.requests.delete(key);
      if (owner !== peer) cancel.push(owner);
    }
    prog.owners[b] = undefined;
    prog.requestedCount--;
    prog.received[b] = 1;
    prog.receivedCount++;
    return { wanted: true, pieceDone: prog.receivedCount === prog.blockCount, cancel };
  }

  /** A request ended without data (rejected, timed out, choked): the block is free for others. */
  requestEnded(peer: string, block: BlockRef): void {
    const b = this.#blockOf(block);
    const st = this.#peers.get(peer);
    if (b < 0 || !st) return;
    const key = this.#key(block.index, b);
    if (st.requests.has(key)) this.#release(peer, st, key);
  }

  /** The piece passed its hash check (or was found on disk): we have it; its block state is forgotten. */
  pieceVerified(index: number): void {
    this.#checkIndex(index);
    if (this.have.has(index)) return;
    const prog = this.#progress.get(index);
    if (prog) {
      for (let b = 0; b < prog.blockCount; b++) {
        const owners = prog.owners[b];
        if (!owners) continue;
        const key = this.#key(index, b);
        for (const owner of owners) this.#peers.get(owner)!.requests.delete(key);
      }
      if (this.#wanted.has(index)) this.#freeBlocks -= freeIn(prog);
      this.#progress.delete(index);
    } else if (this.#wanted.has(index)) {
      this.#freeBlocks -= this.#toFetch(index);
    }
    if (this.#wanted.has(index)) this.#wantedMissing--;
    this.#high.delete(index);
    this.have.set(index);
    this.#rarity.retire(index);
  }

  /** The piece failed its hash check: every received block of it is fetched again. */
  pieceFailed(index: number): void {
    this.#checkIndex(index);
    const prog = this.#progress.get(index);
    if (!prog) return;
    const pad = this.#padBlocks.get(index);
    for (let b = 0; b < prog.blockCount; b++) {
      if (!prog.received[b] || pad?.[b]) continue;
      prog.received[b] = 0;
      if (this.#wanted.has(index)) this.#freeBlocks++;
    }
    prog.receivedCount = prog.padCount;
    this.#dropIfIdle(index, prog);
  }

  /** The peer has at least one wanted piece we lack (BEP 3: we should then be interested). */
  interesting(peerBits: Bitfield): boolean {
    const theirs = peerBits.bytes;
    const ours = this.have.bytes;
    const wanted = this.#wanted.bytes;
    const n = Math.min(theirs.length, ours.length);
    for (let i = 0; i < n; i++) if ((theirs[i]! & ~ours[i]! & wanted[i]!) !== 0) return true;
    return false;
  }

  /** Blocks in flight to the peer. */
  inFlight(peer: string): number {
    return this.#peers.get(peer)?.requests.size ?? 0;
  }

  /** Pieces not yet verified. */
  missingCount(): number {
    return this.#pieceCount - this.have.count;
  }

  /** Pieces of priority above 0 not yet verified: 0 means the selected files are complete. */
  wantedMissingCount(): number {
    return this.#wantedMissing;
  }

  /** Pieces in progress (some blocks received or requested, not yet verified), ascending. */
  partialPieces(): number[] {
    return [...this.#progress.keys()].sort((a, b) => a - b);
  }

  #pickEndgame(peer: string, st: PeerState, max: number, only?: ReadonlySet<number>): BlockRef[] {
    // Every wanted block is received or in flight: a peer with a full queue can take none of them, and
    // most endgame picks are of such peers (each block that arrives tops its sender's queue up).
    if (st.requests.size >= this.#endgameQueue) return [];
    const candidates: { index: number; block: number; copies: number }[] = [];
    const w = this.#window;
    const inWindow = (i: number) => (w && i >= w.first && i < w.first + w.count ? 0 : 1);
    for (const [index, prog] of this.#progress) {
      if (!st.bits.has(index) || (only && !only.has(index)) || this.#priority[index] === PRIORITY_SKIP)
        continue;
      for (let b = 0; b < prog.blockCount; b++) {
        if (prog.received[b]) continue;
        const owners = prog.owners[b];
        if (owners?.includes(peer)) continue;
        candidates.push({ index, block: b, copies: owners?.length ?? 0 });
      }
    }
    candidates.sort(
      (x, y) =>
        inWindow(x.index) - inWindow(y.index) ||
        x.copies - y.copies ||
        x.index - y.index ||
        x.block - y.block,
    );
    const out: BlockRef[] = [];
    for (const c of candidates) {
      if (out.length === max) break;
      // Sorted fewest copies first: once a block is in flight elsewhere, only a short queue takes more.
      if (c.copies > 0 && st.requests.size >= this.#endgameQueue) continue;
      this.#request(peer, st, c.index, this.#progress.get(c.index)!, c.block, out);
    }
    return out;
  }

  #start(index: number): PieceProgress {
    const blockCount = this.#blockCount(index);
    const pad = this.#padBlocks.get(index);
    const padCount = this.#padCount(index);
    const prog: PieceProgress = {
      blockCount,
      received: pad ? pad.slice() : new Uint8Array(blockCount),
      padCount,
      receivedCount: padCount,
      owners: new Array<string[] | undefined>(blockCount).fill(undefined),
      requestedCount: 0,
    };
    this.#progress.set(index, prog);
    return prog;
  }

  #request(
    peer: string,
    st: PeerState,
    index: number,
    prog: PieceProgress,
    b: number,
    out: BlockRef[],
  ): void {
    const owners = prog.owners[b];
    if (owners) owners.push(peer);
    else {
      prog.owners[b] = [peer];
      prog.requestedCount++;
      if (this.#wanted.has(index)) this.#freeBlocks--;
    }
    st.requests.add(this.#key(index, b));
    out.push(this.#blockRef(index, b));
  }

  #release(peer: string, st: PeerState, key: number): void {
    st.requests.delete(key);
    const index = Math.floor(key / this.#blocksPerPiece);
    const b = key % this.#blocksPerPiece;
    const prog = this.#progress.get(index);
    const owners = prog?.owners[b];
    if (!prog || !owners) return;
    const at = owners.indexOf(peer);
    if (at >= 0) owners.splice(at, 1);
    if (owners.length > 0) return;
    prog.owners[b] = undefined;
    prog.requestedCount--;
    if (this.#wanted.has(index)) this.#freeBlocks++;
    this.#dropIfIdle(index, prog);
  }

  /** A piece with nothing received and nothing in flight is no longer started: rarest-first may choose it again. */
  #dropIfIdle(index: number, prog: PieceProgress): void {
    if (prog.receivedCount === prog.padCount && prog.requestedCount === 0) this.#progress.delete(index);
  }

  /** Flags the blocks wholly inside the padding `offset .. offset + length` (see #padBlocks). */
  #markPadding(offset: number, length: number): void {
    const end = Math.min(offset + length, this.#totalLength);
    for (let at = offset; at < end; ) {
      const index = Math.floor(at / this.#pieceLength);
      const pieceStart = index * this.#pieceLength;
      const upTo = Math.min(end, pieceStart + this.#pieceSize(index));
      const count = this.#blockCount(index);
      // Blocks from the first that starts at or after `at` to the last that ends by `upTo`.
      const first = Math.ceil((at - pieceStart) / this.#blockSize);
      let flags = this.#padBlocks.get(index);
      for (let b = first; b < count; b++) {
        if (pieceStart + b * this.#blockSize + this.#blockLength(index, b) > upTo) break;
        flags ??= new Uint8Array(count);
        flags[b] = 1;
      }
      if (flags) this.#padBlocks.set(index, flags);
      at = upTo;
    }
  }

  /** Blocks of piece `index` that must come from peers: all but those wholly in padding. */
  #toFetch(index: number): number {
    return this.#blockCount(index) - this.#padCount(index);
  }

  /** Blocks of piece `index` wholly in padding (see #padBlocks). */
  #padCount(index: number): number {
    return this.#padBlocks.get(index)?.reduce((n, v) => n + v, 0) ?? 0;
  }

  /** The block number of a well-formed block of a piece we lack, else -1 (such blocks are never wanted). */
  #blockOf(block: BlockRef): number {
    const { index, begin, length } = block;
    if (!Number.isInteger(index) || index < 0 || index >= this.#pieceCount) return -1;
    if (!Number.isInteger(begin) || begin < 0 || begin % this.#blockSize !== 0) return -1;
    const b = begin / this.#blockSize;
    if (b >= this.#blockCount(index)) return -1;
    return length === this.#blockLength(index, b) ? b : -1;
  }

  #checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.#pieceCount) {
      const range = this.#pieceCount === 0 ? 'it has none' : `they are numbered 0 to ${this.#pieceCount - 1}`;
      throw new ChunkswarmError('EUSAGE', `there is no chunk ${index} in this torrent: ${range}`);
    }
  }

  #pieceSize(index: number): number {
    return index === this.#pieceCount - 1
      ? this.#totalLength - this.#pieceLength * (this.#pieceCount - 1)
      : this.#pieceLength;
  }

  #blockCount(index: number): number {
    return Math.ceil(this.#pieceSize(index) / this.#blockSize);
  }

  #blockLength(index: number, b: number): number {
    return Math.min(this.#blockSize, this.#pieceSize(index) - b * this.#blockSize);
  }

  #blockRef(index: number, b: number): BlockRef {
    return { index, begin: b * this.#blockSize, length: this.#blockLength(index, b) };
  }

  /** One number per block of the torrent, for the per-peer request sets (< 2^46 within LIMITS). */
  #key(index: number, b: number): number {
    return index * this.#blocksPerPiece + b;
  }
}

function freeIn(prog: PieceProgress): number {
  return prog.blockCount - prog.receivedCount - prog.requestedCount;
}

/** Calls `fn` for every set bit, skipping whole zero bytes (peers that hold little cost little). */
function forEachSetBit(bits: Bitfield, fn: (index: number) => void): void {
  const bytes = bits.bytes;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte === 0) continue;
    for (let j = 0; j < 8; j++) if (byte & (0x80 >> j)) fn(i * 8 + j);
  }
}
