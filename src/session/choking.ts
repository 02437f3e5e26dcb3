import { pieceSize } from '../metainfo/index.js';
import type { PeerConnection } from '../peer/connection.js';
import { RateMeter } from '../peer/rate.js';
import type { BlockRef } from '../picker/index.js';
import {
  type ChokerPeer,
  isNewcomer,
  isStarving,
  pickOptimistic,
  rechoke,
  seederStandsAside,
} from './choker.js';
import { SeedDistributor } from './distributor.js';
import type { TorrentSession } from './session.js';

export const RECHOKE_MS = 10_000;
/** A peer we want data from that sent nothing for this long is snubbed: it loses its regular slot. */
const SNUB_MS = 60_000;
/** Leechers a seeder's first pass unchokes at a time when nothing limits its upload (see #regularSlots). */
export const FIRST_PASS_SLOTS = 8;

/**
 * Who we upload to: tit-for-tat every 10 s plus an optimistic unchoke, rotated as often (the choice itself is the
 * pure `rechoke`), a newly interested peer unchoked at once while a slot is free, and — when seeding a
 * fresh swarm — suggestions that hand each leecher pieces nobody has been sent yet (the idea of BEP 16).
 */
export class Choking {
  readonly distributor: SeedDistributor;
  optimistic: string | undefined;

  /** We held the whole torrent when the session began: its only source, as far as we know. */
  readonly #seedFromStart: boolean;
  /** First copies sent in full during the first pass, by piece: the leecher each went to. */
  readonly #firstCopyTo = new Map<number, string>();
  /** Leechers sent a first copy in full during their current turn in a slot (see #onePerTurn). */
  readonly #servedThisTurn = new Set<string>();
  /** What our extension handshakes last said of `steering`. */
  #steeringSaid: boolean | undefined;
  /** The bytes of the pieces our peers announced (HAVE): what our neighbours are getting, from anyone. */
  readonly #neighboursGot: RateMeter;
  /** When each peer last announced a piece it got from someone else (see #sentAside). */
  readonly #lastHaveAt = new Map<string, number>();
  /**
   * Pieces we sent each peer while standing aside, until it announces them: its HAVE of one of them says it
   * got it from us, not that the others feed it, so it stays starving and keeps its slot at the rechoke.
   */
  readonly #sentAside = new Map<string, Set<number>>();
  /** Our upload's peak, as the ticks saw it: what a seeder without a limit could give. */
  #peakUp = 0;
  /** Past its first pass, the swarm relays well without us (see #standsAside). */
  #aside = false;

  constructor(private readonly s: TorrentSession) {
    this.#seedFromStart = s.have.complete;
    this.distributor = new SeedDistributor(s.metainfo.pieceCount, (i) => pieceSize(s.metainfo, i), {
      random: () => s.random.next(),
    });
    this.#steeringSaid = this.steering;
    this.#neighboursGot = new RateMeter(s.clock);
  }

  /** Whether we stand aside as a seeder, serving only peers that get nothing elsewhere. */
  get standingAside(): boolean {
    return this.#aside;
  }

  /** Every second: stand aside or step back in (see #standsAside), and let starving peers in. */
  tick(): void {
    this.#peakUp = Math.max(this.#peakUp, this.s.up.current);
    this.#reconsiderAside();
  }

  /** Stands aside or steps back in as #standsAside says; standing aside, lets the starving in. */
  #reconsiderAside(): void {
    // Paused, or in the shell's manual moves, these rules serve nobody: decided again after.
    if (this.s.paused || this.s.mode === 'manual') return;
    const aside = this.#standsAside();
    if (aside === this.#aside) {
      if (aside) this.#admitStarving();
      return;
    }
    // With nobody asking for anything (the leechers are done) there is nothing to stand aside from, nor to
    // step back in for, until someone asks.
    if (this.s.interestedCount() === 0) return;
    this.#aside = aside;
    this.rechoke();
    this.s.events.emit('standing-aside', aside);
  }

  /**
   * A seeder that held the torrent from the start, past its first pass, stands aside while the leechers relay
   * well without it (`seederStandsAside`): what its neighbours get is read from their HAVEs, what it could
   * give is its upload limit, or its peak rate without one. It steps back in when that changes (leechers
   * finish, holders leave), and serves a peer that gets nothing elsewhere all along (#starving).
   */
  #standsAside(): boolean {
    const s = this.s;
    if (!s.complete || !this.#seedFromStart || !s.superSeed || this.#firstPass) return false;
    const capacity = s.uploadBucket.rate > 0 ? s.uploadBucket.rate : this.#peakUp;
    return seederStandsAside(capacity, Math.max(0, this.#neighboursGot.current - s.up.current));
  }

  /** A peer that wants our pieces and has announced none for a while (or none since it connected). */
  #starving(p: PeerConnection): boolean {
    return (
      p.peerInterested &&
      !p.isSeeder &&
      isStarving(this.#lastHaveAt.get(p.address) ?? p.connectedAt, this.s.clock.now())
    );
  }

  /** Standing aside, at a rechoke: the starving peers keep (or get) the slots, up to our upload slots; the rest are choked. */
  #rechokeAside(): void {
    const s = this.s;
    this.optimistic = undefined;
    let slots = s.uploadSlots;
    for (const p of s.peers.values()) {
      if (this.#starving(p) && slots > 0) {
        slots--;
        if (p.amChoking) this.#unchoke(p);
      } else if (!p.amChoking) this.#choke(p);
    }
  }

  /**
   * Standing aside, between rechokes: starving peers get the free slots, and a peer let in keeps its slot
   * until the next rechoke, and past it while the pieces it announces are only those we sent it (see
   * #sentAside). Choked again at the next tick, a peer that only we serve got a second of every four.
   */
  #admitStarving(): void {
    let free = this.s.uploadSlots;
    for (const p of this.s.peers.values()) if (!p.amChoking) free--;
    for (const p of this.s.peers.values()) {
      if (free <= 0) return;
      if (p.amChoking && this.#starving(p)) {
        free--;
        this.#unchoke(p);
      }
    }
  }

  /**
   * What our extension handshake tells peers (`cs_steer`): true while the first pass runs, so a chunkswarm
   * leecher takes from us only the pieces we suggest it; false once it is over, so they ask for what they
   * want at once. Undefined for a session that never steers, and nothing is said. Without the signal a
   * leecher went on waiting for suggestions that no longer came: in a 300-peer flash crowd the seeder sent
   * nothing for 5.5 s after its first pass, with its unchoked leechers interested and idle.
   */
  get steering(): boolean | undefined {
    return this.#seedFromStart && this.s.superSeed ? this.#firstPass : undefined;
  }

  /** The first pass began or ended (every piece out once, a switch to manual): tell every peer. */
  #sayIfSteeringChanged(): void {
    const now = this.steering;
    if (now === this.#steeringSaid) return;
    this.#steeringSaid = now;
    for (const p of this.s.peers.values()) p.sendExtensionHandshake();
    // The pass just ended: whether to stand aside is known now, not at the next tick.
    if (now === false) this.#reconsiderAside();
  }

  forget(peer: PeerConnection): void {
    this.distributor.release(peer.address);
    this.#lastHaveAt.delete(peer.address);
    this.#sentAside.delete(peer.address);
    this.#servedThisTurn.delete(peer.address);
    const wasOptimistic = this.optimistic === peer.address;
    if (wasOptimistic) this.optimistic = undefined;
    // A peer that leaves while unchoked frees its slot now, not at the next rechoke: a seeder parts from a
    // leecher at the HAVE of its last piece, before the NOT INTERESTED that would have moved the slot on.
    if (peer.amChoking || !peer.peerInterested || this.s.mode === 'manual' || this.s.stopped) return;
    this.#handOnSlot(wasOptimistic);
  }

  onInterested(peer: PeerConnection): void {
    if (!peer.amChoking) this.suggestTo(peer);
    else if (this.#slotsFor(peer)) this.#unchoke(peer);
    else if (this.#optimisticVacant()) this.#fillOptimistic();
  }

  onNotInterested(peer: PeerConnection): void {
    // Its slot is wasted on it now. The optimistic slot goes to a newcomer that holds nothing, if one waits
    // (it cannot trade its way in), else to the waiting peer that sends to us fastest, as any other slot.
    if (!peer.amChoking && this.s.mode !== 'manual') {
      this.#choke(peer);
      this.#handOnSlot(peer.address === this.optimistic);
    }
  }

  /**
   * A slot a peer no longer uses goes on at once: the optimistic one to a newcomer that holds nothing, if one
   * waits (it cannot trade its way in), else, as a regular one, to the waiting peer next in line.
   */
  #handOnSlot(optimistic: boolean): void {
    if (!optimistic) this.#admitNext();
    else if (!this.#fillOptimistic(true)) this.#admitNext(true);
  }

  /**
   * A peer announced a piece: if it is the first copy we sent it, its slot may move on (#moveOn); if we had
   * suggested the piece to someone else's share, that share moves on.
   */
  onHave(index: number, from?: PeerConnection): void {
    // All that follows is a seeder's from the start (its first pass, standing aside): a leecher has none of
    // it, and it was 2% of a simulated 150-peer crowd's time.
    if (!this.#seedFromStart) return;
    if (from) {
      this.#neighboursGot.add(pieceSize(this.s.metainfo, index));
      if (!this.#sentAside.get(from.address)?.delete(index))
        this.#lastHaveAt.set(from.address, this.s.clock.now());
      if (this.#firstCopyTo.get(index) === from.address) {
        this.#firstCopyTo.delete(index);
        this.#moveOn(from);
      }
    }
    const freed = this.distributor.peerHas(index);
    this.#sayIfSteeringChanged();
    if (freed === undefined) return;
    const owner = this.s.peers.get(freed);
    if (owner) this.suggestTo(owner);
  }

  /** A peer's bitfield (or HAVE ALL): the pieces it holds are out in the swarm already. */
  onBitfield(peer: PeerConnection): void {
    if (!this.#firstPass) return;
    const bits = this.s.bitsOf(peer);
    for (let i = 0; i < bits.size; i++) if (bits.has(i)) this.onHave(i);
  }

  /**
   * Whether the seeder's first pass runs: automatic seeding of a torrent we held from the start, while
   * some piece has not gone out once. A leecher that just finished got every piece from the swarm, so
   * every piece is out already; steering its leechers to "unsent" pieces held the last of them back
   * (a lesson's honest leecher waited 10 s for pieces seven new seeders held).
   */
  get #firstPass(): boolean {
    const s = this.s;
    return s.complete && this.#seedFromStart && s.mode !== 'manual' && s.superSeed && !this.distributor.done;
  }

  /** Whether sending piece `index` to `peer` now is a second copy while some piece has not gone out once. */
  isSecondCopy(peer: PeerConnection, index: number): boolean {
    return this.#firstPass && this.distributor.isSecondCopy(index, peer.address);
  }

  /**
   * A batch of first copies is about to wait for the upload budget: the pieces in it that nobody took yet
   * are this peer's, and whoever asks for them later gets a second copy (see `Serving`).
   */
  takeBatch(peer: PeerConnection, batch: readonly BlockRef[]): void {
    if (!this.#firstPass) return;
    for (const r of batch) this.distributor.take(r.index, peer.address);
  }

  /**
   * A block went out: once a suggested piece is fully sent, suggest the next, first to this peer, then
   * to any steered peer left without a suggestion (the share per peer shrinks as pieces go out).
   */
  served(peer: PeerConnection, index: number, begin: number, bytes: number): void {
    if (this.#aside) {
      const sent = this.#sentAside.get(peer.address);
      if (sent) sent.add(index);
      else this.#sentAside.set(peer.address, new Set([index]));
    }
    if (!this.distributor.served(index, begin, bytes, peer.address)) return;
    this.#sayIfSteeringChanged();
    if (!this.#firstPass) return;
    this.#firstCopyTo.set(index, peer.address);
    const leechers = this.#leechers();
    if (this.#onePerTurn(leechers)) this.#servedThisTurn.add(peer.address);
    this.suggestTo(peer, false, leechers);
    for (const p of this.s.peers.values())
      if (p !== peer && this.distributor.outstanding(p.address) === 0) this.suggestTo(p, false, leechers);
  }

  /** Pieces `peer` lacks, as its bitfield and HAVEs say: what seeding ranks by. */
  #missing(p: PeerConnection): number {
    return this.s.metainfo.pieceCount - this.s.bitsOf(p).count;
  }

  view(p: PeerConnection): ChokerPeer {
    const missing = this.#missing(p);
    return {
      key: p.address,
      interested: p.peerInterested,
      downloadRate: p.down.rate,
      owed: Math.max(0, p.down.total - p.up.total),
      uploadRate: p.up.rate,
      unchoked: !p.amChoking,
      connectedAt: p.connectedAt,
      snubbed: this.isSnubbed(p),
      missing,
      holdsNothing: missing === this.s.metainfo.pieceCount,
    };
  }

  /**
   * A newcomer that holds nothing and has had less than a piece from us: it cannot trade yet, and its first
   * piece makes it an uploader. Only in a peer's first minute and for one piece's worth of our upload, so a
   * peer that hides its pieces to look empty gains no more than any newcomer.
   */
  #needsFirstPiece(p: PeerConnection): boolean {
    return (
      this.s.bitsOf(p).count === 0 &&
      isNewcomer(p.connectedAt, this.s.clock.now()) &&
      p.up.total < this.s.metainfo.pieceLength
    );
  }

  isSnubbed(p: PeerConnection): boolean {
    return (
      p.amInterested &&
      p.inFlight.size > 0 &&
      this.s.clock.now() - Math.max(p.lastPiece, p.connectedAt) > SNUB_MS
    );
  }

  rechoke(): void {
    const s = this.s;
    // Also a change of mode (the shell's manual moves) or of the torrent ends or starts the first pass.
    this.#sayIfSteeringChanged();
    if (s.mode === 'manual' || s.paused) return;
    if (this.#aside) {
      this.#rechokeAside();
      return;
    }
    const decision = rechoke(
      [...s.peers.values()].map((p) => this.view(p)),
      {
        regularSlots: this.#regularSlots(),
        seeding: s.complete,
        now: s.clock.now(),
        // The optimistic unchoke moves at every rechoke (10 s), not BEP 3's 30 s: at 30 s a download that
        // takes a minute meets two optimistic partners in all, and in a 50-leecher flash crowd the last
        // leechers had been unchoked by the same 3 to 5 peers throughout. Ten seconds of a fifth of an
        // uplink is still several pieces, enough for the peer to reciprocate with. With seeding by need
        // (choker.ts): 0.927 -> 0.944 of the fluid bound over three seeds.
        rotateOptimistic: true,
        optimistic: this.optimistic,
        random: () => s.random.next(),
      },
    );
    this.optimistic = decision.optimistic;
    // Every peer unchoked now starts a new turn, also one that stays unchoked.
    this.#servedThisTurn.clear();
    // Chokes first: the pieces suggested to a peer choked now go to the peers unchoked after.
    for (const p of s.peers.values()) if (!decision.unchoke.has(p.address)) this.#choke(p);
    for (const p of s.peers.values()) {
      if (!decision.unchoke.has(p.address)) continue;
      if (p.amChoking) this.#unchoke(p);
      else this.suggestTo(p);
    }
  }

  /** Whether a regular slot is free for `peer` (the optimistic slot is filled by a draw, not first come). */
  #slotsFor(peer: PeerConnection): boolean {
    if (this.s.mode === 'manual') return true;
    // Standing aside, the tick lets the starving in.
    if (this.#aside) return false;
    // Only the choke and interest flags count here, and no view of each peer is made: on every INTERESTED
    // of a simulated swarm of hundreds of peers, that was one of its larger costs.
    let n = 0;
    for (const p of this.s.peers.values())
      if (!p.amChoking && p.peerInterested && p.address !== this.optimistic) n++;
    return n < this.#regularSlots() || peer.address === this.optimistic;
  }

  /**
   * Whether the optimistic slot is free to draw for between rechokes. Not while a leecher among more peers
   * than two rounds of a seeder's first-pass slots holds a single piece: that piece goes whole to the one
   * regular peer first, at the full uplink, and the peer it went to can pass it on sooner, so in a flash
   * crowd the holders double every piece-time. With the optimistic peer beside it, each took half the
   * uplink and the piece twice as long: at 1,000 peers 8.1% of the pieces were held at 10 s instead of 7.5%,
   * and the last leecher finished at 69.8 s instead of 70.5 s (91.0% of the fluid bound, 90.1% before). In
   * small swarms, where a leecher's pieces come mostly from the seeder, the two slots did better (applied
   * there too, 3 of the 8 small scenarios lost 1 to 4 points on every seed).
   */
  #optimisticVacant(): boolean {
    const s = this.s;
    if (s.mode === 'manual' || s.paused || this.#aside) return false;
    if (!s.complete && s.have.count < 2 && s.peers.size > 2 * FIRST_PASS_SLOTS) return false;
    return this.optimistic === undefined || !s.peers.has(this.optimistic);
  }

  /**
   * A draw for the optimistic slot between rechokes: when none is held yet, and when the optimistic peer
   * lost interest while peers that need their first piece wait (`onlyEmpty`). In a flash crowd the slot is
   * how a peer that holds nothing gets its first piece, and the next rechoke may be 10 s away; a free rider
   * gains nothing from it once it holds a piece, has had a piece from us or has been connected a minute.
   * True when a peer was unchoked.
   */
  #fillOptimistic(onlyEmpty = false): boolean {
    const s = this.s;
    const candidates = [];
    for (const p of s.peers.values()) {
      if (!p.peerInterested || !p.amChoking) continue;
      if (!onlyEmpty || this.#needsFirstPiece(p))
        candidates.push({
          key: p.address,
          connectedAt: p.connectedAt,
          holdsNothing: s.bitsOf(p).count === 0,
        });
    }
    const key = pickOptimistic(candidates, s.clock.now(), () => s.random.next());
    const chosen = key === undefined ? undefined : s.peers.get(key);
    if (!chosen) return false;
    this.optimistic = key;
    this.#unchoke(chosen);
    return true;
  }

  /**
   * Tit-for-tat's unchoke slots — except while a seeder's first pass runs (every piece sent once, steered
   * by suggestions): then every interested peer is unchoked in turn, all at once under an upload limit, else
   * FIRST_PASS_SLOTS at a time (see #rotating). A seeder wants nothing back, and the swarm relays fastest when
   * each leecher holds pieces the others lack: spread over only 4 of N leechers, the seeder's pieces must be
   * relayed (N-1) times by those 4, more than their uplinks carry, while the other leechers' uplinks idle for
   * want of anything new to offer.
   *
   * A leecher holding few pieces has one regular slot per piece beyond the first (at least one): with the
   * optimistic slot it unchokes as many peers as it holds pieces, and at least two (one for a single piece
   * among more than 16 peers: see #optimisticVacant). Its uplink, shared by
   * fewer peers, passes each piece on whole sooner, and the peer it went to uploads from then on: in a
   * 1,000-peer flash crowd, where every leecher starts with nothing, 4 + 1 slots took 1.25 s of a 1 MiB/s
   * uplink to pass on a first 256 KiB piece, and the swarm's uploads reached full speed only at about 10 s.
   * In the simulator that run went from 87.8% to 89.1% of the fluid bound; a slow seeder without super-seeding
   * before 16 faster leechers lost 1.7 points (docs/MEASUREMENTS.md, The simulator). A slot gained with a
   * piece fills at the next INTERESTED (after our HAVE, a peer that wants the new piece) or at the rechoke:
   * filled at once from the peers already waiting, the small scenarios did worse.
   */
  #regularSlots(): number {
    const s = this.s;
    if (this.#firstPass) return this.#rotating ? FIRST_PASS_SLOTS : Math.max(4, s.peers.size);
    if (!s.complete) return Math.min(s.uploadSlots, Math.max(1, s.have.count - 1));
    return s.uploadSlots;
  }

  /**
   * Whether the first pass unchokes a few leechers at a time, each until it announces the first copy we sent
   * it. Under an upload limit our budget finishes one piece after another, however many peers are unchoked
   * (Serving ranks batches by what their piece still lacks). Without one, the network shares our uplink
   * evenly between everyone we send to: a flash crowd's seeder, unchoking its 80 neighbours at once, finished
   * their first pieces together after 80 piece-times (2.6 s at 8 MiB/s), and no leecher could upload before.
   * Eight at a time, the first holders appear after eight piece-times and pass their pieces on while the
   * seeder serves the next eight: in the simulator a 1,000-peer flash crowd went from 86.2% to 87.8% of the
   * fluid bound, 300 peers from 89.6% to 90.6% and 20 leechers from 72.3% to 76.5% over three seeds; a slow
   * seeder before 16 faster leechers lost 88.6% -> 86.8% (docs/MEASUREMENTS.md, The simulator).
   */
  get #rotating(): boolean {
    return this.s.uploadBucket.rate <= 0;
  }

  /**
   * Whether each turn in a rotating first pass is one piece long: when we are connected to more leechers than
   * two rounds of slots. A turn of three or four pieces (the share of 256 pieces between 80 neighbours) made
   * the last of them wait three times as long for a first piece, and with it for anything to upload: at 1 s
   * of a 1,000-peer flash crowd 9 leechers held pieces instead of 21, at 2 s 48 instead of 92, and the run went
   * from 89.1% to 90.2% of the fluid bound, 300 peers from 91.7% to 92.7%. With fewer leechers every one
   * gets its turn soon anyway, and shorter turns only moved the seeder's uplink between more connections
   * (a slow seeder before 16 leechers: 86.8% -> 83.7% over 16 seeds; docs/MEASUREMENTS.md, The simulator).
   * `leechers` is #leechers(), passed in where the caller has counted them already.
   */
  #onePerTurn(leechers: number): boolean {
    return this.#rotating && leechers > 2 * FIRST_PASS_SLOTS;
  }

  /**
   * A leecher announced the first copy we sent it: while the first pass rotates, its slot goes to the waiting
   * peer we have sent least (a newcomer first, ties drawn at random). Not while it still has requests of ours
   * to serve: choked, a piece we had begun to send it would stay half sent.
   */
  #moveOn(peer: PeerConnection): void {
    if (!this.#firstPass || !this.#rotating || peer.amChoking || peer.pendingRequests.size > 0) return;
    // With every unsent piece suggested to someone already, a peer let in now could only ask for second copies.
    if (!this.distributor.unclaimed) return;
    let least = Infinity;
    let pool: PeerConnection[] = [];
    for (const p of this.s.peers.values()) {
      if (!p.peerInterested || !p.amChoking) continue;
      if (p.up.total < least) {
        least = p.up.total;
        pool = [];
      }
      if (p.up.total === least) pool.push(p);
    }
    if (pool.length === 0) return;
    this.#choke(peer);
    this.#unchoke(pool[Math.floor(this.s.random.next() * pool.length)]!);
  }

  /**
   * In the first pass a choked peer (also one choked while paused, at the next rechoke) gives back the pieces
   * suggested to it: a choked peer cannot fetch them, and no other peer is suggested a piece while its owner
   * holds it, so the last unsent pieces could wait on choked owners for good.
   */
  #choke(peer: PeerConnection): void {
    peer.setChoking(true);
    this.#servedThisTurn.delete(peer.address);
    if (this.#firstPass) this.distributor.withdraw(peer.address);
  }

  /**
   * Unchokes a waiting peer into a free regular slot, or into the optimistic slot (`asOptimistic`): that
   * one is left vacant, for the next interested peer's draw, when nobody waits. Leeching, a peer that needs
   * its first piece goes first, drawn at random: a slot to it adds an uploader, where a slot to the fastest
   * sender adds a piece to a peer that trades already. In a 300-peer flash crowd the first holders (the
   * seeder's neighbours, all at once) went on serving one another; this took the run from 86.1% to 88.4%
   * of the fluid bound over three seeds. (At random: ranked by the same order, the holders all picked the
   * same few newcomers, each then fetching a dozen pieces at once and finishing none sooner.) Otherwise the
   * one that sends to us fastest (seeding: that we send to fastest).
   */
  #admitNext(asOptimistic = false): void {
    const s = this.s;
    if (this.#aside) return;
    const waiting = [...s.peers.values()]
      .filter((p) => p.peerInterested && p.amChoking)
      .sort(s.complete ? (a, b) => this.#missing(b) - this.#missing(a) : (a, b) => b.down.rate - a.down.rate);
    const first = s.complete ? [] : waiting.filter((p) => this.#needsFirstPiece(p));
    const next = first.length > 0 ? first[Math.floor(s.random.next() * first.length)] : waiting[0];
    if (asOptimistic) this.optimistic = next?.address;
    if (next && (asOptimistic || this.#slotsFor(next))) this.#unchoke(next);
  }

  /** Suggestions go out before the UNCHOKE, so the peer's first requests already follow them. */
  #unchoke(peer: PeerConnection): void {
    this.suggestTo(peer, true);
    peer.setChoking(false);
  }

  /** Peers that lack pieces: the ones the first pass shares the unsent pieces between. */
  #leechers(): number {
    let n = 0;
    for (const p of this.s.peers.values()) if (!p.isSeeder) n++;
    return Math.max(1, n);
  }

  /** Seeding automatically: steer an unchoked, interested peer towards pieces nobody has been sent yet. */
  suggestTo(peer: PeerConnection, unchoking = false, leechers?: number): void {
    const s = this.s;
    if (!this.#firstPass) return;
    if (!peer.fast || !peer.peerInterested || (peer.amChoking && !unchoking) || peer.closed) return;
    const wanting = leechers ?? this.#leechers();
    const onePerTurn = this.#onePerTurn(wanting);
    // Its turn's piece has gone: the slot moves on at its HAVE (#moveOn).
    if (onePerTurn && this.#servedThisTurn.has(peer.address)) return;
    const bits = s.bitsOf(peer);
    for (const index of this.distributor.next(
      peer.address,
      (i) => !bits.has(i),
      wanting,
      onePerTurn ? 1 : undefined,
    ))
      peer.send({ type: 'suggest', index });
  }
}
