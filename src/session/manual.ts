import type { PeerConnection } from '../peer/connection.js';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import type { TorrentSession } from './session.js';

/**
 * The shell's explicit moves: `/request_download` fetches one piece from one peer, `/upload_chunk` offers
 * one (BEP 6 SUGGEST PIECE) and waits for the peer's HAVE.
 */
export class ManualMoves {
  constructor(private readonly s: TorrentSession) {}

  /** Fetch one piece from one peer; resolves when it is verified and stored. */
  async fetchPiece(peer: PeerConnection, index: number, timeoutMs = 30_000): Promise<void> {
    const s = this.s;
    if (s.have.has(index)) return;
    if (!s.bitsOf(peer).has(index))
      throw new ChunkswarmError('EPEER', `Peer[${peer.peerAddress}] does not have chunk ${index}`);
    peer.setInterested(true);
    const deadline = s.clock.now() + timeoutMs;
    const left = (): number => deadline - s.clock.now();
    try {
      await s.until(() => !peer.peerChoking || peer.closed, left(), 'the peer did not unchoke us');
      while (!s.have.has(index)) {
        if (peer.closed) throw new ChunkswarmError('EPEER', `Peer[${peer.peerAddress}] disconnected`);
        if (peer.peerChoking)
          await s.until(() => !peer.peerChoking || peer.closed, left(), 'the peer choked us');
        let asked = 0;
        if (!s.verifying.busy(index)) {
          const blocks = s.picker.pickPiece(peer.address, index, 64);
          peer.request(blocks);
          asked = blocks.length;
        }
        // Nothing left to ask this peer (blocks in flight elsewhere): give them a moment.
        if (asked === 0 && peer.inFlight.size === 0 && !s.verifying.busy(index)) await s.sleep(100);
        const failures = s.hashFailures;
        await s.until(
          () =>
            s.have.has(index) ||
            peer.closed ||
            s.hashFailures > failures ||
            (peer.inFlight.size === 0 && !s.verifying.busy(index)),
          left(),
          `chunk ${index} did not arrive in time`,
        );
      }
    } finally {
      if (s.mode === 'manual' && peer.inFlight.size === 0) peer.setInterested(false);
    }
  }

  /** Offer a piece to a peer: SUGGEST it and wait for their HAVE. */
  async offerPiece(peer: PeerConnection, index: number, timeoutMs = 30_000): Promise<boolean> {
    const s = this.s;
    if (!s.have.has(index)) throw new ChunkswarmError('EPEER', `this peer does not hold chunk ${index}`);
    if (s.bitsOf(peer).has(index)) return true;
    if (!peer.fast)
      throw new ChunkswarmError('EPEER', `Peer[${peer.peerAddress}] does not support offers (BEP 6)`);
    peer.send({ type: 'suggest', index });
    if (peer.peerInterested && peer.amChoking) peer.setChoking(false);
    try {
      await s.until(() => s.bitsOf(peer).has(index) || peer.closed, timeoutMs, 'timeout');
    } catch {
      return false;
    }
    return s.bitsOf(peer).has(index);
  }

  /** A peer suggested a piece: out of the blue, in the shell, that is an offer (`/upload_chunk` on its side). */
  onSuggest(peer: PeerConnection, index: number): void {
    const s = this.s;
    // While we are fetching from that peer ourselves, it is only a hint and the shell ignores it.
    if (peer.amInterested || s.requesting.pending.has(index)) return;
    this.fetchPiece(peer, index).catch((err) => s.events.emit('warning', describeError(err)));
  }
}
