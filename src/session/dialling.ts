import { PeerConnection, type PeerSource } from '../peer/connection.js';
import { ChunkswarmError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import { formatAddress, normaliseIp } from '../shared/types.js';
import type { TorrentSession } from './session.js';

/** How often peers that no tracker will name again (a magnet's `x.pe`, its metadata sources) are redialled. */
const REDIAL_MS = 15_000;
/** How long a dialler waits for the peer's bitfield after the handshakes, so callers see what it holds. */
const BITFIELD_WAIT_MS = 1000;

/** Failed dials remembered for the status page: plenty for one torrent, bounded against a flood of addresses. */
const MAX_FAILURES = 200;

/** Outgoing connections of a session: one dial per address at a time, within the peer limits. */
export class Dialling {
  readonly #dialing = new Set<string>();
  /** Why the last dial of an address failed (refused, timed out, ...), newest last. */
  readonly #failures = new Map<string, string>();

  /**
   * Our dials between their streams opening and the handshakes' end, each told how that ended (a reason when
   * the connection closed first). One listener for all of them: a flash crowd has hundreds in flight.
   */
  readonly #handshaking = new Map<PeerConnection, (closedWhy?: string) => void>();

  constructor(private readonly s: TorrentSession) {
    s.connections.on('ready', (peer) => this.#handshaking.get(peer)?.());
    s.connections.on('closed', (peer, reason) => this.#handshaking.get(peer)?.(reason));
  }

  /** Dials in progress. */
  get pending(): number {
    return this.#dialing.size;
  }

  /**
   * Puts `peers` in the book and dials each one not connected or being dialled already, while we hold fewer
   * connections than the dial limit (the whole peer limit while `starving`).
   */
  dial(peers: readonly { ip: string; port: number }[], source: PeerSource = 'tracker'): void {
    // All of them go in the book, also those the limit leaves undialled now.
    for (const p of peers) this.s.book.heard(p.ip, p.port);
    this.dialNow(peers, source);
  }

  /** `dial` for peers the book has already: PEX's, whose seed flags went in with them, and the book's own. */
  dialNow(peers: readonly { ip: string; port: number }[], source: PeerSource): void {
    const limit = this.#limit;
    for (const p of peers) {
      if (this.s.peers.size + this.#dialing.size >= limit) return;
      // Checked here, with `connect`'s own rules, so that a PEX message naming fifty peers we already have
      // costs no rejected promise for each.
      if (this.isConnectedTo(normaliseIp(p.ip), p.port)) continue;
      if (this.#refusal(p.ip, p.port, formatAddress(p.ip, p.port)) === undefined)
        this.connect(p.ip, p.port, source).catch(() => {});
    }
  }

  /** Why `key` (`ip:port`, not connected) is not dialled now: banned, ourselves, or dialled already. */
  #refusal(ip: string, port: number, key: string): string | undefined {
    if (this.s.verifying.isBanned(key)) return `${key} is banned`;
    if (port === this.s.listenPort && isLocal(ip)) return 'that is this peer';
    if (this.#dialing.has(key)) return `already dialling ${key}`;
    return undefined;
  }

  /** Connections up to which we dial: the dial limit, or the whole peer limit while starving. */
  get #limit(): number {
    return this.s.starving ? this.s.maxPeers : this.s.dialLimit;
  }

  /** Peers the trackers named (or dials failed) that we are not connected to, each with the reason. */
  notConnected(): { address: string; why: string }[] {
    const s = this.s;
    const out = new Map<string, string>();
    for (const [address, why] of this.#failures) out.set(address, why);
    for (const p of [...s.knownPeers, ...s.book.addresses()]) {
      const address = formatAddress(p.ip, p.port);
      if (out.has(address) || this.isConnectedTo(p.ip, p.port)) continue;
      if (p.port === s.listenPort && isLocal(p.ip)) continue;
      out.set(address, this.#whyNotDialled(address));
    }
    for (const [address, why] of s.verifying.banned) out.set(address, `banned: ${why}`);
    for (const p of s.peers.values()) out.delete(p.peerAddress);
    return [...out].map(([address, why]) => ({ address, why }));
  }

  #whyNotDialled(address: string): string {
    const s = this.s;
    if (this.#dialing.has(address)) return 'connecting';
    if (s.complete) {
      const known = s.book.about(address, s.clock.now());
      if (known?.seed) return 'a seeder too: two seeders have nothing to trade';
      if (known?.leftUs) return 'it closed our connection: not dialled back for a while';
      return 'not needed: enough peers want what we seed';
    }
    if (s.peers.size >= s.maxPeers) return `peer limit (${s.maxPeers}) reached`;
    if (s.peers.size >= this.#limit)
      return `not dialled: we dial up to ${s.dialLimit} peers and keep the rest of ${s.maxPeers} for peers that dial us`;
    return 'not dialled yet';
  }

  /**
   * Dials `peers` now and again every 15 s until the torrent is complete: the peers a magnet's metadata came
   * from and its `x.pe` ones, which no tracker will name and nothing else would retry.
   */
  dialUntilComplete(peers: readonly { ip: string; port: number }[]): void {
    if (peers.length === 0) return;
    this.dial(peers, 'magnet');
    const cancel = this.s.clock.setInterval(() => {
      if (this.s.complete) cancel();
      else this.dial(peers, 'magnet');
    }, REDIAL_MS);
    this.s.onStop(cancel);
  }

  #failed(address: string, why: string): void {
    this.s.book.failed(address, this.s.clock.now());
    this.#failures.delete(address);
    this.#failures.set(address, why);
    if (this.#failures.size > MAX_FAILURES) this.#failures.delete(this.#failures.keys().next().value!);
  }

  isConnectedTo(ip: string, port: number): PeerConnection | undefined {
    for (const p of this.s.peers.values())
      if (p.ip === ip && (p.listenPort === port || p.remotePort === port)) return p;
    return undefined;
  }

  /** Dials a peer; resolves when both handshakes are done (and its bitfield came, or a moment passed). */
  async connect(ip: string, port: number, source: PeerSource = 'manual'): Promise<PeerConnection> {
    const s = this.s;
    const existing = this.isConnectedTo(normaliseIp(ip), port);
    if (existing) return existing;
    const key = formatAddress(ip, port);
    const refusal = this.#refusal(ip, port, key);
    if (refusal !== undefined) throw new ChunkswarmError('EPEER', refusal);
    if (s.mayConnect && !s.mayConnect()) throw new ChunkswarmError('EPEER', 'connection limit reached');
    this.#dialing.add(key);
    try {
      let stream: Awaited<ReturnType<typeof s.env.net.dial>>;
      try {
        stream = await s.env.net.dial(ip, port, LIMITS.handshakeTimeoutMs);
      } catch (err) {
        this.#failed(key, (err as Error).message);
        throw new ChunkswarmError('EPEER', `cannot connect to ${key}: ${(err as Error).message}`);
      }
      const conn = await new Promise<PeerConnection>((resolve, reject) => {
        const conn = new PeerConnection(stream, { host: s, listenPort: port, clock: s.clock, source });
        this.#handshaking.set(conn, (reason) => {
          this.#handshaking.delete(conn);
          if (reason === undefined) return resolve(conn);
          this.#failed(key, reason);
          reject(new ChunkswarmError('EPEER', `cannot connect to ${key}: ${reason}`));
        });
      });
      this.#dialing.delete(key);
      this.#failures.delete(key);
      this.s.book.reached(key);
      // Its bitfield (or HAVE ALL) follows the handshake at once; a peer with nothing may send nothing.
      await s.until(() => conn.bitsReceived || conn.closed, BITFIELD_WAIT_MS, '').catch(() => {});
      return conn;
    } finally {
      this.#dialing.delete(key);
    }
  }
}

export function isLocal(ip: string): boolean {
  return ip === '127.0.0.1' || ip === '::1' || ip === 'localhost';
}
