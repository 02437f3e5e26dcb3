import { PeerConnection } from '../peer/connection.js';
import { ChunkswarmError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import { formatAddress, normaliseIp } from '../shared/types.js';
import type { TorrentSession } from './session.js';

/** How often peers that no tracker will name again (a magnet's `x.pe`, its metadata sources) are redialled. */
const REDIAL_MS = 15_000;
/** How long a dialler waits for the peer's bitfield after the handshakes, so callers see what it holds. */
const BITFIELD_WAIT_MS = 1000;

/** Outgoing connections of a session: one dial per address at a time, within the peer limits. */
export class Dialling {
  readonly #dialing = new Set<string>();

  constructor(private readonly s: TorrentSession) {}

  /** Dials in progress. */
  get pending(): number {
    return this.#dialing.size;
  }

  /** Dials each of `peers` not connected or being dialled already, up to the torrent's peer limit. */
  dial(peers: readonly { ip: string; port: number }[]): void {
    for (const p of peers) {
      if (this.s.peers.size + this.#dialing.size >= this.s.maxPeers) return;
      this.connect(p.ip, p.port).catch(() => {});
    }
  }

  /**
   * Dials `peers` now and again every 15 s until the torrent is complete: the peers a magnet's metadata came
   * from and its `x.pe` ones, which no tracker will name and nothing else would retry.
   */
  dialUntilComplete(peers: readonly { ip: string; port: number }[]): void {
    if (peers.length === 0) return;
    this.dial(peers);
    const cancel = this.s.clock.setInterval(() => {
      if (this.s.complete) cancel();
      else this.dial(peers);
    }, REDIAL_MS);
    this.s.onStop(cancel);
  }

  isConnectedTo(ip: string, port: number): PeerConnection | undefined {
    for (const p of this.s.peers.values())
      if (p.ip === ip && (p.listenPort === port || p.remotePort === port)) return p;
    return undefined;
  }

  /** Dials a peer; resolves when both handshakes are done (and its bitfield came, or a moment passed). */
  async connect(ip: string, port: number): Promise<PeerConnection> {
    const s = this.s;
    const existing = this.isConnectedTo(normaliseIp(ip), port);
    if (existing) return existing;
    const key = formatAddress(ip, port);
    if (s.verifying.isBanned(key)) throw new ChunkswarmError('EPEER', `${key} is banned`);
    if (port === s.listenPort && isLocal(ip)) throw new ChunkswarmError('EPEER', 'that is this peer');
    if (this.#dialing.has(key)) throw new ChunkswarmError('EPEER', `already dialling ${key}`);
    if (s.mayConnect && !s.mayConnect()) throw new ChunkswarmError('EPEER', 'connection limit reached');
    this.#dialing.add(key);
    try {
      let stream: Awaited<ReturnType<typeof s.env.net.dial>>;
      try {
        stream = await s.env.net.dial(ip, port, LIMITS.handshakeTimeoutMs);
      } catch (err) {
        throw new ChunkswarmError('EPEER', `cannot connect to ${key}: ${(err as Error).message}`);
      }
      const conn = await new Promise<PeerConnection>((resolve, reject) => {
        const conn = new PeerConnection(stream, { host: s, listenPort: port, clock: s.clock });
        const offReady = s.events.on('peer-connected', (peer) => {
          if (peer !== conn) return;
          off();
          resolve(conn);
        });
        const offGone = s.events.on('peer-disconnected', (peer, reason) => {
          if (peer !== conn) return;
          off();
          reject(new ChunkswarmError('EPEER', `cannot connect to ${key}: ${reason}`));
        });
        const off = (): void => {
          offReady();
          offGone();
        };
      });
      this.#dialing.delete(key);
      // Its bitfield (or HAVE ALL) follows the handshake at once; a peer with nothing may send nothing.
      await s.until(() => conn.bitsReceived || conn.closed, BITFIELD_WAIT_MS, '').catch(() => {});
      return conn;
    } finally {
      this.#dialing.delete(key);
    }
  }
}

function isLocal(ip: string): boolean {
  return ip === '127.0.0.1' || ip === '::1' || ip === 'localhost';
}
