import { describeError } from '../shared/errors.js';
import type { PendingPiece, TorrentSession } from './session.js';

/** Strikes (weighted) after which a peer's address is banned. */
const BAN_AT = 6;

/**
 * A complete piece is hashed (on a worker thread), stored, and announced with HAVE; a piece that fails its
 * hash counts against every peer that sent part of it, and a peer with too many strikes is banned by
 * address and port (never a whole IP: loopback and NAT put many honest peers on one address).
 */
export class Verifying {
  readonly #verifying = new Set<number>();
  readonly #strikes = new Map<string, number>();
  readonly banned = new Map<string, string>();

  constructor(private readonly s: TorrentSession) {}

  busy(index: number): boolean {
    return this.#verifying.has(index);
  }

  get inProgress(): number {
    return this.#verifying.size;
  }

  isBanned(address: string): boolean {
    return this.banned.has(address);
  }

  async verify(index: number, piece: PendingPiece, from: string): Promise<void> {
    const s = this.s;
    this.#verifying.add(index);
    let kept = false;
    try {
      const digest = await s.hasher.sha1(piece.data);
      const expected = s.metainfo.pieceHashes.subarray(index * 20, index * 20 + 20);
      if (!digest.equals(expected)) {
        s.hashFailures++;
        s.picker.pieceFailed(index);
        const peers = [...piece.contributors];
        // A piece that a banned peer had a hand in failed because of it: the blocks it sent before its ban
        // stay in half-built pieces that others complete. Striking those others too banned an honest
        // seeder after a poisoner, and the download stalled with nobody left to ask.
        if (!peers.some((p) => this.banned.has(p))) {
          for (const p of peers) this.strike(p, 'sent data that failed its hash check', 2);
        }
        s.events.emit('piece-failed', index, peers);
        return;
      }
      await s.storage.writePiece(index, piece.data);
      kept = s.serving.keepVerified(index, piece.data);
      s.picker.pieceVerified(index);
      for (const p of s.peers.values()) {
        p.send({ type: 'have', index });
        if (!s.picker.interesting(s.bitsOf(p)) && s.mode === 'auto') p.setInterested(false);
      }
      s.events.emit('piece-verified', index, from);
      const wasDone = s.doneEmitted;
      if (s.have.complete && s.completedAt === undefined) s.onComplete();
      if (!wasDone && s.done) {
        s.doneEmitted = true;
        s.events.emit('done');
      }
    } catch (err) {
      s.picker.pieceFailed(index);
      // A piece we cannot store (disk full, folder not writable) will not store on a retry either: stop
      // downloading, keep serving what is verified, and let the front end say why.
      s.setPaused(true);
      // Pieces verified at the same moment fail the same way (or on the hasher closed after the first
      // failure): the front end hears of the first only.
      if (s.failure === undefined) {
        s.failure = `cannot store chunk ${index}: ${describeError(err)}`;
        s.events.emit('error', s.failure);
      }
    } finally {
      if (!kept) s.buffers.give(piece.data);
      this.#verifying.delete(index);
      s.wake();
      s.requesting.fillAll();
    }
  }

  /** Misbehaviour counts against the peer's ip:port (never the whole IP: loopback hosts many honest peers). */
  strike(address: string, why: string, weight: number): void {
    const s = this.s;
    const n = (this.#strikes.get(address) ?? 0) + weight;
    this.#strikes.set(address, n);
    if (n >= BAN_AT && !this.banned.has(address)) {
      this.banned.set(address, why);
      s.events.emit('peer-banned', address, why);
      for (const p of s.peers.values()) if (p.peerAddress === address) p.close(`banned: ${why}`);
    }
  }
}
