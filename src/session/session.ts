import { pieceSize } from '../metainfo/index.js';
import type { Metainfo } from '../metainfo/types.js';
import { type PeerConnection, type PeerHost, UT_PEX_ID } from '../peer/connection.js';
import { RateMeter, type TokenBucket } from '../peer/rate.js';
import { PiecePicker } from '../picker/index.js';
import { Bitfield } from '../shared/bitfield.js';
import type { Clock } from '../shared/clock.js';
import type { BufferPool, Env, Random } from '../shared/env.js';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import { TypedEmitter } from '../shared/events.js';
import { LIMITS } from '../shared/limits.js';
import { nodeEnv } from '../shared/node-env.js';
import type { SessionMode } from '../shared/status.js';
import { formatAddress, normaliseIp } from '../shared/types.js';
import { PieceBufferPool } from '../storage/buffer-pool.js';
import type { PieceHasher, Storage } from '../storage/index.js';
import { type TrackerAnswer, TrackerClient } from '../tracker/client/index.js';
import type { AnnounceResult, TrackerPeer } from '../tracker/protocol/index.js';
import { metadataPieceMessage, type WireMessage } from '../wire/index.js';
import { type Announcer, Announcing, PEERLESS_ASK_MS } from './announcing.js';
import { Choking, RECHOKE_MS } from './choking.js';
import { Dialling } from './dialling.js';
import { Exchanging } from './exchanging.js';
import { ManualMoves } from './manual.js';
import { PeerBook } from './peer-book.js';
import { Requesting } from './requesting.js';
import { Serving } from './serving.js';
import { Verifying } from './verifying.js';
import { WebSeeding } from './web-seeding.js';

export type { SessionMode } from '../shared/status.js';

/**
 * What a session tells its front ends (shell, progress, pages, lessons): plain values only — a peer is its
 * address (`ip:port` it listens on, as torrentStatus lists it) — so none of them holds a live connection.
 */
export type SessionEvents = {
  'peer-connected': [address: string, client: string];
  /** A connected peer left, under the address it connected with (its 'peer-connected' one). */
  'peer-disconnected': [address: string, reason: string];
  'piece-verified': [index: number, from: string | undefined];
  'piece-failed': [index: number, peers: string[]];
  'peer-have': [address: string, index: number];
  suggest: [address: string, index: number];
  announce: [result: AnnounceResult & { url: string }];
  /** No tracker answered; the next try is `retryInMs` away. */
  'announce-failed': [reason: string, retryInMs: number];
  complete: [];
  /** Every wanted piece is verified: the whole torrent, or the files selected. Once. */
  done: [];
  warning: [message: string];
  /** A peer misbehaved once too often (bad data, blocks never asked for): refused from now on. */
  'peer-banned': [address: string, why: string];
  /** The session cannot go on downloading (storage failed); what was verified stays. */
  error: [message: string];
  paused: [paused: boolean];
  /**
   * A seeder past its first pass stood aside (true: its leechers relay well without it, and it serves only
   * those that get nothing elsewhere) or stepped back in (false).
   */
  'standing-aside': [aside: boolean];
  /**
   * Past `done`, the last peer that wanted a piece of ours stopped wanting any (it finished, or left): we have
   * nothing to send until someone asks. Once for each time peers wanted something and then nobody did.
   */
  'all-served': [];
  /** The wanted pieces changed (a live file selection): see setPriorities. */
  wanted: [];
};

/** The connections themselves, for the session's own parts (dialling) and tests that script a peer. */
export type ConnectionEvents = {
  ready: [peer: PeerConnection];
  closed: [peer: PeerConnection, reason: string];
};

export interface SessionOptions {
  readonly metainfo: Metainfo;
  readonly storage: Storage;
  readonly have: Bitfield;
  readonly peerId: Buffer;
  readonly listenPort: number;
  readonly mode: SessionMode;
  readonly hasher: PieceHasher;
  readonly uploadBucket: TokenBucket;
  readonly downloadBucket: TokenBucket;
  readonly maxPeers?: number;
  /** Connections we open ourselves, at most (default: half of `maxPeers`; see `dialLimit`). */
  readonly dialLimit?: number;
  /** Address to announce in place of the socket's (NAT). */
  readonly announceIp?: string;
  /** Unchoke slots for tit-for-tat; the shell unchokes every interested peer. */
  readonly uploadSlots?: number;
  /** Called before a new outgoing connection: false when the process-wide budget is spent. */
  readonly mayConnect?: () => boolean;
  /** Clock, randomness and network (default: Node's). */
  readonly env?: Env;
  /** The torrent's trackers (default: a TrackerClient over the metainfo's announce list). */
  readonly announcer?: Announcer;
  /** Per-piece priority (0: not wanted, a file left out with --select; see picker.setPriorities). */
  readonly priorities?: ArrayLike<number>;
  /**
   * While seeding, steer leechers to pieces nobody has been sent yet and unchoke every interested one until
   * each piece went out once (see distributor.ts). Default true; false leaves plain tit-for-tat (the simulator
   * compares the two).
   */
  readonly superSeed?: boolean;
}

const REDIAL_KNOWN_MS = 30_000;
const REDIAL_ALONE_MS = 5_000;
/**
 * A connection younger than this is never closed to make room for a newcomer (see #makeRoomFor): less than
 * REDIAL_ALONE_MS, so a newcomer refused by every full peer gets in at its first redial. At 10 s the
 * redial at 10 s found the connections made at 0.1 s still too young, and the last 3 leechers of a
 * 300-peer flash crowd held no connection for 15 s, then finished last.
 */
const ROOM_AFTER_MS = 4_000;
/** At most one connection closed for a newcomer in this long, per torrent. */
const ROOM_EVERY_MS = 1_000;

/** A piece whose blocks are arriving: its buffer and who sent them. */
export interface PendingPiece {
  data: Buffer;
  contributors: Set<string>;
}

/** Suggestions (BEP 6) kept per peer: a peer that floods them cannot make us hold more. */
const MAX_SUGGESTED = 64;

/**
 * One torrent: its peers, the picker, storage and trackers. Each concern lives in its own file and object —
 * announcing, dialling, requesting, serving, verifying, choking, the shell's manual moves — over the state
 * kept here. The shell, the progress bars and the web page watch `events`; none of them reaches into peers.
 */
export class TorrentSession implements PeerHost {
  readonly events = new TypedEmitter<SessionEvents>();
  readonly connections = new TypedEmitter<ConnectionEvents>();
  readonly metainfo: Metainfo;
  readonly storage: Storage;
  readonly picker: PiecePicker;
  readonly peers = new Map<string, PeerConnection>();
  /** The connected peers by peer id (latin1), for the one-connection-per-id rule without a scan. */
  readonly #byPeerId = new Map<string, PeerConnection>();
  /**
   * The address each connection was announced under ('peer-connected'): its 'peer-disconnected' says the
   * same one, even where the listen port became known only later, so a log pairs the two lines.
   */
  readonly #announcedAs = new Map<PeerConnection, string>();
  /**
   * Connections of BEP 10 peers, announced at their first message: the extension handshake that comes first
   * says the client's name and version, and for a peer that dialled us the port it listens on (the address
   * a user started it with, where the connection's own source port is one the system picked).
   */
  readonly #unannounced = new Set<PeerConnection>();
  #lastRoomMade = Number.NEGATIVE_INFINITY;
  readonly env: Env;
  readonly clock: Clock;
  readonly random: Random;
  readonly down: RateMeter;
  readonly up: RateMeter;
  readonly peerId: Buffer;
  readonly startedAt: number;
  readonly hasher: PieceHasher;
  readonly uploadBucket: TokenBucket;
  readonly downloadBucket: TokenBucket;
  readonly buffers: BufferPool;
  readonly maxPeers: number;
  /**
   * We dial while we hold fewer connections than this, and accept peers that dial us up to `maxPeers`: the
   * rest of the limit is room for peers that come later (the original client's 40 initiated, 80 allowed
   * in). When every peer dialled up to its whole limit, a flash crowd's first arrivals filled their slots
   * with one another: the seeder's 80 neighbours in a 300-peer swarm had 62 of their 79 connections among
   * themselves, and the pieces reached the other 220 through 15 connections each.
   */
  readonly dialLimit: number;
  readonly uploadSlots: number;
  readonly announceIp: string | undefined;
  readonly mayConnect: (() => boolean) | undefined;
  /** There is someone to announce to: the torrent names trackers, or an announcer was given. */
  readonly hasTrackers: boolean;
  readonly superSeed: boolean;
  mode: SessionMode;
  listenPort: number;
  /** Peers the tracker told us about (latest reply), with the chunk status chunkswarm trackers add. */
  knownPeers: TrackerPeer[] = [];
  /** Every peer heard of, kept past the answer that named it (see peer-book.ts). */
  readonly book = new PeerBook();
  paused = false;
  completedAt: number | undefined;
  uploaded = 0;
  downloaded = 0;
  hashFailures = 0;
  /** Set when the session had to stop downloading. */
  failure: string | undefined;
  stopped = false;
  /** 'done' was emitted (or the torrent was done when it opened). */
  doneEmitted = false;
  /** Ways to find peers besides the trackers (the DHT): asked again when the torrent runs out of peers. */
  readonly peerFinders: { lookupNow(): void }[] = [];

  readonly announcing: Announcing;
  readonly dialling: Dialling;
  readonly requesting: Requesting;
  readonly serving: Serving;
  readonly verifying: Verifying;
  readonly choking: Choking;
  readonly manual: ManualMoves;
  readonly exchanging: Exchanging;
  readonly webSeeding: WebSeeding;

  readonly #waiters = new Set<() => void>();
  readonly #onStop: (() => void)[] = [];

  constructor(opts: SessionOptions) {
    this.env = opts.env ?? nodeEnv;
    this.clock = this.env.clock;
    this.random = this.env.random;
    this.buffers = this.env.pieceBuffers ?? new PieceBufferPool();
    this.metainfo = opts.metainfo;
    this.storage = opts.storage;
    this.peerId = opts.peerId;
    this.mode = opts.mode;
    this.listenPort = opts.listenPort;
    this.hasher = opts.hasher;
    this.uploadBucket = opts.uploadBucket;
    this.downloadBucket = opts.downloadBucket;
    this.maxPeers = opts.maxPeers ?? LIMITS.maxPeersPerTorrent;
    this.dialLimit = Math.min(this.maxPeers, opts.dialLimit ?? Math.ceil(this.maxPeers / 2));
    this.uploadSlots = opts.uploadSlots ?? 4;
    this.announceIp = opts.announceIp;
    this.mayConnect = opts.mayConnect;
    this.superSeed = opts.superSeed ?? true;
    this.startedAt = this.clock.now();
    this.#usefulAt = this.startedAt;
    this.#lastRedial = this.startedAt;
    this.down = new RateMeter(this.clock);
    this.up = new RateMeter(this.clock);
    this.picker = new PiecePicker(opts.metainfo, { have: opts.have, random: () => this.random.next() });
    if (opts.priorities) this.picker.setPriorities(opts.priorities);
    this.hasTrackers = opts.announcer !== undefined || opts.metainfo.announceList.length > 0;
    const announcer =
      opts.announcer ??
      new TrackerClient({
        tiers: opts.metainfo.announceList,
        infoHash: opts.metainfo.infoHash,
        peerId: opts.peerId,
        port: opts.listenPort,
      });
    this.announcing = new Announcing(this, announcer);
    this.dialling = new Dialling(this);
    this.requesting = new Requesting(this);
    this.serving = new Serving(this);
    this.verifying = new Verifying(this);
    this.choking = new Choking(this);
    this.manual = new ManualMoves(this);
    this.exchanging = new Exchanging(this);
    this.webSeeding = new WebSeeding(this);
    if (opts.have.complete) this.completedAt = this.startedAt;
    this.doneEmitted = this.done;
  }

  get infoHash(): Buffer {
    return this.metainfo.infoHash;
  }

  get pieceCount(): number {
    return this.metainfo.pieceCount;
  }

  get have(): Bitfield {
    return this.picker.have;
  }

  get complete(): boolean {
    return this.have.complete;
  }

  /** Every wanted piece is verified (all of them, unless some files were left out). */
  get done(): boolean {
    return this.have.complete || this.picker.wantedMissingCount() === 0;
  }

  /** Bytes of every piece not verified yet: what a tracker is told is left, whatever the selection. */
  get left(): number {
    return this.#unverifiedBytes(false);
  }

  /** Bytes of the wanted pieces not verified yet: what a download still has to write (`left` without a selection). */
  get wantedLeft(): number {
    return this.#unverifiedBytes(true);
  }

  #unverifiedBytes(wantedOnly: boolean): number {
    let bytes = 0;
    for (let i = 0; i < this.metainfo.pieceCount; i++)
      if (!this.have.has(i) && (!wantedOnly || this.picker.priority(i) > 0))
        bytes += pieceSize(this.metainfo, i);
    return bytes;
  }

  haveBits(): Bitfield {
    return this.have;
  }

  /** Peer exchange is offered, except for a private torrent (BEP 27). */
  get pex(): boolean {
    return !this.metainfo.private;
  }

  /** Whether our suggestions steer (`cs_steer` in our extension handshake): see Choking.steering. */
  get steering(): boolean | undefined {
    return this.choking.steering;
  }

  /**
   * The info dictionary's size, offered to peers that came with a magnet link (BEP 9). Not for a private
   * torrent: its info dictionary should travel only in its .torrent file (libtorrent holds back the same way).
   */
  get metadataSize(): number | undefined {
    return this.metainfo.private ? undefined : this.metainfo.infoBytes.length;
  }

  /** Serves a piece of the metadata: the exact info bytes of the torrent, whose SHA-1 is the infohash. */
  onMetadataRequest(peer: PeerConnection, piece: number): void {
    peer.sendMetadata(metadataPieceMessage(this.metainfo.infoBytes, piece));
  }

  start(): void {
    this.onStop(this.clock.setInterval(() => this.#tick(), 1000));
    this.onStop(this.clock.setInterval(() => this.choking.rechoke(), RECHOKE_MS));
    this.webSeeding.start();
  }

  /** Runs `fn` when the session stops (a timer to cancel). */
  onStop(fn: () => void): void {
    this.#onStop.push(fn);
  }

  // ---- trackers (announcing.ts) ----

  get trackerConnected(): boolean {
    return this.announcing.active;
  }

  get lastAnnounce(): TrackerAnswer | undefined {
    return this.announcing.last;
  }

  announce(
    event?: 'started' | 'completed' | 'stopped',
    opts: { status?: boolean } = {},
  ): Promise<TrackerAnswer> {
    return this.announcing.announce(event, opts);
  }

  /**
   * Announce `started` and keep announcing (at the tracker's interval; with backoff while no tracker
   * answers). Rejects when the first announce fails; the retries go on.
   */
  connectTracker(opts: { status?: boolean } = {}): Promise<TrackerAnswer> {
    // A trackerless torrent (found through the DHT and PEX) has nobody to announce to: nothing to retry.
    if (!this.hasTrackers)
      return Promise.reject(new ChunkswarmError('ETRACKER_UNREACHABLE', 'the torrent names no tracker'));
    return this.announcing.start(opts);
  }

  disconnectTracker(): void {
    this.announcing.stop();
  }

  // ---- connections (dialling.ts) ----

  dialKnownPeers(): void {
    this.dialling.dial(this.knownPeers);
  }

  dialUntilComplete(peers: readonly { ip: string; port: number }[]): void {
    this.dialling.dialUntilComplete(peers);
  }

  isConnectedTo(ip: string, port: number): PeerConnection | undefined {
    return this.dialling.isConnectedTo(ip, port);
  }

  connect(ip: string, port: number): Promise<PeerConnection> {
    return this.dialling.connect(ip, port);
  }

  refusal(peer: PeerConnection): string | undefined {
    // A dial in progress holds its place (as a half-open connection does in libtorrent): in a flash crowd,
    // peers dialling in would otherwise fill the last slots first, and our own dial to the seeder, the one
    // that mattered, would be closed as one too many when it completes.
    const reserved = peer.outgoing ? 0 : this.dialling.pending;
    if (this.stopped) return 'too many peers';
    if (this.verifying.isBanned(peer.peerAddress)) return 'banned';
    if (this.peers.size + reserved >= this.maxPeers && (peer.outgoing || !this.#makeRoomFor(peer)))
      return 'too many peers';
    return undefined;
  }

  /**
   * A peer dialled in while every slot is taken: close one idle connection for it, if there is one. In a
   * swarm whose peers are all full (a flash crowd larger than the peer limit), a newcomer was refused by
   * every peer its tracker named and held no connection until others finished: in a 300-peer flash crowd
   * the last 3 to join had none for 45 s and more. Idle: connected for ROOM_AFTER_MS, nothing asked
   * either way, choked both ways. At most one such swap per ROOM_EVERY_MS, so newcomers cannot churn a
   * torrent's connections.
   */
  #makeRoomFor(peer: PeerConnection): boolean {
    const now = this.clock.now();
    if (now - this.#lastRoomMade < ROOM_EVERY_MS) return false;
    let idlest: PeerConnection | undefined;
    for (const p of this.peers.values()) {
      if (p === peer || now - p.connectedAt < ROOM_AFTER_MS) continue;
      if (!p.amChoking || !p.peerChoking || p.inFlight.size > 0 || p.pendingRequests.size > 0) continue;
      if (!idlest || p.lastPiece < idlest.lastPiece) idlest = p;
    }
    if (!idlest) return false;
    this.#lastRoomMade = now;
    idlest.close('room for a newcomer: every slot was taken');
    return true;
  }

  onReady(peer: PeerConnection): void {
    const refused = this.refusal(peer);
    if (refused !== undefined) {
      peer.close(refused);
      return;
    }
    // One connection per peer id. When both sides dialled at once, both must keep the same one, or each
    // closes the connection the other kept: the one dialled by the side with the lower peer id stays.
    const id = peer.remote?.peerId.toString('latin1');
    const other = id === undefined ? undefined : this.#byPeerId.get(id);
    if (other && peer.remote && this.peers.get(other.address) === other) {
      const keepOutgoing = Buffer.compare(this.peerId, peer.remote.peerId) < 0;
      if (peer.outgoing === other.outgoing || other.outgoing === keepOutgoing) {
        peer.close('duplicate connection');
        return;
      }
      other.close('duplicate connection');
    }
    this.peers.set(peer.address, peer);
    if (id !== undefined) this.#byPeerId.set(id, peer);
    this.picker.addPeer(peer.address, this.bitsOf(peer));
    this.connections.emit('ready', peer);
    // A magnet's connections come with their extension handshake already read.
    if (peer.remote?.extended && peer.extension === undefined) this.#unannounced.add(peer);
    else this.#announce(peer);
  }

  #announce(peer: PeerConnection): void {
    this.#announcedAs.set(peer, peer.peerAddress);
    this.events.emit('peer-connected', peer.peerAddress, peer.clientName);
  }

  /**
   * Connections a magnet's metadata fetch made (or accepted) join this session as they are: what each peer
   * said it held before the piece count was known is checked now, and it hears what we hold.
   */
  adopt(connections: readonly PeerConnection[]): void {
    for (const conn of connections) {
      if (conn.closed) continue;
      try {
        conn.adoptPieceCount(this.pieceCount);
      } catch (err) {
        conn.close(`protocol error: ${describeError(err)}`);
        continue;
      }
      conn.host = this;
      this.onReady(conn);
      if (conn.closed) continue;
      // It heard HAVE NONE (or nothing) while we knew no pieces: HAVEs now for what resume data found.
      for (let i = 0; i < this.pieceCount; i++) if (this.have.has(i)) conn.send({ type: 'have', index: i });
      // BEP 10 lets a later handshake update the first: now with the metadata's size, for others' magnets.
      conn.sendExtensionHandshake();
      this.exchanging.onExtensionHandshake(conn);
      this.requesting.updateInterest(conn);
    }
  }

  onClose(peer: PeerConnection, reason: string): void {
    if (this.peers.get(peer.address) === peer) {
      this.peers.delete(peer.address);
      const id = peer.remote?.peerId.toString('latin1');
      if (id !== undefined && this.#byPeerId.get(id) === peer) this.#byPeerId.delete(id);
      this.picker.removePeer(peer.address);
      this.choking.forget(peer);
      this.serving.stopServing(peer);
    }
    // Remembered with what it held, so a seeder does not dial a seed again and anyone can dial it back.
    if (peer.listenPort !== undefined) {
      this.book.heard(peer.ip, peer.listenPort, { seed: peer.isSeeder });
      if (peer.closedByPeer) this.book.leftUs(formatAddress(peer.ip, peer.listenPort), this.clock.now());
    }
    this.connections.emit('closed', peer, reason);
    this.#unannounced.delete(peer);
    const announced = this.#announcedAs.get(peer);
    if (announced !== undefined) {
      this.#announcedAs.delete(peer);
      this.events.emit('peer-disconnected', announced, reason);
    }
    this.wake();
  }

  /**
   * Whether some connected peer has a piece we lack and still answers. Peers that have nothing we lack, or
   * went silent (a crashed seeder stays connected until its idle timeout), are as good as none.
   */
  hasUsefulPeer(): boolean {
    for (const p of this.peers.values())
      if (!this.requesting.isSilent(p) && this.picker.interesting(this.bitsOf(p))) return true;
    return false;
  }

  bitsOf(peer: PeerConnection): Bitfield {
    peer.bits ??= new Bitfield(this.pieceCount);
    return peer.bits;
  }

  // ---- messages ----

  onMessage(peer: PeerConnection, m: WireMessage): void {
    if (this.#unannounced.size > 0 && this.#unannounced.delete(peer)) this.#announce(peer);
    switch (m.type) {
      case 'bitfield':
      case 'have-all':
      case 'have-none':
        this.picker.removePeer(peer.address);
        this.picker.addPeer(peer.address, this.bitsOf(peer));
        this.choking.onBitfield(peer);
        this.requesting.updateInterest(peer);
        this.#partIfBothSeeding(peer);
        break;
      case 'have':
        this.choking.onHave(m.index, peer);
        this.picker.peerHave(peer.address, m.index);
        if (this.events.listens('peer-have')) this.events.emit('peer-have', peer.peerAddress, m.index);
        this.requesting.updateInterest(peer);
        this.#partIfBothSeeding(peer, true);
        break;
      case 'unchoke':
        this.requesting.fill(peer);
        break;
      case 'choke':
        // Without the fast extension a choke cancels everything in flight (BEP 3); with it, REJECTs say so.
        if (!peer.fast) this.requesting.dropRequests(peer);
        break;
      case 'interested':
        this.choking.onInterested(peer);
        break;
      case 'not-interested':
        this.choking.onNotInterested(peer);
        break;
      case 'request':
        this.serving.onRequest(peer, m);
        break;
      case 'piece':
        this.requesting.onBlock(peer, m.index, m.begin, m.block);
        break;
      case 'reject':
        if (peer.forget(m)) this.picker.requestEnded(peer.address, m);
        this.requesting.fill(peer);
        break;
      case 'suggest':
        // A piece of a file left out (--select) is no use to us, however a seeder steers.
        if (m.index >= this.pieceCount || this.have.has(m.index) || this.picker.priority(m.index) === 0)
          break;
        this.events.emit('suggest', peer.peerAddress, m.index);
        if (this.mode === 'auto') {
          peer.lastSuggestAt = this.clock.now();
          // Pieces fetched and waiting to be hashed need no steering: kept, they filled the list while
          // hashing lagged, the seeder's next suggestions were dropped, and we idled waiting for them.
          if (peer.suggested.size >= MAX_SUGGESTED) this.requesting.pruneSuggested(peer);
          if (peer.suggested.size < MAX_SUGGESTED) peer.suggested.add(m.index);
          this.requesting.fill(peer);
        } else if (this.mode === 'manual') this.manual.onSuggest(peer, m.index);
        break;
      case 'extended':
        // An incoming peer names the port it listens on, the address its strikes and ban are kept under,
        // only in its extension handshake (BEP 10), after onReady: check the ban again now.
        if (m.id === 0 && this.verifying.isBanned(peer.peerAddress)) peer.close('banned');
        else if (m.id === 0) {
          this.exchanging.onExtensionHandshake(peer);
          // A seeder whose first pass ended (cs_steer 0) may be asked for anything now.
          if (this.mode === 'auto' && peer.extension?.steering === false) this.requesting.fill(peer);
        } else if (m.id === UT_PEX_ID) this.exchanging.onMessage(peer, m.payload);
        break;
      default:
        break;
    }
  }

  /**
   * Two seeders have nothing to trade: a connection to a seed is closed at our own completion, at its
   * bitfield (we met after both finished), or at the HAVE of its last piece when we dialled it, and the book
   * remembers it as a seed. Else a seeder that dials leechers it heard of would keep each one that finished
   * meanwhile, a slot held for nothing. A peer that dialled us and then finished decides for itself: a
   * shell keeps its connections for the user to see, and so does a shell of ours (`/request_download` of a
   * bad chunk still gets its answer from the seeder it downloaded from).
   */
  #partIfBothSeeding(peer: PeerConnection, lastHave = false): void {
    if (!this.complete || !peer.isSeeder || this.mode === 'manual' || (lastHave && !peer.outgoing)) return;
    // It wants nothing now: its slot moves on as at a NOT INTERESTED, which would come after this HAVE.
    this.choking.onNotInterested(peer);
    peer.close('both seeding');
  }

  /** The last piece was verified: tell the trackers, drop interest, and let two seeders part. */
  onComplete(): void {
    this.completedAt = this.clock.now();
    this.events.emit('complete');
    if (this.announcing.reachable) this.announce('completed').catch(() => {});
    for (const p of this.peers.values()) {
      p.setInterested(false);
      this.#partIfBothSeeding(p);
    }
    // As a seeder it ranks peers by what they lack (Choking): its slots move now, not at the next rechoke.
    this.choking.rechoke();
  }

  // ---- the shell's moves (manual.ts) ----

  // A front end names a peer by its address as torrentStatus lists it, and never holds its connection.

  /** The address (as status lists it) of the connected peer listening at ip:port, if there is one. */
  connectedAddress(ip: string, port: number): string | undefined {
    return this.isConnectedTo(normaliseIp(ip), port)?.peerAddress;
  }

  /** Dials ip:port (or finds the connection already there); resolves with the peer's address. */
  async connectPeer(ip: string, port: number): Promise<string> {
    return (await this.connect(ip, port)).peerAddress;
  }

  /** The pieces a connected peer holds, as a copy; undefined when it is not connected. */
  piecesOf(address: string): Bitfield | undefined {
    const peer = this.#peerAt(address);
    return peer && this.bitsOf(peer).clone();
  }

  async fetchPiece(address: string, index: number, timeoutMs?: number): Promise<void> {
    return this.manual.fetchPiece(this.#connectedAt(address), index, timeoutMs);
  }

  async offerPiece(address: string, index: number, timeoutMs?: number): Promise<boolean> {
    return this.manual.offerPiece(this.#connectedAt(address), index, timeoutMs);
  }

  /** Closes the connection to a peer; false when it was not connected. */
  disconnectPeer(address: string, reason: string): boolean {
    const peer = this.#peerAt(address);
    peer?.close(reason);
    return peer !== undefined;
  }

  #peerAt(address: string): PeerConnection | undefined {
    for (const p of this.peers.values()) if (p.peerAddress === address) return p;
    return undefined;
  }

  #connectedAt(address: string): PeerConnection {
    const peer = this.#peerAt(address);
    if (!peer) throw new ChunkswarmError('EPEER', `Peer[${address}] is not connected`);
    return peer;
  }

  setMode(mode: SessionMode): void {
    this.mode = mode;
    for (const p of this.peers.values()) this.requesting.updateInterest(p);
  }

  /**
   * Changes which pieces are wanted while the torrent runs (a new file selection): requests the engine made
   * for pieces no longer wanted are cancelled (the shell's own fetches are left to finish), each peer's
   * interest follows, and `done` fires again once the new set is verified.
   */
  setPriorities(priorities: ArrayLike<number>): void {
    this.picker.setPriorities(priorities);
    for (const p of this.peers.values()) {
      for (const { block } of [...p.inFlight.values()]) {
        if (this.mode !== 'auto' || this.picker.priority(block.index) !== 0) continue;
        p.cancel(block);
        this.picker.requestEnded(p.address, block);
      }
      this.requesting.updateInterest(p);
    }
    const wasDone = this.doneEmitted;
    this.doneEmitted = this.done;
    this.events.emit('wanted');
    if (this.done && !wasDone) this.events.emit('done');
  }

  setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    for (const p of this.peers.values()) {
      if (paused) {
        for (const { block } of [...p.inFlight.values()]) {
          p.cancel(block);
          this.picker.requestEnded(p.address, block);
        }
        p.setInterested(false);
        p.setChoking(true);
      } else this.requesting.updateInterest(p);
    }
    this.events.emit('paused', paused);
  }

  // ---- waiting ----

  /** Resolves when `cond` holds; re-checked on every verified piece, HAVE, choke change and disconnect. */
  until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (cond()) return Promise.resolve();
    const deadline = this.clock.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (cond()) {
          done();
          resolve();
        } else if (this.clock.now() >= deadline) {
          done();
          reject(new ChunkswarmError('ETIMEOUT', what));
        }
      };
      const cancelTimer = this.clock.setInterval(check, 50);
      const offs = [
        this.events.on('peer-have', check),
        this.events.on('piece-verified', check),
        this.events.on('piece-failed', check),
        this.events.on('peer-disconnected', check),
      ];
      this.#waiters.add(check);
      const done = (): void => {
        cancelTimer();
        for (const off of offs) off();
        this.#waiters.delete(check);
      };
    });
  }

  wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }

  #tick(): void {
    const useful = !this.done && this.hasUsefulPeer();
    if (this.done || useful) this.#usefulAt = this.clock.now();
    this.requesting.tick();
    this.exchanging.tick();
    this.choking.tick();
    const wanted = this.done && this.interestedCount() > 0;
    if (this.#wanted && !wanted && this.done) this.events.emit('all-served');
    this.#wanted = wanted;
    this.announcing.tick(this.done ? wanted : useful);
    this.#redialKnown();
    this.wake();
  }

  /** When we last had what we want or a connected peer with a piece we lack (see `starving`); set at the start. */
  #usefulAt: number;
  /** Done, and some peer wanted a piece of ours at the last tick (see 'all-served'). */
  #wanted = false;

  /**
   * Downloading, with no connected peer that has a piece we lack for PEERLESS_ASK_MS: then we dial up to
   * the whole peer limit, not only the dial limit. Leechers that met one another before any of them held
   * a piece must still reach a seeder that comes later, however many useless connections they hold.
   */
  get starving(): boolean {
    return !this.done && this.clock.now() - this.#usefulAt >= PEERLESS_ASK_MS;
  }

  /** Set at the start, not left at the clock's zero: the first redial comes REDIAL_ALONE_MS after it. */
  #lastRedial: number;

  /**
   * Peers in the book (every one the trackers, PEX and past connections named) that we are not connected to
   * are dialled again:
   * - every 30 s while downloading below the dial limit: in a flash crowd a leecher can fill up with incoming
   *   peers, close its own dial to the seeder as one too many, and then never hear of it again before the
   *   next announce;
   * - with no connection at all, every 5 s: every peer it knows may have been full when it first dialled (a
   *   tracker's minimum interval can keep it from asking for others for many minutes), and a full peer makes
   *   room for it only once one of its connections has been idle a while (#makeRoomFor);
   * - every second while seeding with fewer interested peers than upload slots, known seeds and peers that
   *   left us lately left out:
   *   leechers fill their slots with one another, and a seeder whose first neighbours finished sat with no
   *   connection while the rest of the swarm still downloaded (40 leechers of at most 12 peers each: idle
   *   from 8 s to 17 s). Every 5 s it still idled a second or more between the leechers it reached finishing
   *   and its next dials.
   * An address whose dial failed waits longer before each next one (PeerBook), so a full peer is not
   * hammered.
   */
  #redialKnown(): void {
    const now = this.clock.now();
    if (this.mode === 'manual' || this.paused) return;
    if (this.complete) {
      if (this.interestedCount() >= this.uploadSlots) return;
    } else if (
      this.mode !== 'auto' ||
      now - this.#lastRedial < (this.peers.size === 0 ? REDIAL_ALONE_MS : REDIAL_KNOWN_MS)
    )
      return;
    this.#lastRedial = now;
    this.dialling.dialNow(this.book.dialable(now, { seeding: this.complete }), 'tracker');
  }

  /** Peers that want something of ours. */
  interestedCount(): number {
    let n = 0;
    for (const p of this.peers.values()) if (p.peerInterested) n++;
    return n;
  }

  // ---- shutdown ----

  async stop(opts: { announce?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const cancel of this.#onStop) cancel();
    for (const p of [...this.peers.values()]) p.close('session stopped');
    // Chunks being hashed or written as the peers went are let finish: what was verified is then on disk,
    // and resume data saved after stop() stays true.
    await this.until(() => this.verifying.inProgress === 0, 10_000, '').catch(() => {});
    if (opts.announce !== false) await this.announcing.leave();
    else this.announcing.stop();
  }
}
