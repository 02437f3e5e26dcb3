import { Bitfield } from '../shared/bitfield.js';

/**
 * The seeder's side of "send every piece once before any piece twice" (the idea of BEP 16 super-seeding,
 * without hiding pieces): each interested leecher is suggested (BEP 6 SUGGEST PIECE) a few pieces that
 * nobody has been sent yet, and no piece is suggested to two leechers. Leechers that honour suggestions
 * (chunkswarm's picker does) then fetch different pieces from the seeder and trade the rest among
 * themselves, so the seeder's upload is never spent twice on one piece while another is unsent.
 * Pure bookkeeping: the session sends the messages.
 */
export class SeedDistributor {
  readonly #sent: Bitfield;
  /**
   * Of each piece being sent a first copy, the blocks (by offset) its taker has had and their bytes: a
   * block sent twice counts once.
   */
  readonly #served = new Map<number, { begins: Set<number>; bytes: number }>();
  readonly #owner = new Map<number, string>();
  /** Pieces not yet out once, by the peer that took them (see `take`). */
  readonly #taker = new Map<number, string>();
  readonly #byPeer = new Map<string, Set<number>>();
  readonly #pieceSize: (index: number) => number;
  readonly #perPeer: number;
  #cursor: number;

  constructor(
    pieceCount: number,
    pieceSize: (index: number) => number,
    opts: { perPeer?: number; random?: () => number } = {},
  ) {
    this.#sent = new Bitfield(pieceCount);
    this.#pieceSize = pieceSize;
    this.#perPeer = opts.perPeer ?? 4;
    // Start at a random place so two seeders of one torrent do not hand out the same order.
    this.#cursor = Math.floor((opts.random ?? Math.random)() * pieceCount);
  }

  /** Every piece has gone out at least once: nothing more to steer. */
  get done(): boolean {
    return this.#sent.complete;
  }

  /**
   * Whether sending piece `index` to `peer` would be a second copy: the piece has gone out once (sent in
   * full, or announced by a peer), or another peer took it.
   */
  isSecondCopy(index: number, peer: string): boolean {
    if (this.#sent.has(index)) return true;
    const taker = this.#taker.get(index);
    return taker !== undefined && taker !== peer;
  }

  /**
   * `peer` is about to be sent blocks of piece `index`: unless another peer took it first, this is the
   * piece's first copy, and whoever asks for it later gets a second.
   */
  take(index: number, peer: string): void {
    if (!this.#sent.has(index) && !this.#taker.has(index)) this.#taker.set(index, peer);
  }

  get sentCount(): number {
    return this.#sent.count;
  }

  /**
   * We served the block of `bytes` at `begin` of piece `index` to `peer`; true when that completes a first
   * copy of the piece. Only the peer that took the piece counts (see `take`): halves of a piece sent to two
   * peers are no copy at all. A block sent to it again (it asked twice: a request it gave up on, renewed)
   * counts once: counted twice, a piece was out three blocks short, the rest of it became second copies
   * waiting behind everyone's first, and its taker got nothing from us for seconds.
   */
  served(index: number, begin: number, bytes: number, peer: string): boolean {
    if (this.#sent.has(index)) return false;
    if (this.#taker.get(index) !== peer) return false;
    let got = this.#served.get(index);
    if (!got) {
      got = { begins: new Set(), bytes: 0 };
      this.#served.set(index, got);
    }
    if (got.begins.has(begin)) return false;
    got.begins.add(begin);
    got.bytes += bytes;
    if (got.bytes < this.#pieceSize(index)) return false;
    this.#markSent(index);
    return true;
  }

  /**
   * A peer announced it holds `index` (from us or from anyone): the piece is out in the swarm. Returns
   * the peer it had been suggested to, whose slot is now free.
   */
  peerHas(index: number): string | undefined {
    if (this.#sent.has(index)) return undefined;
    const owner = this.#owner.get(index);
    this.#markSent(index);
    return owner;
  }

  /** A peer left: the pieces suggested to it go back to the pool, and those it was being sent start over. */
  release(peer: string): void {
    for (const [index, taker] of this.#taker) {
      if (taker !== peer) continue;
      this.#taker.delete(index);
      this.#served.delete(index);
    }
    for (const i of this.#byPeer.get(peer) ?? []) this.#owner.delete(i);
    this.#byPeer.delete(peer);
  }

  /**
   * We choked a peer: the pieces suggested to it and not yet begun go back to the pool. Those it was being
   * sent stay its own, to finish once it is unchoked again: suggested to another peer, they went out twice.
   */
  withdraw(peer: string): void {
    const mine = this.#byPeer.get(peer);
    if (!mine) return;
    for (const i of mine) {
      if (this.#taker.get(i) === peer) continue;
      this.#owner.delete(i);
      mine.delete(i);
    }
  }

  /** Whether some piece that has not gone out yet is suggested to nobody: a peer we unchoke could be given it. */
  get unclaimed(): boolean {
    for (let i = 0; i < this.#sent.size; i++) if (!this.#sent.has(i) && !this.#owner.has(i)) return true;
    return false;
  }

  /** Pieces suggested to `peer` that have not gone out yet. */
  outstanding(peer: string): number {
    return this.#byPeer.get(peer)?.size ?? 0;
  }

  /**
   * New pieces to suggest to `peer` so it has its share outstanding; `lacks` says whether it misses a
   * piece. The share is `perPeer`, or less when `wanting` peers (those being steered) would otherwise
   * take every unsent piece between some of them: 24 leechers at 4 each asked for 96 of 64 pieces, and
   * the 8 left without a suggestion fetched pieces from the seeder that others were being sent. `most`
   * caps the share below `perPeer` for this call.
   */
  next(peer: string, lacks: (index: number) => boolean, wanting = 1, most = this.#perPeer): number[] {
    if (this.done) return [];
    let mine = this.#byPeer.get(peer);
    if (!mine) {
      mine = new Set();
      this.#byPeer.set(peer, mine);
    }
    const out: number[] = [];
    const n = this.#sent.size;
    const unsent = n - this.#sent.count;
    const share = Math.max(1, Math.min(most, Math.floor(unsent / Math.max(1, wanting))));
    for (let scanned = 0; scanned < n && mine.size < share; scanned++) {
      const i = this.#cursor;
      this.#cursor = (this.#cursor + 1) % n;
      if (this.#sent.has(i) || this.#owner.has(i) || !lacks(i)) continue;
      this.#owner.set(i, peer);
      mine.add(i);
      out.push(i);
    }
    return out;
  }

  #markSent(index: number): void {
    this.#sent.set(index);
    this.#taker.delete(index);
    this.#served.delete(index);
    const owner = this.#owner.get(index);
    if (owner !== undefined) {
      this.#owner.delete(index);
      this.#byPeer.get(owner)?.delete(index);
    }
  }
}
