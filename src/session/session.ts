import { connect as netConnect } from 'node:net';
import { pieceSize } from '../metainfo/index.js';
import type { Metainfo } from '../metainfo/types.js';
import {
  PeerConnection as Connection,
  normaliseIp,
  type PeerConnection,
  type PeerHost,
} from '../peer/connection.js';
import { RateMeter, type TokenBucket } from '../peer/rate.js';
import { type BlockRef, PiecePicker } from '../picker/index.js';
import { Bitfield } from '../shared/bitfield.js';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import { TypedEmitter } from '../shared/events.js';
import { LIMITS } from '../shared/limits.js';
import { formatAddress } from '../shared/types.js';
import { type CachedBlock, type PieceHasher, PieceReadCache, type Storage } from '../storage/index.js';
import type { AnnounceResult, TrackerPeer } from '../tracker/index.js';
import { TrackerClient } from '../tracker/index.js';
import { metadataPieceMessage, type WireMessage } from '../wire/index.js';
import { PieceBufferPool } from './buffer-pool.js';
import { admit, rechoke } from './choker.js';
import { SeedDistributor } from './distributor.js';

/**
 * How a session moves data. `auto`: the engine fetches everything (download); `manual`: only what the
 * shell asks for (`/request_download`, an offer, `/auto_download` switches to auto); `seed`: serve only.
 */
export type SessionMode = 'auto' | 'manual' | 'seed';

export type SessionEvents = {
  'peer-connected': [peer: PeerConnection];
  'peer-disconnected': [peer: PeerConnection, reason: string];
  'piece-verified': [index: number, from: string | undefined];
  'piece-failed': [index: number, peers: string[]];
  'peer-have': [peer: PeerConnection, index: number];
  suggest: [peer: PeerConnection, index: number];
  announce: [result: AnnounceResult & { url: string }];
  'announce-failed': [reason: string];
  complete: [];
  warning: [message: string];
  /** A peer misbehaved once too often (bad data, blocks never asked for): refused from now on. */
  'peer-banned': [address: string, why: string];
  /** The session cannot go on downloading (storage failed); what was verified stays. */
  error: [message: string];
  paused: [paused: boolean];
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
  /** Address to announce in place of the socket's (NAT). */
  readonly announceIp?: string;
  /** Unchoke slots for tit-for-tat; the shell unchokes every interested peer. */
  readonly uploadSlots?: number;
  /** Called before a new outgoing connection: false when the process-wide budget is spent. */
  readonly mayConnect?: () => boolean;
}

interface PendingPiece {
  data: Buffer;
  contributors: Set<string>;
}

const REQUEST_TIMEOUT_MS = 20_000;
const STEER_GRACE_MS = 3_000;
/** Requests served per turn of a serving loop: 64 KiB of blocks per write. */
const SERVE_BATCH = 4;
/** Blocks a peer's queue must have room for before it is topped up (unless it is nearly empty). */
const FILL_BATCH = 8;
const SNUB_MS = 60_000;
const REDIAL_MS = 15_000;
const RECHOKE_MS = 10_000;
const OPTIMISTIC_EVERY = 3; // rechokes: 30 s

/**
 * One torrent: its peers, the picker, storage and tracker client. The shell, the progress bars and the
 * web page watch `events`; none of them reaches into the peers.
 */
export class TorrentSession implements PeerHost {
  readonly events = new TypedEmitter<SessionEvents>();
  readonly metainfo: Metainfo;
  readonly storage: Storage;
  readonly picker: PiecePicker;
  readonly peers = new Map<string, PeerConnection>();
  readonly down = new RateMeter();
  readonly up = new RateMeter();
  readonly peerId: Buffer;
  readonly startedAt = Date.now();
  mode: SessionMode;
  listenPort: number;
  tracker: TrackerClient;
  trackerConnected = false;
  lastAnnounce: (AnnounceResult & { url: string }) | undefined;
  /** Peers the tracker told us about (latest reply), with the chunk status chunkswarm trackers add. */
  knownPeers: TrackerPeer[] = [];
  paused = false;
  completedAt: number | undefined;
  uploaded = 0;
  downloaded = 0;
  hashFailures = 0;
  /** Set when the session had to stop downloading. */
  failure: string | undefined;

  readonly #opts: SessionOptions;
  readonly #cache: PieceReadCache;
  readonly #buffers = new PieceBufferPool();
  readonly #toFill = new Set<PeerConnection>();
  readonly #distributor: SeedDistributor;
  readonly #pending = new Map<number, PendingPiece>();
  readonly #verifying = new Set<number>();
  readonly #serving = new Set<PeerConnection>();
  readonly #strikes = new Map<string, number>();
  readonly #banned = new Set<string>();
  readonly #dialing = new Set<string>();
  readonly #waiters = new Set<() => void>();
  #optimistic: string | undefined;
  #rechokes = 0;
  #timers: NodeJS.Timeout[] = [];
  #announceTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(opts: SessionOptions) {
    this.#opts = opts;
    this.metainfo = opts.metainfo;
    this.storage = opts.storage;
    this.peerId = opts.peerId;
    this.mode = opts.mode;
    this.listenPort = opts.listenPort;
    this.picker = new PiecePicker(opts.metainfo, { have: opts.have });
    this.#cache = new PieceReadCache(opts.storage);
    this.#distributor = new SeedDistributor(opts.metainfo.pieceCount, (i) => pieceSize(opts.metainfo, i));
    this.tracker = new TrackerClient({
      tiers: opts.metainfo.announceList,
      infoHash: opts.metainfo.infoHash,
      peerId: opts.peerId,
      port: opts.listenPort,
    });
    if (opts.have.complete) this.completedAt = Date.now();
  }

  get downloadBucket(): TokenBucket {
    return this.#opts.downloadBucket;
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

  get left(): number {
    let left = 0;
    for (let i = 0; i < this.metainfo.pieceCount; i++)
      if (!this.have.has(i)) left += pieceSize(this.metainfo, i);
    return left;
  }

  haveBits(): Bitfield {
    return this.have;
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
    this.#timers.push(setInterval(() => this.#tick(), 1000));
    this.#timers.push(setInterval(() => this.#rechoke(), RECHOKE_MS));
    for (const t of this.#timers) t.unref();
  }

  // ---- tracker ----

  /**
   * Announce to every tier of trackers at once, peers merged from all that answer; with `status` the reply
   * lists every peer's chunks (chunkswarm trackers).
   */
  async announce(
    event?: 'started' | 'completed' | 'stopped',
    opts: { status?: boolean } = {},
  ): Promise<AnnounceResult & { url: string }> {
    const extras: Record<string, string> = {
      cs_pieces: String(this.pieceCount),
      cs_name: this.metainfo.name,
    };
    const bits = Buffer.from(this.have.bytes).toString('base64url');
    // Keep the URL under the tracker's 8 KiB request cap: large torrents send only the count.
    if (bits.length < 6000) extras.cs_bitfield = bits;
    else extras.cs_have = String(this.have.count);
    if (opts.status) extras.cs_status = '1';
    if (this.#opts.announceIp) extras.ip = this.#opts.announceIp;
    try {
      // Peers are dialled as each tracker answers: a silent one (a UDP tracker times out after 15 s)
      // must not hold up the others' peers.
      const early = (answer: AnnounceResult): void => {
        if (event !== 'stopped' && this.mode !== 'manual' && !this.#stopped) this.#dial(answer.peers);
      };
      const result = await this.tracker.announceEvery(
        {
          event,
          uploaded: this.uploaded,
          downloaded: this.downloaded,
          left: this.left,
          numwant: event === 'stopped' ? 0 : 50,
          compact: !opts.status,
          extras,
        },
        early,
      );
      this.lastAnnounce = result;
      if (event !== 'stopped') this.knownPeers = result.peers;
      this.events.emit('announce', result);
      return result;
    } catch (err) {
      this.events.emit('announce-failed', describeError(err));
      throw err;
    }
  }

  /**
   * Announce `started` and keep re-announcing at the tracker's interval; when automatic, `announce` dials
   * what each tracker returns.
   */
  async connectTracker(opts: { status?: boolean } = {}): Promise<AnnounceResult & { url: string }> {
    const result = await this.announce('started', opts);
    this.trackerConnected = true;
    this.#scheduleAnnounce(result.interval);
    return result;
  }

  disconnectTracker(): void {
    this.trackerConnected = false;
    clearTimeout(this.#announceTimer);
  }

  #scheduleAnnounce(intervalSeconds: number): void {
    clearTimeout(this.#announceTimer);
    const ms = Math.max(5, Math.min(intervalSeconds || 1800, 3600)) * 1000;
    this.#announceTimer = setTimeout(() => {
      if (!this.trackerConnected || this.#stopped) return;
      this.announce(undefined, {})
        .then((r) => this.#scheduleAnnounce(r.interval))
        .catch(() => this.#scheduleAnnounce(60));
    }, ms);
    this.#announceTimer.unref();
  }

  // ---- connections ----

  dialKnownPeers(): void {
    this.#dial(this.knownPeers);
  }

  /**
   * Dials `peers` now and again every 15 s until the torrent is complete: the peers a magnet's metadata
   * came from and its `x.pe` ones, which no tracker will name and nothing else would retry.
   */
  dialUntilComplete(peers: readonly { ip: string; port: number }[]): void {
    if (peers.length === 0) return;
    this.#dial(peers);
    const redial = setInterval(() => (this.complete ? clearInterval(redial) : this.#dial(peers)), REDIAL_MS);
    redial.unref();
    this.#timers.push(redial);
  }

  /** Dials each of `peers` not connected or being dialled already, up to the torrent's peer limit. */
  #dial(peers: readonly { ip: string; port: number }[]): void {
    for (const p of peers) {
      if (this.peers.size + this.#dialing.size >= (this.#opts.maxPeers ?? LIMITS.maxPeersPerTorrent)) return;
      this.connect(p.ip, p.port).catch(() => {});
    }
  }

  isConnectedTo(ip: string, port: number): PeerConnection | undefined {
    for (const p of this.peers.values())
      if (p.ip === ip && (p.listenPort === port || p.socket.remotePort === port)) return p;
    return undefined;
  }

  /** Dial a peer; resolves when both handshakes are done. */
  connect(ip: string, port: number): Promise<PeerConnection> {
    const existing = this.isConnectedTo(normaliseIp(ip), port);
    if (existing) return Promise.resolve(existing);
    const key = formatAddress(ip, port);
    if (this.#banned.has(key)) return Promise.reject(new ChunkswarmError('EPEER', `${key} is banned`));
    if (port === this.listenPort && isLocal(ip))
      return Promise.reject(new ChunkswarmError('EPEER', 'that is this peer'));
    if (this.#dialing.has(key))
      return Promise.reject(new ChunkswarmError('EPEER', `already dialling ${key}`));
    if (this.#opts.mayConnect && !this.#opts.mayConnect())
      return Promise.reject(new ChunkswarmError('EPEER', 'connection limit reached'));
    this.#dialing.add(key);
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: ip, port });
      const fail = (reason: string): void => {
        this.#dialing.delete(key);
        reject(new ChunkswarmError('EPEER', `cannot connect to ${key}: ${reason}`));
      };
      socket.setTimeout(LIMITS.handshakeTimeoutMs, () => socket.destroy(new Error('timed out')));
      socket.once('error', (err) => fail(describeError(err)));
      socket.once('connect', () => {
        socket.setTimeout(0);
        const conn = new Connection(socket, { host: this, listenPort: port });
        const onReady = (peer: PeerConnection): void => {
          if (peer !== conn) return;
          off();
          this.#dialing.delete(key);
          // Its bitfield (or HAVE ALL) follows the handshake at once; wait a moment so callers see it.
          // A peer with nothing may send nothing, hence the short cap.
          this.#until(() => conn.bitsReceived || conn.closed, Date.now() + 1000, '')
            .catch(() => {})
            .finally(() => resolve(conn));
        };
        const onGone = (peer: PeerConnection, reason: string): void => {
          if (peer !== conn) return;
          off();
          fail(reason);
        };
        const offA = this.events.on('peer-connected', onReady);
        const offB = this.events.on('peer-disconnected', onGone);
        const off = (): void => {
          offA();
          offB();
        };
      });
    });
  }

  onReady(peer: PeerConnection): void {
    if (this.#stopped || this.peers.size >= (this.#opts.maxPeers ?? LIMITS.maxPeersPerTorrent)) {
      peer.close('too many peers');
      return;
    }
    if (this.#banned.has(peer.peerAddress)) {
      peer.close('banned');
      return;
    }
    // One connection per peer id: a simultaneous dial from both sides leaves the newer one.
    for (const other of this.peers.values()) {
      if (other.remote && peer.remote && other.remote.peerId.equals(peer.remote.peerId)) {
        peer.close('duplicate connection');
        return;
      }
    }
    this.peers.set(peer.address, peer);
    this.picker.addPeer(peer.address, this.#bitsOf(peer));
    this.events.emit('peer-connected', peer);
  }

  onClose(peer: PeerConnection, reason: string): void {
    if (this.peers.get(peer.address) === peer) {
      this.peers.delete(peer.address);
      this.picker.removePeer(peer.address);
      this.#distributor.release(peer.address);
      this.#serving.delete(peer);
      if (this.#optimistic === peer.address) this.#optimistic = undefined;
    }
    this.events.emit('peer-disconnected', peer, reason);
    this.#wake();
  }

  #bitsOf(peer: PeerConnection): Bitfield {
    peer.bits ??= new Bitfield(this.pieceCount);
    return peer.bits;
  }

  // ---- messages ----

  onMessage(peer: PeerConnection, m: WireMessage): void {
    switch (m.type) {
      case 'bitfield':
      case 'have-all':
      case 'have-none':
        this.picker.removePeer(peer.address);
        this.picker.addPeer(peer.address, this.#bitsOf(peer));
        this.#updateInterest(peer);
        break;
      case 'have': {
        const freed = this.#distributor.peerHas(m.index);
        if (freed !== undefined) {
          const owner = this.peers.get(freed);
          if (owner) this.#suggestTo(owner);
        }
        this.picker.peerHave(peer.address, m.index);
        this.events.emit('peer-have', peer, m.index);
        this.#updateInterest(peer);
        break;
      }
      case 'unchoke':
        this.#fill(peer);
        break;
      case 'choke':
        // Without the fast extension a choke cancels everything in flight (BEP 3); with it, REJECTs say so.
        if (!peer.fast) this.#dropRequests(peer);
        break;
      case 'interested':
        if (peer.amChoking && this.#slotsFor(peer)) this.#unchoke(peer);
        else this.#suggestTo(peer);
        break;
      case 'not-interested':
        // Its slot is wasted on it now: hand the slot to the interested peer that sends to us fastest.
        if (!peer.amChoking && this.mode !== 'manual') {
          peer.setChoking(true);
          this.#admitNext();
        }
        break;
      case 'request':
        this.#onRequest(peer, m);
        break;
      case 'piece':
        this.#onBlock(peer, m.index, m.begin, m.block);
        break;
      case 'reject':
        if (peer.forget(m)) this.picker.requestEnded(peer.address, m);
        this.#fill(peer);
        break;
      case 'suggest':
        if (m.index >= this.pieceCount || this.have.has(m.index)) break;
        this.events.emit('suggest', peer, m.index);
        if (this.mode === 'auto') {
          peer.lastSuggestAt = Date.now();
          if (peer.suggested.size < 64) peer.suggested.add(m.index);
          this.#fill(peer);
        } else if (this.mode === 'manual' && !peer.amInterested && !this.#pending.has(m.index)) {
          // Out of the blue, a suggestion is an offer (`/upload_chunk` on the other side): fetch it.
          // While we are fetching from that peer ourselves, it is only a hint and the shell ignores it.
          this.fetchPiece(peer, m.index).catch((err) => this.events.emit('warning', describeError(err)));
        }
        break;
      case 'extended':
        // An incoming peer names the port it listens on, the address its strikes and ban are kept under,
        // only in its extension handshake (BEP 10), after onReady: check the ban again now.
        if (m.id === 0 && this.#banned.has(peer.peerAddress)) peer.close('banned');
        break;
      default:
        break;
    }
  }

  #slotsFor(peer: PeerConnection): boolean {
    if (this.mode === 'manual') return true;
    const slots = this.#regularSlots();
    return (
      admit(
        [...this.peers.values()].map((p) => this.#chokerView(p)),
        slots,
      ) || peer.address === this.#optimistic
    );
  }

  /**
   * Tit-for-tat's unchoke slots — except while a seeder's first pass runs (every piece sent once, steered
   * by suggestions): then every interested peer is unchoked. A seeder wants nothing back, and the swarm
   * relays fastest when each leecher holds pieces the others lack: spread over only 4 of N leechers, the
   * seeder's pieces must be relayed (N-1) times by those 4, more than their uplinks carry, while the other
   * leechers' uplinks idle for want of anything new to offer.
   */
  #regularSlots(): number {
    if (this.complete && this.mode !== 'manual' && !this.#distributor.done)
      return Math.max(4, this.peers.size);
    return this.#opts.uploadSlots ?? 4;
  }

  /** Seeding automatically: steer an unchoked, interested peer towards pieces nobody has been sent yet. */
  #admitNext(): void {
    const waiting = [...this.peers.values()]
      .filter((p) => p.peerInterested && p.amChoking)
      .sort((a, b) => (this.complete ? b.up.rate - a.up.rate : b.down.rate - a.down.rate));
    if (waiting[0] && this.#slotsFor(waiting[0])) this.#unchoke(waiting[0]);
  }

  /** Suggestions go out before the UNCHOKE, so the peer's first requests already follow them. */
  #unchoke(peer: PeerConnection): void {
    this.#suggestTo(peer, true);
    peer.setChoking(false);
  }

  #suggestTo(peer: PeerConnection, unchoking = false): void {
    if (!this.complete || this.mode === 'manual' || this.#distributor.done) return;
    if (!peer.fast || !peer.peerInterested || (peer.amChoking && !unchoking) || peer.closed) return;
    const bits = this.#bitsOf(peer);
    for (const index of this.#distributor.next(peer.address, (i) => !bits.has(i)))
      peer.send({ type: 'suggest', index });
  }

  #updateInterest(peer: PeerConnection): void {
    if (this.mode !== 'auto' || this.paused) {
      if (this.mode === 'seed') peer.setInterested(false);
      return;
    }
    const want = this.picker.interesting(this.#bitsOf(peer));
    peer.setInterested(want);
    if (want) this.#fill(peer);
  }

  #dropRequests(peer: PeerConnection): void {
    for (const { block } of [...peer.inFlight.values()]) {
      peer.forget(block);
      this.picker.requestEnded(peer.address, block);
    }
  }

  /** Keep enough requests in flight to fill this peer's link: about 2 s of its measured rate. */
  #fill(peer: PeerConnection): void {
    if (this.mode !== 'auto' || this.paused || peer.peerChoking || peer.closed) return;
    const depth = Math.max(
      64,
      Math.min(LIMITS.maxOutgoingRequests, Math.ceil((peer.down.rate * 2) / LIMITS.blockSize)),
    );
    const room = depth - peer.inFlight.size;
    // While plenty is queued, top up only once a few blocks have come in: fewer and fuller REQUEST writes.
    if (room <= 0 || (room < FILL_BATCH && peer.inFlight.size >= FILL_BATCH)) return;
    for (const i of peer.suggested) if (this.have.has(i)) peer.suggested.delete(i);
    // A seeder that suggests pieces is handing each leecher its own share: take only those from it, so
    // its upload is never spent on a piece that is already out in the swarm.
    // Between two batches of suggestions its list can run dry for a moment: keep following it for a few
    // seconds before falling back to rarest-first (it stops suggesting once every piece went out once).
    const steered =
      peer.isSeeder && (peer.suggested.size > 0 || Date.now() - peer.lastSuggestAt < STEER_GRACE_MS);
    peer.request(this.picker.pick(peer.address, room, peer.suggested, { only: steered }));
  }

  #onRequest(peer: PeerConnection, r: BlockRef): void {
    // A block lies inside its piece and every client knows the piece sizes from the torrent: asking past the end
    // is a broken or hostile peer, not a race, so it is dropped rather than rejected.
    if (r.begin + r.length > pieceSize(this.metainfo, r.index)) {
      peer.close(
        `protocol error: request for ${r.length} bytes at ${r.begin} of piece ${r.index}, past its end`,
      );
      return;
    }
    const ok =
      !peer.amChoking &&
      this.have.has(r.index) &&
      r.begin + r.length <= pieceSize(this.metainfo, r.index) &&
      r.length <= LIMITS.blockSize;
    if (!ok) {
      peer.takeRequest(r);
      if (peer.fast) peer.send({ type: 'reject', index: r.index, begin: r.begin, length: r.length });
      return;
    }
    this.#serve(peer);
  }

  /**
   * One serving loop per peer: take a few of its requests at a time, wait for the shared upload budget,
   * read the blocks, then write them together, so they leave in one system call.
   */
  #serve(peer: PeerConnection): void {
    if (this.#serving.has(peer)) return;
    this.#serving.add(peer);
    const loop = async (): Promise<void> => {
      while (!peer.closed && this.#serving.has(peer)) {
        const batch: BlockRef[] = [];
        for (const r of peer.pendingRequests.values()) {
          batch.push(r);
          if (batch.length === SERVE_BATCH) break;
        }
        if (batch.length === 0) break;
        await this.#opts.uploadBucket.take(batch.reduce((sum, r) => sum + r.length, 0));
        const blocks: [BlockRef, CachedBlock][] = [];
        try {
          for (const r of batch) {
            // cancelled or choked meanwhile
            if (peer.takeRequest(r)) blocks.push([r, await this.#cache.read(r.index, r.begin, r.length)]);
          }
        } catch (err) {
          for (const [, b] of blocks) b.release();
          throw err;
        }
        let taken: Promise<void> = Promise.resolve();
        for (const [r, { data, release }] of blocks) {
          // The cache reuses the block's memory once the kernel has it.
          taken = peer.sendBlock(r.index, r.begin, data, release);
          this.up.add(data.length);
          this.uploaded += data.length;
          if (this.#distributor.served(r.index, data.length)) this.#suggestTo(peer);
        }
        await taken;
      }
    };
    loop()
      .catch((err) => peer.close(`cannot serve: ${describeError(err)}`))
      .finally(() => this.#serving.delete(peer));
  }

  #onBlock(peer: PeerConnection, index: number, begin: number, block: Buffer): void {
    const ref = { index, begin, length: block.length };
    const asked = peer.settle(ref);
    this.down.add(block.length);
    this.downloaded += block.length;
    // Only a block never requested counts against a peer; late ones (endgame, timeouts) are normal.
    if (asked === 'unrequested') {
      this.#strike(peer, 'sent a block we did not ask for', 1);
      return;
    }
    if (this.have.has(index) || this.#verifying.has(index)) return;
    const { wanted, pieceDone, cancel } = this.picker.blockReceived(peer.address, ref);
    if (!wanted) return;
    for (const other of cancel) this.peers.get(other)?.cancel(ref);
    let pending = this.#pending.get(index);
    if (!pending) {
      pending = { data: this.#buffers.take(pieceSize(this.metainfo, index)), contributors: new Set() };
      this.#pending.set(index, pending);
    }
    block.copy(pending.data, begin);
    pending.contributors.add(peer.peerAddress);
    if (pieceDone) {
      this.#pending.delete(index);
      void this.#verify(index, pending, peer.peerAddress);
    }
    this.#scheduleFill(peer);
  }

  /**
   * Refill a peer's queue once per turn of the event loop rather than once per block, so REQUESTs go out
   * in batches: one write for many blocks.
   */
  #scheduleFill(peer: PeerConnection): void {
    if (this.#toFill.size === 0) {
      setImmediate(() => {
        const peers = [...this.#toFill];
        this.#toFill.clear();
        for (const p of peers) this.#fill(p);
      });
    }
    this.#toFill.add(peer);
  }

  async #verify(index: number, piece: PendingPiece, from: string): Promise<void> {
    this.#verifying.add(index);
    try {
      const digest = await this.#opts.hasher.sha1(piece.data);
      const expected = this.metainfo.pieceHashes.subarray(index * 20, index * 20 + 20);
      if (!digest.equals(expected)) {
        this.hashFailures++;
        this.picker.pieceFailed(index);
        const peers = [...piece.contributors];
        // A piece that a banned peer had a hand in failed because of it: the blocks it sent before its ban
        // stay in half-built pieces that others complete. Striking those others too banned an honest
        // seeder after a poisoner, and the download stalled with nobody left to ask.
        if (!peers.some((p) => this.#banned.has(p))) {
          for (const p of peers) this.#strikeAddress(p, 'sent data that failed its hash check', 2);
        }
        this.events.emit('piece-failed', index, peers);
        return;
      }
      await this.storage.writePiece(index, piece.data);
      this.picker.pieceVerified(index);
      for (const p of this.peers.values()) {
        p.send({ type: 'have', index });
        if (!this.picker.interesting(this.#bitsOf(p)) && this.mode === 'auto') p.setInterested(false);
      }
      this.events.emit('piece-verified', index, from);
      if (this.have.complete && this.completedAt === undefined) {
        this.completedAt = Date.now();
        this.events.emit('complete');
        if (this.trackerConnected) this.announce('completed').catch(() => {});
        for (const p of this.peers.values()) {
          p.setInterested(false);
          // Two seeders have nothing to trade; the shell keeps its connections for the user to see.
          if (p.isSeeder && this.mode !== 'manual') p.close('both seeding');
        }
      }
    } catch (err) {
      this.picker.pieceFailed(index);
      // A piece we cannot store (disk full, folder not writable) will not store on a retry either: stop
      // downloading, keep serving what is verified, and let the front end say why.
      this.setPaused(true);
      // Pieces verified at the same moment fail the same way (or on the hasher closed after the first
      // failure): the front end hears of the first only.
      if (this.failure === undefined) {
        this.failure = `cannot store chunk ${index}: ${describeError(err)}`;
        this.events.emit('error', this.failure);
      }
    } finally {
      this.#buffers.give(piece.data);
      this.#verifying.delete(index);
      this.#wake();
      for (const p of this.peers.values()) this.#fill(p);
    }
  }

  #strike(peer: PeerConnection, why: string, weight: number): void {
    this.#strikeAddress(peer.peerAddress, why, weight);
  }

  /** Misbehaviour counts against the peer's ip:port (never the whole IP: loopback hosts many honest peers). */
  #strikeAddress(address: string, why: string, weight: number): void {
    const n = (this.#strikes.get(address) ?? 0) + weight;
    this.#strikes.set(address, n);
    if (n >= 6 && !this.#banned.has(address)) {
      this.#banned.add(address);
      this.events.emit('peer-banned', address, why);
      for (const p of this.peers.values()) if (p.peerAddress === address) p.close(`banned: ${why}`);
    }
  }

  // ---- explicit moves (the shell) ----

  /** Fetch one piece from one peer (`/request_download T C`); resolves when it is verified and stored. */
  async fetchPiece(peer: PeerConnection, index: number, timeoutMs = 30_000): Promise<void> {
    if (this.have.has(index)) return;
    if (!this.#bitsOf(peer).has(index))
      throw new ChunkswarmError('EPEER', `Peer[${peer.peerAddress}] does not have chunk ${index}`);
    peer.setInterested(true);
    const deadline = Date.now() + timeoutMs;
    try {
      await this.#until(() => !peer.peerChoking || peer.closed, deadline, 'the peer did not unchoke us');
      while (!this.have.has(index)) {
        if (peer.closed) throw new ChunkswarmError('EPEER', `Peer[${peer.peerAddress}] disconnected`);
        if (peer.peerChoking)
          await this.#until(() => !peer.peerChoking || peer.closed, deadline, 'the peer choked us');
        let asked = 0;
        if (!this.#verifying.has(index)) {
          const blocks = this.picker.pickPiece(peer.address, index, 64);
          peer.request(blocks);
          asked = blocks.length;
        }
        // Nothing left to ask this peer (blocks in flight elsewhere): give them a moment.
        if (asked === 0 && peer.inFlight.size === 0 && !this.#verifying.has(index)) await sleep(100);
        const failures = this.hashFailures;
        await this.#until(
          () =>
            this.have.has(index) ||
            peer.closed ||
            this.hashFailures > failures ||
            (peer.inFlight.size === 0 && !this.#verifying.has(index)),
          deadline,
          `chunk ${index} did not arrive in time`,
        );
      }
    } finally {
      if (this.mode === 'manual' && !this.#anyFetchFrom(peer)) peer.setInterested(false);
    }
  }

  #anyFetchFrom(peer: PeerConnection): boolean {
    return peer.inFlight.size > 0;
  }

  /** Offer a piece to a peer (`/upload_chunk`): SUGGEST it and wait for their HAVE. */
  async offerPiece(peer: PeerConnection, index: number, timeoutMs = 30_000): Promise<boolean> {
    if (!this.have.has(index)) throw new ChunkswarmError('EPEER', `this peer does not hold chunk ${index}`);
    if (this.#bitsOf(peer).has(index)) return true;
    if (!peer.fast)
      throw new ChunkswarmError('EPEER', `Peer[${peer.peerAddress}] does not support offers (BEP 6)`);
    peer.send({ type: 'suggest', index });
    if (peer.peerInterested && peer.amChoking) peer.setChoking(false);
    try {
      await this.#until(
        () => this.#bitsOf(peer).has(index) || peer.closed,
        Date.now() + timeoutMs,
        'timeout',
      );
    } catch {
      return false;
    }
    return this.#bitsOf(peer).has(index);
  }

  setMode(mode: SessionMode): void {
    this.mode = mode;
    for (const p of this.peers.values()) this.#updateInterest(p);
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
      } else this.#updateInterest(p);
    }
    this.events.emit('paused', paused);
  }

  /** Resolves when `cond` holds; re-checked on every verified piece, HAVE, choke change and disconnect. */
  #until(cond: () => boolean, deadline: number, what: string): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (cond()) {
          done();
          resolve();
        } else if (Date.now() >= deadline) {
          done();
          reject(new ChunkswarmError('ETIMEOUT', what));
        }
      };
      const timer = setInterval(check, 50);
      const offs = [
        this.events.on('peer-have', check),
        this.events.on('piece-verified', check),
        this.events.on('piece-failed', check),
        this.events.on('peer-disconnected', check),
      ];
      this.#waiters.add(check);
      const done = (): void => {
        clearInterval(timer);
        for (const off of offs) off();
        this.#waiters.delete(check);
      };
    });
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  // ---- timers ----

  #tick(): void {
    const now = Date.now();
    for (const p of this.peers.values()) {
      for (const { block, sentAt } of [...p.inFlight.values()]) {
        if (now - sentAt > REQUEST_TIMEOUT_MS) {
          p.forget(block);
          this.picker.requestEnded(p.address, block);
        }
      }
      this.#fill(p);
    }
    this.#wake();
  }

  #chokerView(p: PeerConnection): import('./choker.js').ChokerPeer {
    return {
      key: p.address,
      interested: p.peerInterested,
      downloadRate: p.down.rate,
      uploadRate: p.up.rate,
      unchoked: !p.amChoking,
      connectedAt: p.connectedAt,
      snubbed:
        p.amInterested && p.inFlight.size > 0 && Date.now() - Math.max(p.lastPiece, p.connectedAt) > SNUB_MS,
    };
  }

  #rechoke(): void {
    if (this.mode === 'manual' || this.paused) return;
    const views = [...this.peers.values()].map((p) => this.#chokerView(p));
    const decision = rechoke(views, {
      regularSlots: this.#regularSlots(),
      seeding: this.complete,
      now: Date.now(),
      rotateOptimistic: this.#rechokes++ % OPTIMISTIC_EVERY === 0,
      optimistic: this.#optimistic,
      random: Math.random,
    });
    this.#optimistic = decision.optimistic;
    for (const p of this.peers.values()) {
      if (!decision.unchoke.has(p.address)) p.setChoking(true);
      else if (p.amChoking) this.#unchoke(p);
      else this.#suggestTo(p);
    }
  }

  // ---- shutdown ----

  async stop(opts: { announce?: boolean } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    clearTimeout(this.#announceTimer);
    for (const p of [...this.peers.values()]) p.close('session stopped');
    // Chunks being hashed or written as the peers went are let finish: what was verified is then on disk,
    // and resume data saved after stop() stays true.
    await this.#until(() => this.#verifying.size === 0, Date.now() + 10_000, '').catch(() => {});
    if (opts.announce !== false && this.trackerConnected) {
      this.trackerConnected = false;
      await this.announce('stopped').catch(() => {});
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function isLocal(ip: string): boolean {
  return ip === '127.0.0.1' || ip === '::1' || ip === 'localhost';
}
