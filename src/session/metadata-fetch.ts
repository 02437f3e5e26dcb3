/**
 * A magnet link names a torrent by its infohash only: before anything can be downloaded, the info
 * dictionary has to come from peers that have it (BEP 9, over the BEP 10 extension protocol). This
 * finds peers (the link's trackers and `x.pe` addresses), asks those that offer `ut_metadata` for its
 * 16 KiB pieces — several peers at once, asking again elsewhere on a reject or a timeout — and checks the
 * SHA-1 of the whole against the infohash before turning it into a Metainfo.
 *
 * Its connections are its own, lighter than a PeerConnection: the piece count is unknown, so HAVEs and
 * bitfields cannot be checked and are ignored. Once the metadata is here they are closed and the normal
 * download dials the same peers again as a full session.
 */
import { createHash } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { metainfoFromInfoBytes } from '../metainfo/index.js';
import type { MagnetLink, Metainfo } from '../metainfo/types.js';
import { CLIENT_NAME, normaliseIp, UT_METADATA_ID } from '../peer/connection.js';
import { ChunkswarmError, describeError, isChunkswarmError } from '../shared/errors.js';
import { TypedEmitter } from '../shared/events.js';
import { LIMITS } from '../shared/limits.js';
import { formatAddress } from '../shared/types.js';
import { isSupportedTracker, TrackerClient } from '../tracker/index.js';
import {
  type DecoderEvent,
  decodeExtensionHandshake,
  decodeMetadataMessage,
  encodeExtensionHandshake,
  encodeHandshake,
  encodeMessage,
  encodeMetadataMessage,
  type MetadataMessage,
  metadataPieceCount,
  UT_METADATA,
  WireDecoder,
} from '../wire/index.js';

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
};

export interface MetadataResult {
  readonly metainfo: Metainfo;
  /** Every peer learned (those that sent metadata first), for the download to dial. */
  readonly peers: readonly { readonly ip: string; readonly port: number }[];
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
/** How long a graceful close waits for the peer's side to close. */
const CLOSE_WAIT_MS = 2_000;
/** How long the `stopped` announce of a failed fetch may hold up the exit. */
const STOPPED_ANNOUNCE_MS = 3_000;

interface FetchPeer {
  readonly key: string;
  readonly ip: string;
  readonly port: number;
  readonly socket: Socket;
  readonly decoder: WireDecoder;
  /** The extension handshake arrived. */
  ready: boolean;
  /** The id the peer takes ut_metadata messages under, and the size it offers. */
  utId: number | undefined;
  size: number | undefined;
  /** Pieces asked and not answered yet -> when asked. */
  readonly inFlight: Map<number, number>;
  /** Pieces whose data we would still take from this peer (asked, possibly timed out since). */
  readonly asked: Set<number>;
  holdUntil: number;
  timeouts: number;
  /** Metadata requests the peer sent us, all refused: we have nothing yet. */
  requestsRefused: number;
  closed: boolean;
  timer: NodeJS.Timeout | undefined;
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
export class MetadataFetch {
  readonly events = new TypedEmitter<MetadataFetchEvents>();
  readonly magnet: MagnetLink;

  readonly #opts: MetadataFetchOptions;
  readonly #timeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #maxPeers: number;
  readonly #maxBytes: number;
  readonly #tracker: TrackerClient | undefined;
  /** Every address learned, in the order learned, with when it was last dialled. */
  readonly #known = new Map<string, { ip: string; port: number; lastDial: number }>();
  readonly #peers = new Map<string, FetchPeer>();
  /** Connections not yet open. */
  readonly #dialing = new Map<string, FetchPeer>();
  readonly #banned = new Set<string>();
  /** Peers that sent us pieces that ended in valid metadata, or offered it: dialled first afterwards. */
  readonly #offered = new Set<string>();
  #assembly: Assembly | undefined;
  #announced = false;
  #announcing = false;
  #lastAnnounce = 0;
  #minInterval = 0;
  #hashFailures = 0;
  #tick: NodeJS.Timeout | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #settle: ((result: MetadataResult | Error) => void) | undefined;
  #done = false;

  constructor(opts: MetadataFetchOptions) {
    this.#opts = opts;
    this.magnet = opts.magnet;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#maxPeers = opts.maxPeers ?? DEFAULT_MAX_PEERS;
    this.#maxBytes = opts.maxMetadataBytes ?? LIMITS.metainfoBytes;
    checkMagnetSources(opts.magnet);
    const usable = opts.magnet.trackers.filter(isSupportedTracker);
    this.#tracker =
      usable.length > 0
        ? new TrackerClient({
            tiers: opts.magnet.trackers.map((t) => [t]),
            infoHash: opts.magnet.infoHash,
            peerId: opts.peerId,
            port: opts.listenPort,
            announceIp: opts.announceIp,
          })
        : undefined;
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

  /** Resolves with the metainfo once peers sent metadata whose SHA-1 is the infohash; rejects on timeout or stop. */
  run(): Promise<MetadataResult> {
    if (this.#settle || this.#done) throw new ChunkswarmError('EUSAGE', 'a metadata fetch runs once');
    const result = new Promise<MetadataResult>((resolve, reject) => {
      this.#settle = (r) => (r instanceof Error ? reject(r) : resolve(r));
    });
    this.#deadline = setTimeout(() => this.#fail(this.#timeoutError()), this.#timeoutMs);
    this.#tick = setInterval(() => this.#onTick(), TICK_MS);
    this.#announce('started');
    this.#dialKnown();
    return result;
  }

  /** Stops at once: every connection closed, `run` rejected if still pending. */
  stop(reason = 'stopped'): void {
    this.#fail(new ChunkswarmError('EPEER', `metadata fetch for ${this.label} ${reason}`));
  }

  // ---- finding peers ----

  #learn(ip: string, port: number): void {
    const key = formatAddress(ip, port);
    if (!this.#known.has(key) && this.#known.size < MAX_KNOWN)
      this.#known.set(key, { ip, port, lastDial: 0 });
  }

  #announce(event: 'started' | undefined): void {
    const tracker = this.#tracker;
    if (!tracker || this.#announcing || this.#done) return;
    this.#announcing = true;
    this.#lastAnnounce = Date.now();
    tracker
      .announceAll(
        {
          event,
          uploaded: 0,
          downloaded: 0,
          left: UNKNOWN_LEFT,
          numwant: 50,
          compact: true,
        },
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
      .then((outcomes) => {
        if (this.#done) return;
        for (const o of outcomes) {
          if (o.status === 'rejected') this.events.emit('announce-failed', o.reason.message);
          else if (o.status === 'skipped') this.events.emit('warning', o.warning);
        }
      })
      .catch((err) => this.events.emit('announce-failed', describeError(err)))
      .finally(() => {
        this.#announcing = false;
      });
  }

  #isSelf(ip: string, port: number): boolean {
    return port === this.#opts.listenPort && (ip === '127.0.0.1' || ip === '::1' || ip === 'localhost');
  }

  #dialKnown(): void {
    const now = Date.now();
    for (const [key, k] of this.#known) {
      if (this.#peers.size + this.#dialing.size >= this.#maxPeers) return;
      if (this.#peers.has(key) || this.#dialing.has(key) || this.#banned.has(key)) continue;
      if (this.#isSelf(k.ip, k.port) || (k.lastDial > 0 && now - k.lastDial < REDIAL_MS)) continue;
      if (this.#opts.mayConnect && !this.#opts.mayConnect()) return;
      k.lastDial = now;
      this.#dial(key, k.ip, k.port);
    }
  }

  #dial(key: string, ip: string, port: number): void {
    const socket = netConnect({ host: ip, port });
    const peer: FetchPeer = {
      key,
      ip,
      port,
      socket,
      decoder: new WireDecoder({ limits: { pieceCount: 0 } }),
      ready: false,
      utId: undefined,
      size: undefined,
      inFlight: new Map(),
      asked: new Set(),
      holdUntil: 0,
      timeouts: 0,
      requestsRefused: 0,
      closed: false,
      timer: undefined,
    };
    this.#dialing.set(key, peer);
    // Both handshakes (BEP 3 and BEP 10) must be done within the handshake timeout.
    peer.timer = setTimeout(() => this.#close(peer, 'handshake timed out'), LIMITS.handshakeTimeoutMs);
    socket.on('error', (err) => this.#close(peer, describeError(err)));
    socket.on('close', () => this.#close(peer, 'connection closed'));
    socket.once('connect', () => {
      if (peer.closed) return;
      this.#dialing.delete(key);
      this.#peers.set(key, peer);
      socket.setNoDelay(true);
      // No fast extension: without a piece count we could not answer its HAVE ALL / HAVE NONE rules.
      socket.write(
        encodeHandshake({ infoHash: this.magnet.infoHash, peerId: this.#opts.peerId, extended: true }),
      );
      socket.on('data', (chunk: Buffer) => this.#onData(peer, chunk));
    });
  }

  /** Closes a connection: at once, or (`graceful`) with a FIN, resolving once the peer has closed its side. */
  #close(peer: FetchPeer, reason: string, graceful = false): Promise<void> {
    const gone = new Promise<void>((resolve) => {
      if (peer.socket.destroyed) resolve();
      else peer.socket.once('close', () => resolve());
    });
    if (peer.closed) return gone;
    peer.closed = true;
    clearTimeout(peer.timer);
    if (graceful && peer.socket.writable) {
      peer.socket.end();
      // A peer that never closes its side is not waited for long.
      setTimeout(() => peer.socket.destroy(), CLOSE_WAIT_MS).unref();
    } else peer.socket.destroy();
    if (this.#dialing.get(peer.key) === peer) this.#dialing.delete(peer.key);
    const known = this.#known.get(peer.key);
    if (known) known.lastDial = Date.now();
    if (this.#peers.get(peer.key) === peer) {
      this.#peers.delete(peer.key);
      this.events.emit('peer-disconnected', peer.key, reason);
    }
    if (!this.#done) this.#assign();
    return gone;
  }

  // ---- one peer ----

  #onData(peer: FetchPeer, chunk: Buffer): void {
    if (peer.closed) return;
    let events: DecoderEvent[];
    try {
      events = peer.decoder.push(chunk);
    } catch (err) {
      this.#close(peer, `protocol error: ${describeError(err)}`);
      return;
    }
    for (const ev of events) {
      if (peer.closed || this.#done) return;
      try {
        if (ev.kind === 'handshake') this.#onHandshake(peer, ev.handshake);
        else if (ev.message.type === 'extended') this.#onExtended(peer, ev.message.id, ev.message.payload);
        // Everything else (bitfield, HAVEs, choke state) is about pieces we cannot know of yet.
      } catch (err) {
        this.#close(peer, `protocol error: ${describeError(err)}`);
        return;
      }
    }
  }

  #onHandshake(peer: FetchPeer, h: { infoHash: Buffer; peerId: Buffer; extended: boolean }): void {
    if (!h.infoHash.equals(this.magnet.infoHash))
      throw new ChunkswarmError('EWIRE_HANDSHAKE', 'wrong infohash');
    if (h.peerId.equals(this.#opts.peerId)) {
      this.#banned.add(peer.key);
      throw new ChunkswarmError('EWIRE_HANDSHAKE', 'connected to ourselves');
    }
    if (!h.extended) {
      this.#close(
        peer,
        'the peer does not speak the extension protocol (BEP 10), so it cannot send metadata',
      );
      return;
    }
    peer.socket.write(
      encodeMessage({
        type: 'extended',
        id: 0,
        payload: encodeExtensionHandshake({
          m: { [UT_METADATA]: UT_METADATA_ID },
          client: CLIENT_NAME,
          port: this.#opts.listenPort,
        }),
      }),
    );
  }

  #onExtended(peer: FetchPeer, id: number, payload: Buffer): void {
    if (id === 0) {
      const h = decodeExtensionHandshake(payload);
      const utId = h.m.get(UT_METADATA);
      const size = h.metadataSize;
      peer.utId = utId !== undefined && utId > 0 ? utId : undefined;
      peer.size =
        peer.utId !== undefined && size !== undefined && size >= 1 && size <= this.#maxBytes
          ? size
          : undefined;
      const first = !peer.ready;
      peer.ready = true;
      clearTimeout(peer.timer);
      if (first) this.events.emit('peer-connected', peer.key, peer.size);
      if (peer.size === undefined) {
        // BEP 9: a peer without the metadata leaves out metadata_size. It is of no use to us now.
        const why =
          peer.utId === undefined
            ? 'the peer does not offer metadata (no ut_metadata)'
            : size !== undefined && size > this.#maxBytes
              ? `the peer offers ${size} bytes of metadata, more than the ${this.#maxBytes}-byte limit`
              : 'the peer does not have the metadata either';
        this.#close(peer, why);
        return;
      }
      this.#offered.add(peer.key);
      this.#assign();
      return;
    }
    if (id !== UT_METADATA_ID || peer.size === undefined) return;
    this.#onMetadata(
      peer,
      decodeMetadataMessage(payload, { metadataSize: peer.size, maxMetadataBytes: this.#maxBytes }),
    );
  }

  #onMetadata(peer: FetchPeer, m: MetadataMessage): void {
    if (m.type === 'request') {
      // We have nothing to give yet (BEP 9: answer with a reject); a peer that keeps asking is flooding.
      if (++peer.requestsRefused > LIMITS.maxIncomingRequests)
        throw new ChunkswarmError(
          'EWIRE_PROTOCOL',
          `more than ${LIMITS.maxIncomingRequests} metadata requests`,
        );
      this.#send(peer, { type: 'reject', piece: m.piece });
      return;
    }
    if (m.type === 'unknown') return;
    if (!peer.asked.delete(m.piece)) return; // never asked, or from an attempt given up on: ignore quietly
    peer.inFlight.delete(m.piece);
    if (m.type === 'reject') {
      // The peer may be limiting requests or has dropped the torrent: ask elsewhere, and it later.
      peer.holdUntil = Date.now() + HOLD_MS;
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

  #send(peer: FetchPeer, m: MetadataMessage): void {
    if (peer.closed || peer.utId === undefined) return;
    peer.socket.write(encodeMessage({ type: 'extended', id: peer.utId, payload: encodeMetadataMessage(m) }));
  }

  // ---- asking for pieces ----

  /** Peers that offer metadata of `size`, open and not held back. */
  #offering(size: number): FetchPeer[] {
    return [...this.#peers.values()].filter((p) => !p.closed && p.ready && p.size === size);
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
    const now = Date.now();
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
        const culprit = this.#peers.get(a.source);
        this.#banned.add(a.source);
        this.#offered.delete(a.source);
        if (culprit) this.#close(culprit, 'sent metadata that does not match the infohash');
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
    this.#finish({ metainfo, peers: this.#peerList() });
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
    const now = Date.now();
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
        if (++p.timeouts >= MAX_TIMEOUTS) this.#close(p, 'the peer stopped answering metadata requests');
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
        ? `metadata from peers failed the infohash check ${this.#hashFailures} time(s)`
        : this.#offered.size > 0
          ? `${this.#offered.size} peer(s) offered it but did not send it all`
          : found === 0
            ? this.#tracker && !this.#announced
              ? 'no tracker answered and no peer is known'
              : 'the trackers know no peer'
            : `${found} peer(s) found, none offered it`;
    return new ChunkswarmError(
      'ETIMEOUT',
      `no peer sent the metadata of ${this.label} within ${secs} s (${detail})`,
    );
  }

  #fail(err: Error): void {
    if (this.#done) return;
    this.#stopAll();
    // Leave the tracker's peer list: nothing will follow this announce.
    const stopped =
      this.#tracker && this.#announced
        ? this.#tracker
            .announceAll({ event: 'stopped', uploaded: 0, downloaded: 0, left: UNKNOWN_LEFT, numwant: 0 })
            .then(() => undefined)
            .catch(() => undefined)
        : Promise.resolve();
    const settle = this.#settle;
    void Promise.race([stopped, sleep(STOPPED_ANNOUNCE_MS)]).then(() => settle?.(err));
  }

  #finish(result: MetadataResult): void {
    if (this.#done) return;
    const settle = this.#settle;
    // The download dials these peers again at once: let each see this connection end first, or it may take
    // the new one for a duplicate of the old and drop it.
    void this.#stopAll(true).then(() => settle?.(result));
  }

  #stopAll(graceful = false): Promise<void> {
    this.#done = true;
    clearTimeout(this.#deadline);
    clearInterval(this.#tick);
    const closing = [...this.#peers.values(), ...this.#dialing.values()].map((p) =>
      this.#close(p, 'metadata fetch ended', graceful),
    );
    return Promise.all(closing).then(() => undefined);
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
export function checkMagnetSources(link: MagnetLink): void {
  const label = link.name ?? link.infoHashHex;
  if (link.trackers.some(isSupportedTracker) || link.peers.length > 0) return;
  throw new ChunkswarmError(
    'EMAGNET',
    link.trackers.length > 0
      ? `magnet ${label} names only trackers chunkswarm cannot speak to (${link.trackers.join(', ')}) and no peer (x.pe=): add an http or udp tracker, or a peer`
      : `magnet ${label} names no tracker (tr=) and no peer (x.pe=), and chunkswarm has no DHT to find peers with: add one of them`,
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

const sleep = (ms: number): Promise<void> =>
  new Promise((r) => {
    setTimeout(r, ms).unref();
  });
