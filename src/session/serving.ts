import { pieceSize } from '../metainfo/index.js';
import type { PeerConnection } from '../peer/connection.js';
import { GIVE_WAY_RANK } from '../peer/rate.js';
import type { BlockRef } from '../picker/index.js';
import { describeError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import { type CachedBlock, PieceReadCache } from '../storage/index.js';
import type { TorrentSession } from './session.js';

/** Requests served per turn of a serving loop: 64 KiB of blocks per write. */
const SERVE_BATCH = 4;

/**
 * A piece that at most this many of our neighbours hold is served ahead of the others under an upload
 * limit, while we download (see #rank): a piece just verified is the newest in the swarm, wanted by
 * everyone, and the rank by completion alone kept it behind the pieces already half sent. In the
 * simulator's 1 + 24 swarm (`bench-swarm-24.json`, seeds 1 to 5) a new piece's second holder came after
 * 0.44 s instead of 0.63, and the swarm went from 88.0% to 88.8% of the fluid bound on average (87.4 to
 * 88.4% -> 88.4 to 89.5%; 256 KiB pieces 95.1% -> 96.3%). Ranked by every piece's availability, the
 * common pieces' requests waited so long that their requesters took us for silent. Seeders are left
 * out: a seeder's first pass sends first copies only, one after another.
 */
const RARE_HOLDERS = 1;

/**
 * Uploads: one serving loop per peer takes a few of its requests at a time, waits for the shared upload
 * budget, reads the blocks through a small cache of whole pieces, and writes them together.
 */
export class Serving {
  readonly #cache: PieceReadCache;
  readonly #loops = new Set<PeerConnection>();
  /** Loops waiting with a batch of second copies (see #giveWay). */
  readonly #parked = new Map<PeerConnection, AbortController>();

  constructor(private readonly s: TorrentSession) {
    this.#cache = new PieceReadCache(s.storage, { buffers: s.buffers });
  }

  /**
   * Offers a piece just verified and stored (its assembly buffer, from the session's pool) to the read
   * cache, when a peer lacks it: the newest pieces are the rarest and asked for first. True when the cache
   * took the buffer; false when it stays the caller's (nobody lacks the piece, or the cache declined it).
   */
  keepVerified(index: number, data: Buffer): boolean {
    const s = this.s;
    for (const p of s.peers.values()) if (!s.bitsOf(p).has(index)) return this.#cache.adopt(index, data);
    return false;
  }

  stopServing(peer: PeerConnection): void {
    this.#loops.delete(peer);
    // A batch of second copies waiting for the budget need not wait any more.
    this.#parked.get(peer)?.abort();
  }

  onRequest(peer: PeerConnection, r: BlockRef): void {
    const s = this.s;
    // A block lies inside its piece and every client knows the piece sizes from the torrent: asking past the end
    // is a broken or hostile peer, not a race, so it is dropped rather than rejected.
    if (r.begin + r.length > pieceSize(s.metainfo, r.index)) {
      peer.close(
        `protocol error: request for ${r.length} bytes at ${r.begin} of piece ${r.index}, past its end`,
      );
      return;
    }
    if (peer.amChoking || !s.have.has(r.index) || r.length > LIMITS.blockSize) {
      peer.takeRequest(r);
      if (peer.fast) peer.send({ type: 'reject', index: r.index, begin: r.begin, length: r.length });
      return;
    }
    const parked = this.#parked.get(peer);
    if (parked && !this.s.choking.isSecondCopy(peer, r.index)) parked.abort();
    this.#serve(peer);
  }

  #serve(peer: PeerConnection): void {
    if (this.#loops.has(peer)) return;
    this.#loops.add(peer);
    this.#cache.fitTo(this.#loops.size);
    this.#serveLoop(peer)
      .catch((err) => peer.close(`cannot serve: ${describeError(err)}`))
      .finally(() => this.#loops.delete(peer));
  }

  // Only awaits and calls: written out in one async function, this loop was among the costliest functions
  // of a downloading process for the optimising compiler, which every process pays again.
  async #serveLoop(peer: PeerConnection): Promise<void> {
    while (!peer.closed && this.#loops.has(peer)) {
      const batch = this.#nextBatch(peer);
      if (batch.length === 0) return;
      if (this.s.choking.isSecondCopy(peer, batch[0]!.index)) {
        if (!(await this.#giveWay(peer, batch))) continue;
      } else {
        this.s.choking.takeBatch(peer, batch);
        await this.s.uploadBucket.take(batchBytes(batch), this.#rank(batch));
      }
      await this.#send(peer, await this.#read(peer, batch));
    }
  }

  /**
   * Up to SERVE_BATCH of the peer's requests, oldest first; during a seeder's first pass, first copies before
   * second copies, so a peer's second copies giving way (see #giveWay) do not hold back its first. A batch
   * is all of one kind and of one piece: a batch that ran on into the next piece kept the low rank of the
   * piece it finished (see #rank), and a peer whose batches all did so took the whole budget for good.
   */
  #nextBatch(peer: PeerConnection): BlockRef[] {
    const first: BlockRef[] = [];
    const second: BlockRef[] = [];
    for (const r of peer.pendingRequests.values()) {
      const into = this.s.choking.isSecondCopy(peer, r.index) ? second : first;
      if (into.length < SERVE_BATCH && (into.length === 0 || into[0]!.index === r.index)) into.push(r);
      if (first.length === SERVE_BATCH) break;
    }
    return first.length > 0 ? first : second;
  }

  /**
   * Waits for the budget for a batch of second copies, behind every first copy: during a seeder's first
   * pass the leechers can trade what is out already, and what is not out can only come from us. False when
   * the peer asked for a first copy meanwhile (see onRequest), which then goes ahead with its own rank
   * instead of waiting behind the second copies.
   */
  async #giveWay(peer: PeerConnection, batch: readonly BlockRef[]): Promise<boolean> {
    const parked = new AbortController();
    this.#parked.set(peer, parked);
    await this.s.uploadBucket.take(batchBytes(batch), GIVE_WAY_RANK + this.#rank(batch), parked.signal);
    this.#parked.delete(peer);
    return !parked.signal.aborted;
  }

  // Under an upload limit, the batch that completes its piece soonest goes first. Shared out evenly,
  // a seeder's budget across 24 peers took a whole piece-time per peer before any of them held a
  // piece to pass on (6 s for 1 MiB pieces at 4 MiB/s): the swarm idled while its pieces trickled.
  // A downloading peer first serves the pieces that at most RARE_HOLDERS of its neighbours hold: only
  // they can pass such a piece on, and its next holders start relaying it sooner (see RARE_HOLDERS).
  #rank(batch: readonly BlockRef[]): number {
    const first = batch[0]!;
    const s = this.s;
    const rare = s.complete || s.picker.availability(first.index) <= RARE_HOLDERS;
    return (rare ? 0 : s.metainfo.pieceLength + 1) + pieceSize(s.metainfo, first.index) - first.begin;
  }

  /** The blocks of `batch` still wanted (not cancelled, nor dropped by a choke meanwhile), read. */
  async #read(peer: PeerConnection, batch: readonly BlockRef[]): Promise<[BlockRef, CachedBlock][]> {
    const blocks: [BlockRef, CachedBlock][] = [];
    try {
      for (const r of batch) {
        if (peer.takeRequest(r)) blocks.push([r, await this.#cache.read(r.index, r.begin, r.length)]);
      }
    } catch (err) {
      for (const [, b] of blocks) b.release();
      throw err;
    }
    return blocks;
  }

  /** Writes the blocks; resolves when the connection can take more. */
  #send(peer: PeerConnection, blocks: readonly [BlockRef, CachedBlock][]): Promise<void> {
    const s = this.s;
    let taken: Promise<void> = Promise.resolve();
    for (const [r, { data, release }] of blocks) {
      // The cache reuses the block's memory once the network has it.
      taken = peer.sendBlock(r.index, r.begin, data, release);
      s.up.add(data.length);
      s.uploaded += data.length;
      s.choking.served(peer, r.index, r.begin, data.length);
    }
    return taken;
  }
}

function batchBytes(batch: readonly BlockRef[]): number {
  let bytes = 0;
  for (const r of batch) bytes += r.length;
  return bytes;
}
