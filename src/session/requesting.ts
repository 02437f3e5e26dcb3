import { pieceSize, pieceSpans } from '../metainfo/index.js';
import type { BlockKey, PeerConnection } from '../peer/connection.js';
import { LIMITS } from '../shared/limits.js';
import { copyInto } from '../storage/buffer-pool.js';
import { zeroPadding } from '../storage/spans.js';
import type { PendingPiece, TorrentSession } from './session.js';

/** A request unanswered this long is given back to the picker for others to take. */
export const REQUEST_TIMEOUT_MS = 20_000;
/**
 * A peer that has requests of ours and sent no block for this long has gone silent (stalled, or its link
 * died without a close): everything it holds is re-issued elsewhere, and it gets one request at a time
 * until it sends again.
 */
export const SILENT_MS = 8_000;
/**
 * A seeder's suggestions are followed for this long after the last one came, or the last one we lacked
 * was fetched, whichever is later, before falling back to rarest-first.
 */
const STEER_GRACE_MS = 3_000;
/**
 * ... and for up to this long while some piece we lack is held by no other peer we know (but see
 * STEER_RARE_HOLDERS): the seeder is still sending pieces out for the first time and will suggest one to
 * us when our turn comes. Among 24 leechers of a 64-piece torrent a leecher waits about 6 s for its next
 * piece; leechers that fell back to rarest-first after 3 s asked the seeder for pieces it was sending
 * others, and a fifth of its upload went on second copies before every piece had gone out once.
 */
const STEER_WAIT_MS = 10_000;
/**
 * "No other holder" counts the seeder and up to two more peers: a piece that only a leecher or two hold
 * yet is being relayed by them, and a second copy from the seeder costs its uplink as much as a first. In
 * the bench's 1 + 24 swarm the seeder then sent 5.7 pieces' worth after its first pass instead of 7.2
 * (copies 1.09 instead of 1.11), and the last leecher finished at the same time; in the link-model flash
 * crowd copies went from 2.24 to 1.78 at the same finish.
 */
const STEER_RARE_HOLDERS = 3;
/**
 * A peer that sent none of the blocks we asked of it for this long, and for the time STALL_BLOCKS take at
 * its rate, is stalled: an idle peer may be asked for copies of the last of them (PiecePicker.pick).
 */
const SHARE_STALL_MS = 250;
const STALL_BLOCKS = 8;
/** Blocks a peer's queue must have room for before it is topped up (unless it is nearly empty). */
const FILL_BATCH = 8;
/**
 * The shortest queue a peer gets (256 KiB), until its measured rate asks for more. A fixed 1 MiB queued
 * every slow peer's uplink for seconds: its blocks were "in flight" while others' uplinks idled, and
 * pieces split over several such peers finished late (simulator: a 20-leecher flash crowd 0.61 -> 0.68
 * of the fluid bound, super-seeding's copies 1.66 -> 1.18). On loopback the rate is known within
 * milliseconds, so a fast peer's queue grows to its full depth at once.
 */
export const MIN_QUEUE_BLOCKS = 16;
/**
 * Pieces received and not yet hashed and stored hold their memory. Past this many bytes of them (but
 * never fewer than MIN_UNSTORED_PIECES) no new request goes out until one is stored: a leecher whose
 * hashing or disk lags behind a fast peer otherwise queues the whole torrent in memory.
 */
export const MAX_UNSTORED_BYTES = 16 * 1024 * 1024;
const MIN_UNSTORED_PIECES = 4;

/**
 * What we ask of whom: keeps each unchoking peer's queue about two seconds deep, collects blocks into
 * pieces, cancels endgame duplicates, and takes back requests from peers that stopped answering.
 */
export class Requesting {
  readonly pending = new Map<number, PendingPiece>();
  readonly #toFill = new Set<PeerConnection>();
  /** Peers that went silent: asked for one block at a time until they answer. */
  readonly #silent = new WeakSet<PeerConnection>();
  /** Silent peers the user was told about (see #goneSilent), to be told again when they answer. */
  readonly #warnedSilent = new WeakSet<PeerConnection>();
  /** When each seeder last had a suggestion of ours outstanding (we lacked a piece it suggested). */
  readonly #steeredAt = new WeakMap<PeerConnection, number>();

  constructor(private readonly s: TorrentSession) {}

  /** Keep enough requests in flight to fill this peer's link: about 2 s of its measured rate. */
  fill(peer: PeerConnection): void {
    const s = this.s;
    if (s.mode !== 'auto' || s.paused || peer.peerChoking || peer.closed) return;
    const unstored = s.verifying.inProgress;
    // Verifying calls fillAll as each piece is stored, so the requests resume then.
    if (unstored >= MIN_UNSTORED_PIECES && unstored * s.metainfo.pieceLength >= MAX_UNSTORED_BYTES) return;
    const depth = this.#silent.has(peer)
      ? 1
      : Math.max(
          MIN_QUEUE_BLOCKS,
          Math.min(LIMITS.maxOutgoingRequests, Math.ceil((peer.down.rate * 2) / LIMITS.blockSize)),
        );
    const room = depth - peer.inFlight.size;
    // While plenty is queued, top up only once a few blocks have come in: fewer and fuller REQUEST writes.
    if (room <= 0 || (room < FILL_BATCH && peer.inFlight.size >= FILL_BATCH)) return;
    this.pruneSuggested(peer);
    // A seeder that suggests pieces is handing each leecher its own share: take only those from it, so
    // its upload is never spent on a piece that is already out in the swarm.
    // Between two suggestions its list can run dry for a while: keep following it (see STEER_GRACE_MS and
    // STEER_WAIT_MS) before falling back to rarest-first (it stops suggesting once every piece went out once).
    const steered = peer.isSeeder && this.#steered(peer);
    peer.request(
      s.picker.pick(peer.address, room, peer.suggested, { only: steered, stalled: this.#stalled }),
    );
  }

  /** Drops the suggestions that no longer steer anything: pieces held, being verified, or not wanted. */
  pruneSuggested(peer: PeerConnection): void {
    const s = this.s;
    for (const i of peer.suggested)
      if (s.have.has(i) || s.verifying.busy(i) || s.picker.priority(i) === 0) peer.suggested.delete(i);
  }

  /**
   * A peer whose queue of ours has not moved for a while: nothing came for SHARE_STALL_MS, nor for the time
   * STALL_BLOCKS take at the rate it has been sending. One that shares its upload between us and others
   * sends a block every so often; one that serves others' pieces before ours (a capped chunkswarm peer
   * finishes one piece at a time) sends nothing for a whole piece-time or more.
   */
  readonly #stalled = (address: string): boolean => {
    const p = this.s.peers.get(address);
    const waited = p && this.#waitedOn(p, this.s.clock.now());
    if (!p || waited === undefined) return false;
    const rate = p.down.rate;
    const typical = rate > 0 ? (STALL_BLOCKS * LIMITS.blockSize * 1000) / rate : Number.POSITIVE_INFINITY;
    return waited > Math.max(SHARE_STALL_MS, typical);
  };

  /**
   * How long the peer has kept us waiting, ms: since its last block, or since our oldest request still in
   * flight to it went out if that is later (requests are kept in the order they were sent). Undefined when
   * nothing is in flight to it.
   */
  #waitedOn(p: PeerConnection, now: number): number | undefined {
    const oldest = p.inFlight.values().next().value;
    return oldest && now - Math.max(p.lastPiece, oldest.sentAt);
  }

  #steered(peer: PeerConnection): boolean {
    // Only a seeder that says it steers (its first pass; see ExtensionHandshake.steering): other clients'
    // suggestions (libtorrent's of its read cache) are hints, and a steering seeder whose pass is over has
    // no more shares to hand out.
    if (peer.extension?.steering !== true) return false;
    const now = this.s.clock.now();
    if (peer.suggested.size > 0) {
      this.#steeredAt.set(peer, now);
      return true;
    }
    // Every piece we lack has a holder besides the seeder: it is out in the swarm, and a seeder suggests only
    // pieces nobody has been sent, so no suggestion is coming. Waiting for one left a seeder idle while its
    // leechers traded at their own pace (1 seeder at 8 MiB/s, 5 leechers at 256 KiB/s: for 3 s after its
    // first pass, and for 10 s while a piece had only one or two holders besides it).
    if (this.s.picker.rareCount(1) === 0) return false;
    // A seeder that never suggested a piece is not steering (a plain seeder, or one of another client): its
    // suggestions come before its UNCHOKE, so none is on its way. The grace once ran from the clock's zero:
    // on the simulator's clock every leecher of a plain seeder idled for the first 3 s.
    const last = peer.lastSuggestAt;
    if (last === undefined) return false;
    const since = now - Math.max(last, this.#steeredAt.get(peer) ?? last);
    if (since < STEER_GRACE_MS) return true;
    return since < STEER_WAIT_MS && this.s.picker.rareCount(STEER_RARE_HOLDERS) > 0;
  }

  fillAll(): void {
    for (const p of this.s.peers.values()) this.fill(p);
  }

  /**
   * Refill a peer's queue once per turn of the event loop rather than once per block, so REQUESTs go out
   * in batches: one write for many blocks.
   */
  scheduleFill(peer: PeerConnection): void {
    if (this.#toFill.size === 0) {
      this.s.clock.defer(() => {
        const peers = [...this.#toFill];
        this.#toFill.clear();
        for (const p of peers) this.fill(p);
      });
    }
    this.#toFill.add(peer);
  }

  updateInterest(peer: PeerConnection): void {
    const s = this.s;
    if (s.mode !== 'auto' || s.paused) {
      if (s.mode === 'seed') peer.setInterested(false);
      return;
    }
    const want = s.picker.interesting(s.bitsOf(peer));
    peer.setInterested(want);
    if (want) this.fill(peer);
  }

  /** Gives back every request in flight to `peer` (a choke without the fast extension: it dropped them itself). */
  dropRequests(peer: PeerConnection): void {
    for (const { block } of [...peer.inFlight.values()]) {
      peer.forget(block);
      this.s.picker.requestEnded(peer.address, block);
    }
  }

  /**
   * Takes back a request from a peer that may still have it queued (timed out, or the peer went silent) and
   * tells it so: uncancelled, a peer that was only slow later sent the block, and then again when it was
   * asked anew.
   */
  #cancel(peer: PeerConnection, block: BlockKey): void {
    peer.cancel(block);
    this.s.picker.requestEnded(peer.address, block);
  }

  onBlock(peer: PeerConnection, index: number, begin: number, block: Buffer): void {
    const s = this.s;
    const ref = { index, begin, length: block.length };
    const asked = peer.settle(ref);
    s.down.add(block.length);
    s.downloaded += block.length;
    // Only a block never requested counts against a peer; late ones (endgame, timeouts) are normal.
    if (asked === 'unrequested') {
      s.verifying.strike(peer.peerAddress, 'sent a block we did not ask for', 1);
      return;
    }
    this.#silent.delete(peer);
    if (this.#warnedSilent.delete(peer)) s.events.emit('warning', `Peer[${peer.peerAddress}] answers again`);
    if (this.storeBlock(peer.address, peer.peerAddress, ref, block)) this.scheduleFill(peer);
  }

  /**
   * A block that the picker's `source` (a connection, or a web seed) sent: into its piece, which goes to its
   * hash check once whole. `contributor` is who answers for the bytes if the piece fails (a peer's address, a
   * web seed's URL). False when the block was not wanted (already here, or not asked of this source).
   */
  storeBlock(source: string, contributor: string, ref: BlockKey, block: Buffer): boolean {
    const s = this.s;
    const { index, begin } = ref;
    if (s.have.has(index) || s.verifying.busy(index)) return false;
    const { wanted, pieceDone, cancel } = s.picker.blockReceived(source, ref);
    if (!wanted) return false;
    for (const other of cancel) s.peers.get(other)?.cancel(ref);
    let pending = this.pending.get(index);
    if (!pending) {
      pending = { data: s.buffers.take(pieceSize(s.metainfo, index)), contributors: new Set() };
      // Blocks wholly in BEP 47 padding are never asked for (see PiecePicker): their zeros are ours to write.
      if (s.metainfo.padding) zeroPadding(s.metainfo, pending.data, pieceSpans(s.metainfo, index), 0);
      this.pending.set(index, pending);
    }
    copyInto(pending.data, block, begin);
    pending.contributors.add(contributor);
    if (pieceDone) {
      this.pending.delete(index);
      void s.verifying.verify(index, pending, contributor);
    }
    return true;
  }

  /** Once a second: requests past their time, and peers gone silent, are given back for others to take. */
  tick(): void {
    const s = this.s;
    const now = s.clock.now();
    for (const p of s.peers.values()) {
      const waited = this.#waitedOn(p, now);
      if (waited !== undefined && waited > SILENT_MS && !this.#silent.has(p)) this.#goneSilent(p);
      for (const { block, sentAt } of [...p.inFlight.values()]) {
        if (now - sentAt > REQUEST_TIMEOUT_MS) this.#cancel(p, block);
      }
    }
    // Blocks given back above are taken by whoever has room.
    this.fillAll();
  }

  /**
   * A peer sent nothing for SILENT_MS while it had requests of ours: it counts as silent (the status says so)
   * and is asked one block at a time until it sends again, and the requests another peer could answer are
   * cancelled and go to others. Blocks of pieces only it holds stay with it: nobody else can send them, and
   * a seeder that serves its leechers one piece after another keeps each waiting for its turn. Given back,
   * they were asked of it again one at a time, its turn came with a single block to send, and its uplink
   * idled between blocks (24 leechers of a seeder at 512 KiB/s: 83% of the fluid bound, the seeder at 84%
   * of its rate; 95% with them kept).
   */
  #goneSilent(p: PeerConnection): void {
    const s = this.s;
    this.#silent.add(p);
    const elsewhere = [...p.inFlight.values()].filter(({ block }) => s.picker.availability(block.index) > 1);
    for (const { block } of elsewhere) this.#cancel(p, block);
    // A seeder that steers said it serves its leechers one piece after another: waiting for our turn
    // is no news (a class watching 24 leechers of a slow seeder saw two such warnings from each).
    if (elsewhere.length === 0 && p.extension?.steering === true) return;
    this.#warnedSilent.add(p);
    s.events.emit(
      'warning',
      elsewhere.length > 0
        ? `Peer[${p.peerAddress}] stopped sending: its requests go to other peers`
        : `Peer[${p.peerAddress}] stopped sending: waiting for it, as no other peer has what we asked of it`,
    );
  }

  isSilent(peer: PeerConnection): boolean {
    return this.#silent.has(peer);
  }
}
