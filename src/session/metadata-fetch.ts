/**
 * A magnet link names a torrent by its infohash only: before anything can be downloaded, the info
 * dictionary has to come from peers that have it (BEP 9, over the BEP 10 extension protocol). This
 * finds peers (the link's trackers and `x.pe` addresses), asks those that offer `ut_metadata` for its
 * 16 KiB pieces — several peers at once, asking again elsewhere on a reject or a timeout — and checks the
 * SHA-1 of the whole against the infohash before turning it into a Metainfo.
 *
 * Its connections are ordinary PeerConnections with this fetch as their host: ut_metadata is an extension
 * of the peer wire protocol like any other. While the piece count is unknown a connection keeps what its
 * peer says it holds; once the metadata is here the connections are handed to the torrent's session as
 * they are (no peer is dialled twice), and incoming peers are accepted all along (the Client routes them here).
 */
import { createHash } from 'node:crypto';
import { metainfoFromInfoBytes } from '../metainfo/index.js';
import type { MagnetLink, Metainfo } from '../metainfo/types.js';
import { PeerConnection, type PeerHost, UT_PEX_ID } from '../peer/connection.js';
import { Bitfield } from '../shared/bitfield.js';
import type { Env } from '../shared/env.js';
import { ChunkswarmError, describeError, isChunkswarmError } from '../shared/errors.js';
import { TypedEmitter } from '../shared/events.js';
import { LIMITS } from '../shared/limits.js';
import { nodeEnv } from '../shared/node-env.js';
import { countOf } from '../shared/plural.js';
import { formatAddress, normaliseIp } from '../shared/types.js';
import { isSupportedTracker, TrackerClient } from '../tracker/client/index.js';
import {
  decodePex,
  type MetadataMessage,
  metadataPieceCount,
  PexInbox,
  type WireMessage,
} from '../wire/index.js';
import type { Announcer } from './announcing.js';
import { isLocal } from './dialling.js';

export interface MetadataFetchOptions {
  readonly magnet: MagnetLink;
  readonly peerId: Buffer;
  /** The port we accept peer connections on: announced, and sent in the extension handshake. */
  readonly listenPort: number;
  /** Give up when the whole metadata has not arrived in this time (default 60 s). */
  readonly timeoutMs?: number;
  /** A piece request unanswered this long is asked of another peer (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** Connections open at once (default 30). */
  readonly maxPeers?: number;
  /** Largest metadata accepted (default LIMITS.metainfoBytes, 16 MiB). */
  readonly maxMetadataBytes?: number;
  /** Address to announce in place of the socket's (NAT); only trackers that trust `ip` use it. */
  readonly announceIp?: string;
  /** Called before each new connection: false when the process-wide budget is spent. */
  readonly mayConnect?: () => boolean;
  /** Clock, randomness and network (default: Node's). */
  readonly env?: Env;
  /** The magnet's trackers (default: a TrackerClient over its `tr=` URLs). */
  readonly announcer?: Announcer;
  /** Peers come from elsewhere too (the DHT, through `addPeers`): a magnet needs no tracker or `x.pe`. */
  readonly otherSources?: boolean;
}

export type MetadataFetchEvents = {
  /** Both handshakes done; `metadataSize` is what the peer offers, undefined when it offers nothing. */
  'peer-connected': [address: string, metadataSize: number | undefined];
  'peer-disconnected': [address: string, reason: string];
  /** A piece of the metadata arrived: `have` of `count` pieces are here. */
  piece: [piece: number, have: number, count: number, from: string];
  announce: [url: string, peers: number];
  'announce-failed': [reason: string];
  /** The assembled metadata did not hash to the infohash; these peers sent its pieces. */
  'hash-failed': [peers: string[]];
  warning: [message: string];
  /** The fetch is over (metadata here, failed or stopped): it takes no more connections. */
  end: [];
};

export interface MetadataResult {
  readonly metainfo: Metainfo;
  /** Every peer learned (those that sent metadata first), for the download to dial. */
  readonly peers: readonly { readonly ip: string; readonly port: number }[];
  /** The connections still open, for the torrent's session to adopt (`TorrentSession.adopt`). */
  readonly connections: readonly PeerConnection[];
}

/**
 * What we announce as `left` before the size is known. BEP 3 gives no rule; libtorrent announces one
 * block, 16 KiB, so trackers count us as a leecher (left > 0) and hand us seeders. We do the same.
 */
export const UNKNOWN_LEFT = 16 * 1024;

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_PEERS = 30;
/** Requests outstanding per peer: enough to hide a round trip, few enough to spread pieces across peers. */
const PER_PEER = 2;
/** A peer that rejected or let a request time out is left alone this long. */
const HOLD_MS = 3_000;
/** A piece asked of a slow peer may be asked of an idle one too after this long. */
const DUPLICATE_AFTER_MS = 2_000;
/** Timeouts before a peer is given up on. */
const MAX_TIMEOUTS = 3;
/** An address that closed or failed is dialled again after this long. */
const REDIAL_MS = 10_000;
/** Trackers are asked again this often while no connected peer offers the metadata (or their min interval). */
const REANNOUNCE_MS = 15_000;
const TICK_MS = 500;
/** Addresses kept from trackers and the link: plenty for one torrent, and a cap on what a tracker can make us hold. */
const MAX_KNOWN = 1000;
/** How long the `stopped` announce of a failed fetch may hold up the exit. */
const STOPPED_ANNOUNCE_MS = 3_000;

interface FetchPeer {
  readonly conn: PeerConnection;
  /** ip:port the peer listens on (an incoming peer's port is known once its extension handshake came). */
  key: string;
  /** The extension handshake arrived. */
  ready: boolean;
  /** The size of the metadata it offers. */
  size: number | undefined;
  /** Pieces asked and not answered yet -> when asked. */
  readonly inFlight: Map<number, number>;
  /** Pieces whose data we would still take from this peer (asked, possibly timed out since). */
  readonly asked: Set<number>;
  holdUntil: number;
  timeouts: number;
  /** Its ut_pex messages, at most a few a minute (BEP 11). */
  readonly pexInbox: PexInbox;
}

interface Assembly {
  readonly size: number;
  readonly count: number;
  pieces: (Buffer | undefined)[];
  sources: (string | undefined)[];
  have: number;
  /**
   * After a failed hash check, pieces come from one peer at a time, so that a peer sending bad pieces can
   * be told from the honest ones: a single-source attempt that fails names its culprit.
   */
  single: boolean;
  source: string | undefined;
}

/** One metadata fetch for one magnet link; `run` once. */
export class MetadataFetch implements PeerHost {
  readonly events = new TypedEmitter<MetadataFetchEvents>();
  readonly magnet: MagnetLink;
  readonly infoHash: Buffer;
  readonly peerId: Buffer;
  readonly listenPort: number;
  /** Unknown until the metadata is here: connections keep what peers hold for later (see PeerConnection). */
  readonly pieceCount = 0;
  /**
   * ut_pex is offered from the first extension handshake (BEP 11): libtorrent reads the `m` of a peer's
   * first handshake only, so a peer that left it out then never gets a PEX message on that connection,
   * even after the session's later handshake adds it. Peers named while we fetch are dialled here too.
   * (A magnet does not say whether its torrent is private; once the metadata says so, the session neither
   * sends nor reads ut_pex, BEP 27.)
   */
  readonly pex = true;

  readonly #opts: MetadataFetchOptions;
  readonly #env: Env;
  readonly #timeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #maxPeers: number;
  readonly #maxBytes: number;
  readonly #tracker: Announcer | undefined;
  /** Every address learned, in the order learned, with when it was last dialled. */
  readonly #known = new Map<string, { ip: string; port: number; lastDial: number }>();
  /** Connections past the BitTorrent handshake, by connection. */
  readonly #peers = new Map<PeerConnection, FetchPeer>();
  /** Addresses being dialled. */
  readonly #dialing = new Set<string>();
  readonly #banned = new Set<string>();
  /** Peers that sent us pieces that ended in valid metadata, or offered it: dialled first afterwards. */
  readonly #offered = new Set<string>();
  #assembly: Assembly | undefined;
  #announced = false;
  #announcing = false;
  #lastAnnounce = 0;
  #minInterval = 0;
  #hashFailures = 0;
  #cancelTick: (() => void) | undefined;
  #cancelDeadline: (() => void) | undefined;
  #settle: ((result: MetadataResult | Error) => void) | undefined;
  #done = false;

  constructor(opts: MetadataFetchOptions) {
    this.#opts = opts;
    this.#env = opts.env ?? nodeEnv;
    this.magnet = opts.magnet;
    this.infoHash = opts.magnet.infoHash;
    this.peerId = opts.peerId;
    this.listenPort = opts.listenPort;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#maxPeers = opts.maxPeers ?? DEFAULT_MAX_PEERS;
    this.#maxBytes = opts.maxMetadataBytes ?? LIMITS.metainfoBytes;
    checkMagnetSources(opts.magnet, { dht: opts.otherSources === true });
    const usable = opts.magnet.trackers.filter(isSupportedTracker);
    this.#tracker =
      opts.announcer ??
      (usable.length > 0
        ? new TrackerClient({
            tiers: opts.magnet.trackers.map((t) => [t]),
            infoHash: opts.magnet.infoHash,
            peerId: opts.peerId,
            port: opts.listenPort,
            announceIp: opts.announceIp,
          })
        : undefined);
    for (const spec of opts.magnet.peers) {
      const addr = parseHostPort(spec);
      if (addr) this.#learn(addr.ip, addr.port);
    }
  }

  /** The name to call the torrent by until its metadata is here. */
  get label(): string {
    return this.magnet.name ?? this.magnet.infoHashHex;
  }

  /** Connected peers, and how many of them offer the metadata. */
  get peerCount(): { connected: number; offering: number } {
    let offering = 0;
    for (const p of this.#peers.values()) if (p.size !== undefined) offering++;
    return { connected: this.#peers.size, offering };
  }

  /** Connections open or being opened: they count against the process's peer limit. */
  get connectionCount(): number {
    return this.#peers.size + this.#dialing.size;
  }

  haveBits(): Bitfield {
    return new Bitfield(0);
  }

  /** Resolves with the metainfo once peers sent metadata whose SHA-1 is the infohash; rejects on timeout or stop. */
  run(): Promise<MetadataResult> {
    if (this.#settle || this.#done) throw new ChunkswarmError('EUSAGE', 'a metadata fetch runs once');
    const result = new Promise<MetadataResult>((resolve, reject) => {
      this.#settle = (r) => (r instanceof Error ? reject(r) : resolve(r));
    });
    const clock = this.#env.clock;
    this.#cancelDeadline = clock.setTimeout(() => this.#fail(this.#timeoutError()), this.#timeoutMs);
    this.#cancelTick = clock.setInterval(() => this.#onTick(), TICK_MS);
    this.#announce('started');
    this.#dialKnown();
    return result;
  }

  /** Stops at once: every connection closed, `run` rejected if still pending. */
  stop(reason = 'stopped'): void {
    this.#fail(new ChunkswarmError('EPEER', `metadata fetch for ${this.label} ${reason}`));
  }

  // ---- finding peers ----

  /** Peers found elsewhere (the DHT): dialled like the trackers' ones. */
  addPeers(peers: readonly { ip: string; port: number }[]): void {
    if (this.#done) return;
    for (const p of peers) this.#learn(p.ip, p.port);
    this.#dialKnown();
  }

  #learn(ip: string, port: number): void {
    const key = formatAddress(ip, port);
    if (!this.#known.has(key) && this.#known.size < MAX_KNOWN)
      this.#known.set(key, { ip, port, lastDial: 0 });
  }

  #announce(event: 'started' | undefined): void {
    const tracker = this.#tracker;
    if (!tracker || this.#announcing || this.#done) return;
    this.#announcing = true;
    this.#lastAnnounce = this.#env.clock.now();
    tracker
      .announceEvery(
        { event, uploaded: 0, downloaded: 0, left: UNKNOWN_LEFT, numwant: 50, compact: true },
        // Each tracker's peers are dialled as its answer comes: a silent UDP tracker takes the whole timeout.
        (answer) => {
          if (this.#done) return;
          this.#announced = true;
          this.#minInterval = Math.max(this.#minInterval, (answer.minInterval ?? 0) * 1000);
          for (const p of answer.peers) this.#learn(p.ip, p.port);
          this.events.emit('announce', answer.url, answer.peers.length);
          this.#dialKnown();
        },
      )
      .then((merged) => {
        if (!this.#done && merged.warning) this.events.emit('warning', merged.warning);
      })
      .catch((err) => {
        if (!this.#done) this.events.emit('announce-failed', describeError(err));
      })
      .finally(() => {
        this.#announcing = false;
      });
  }

  #isSelf(ip: string, port: number): boolean {
    return port === this.listenPort && isLocal(ip);
  }

  #dialKnown(): void {
    const now = this.#env.clock.now();
    for (const [key, k] of this.#known) {
      if (this.connectionCount >= this.#maxPeers) return;
      if (this.#dialing.has(key) || this.#banned.has(key) || this.#connectedTo(key)) continue;
      if (this.#isSelf(k.ip, k.port) || (k.lastDial > 0 && now - k.lastDial < REDIAL_MS)) continue;
      if (this.#opts.mayConnect && !this.#opts.mayConnect()) return;
      k.lastDial = now;
      this.#dial(key, k.ip, k.port);
    }
  }

  #connectedTo(key: string): boolean {
    for (const p of this.#peers.values()) if (p.key === key) return true;
    return false;
  }

  #dial(key: string, ip: string, port: number): void {
    this.#dialing.add(key);
    this.#env.net.dial(ip, port, LIMITS.handshakeTimeoutMs).then(
      (stream) => {
        this.#dialing.delete(key);
        if (this.#done) {
          stream.close();
          return;
        }
        // The handshakes (BEP 3, then BEP 10) go through an ordinary connection; this fetch is its host.
        new PeerConnection(stream, { host: this, listenPort: port, clock: this.#env.clock });
      },
      (err: unknown) => {
        this.#dialing.delete(key);
        const known = this.#known.get(key);
        if (known) known.lastDial = this.#env.clock.now();
        if (!this.#done) this.events.emit('peer-disconnected', key, describeError(err));
      },
    );
  }

  // ---- PeerHost: the connections' side ----

  /** Why a peer whose handshake just came is not taken (see PeerHost.refusal), or undefined. */
  refusal(conn: PeerConnection): string | undefined {
    if (this.#done) return 'metadata fetch ended';
    if (this.#banned.has(conn.peerAddress)) return 'banned';
    if (this.#peers.size >= this.#maxPeers) return 'too many peers';
    if (!conn.remote?.extended)
      return 'the peer does not speak the extension protocol (BEP 10), so it cannot send metadata';
    return undefined;
  }

  onReady(conn: PeerConnection): void {
    const refused = this.refusal(conn);
    if (refused !== undefined) {
      conn.close(refused);
      return;
    }
    const key = conn.peerAddress;
    this.#peers.set(conn, {
      conn,
      key,
      ready: false,
      size: undefined,
      inFlight: new Map(),
      asked: new Set(),
      holdUntil: 0,
      timeouts: 0,
      pexInbox: new PexInbox(),
    });
    if (!conn.outgoing) this.#learn(conn.ip, conn.listenPort ?? conn.remotePort);
  }

  onMessage(conn: PeerConnection, m: WireMessage): void {
    const peer = this.#peers.get(conn);
    if (peer && m.type === 'extended' && m.id === UT_PEX_ID && !this.#done) {
      this.#onPex(peer, m.payload);
      return;
    }
    if (!peer || m.type !== 'extended' || m.id !== 0 || this.#done) return;
    const size = conn.extension?.metadataSize;
    peer.size =
      conn.metadataId !== undefined && size !== undefined && size >= 1 && size <= this.#maxBytes
        ? size
        : undefined;
    // An incoming peer names its port only now: that is the address it is known (and dialled) by.
    peer.key = conn.peerAddress;
    const first = !peer.ready;
    peer.ready = true;
    if (first) this.events.emit('peer-connected', peer.key, peer.size);
    if (peer.size === undefined) {
      // BEP 9: a peer without the metadata leaves out metadata_size. It is of no use to us now.
      const why =
        conn.metadataId === undefined
          ? 'the peer does not offer metadata (no ut_metadata)'
          : size !== undefined && size > this.#maxBytes
            ? `the peer offers ${size} bytes of metadata, more than the ${this.#maxBytes}-byte limit`
            : 'the peer does not have the metadata either';
      conn.close(why);
      return;
    }
    this.#offered.add(peer.key);
    this.#assign();
  }

  /** Peers named by ut_pex while we fetch: more sources of the metadata, adopted by the session with the rest. */
  #onPex(peer: FetchPeer, payload: Buffer): void {
    if (!peer.pexInbox.accept(this.#env.clock.now())) {
      peer.conn.close('protocol error: peer exchange messages more often than BEP 11 allows');
      return;
    }
    let added: readonly { host: string; port: number }[];
    try {
      added = decodePex(payload).added;
    } catch {
      return; // junk: ignored, as the session does
    }
    this.addPeers(added.map((p) => ({ ip: p.host, port: p.port })));
  }

  onMetadataMessage(conn: PeerConnection, m: MetadataMessage): void {
    const peer = this.#peers.get(conn);
    if (!peer || peer.size === undefined || this.#done) return;
    if (m.type === 'unknown' || m.type === 'request') return;
    if (!peer.asked.delete(m.piece)) return; // never asked, or from an attempt given up on: ignore quietly
    peer.inFlight.delete(m.piece);
    if (m.type === 'reject') {
      // The peer may be limiting requests or has dropped the torrent: ask elsewhere, and it later.
      peer.holdUntil = this.#env.clock.now() + HOLD_MS;
      this.#assign();
      return;
    }
    peer.timeouts = 0;
    const a = this.#assembly;
    if (
      a &&
      a.size === m.totalSize &&
      a.pieces[m.piece] === undefined &&
      (!a.single || a.source === peer.key)
    ) {
      // Copy: the block is a view into the decoder's buffer.
      a.pieces[m.piece] = Buffer.from(m.data);
      a.sources[m.piece] = peer.key;
      a.have++;
      this.events.emit('piece', m.piece, a.have, a.count, peer.key);
      if (a.have === a.count) {
        this.#complete(a);
        return;
      }
    }
    this.#assign();
  }

  onClose(conn: PeerConnection, reason: string): void {
    const peer = this.#peers.get(conn);
    const key = peer?.key ?? conn.peerAddress;
    const known = this.#known.get(key);
    if (known) known.lastDial = this.#env.clock.now();
    if (!peer) {
      // Closed during the handshakes (a refused dial, a timeout, a wrong infohash).
      if (conn.outgoing && !this.#done) this.events.emit('peer-disconnected', key, reason);
      return;
    }
    this.#peers.delete(conn);
    this.events.emit('peer-disconnected', key, reason);
    if (!this.#done) this.#assign();
  }

  #send(peer: FetchPeer, m: MetadataMessage): void {
    peer.conn.sendMetadata(m);
  }

  // ---- asking for pieces ----

  /** Peers that offer metadata of `size`, open and not held back. */
  #offering(size: number): FetchPeer[] {
    return [...this.#peers.values()].filter((p) => !p.conn.closed && p.ready && p.size === size);
  }

  /** The size most connected peers offer (the first offered, on a tie). */
  #pickSize(): number | undefined {
    const votes = new Map<number, number>();
    for (const p of this.#peers.values())
      if (p.size !== undefined) votes.set(p.size, (votes.get(p.size) ?? 0) + 1);
    let best: number | undefined;
    for (const [size, n] of votes) if (best === undefined || n > votes.get(best)!) best = size;
    return best;
  }

  #newAssembly(size: number, single: boolean): Assembly {
    const count = metadataPieceCount(size);
    return {
      size,
      count,
      pieces: new Array<Buffer | undefined>(count).fill(undefined),
      sources: new Array<string | undefined>(count).fill(undefined),
      have: 0,
      single,
      source: undefined,
    };
  }

  /** Forget every request of the attempt in progress: answers to them will be ignored. */
  #dropRequests(): void {
    for (const p of this.#peers.values()) {
      p.inFlight.clear();
      p.asked.clear();
    }
  }

  #assign(): void {
    if (this.#done) return;
    let a = this.#assembly;
    // Start, or move to another size when nobody left offers this one (peers disagree: one of them lies).
    if (!a || (this.#offering(a.size).length === 0 && this.#pickSize() !== undefined)) {
      const size = this.#pickSize();
      if (size === undefined) return;
      if (!a || a.size !== size) {
        this.#dropRequests();
        a = this.#newAssembly(size, a?.single ?? false);
        this.#assembly = a;
      }
    }
    const now = this.#env.clock.now();
    let peers = this.#offering(a.size);
    peers = peers.filter((p) => p.holdUntil <= now);
    if (a.single) {
      const source = a.source;
      if (source === undefined || !peers.some((p) => p.key === source)) {
        // The source is gone or holds back (a reject, a timeout): another one if there is one, else wait.
        const next = peers.find((p) => p.key !== source);
        if (!next) return;
        // A new single source starts from nothing, so that everything checked next came from it.
        this.#dropRequests();
        const fresh = this.#newAssembly(a.size, true);
        fresh.source = next.key;
        this.#assembly = a = fresh;
      }
      peers = peers.filter((p) => p.key === a!.source);
    }
    const asking = new Map<number, number>(); // piece -> latest time asked, any peer
    for (const p of this.#offering(a.size)) {
      for (const [piece, at] of p.inFlight) asking.set(piece, Math.max(asking.get(piece) ?? 0, at));
    }
    for (const p of peers) {
      for (let piece = 0; piece < a.count && p.inFlight.size < PER_PEER; piece++) {
        if (a.pieces[piece] !== undefined || p.inFlight.has(piece)) continue;
        const askedAt = asking.get(piece);
        // A piece already asked of another peer is asked again only when that peer is slow to answer.
        if (askedAt !== undefined && now - askedAt < DUPLICATE_AFTER_MS) continue;
        p.inFlight.set(piece, now);
        p.asked.add(piece);
        asking.set(piece, now);
        this.#send(p, { type: 'request', piece });
      }
    }
  }

  #complete(a: Assembly): void {
    const bytes = Buffer.concat(a.pieces as Buffer[]);
    const hash = createHash('sha1').update(bytes).digest();
    if (!hash.equals(this.magnet.infoHash)) {
      this.#hashFailures++;
      const senders = [...new Set(a.sources.filter((s): s is string => s !== undefined))];
      this.events.emit('hash-failed', senders);
      this.#dropRequests();
      if (a.single && a.source !== undefined) {
        // Everything came from this one peer: it is the one that lies.
        this.#banned.add(a.source);
        this.#offered.delete(a.source);
        for (const p of this.#peers.values())
          if (p.key === a.source) p.conn.close('sent metadata that does not match the infohash');
      }
      this.#assembly = this.#newAssembly(a.size, true);
      this.#assign();
      return;
    }
    let metainfo: Metainfo;
    try {
      metainfo = metainfoFromInfoBytes(bytes, {
        expectedHash: this.magnet.infoHash,
        trackers: this.magnet.trackers,
        webSeeds: this.magnet.webSeeds,
        maxBytes: this.#maxBytes,
      });
    } catch (err) {
      // The peers sent exactly what the infohash names: the torrent itself is unusable.
      this.#fail(
        new ChunkswarmError(
          isChunkswarmError(err) ? err.code : 'EMETAINFO',
          `the torrent of magnet ${this.label} is not usable: ${describeError(err)}`,
          { cause: err },
        ),
      );
      return;
    }
    for (const s of a.sources) if (s !== undefined) this.#offered.add(s);
    this.#finish(metainfo);
  }

  #peerList(): { ip: string; port: number }[] {
    const first: { ip: string; port: number }[] = [];
    const rest: { ip: string; port: number }[] = [];
    for (const [key, k] of this.#known) {
      if (this.#banned.has(key) || this.#isSelf(k.ip, k.port)) continue;
      (this.#offered.has(key) ? first : rest).push({ ip: normaliseIp(k.ip), port: k.port });
    }
    return [...first, ...rest];
  }

  // ---- time ----

  #onTick(): void {
    if (this.#done) return;
    const now = this.#env.clock.now();
    for (const p of [...this.#peers.values()]) {
      let timedOut = false;
      for (const [piece, at] of p.inFlight) {
        if (now - at > this.#requestTimeoutMs) {
          // Kept in `asked`: a late answer is still welcome.
          p.inFlight.delete(piece);
          timedOut = true;
        }
      }
      if (timedOut) {
        p.holdUntil = now + HOLD_MS;
        if (++p.timeouts >= MAX_TIMEOUTS) p.conn.close('the peer stopped answering metadata requests');
      }
    }
    this.#assign();
    this.#dialKnown();
    const useful = this.peerCount.offering > 0;
    if (!useful && now - this.#lastAnnounce >= Math.max(REANNOUNCE_MS, this.#minInterval))
      this.#announce(undefined);
  }

  #timeoutError(): ChunkswarmError {
    const secs = Math.round(this.#timeoutMs / 1000);
    const found = this.#known.size;
    const detail =
      this.#hashFailures > 0
        ? `metadata from peers failed the infohash check ${countOf(this.#hashFailures, 'time')}`
        : this.#offered.size > 0
          ? `${countOf(this.#offered.size, 'peer')} offered it but did not send it all`
          : found === 0
            ? this.#tracker && !this.#announced
              ? 'no tracker answered and no peer is known'
              : 'the trackers know no peer'
            : `${countOf(found, 'peer')} found, none offered it`;
    return new ChunkswarmError(
      'ETIMEOUT',
      `no peer sent the metadata of ${this.label} within ${secs} s (${detail})`,
    );
  }

  #fail(err: Error): void {
    if (this.#done) return;
    this.#end();
    for (const p of [...this.#peers.values()]) p.conn.close('metadata fetch ended');
    // Leave the tracker's peer list: nothing will follow this announce.
    const stopped =
      this.#tracker && this.#announced
        ? this.#tracker
            .announceEvery({ event: 'stopped', uploaded: 0, downloaded: 0, left: UNKNOWN_LEFT, numwant: 0 })
            .then(() => undefined)
            .catch(() => undefined)
        : Promise.resolve();
    const settle = this.#settle;
    const waited = new Promise<void>((r) => this.#env.clock.setTimeout(r, STOPPED_ANNOUNCE_MS));
    void Promise.race([stopped, waited]).then(() => settle?.(err));
  }

  /**
   * The metadata is here. The open connections are handed over as they are — the session adopts them, with
   * what each peer said it holds — so no peer is dialled twice; the rest of the peers learned are for it to dial.
   */
  #finish(metainfo: Metainfo): void {
    this.#end();
    const connections = [...this.#peers.keys()].filter((c) => !c.closed);
    this.#peers.clear();
    this.#settle?.({ metainfo, peers: this.#peerList(), connections });
  }

  #end(): void {
    this.#done = true;
    this.#cancelDeadline?.();
    this.#cancelTick?.();
    this.events.emit('end');
  }
}

/** Fetches the metadata a magnet link names (see MetadataFetch). */
export function fetchMetadata(opts: MetadataFetchOptions): Promise<MetadataResult> {
  return new MetadataFetch(opts).run();
}

/**
 * A magnet link we can do something with names a tracker we speak to (http, https, udp) or a peer
 * (`x.pe`): without a DHT there is no other way to find peers. Throws EMAGNET (a usage error) otherwise.
 */
export function checkMagnetSources(link: MagnetLink, opts: { dht?: boolean } = {}): void {
  const label = link.name ?? link.infoHashHex;
  if (opts.dht || link.trackers.some(isSupportedTracker) || link.peers.length > 0) return;
  throw new ChunkswarmError(
    'EMAGNET',
    link.trackers.length > 0
      ? `magnet ${label} names only trackers chunkswarm cannot speak to (${link.trackers.join(', ')}) and no peer (x.pe=): add an http or udp tracker, or a peer`
      : `magnet ${label} names no tracker (tr=) and no peer (x.pe=), and no DHT node is known: add one of them, or --dht-bootstrap HOST:PORT`,
  );
}

/** `host:port`, `[v6]:port` (an `x.pe` value). */
export function parseHostPort(spec: string): { ip: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(spec);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { ip: m[1] ?? m[2]!, port };
}
