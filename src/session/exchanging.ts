import type { PeerConnection } from '../peer/connection.js';
import { PexFlag, PexLink, type PexPeer, pexSnapshot } from '../wire/index.js';
import type { TorrentSession } from './session.js';

/**
 * Peer exchange (BEP 11): each connection whose peer offers ut_pex hears, at most once a minute, which peers
 * we are connected to (at most 50 added and 50 dropped since the last message, never itself). The peers it
 * names go in the peer book and, while we download, are dialled within the peer limits. A peer that floods
 * us with PEX messages is dropped. Never for a private torrent (BEP 27).
 */
export class Exchanging {
  readonly #links = new WeakMap<PeerConnection, PexLink>();

  constructor(private readonly s: TorrentSession) {}

  get enabled(): boolean {
    return !this.s.metainfo.private;
  }

  /** The peer's extension handshake came: start exchanging with it if it offers ut_pex. */
  onExtensionHandshake(peer: PeerConnection): void {
    if (!this.enabled || peer.pexId === undefined || this.#links.has(peer)) return;
    this.#links.set(peer, new PexLink({ host: peer.ip, port: peer.listenPort ?? peer.remotePort }));
  }

  onMessage(peer: PeerConnection, payload: Buffer): void {
    const link = this.#links.get(peer);
    if (!link) return;
    const r = link.incoming(this.s.clock.now(), payload);
    if (r.kind === 'flood') {
      peer.close('protocol error: peer exchange messages more often than BEP 11 allows');
      return;
    }
    if (r.kind !== 'peers') return;
    // Remembered also while we seed: a seeder dials leechers it heard of when it has too few (see PeerBook).
    for (const p of r.added) this.s.book.heard(p.host, p.port, { seed: (p.flags & PexFlag.seed) !== 0 });
    if (!this.s.complete && this.s.mode === 'auto')
      this.s.dialling.dialNow(
        r.added.map((p) => ({ ip: p.host, port: p.port })),
        'pex',
      );
  }

  /** Once a second: each link sends when its minute is up and something changed. */
  tick(): void {
    if (!this.enabled) return;
    const now = this.s.clock.now();
    const due: [PeerConnection, PexLink, number][] = [];
    for (const p of this.s.peers.values()) {
      const link = this.#links.get(p);
      const id = p.pexId;
      if (link && id !== undefined && link.due(now)) due.push([p, link, id]);
    }
    if (due.length === 0) return;
    const connected: PexPeer[] = [];
    for (const p of this.s.peers.values()) {
      // Only peers whose listening port we know can be dialled by others.
      if (p.listenPort === undefined) continue;
      const flags = (p.isSeeder ? PexFlag.seed : 0) | (p.outgoing ? PexFlag.reachable : 0);
      connected.push({ host: p.ip, port: p.listenPort, flags });
    }
    const snapshot = pexSnapshot(connected);
    for (const [p, link, id] of due) {
      const payload = link.outgoing(now, snapshot);
      if (payload) p.send({ type: 'extended', id, payload });
    }
  }
}
