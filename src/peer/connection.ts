import { Bitfield } from '../shared/bitfield.js';
import { type Clock, systemClock } from '../shared/clock.js';
import type { ByteStream, Random } from '../shared/env.js';
import { ChunkswarmError, describeError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import { cryptoRandom } from '../shared/node-env.js';
import type { PeerSource } from '../shared/status.js';
import { formatAddress, normaliseIp } from '../shared/types.js';
import {
  type DecoderEvent,
  decodeExtensionHandshake,
  decodeMetadataMessage,
  type ExtensionHandshake,
  encodeExtensionHandshake,
  encodeHandshake,
  encodeMessage,
  encodeMetadataMessage,
  encodePieceHeader,
  type Handshake,
  type MetadataMessage,
  metadataPieceCount,
  PROTOCOL,
  UT_METADATA,
  UT_PEX,
  WireDecoder,
  type WireMessage,
} from '../wire/index.js';
import { RateMeter, type TokenBucket } from './rate.js';
import type { WireTracer } from './trace.js';

/** How much a connection may queue in user space before the serving loop waits for 'drain'. */
const SEND_BUFFER_BYTES = 1024 * 1024;
/**
 * How much of that queue is handed to the socket at a time; the rest waits in the connection. Messages
 * that need not stay behind our blocks (REQUEST, HAVE, CANCEL, INTERESTED, PEX, ...) go to the socket at
 * once, so on a slow uplink they wait behind at most this much of our upload to the peer instead of a
 * megabyte of it (four seconds at 256 KiB/s, during which our requests to the peer we serve idled).
 * At least Node's high-water mark (16 KiB), so that holding bytes back always has a 'drain' to come.
 */
const SOCKET_QUEUE_BYTES = 64 * 1024;

/**
 * Messages that keep their place behind the blocks already queued: the peer reads a choke, an unchoke or
 * a rejected request in the order we decided them relative to the blocks we answered.
 */
function followsBlocks(type: WireMessage['type']): boolean {
  return type === 'choke' || type === 'unchoke' || type === 'reject';
}

export const CLIENT_NAME = 'chunkswarm 0.1.0';

/** The id we ask peers to send ut_metadata messages under (BEP 10 lets each side pick its own). */
export const UT_METADATA_ID = 2;
/** The id we ask peers to send ut_pex messages under (BEP 11). */
export const UT_PEX_ID = 3;

/** Azureus-style peer id: `-CS0100-` and 12 random bytes. */
export function makePeerId(random: Random = cryptoRandom): Buffer {
  return Buffer.concat([Buffer.from('-CS0100-'), random.bytes(12)]);
}

export type { PeerSource } from '../shared/status.js';

/** What a connection needs from the torrent it serves; the session implements it. */
export interface PeerHost {
  readonly infoHash: Buffer;
  readonly peerId: Buffer;
  readonly pieceCount: number;
  readonly listenPort: number;
  /** Our bitfield at handshake time. */
  haveBits(): Bitfield;
  /** The process-wide download budget: reading pauses while it is spent, so TCP slows the sender. */
  readonly downloadBucket?: TokenBucket;
  /** Size of the info dictionary offered to ut_metadata requests (BEP 9); undefined: not offered. */
  readonly metadataSize?: number;
  /** A peer asked, within range and within its allowance, for piece `piece` of the metadata: answer it. */
  onMetadataRequest?(peer: PeerConnection, piece: number): void;
  /**
   * Set while the info dictionary is still being fetched (a magnet, BEP 9): `pieceCount` is 0, we advertise
   * ut_metadata without a size, and the peer's metadata data and rejects come here.
   */
  onMetadataMessage?(peer: PeerConnection, message: MetadataMessage): void;
  /** Peer exchange is offered (BEP 11): never for a private torrent (BEP 27). */
  readonly pex?: boolean;
  /** Said in our extension handshake as `cs_steer` (see ExtensionHandshake.steering); undefined: not said. */
  readonly steering?: boolean;
  /**
   * Asked once the peer's handshake is in, before we answer it or send anything more: a reason to close
   * instead (the torrent's peer limit, a ban), so a connection that would be refused costs no messages.
   */
  refusal?(peer: PeerConnection): string | undefined;
  onReady(peer: PeerConnection): void;
  onMessage(peer: PeerConnection, message: WireMessage): void;
  onClose(peer: PeerConnection, reason: string): void;
}

export interface BlockKey {
  index: number;
  begin: number;
  length: number;
}

const blockId = (b: BlockKey): string => `${b.index}:${b.begin}:${b.length}`;

/** A write waiting behind the blocks before it; `block` is the id of the PIECE message it is part of. */
interface HeldWrite {
  readonly bytes: Buffer;
  readonly written: (() => void) | undefined;
  readonly block?: string | undefined;
}

/**
 * One BitTorrent connection: the handshake, the four choke/interest flags, the peer's bitfield and the
 * requests in flight each way. It decides nothing about what to download — the session does — but it
 * enforces what the protocol requires of the other side and closes the connection when that is broken.
 */
export class PeerConnection {
  /**
   * `--trace`: asked once per new connection for the tracer of its messages (see peer/trace.ts). Unset,
   * tracing costs one undefined check per message.
   */
  static traceWith: ((conn: PeerConnection) => WireTracer | undefined) | undefined;

  readonly stream: ByteStream;
  readonly clock: Clock;
  readonly outgoing: boolean;
  readonly address: string;
  readonly ip: string;
  /** Port the peer listens on: the dialled port, or the one from its extension handshake. */
  listenPort: number | undefined;
  /** Where we heard of the peer; `incoming` when it dialled us. */
  source: PeerSource;

  host: PeerHost | undefined;
  remote: Handshake | undefined;
  extension: ExtensionHandshake | undefined;
  bits: Bitfield | undefined;
  /** Whether the peer has told us what it holds (BITFIELD, HAVE ALL/NONE or a HAVE). */
  bitsReceived = false;
  fast = false;

  /** Pieces this peer suggested to us (BEP 6), preferred when we pick what to ask it for. */
  readonly suggested = new Set<number>();
  /** When the peer last suggested a piece (undefined: never). */
  lastSuggestAt: number | undefined;

  amChoking = true;
  amInterested = false;
  peerChoking = true;
  peerInterested = false;

  readonly down: RateMeter;
  readonly up: RateMeter;
  /** Requests we sent and that have not been answered: id -> time sent. */
  readonly inFlight = new Map<string, { block: BlockKey; sentAt: number }>();
  /** Requests the peer sent that we have not served yet. */
  readonly pendingRequests = new Map<string, BlockKey>();
  lastReceived: number;
  lastPiece = 0;
  connectedAt: number;
  closed = false;
  /** The other side (or the link) ended the connection, not we. */
  closedByPeer = false;
  /** Sees every message both ways, handshake included; set only while tracing is on. */
  readonly tracer: WireTracer | undefined;

  readonly #decoder: WireDecoder;
  readonly #resolveHost: ((infoHash: Buffer) => PeerHost | undefined) | undefined;
  #cancelHandshakeTimer: (() => void) | undefined;
  #cancelKeepAlive: (() => void) | undefined;
  #sentHandshake = false;
  /** Our extension handshake offered ut_pex (so a later one withdraws it if the torrent is private). */
  #offeredPex = false;
  /** Serving loops waiting for the stream to take what is queued. */
  #drainWaiters: (() => void)[] = [];
  /** Blocks, and the messages that follow them, not yet handed to the socket (see SOCKET_QUEUE_BYTES). */
  #held: HeldWrite[] = [];
  #heldBytes = 0;
  readonly #ended = new Set<string>();
  /** Requests refused because the peer already had `reqq` outstanding, over the connection's life. */
  #overReqq = 0;
  /** Requests received while we choke the peer, since our last CHOKE (or since the handshake). */
  #whileChoked = 0;
  /** HAVEs for pieces the peer had already announced. */
  #repeatedHaves = 0;
  /**
   * What the peer said it holds before we knew the piece count (a magnet's metadata phase): checked and
   * turned into `bits` by `adoptPieceCount`.
   */
  #early: { bitfield?: Buffer; all?: boolean; haves: Set<number> } | undefined;
  /** Metadata pieces served, and metadata requests refused, over the connection's life (BEP 9). */
  #metadataServed = 0;
  #metadataRefused = 0;

  /**
   * Outgoing: pass the host; the handshake is sent at once. Incoming: pass `resolveHost`, called with the
   * infohash the peer asks for; the connection is refused when it returns undefined.
   */
  constructor(
    stream: ByteStream,
    opts: {
      host?: PeerHost;
      resolveHost?: (infoHash: Buffer) => PeerHost | undefined;
      listenPort?: number;
      clock?: Clock;
      source?: PeerSource;
    },
  ) {
    this.stream = stream;
    this.clock = opts.clock ?? systemClock;
    this.down = new RateMeter(this.clock);
    this.up = new RateMeter(this.clock);
    this.lastReceived = this.connectedAt = this.clock.now();
    this.outgoing = opts.host !== undefined;
    this.source = opts.source ?? (this.outgoing ? 'tracker' : 'incoming');
    this.host = opts.host;
    this.#resolveHost = opts.resolveHost;
    this.ip = normaliseIp(stream.remoteAddress);
    this.listenPort = opts.listenPort ?? (this.outgoing ? stream.remotePort : undefined);
    this.address = formatAddress(this.ip, stream.remotePort);
    this.#decoder = new WireDecoder({ limits: { pieceCount: opts.host?.pieceCount ?? 0 }, zeroCopy: true });
    this.tracer = PeerConnection.traceWith?.(this);
    stream.attach({
      data: (chunk, reused) => this.#onData(chunk, reused === true),
      drain: () => this.#drained(),
      close: (reason) => {
        this.closedByPeer = true;
        this.close(reason);
      },
    });
    this.#cancelHandshakeTimer = this.clock.setTimeout(
      () => this.close('handshake timed out'),
      LIMITS.handshakeTimeoutMs,
    );
    if (this.host) this.#sendHandshake();
  }

  /** The port the connection came from (or went to). */
  get remotePort(): number {
    return this.stream.remotePort;
  }

  /** `ip:port` where the peer accepts connections, the form the shell and the tracker use. */
  get peerAddress(): string {
    return formatAddress(this.ip, this.listenPort ?? this.stream.remotePort);
  }

  get clientName(): string {
    return this.extension?.client ?? clientFromPeerId(this.remote?.peerId);
  }

  get isSeeder(): boolean {
    return this.bits?.complete ?? false;
  }

  send(message: WireMessage): void {
    if (this.closed) return;
    if (followsBlocks(message.type)) this.#writeInOrder(encodeMessage(message));
    else this.#write(encodeMessage(message));
    this.tracer?.('out', { kind: 'message', message });
  }

  #write(bytes: Buffer, written?: () => void): void {
    this.stream.write(bytes, written);
  }

  /**
   * Writes behind every block queued before it: to the socket while it has room, else into #held. `block`
   * tags both parts of a PIECE message (header and data), so a CANCEL can take them back (#dropHeld).
   */
  #writeInOrder(bytes: Buffer, written?: () => void, block?: string): void {
    if (this.#held.length === 0 && this.stream.pendingBytes < SOCKET_QUEUE_BYTES) {
      this.#write(bytes, written);
      return;
    }
    this.#held.push({ bytes, written, block });
    this.#heldBytes += bytes.length;
  }

  /**
   * A CANCEL for a block still held here: its header and data are dropped, so a block the peer got
   * elsewhere (the endgame, a piece shared with an idle holder) costs our uplink nothing. Not once its
   * header is in the socket: the peer must then get the whole message. The block stays counted in the upload
   * totals, which count what was queued.
   */
  #dropHeld(id: string): boolean {
    const at = this.#held.findIndex((h) => h.block === id);
    if (at < 0 || this.#held[at + 1]?.block !== id) return false;
    const [header, data] = this.#held.splice(at, 2) as [HeldWrite, HeldWrite];
    this.#heldBytes -= header.bytes.length + data.bytes.length;
    data.written?.();
    this.#drained();
    return true;
  }

  /** Bytes queued for the peer, in the socket and held back. */
  get #queuedBytes(): number {
    return this.#heldBytes + this.stream.pendingBytes;
  }

  #drained(): void {
    const held = this.#held;
    let moved = 0;
    while (moved < held.length && this.stream.pendingBytes < SOCKET_QUEUE_BYTES) {
      const h = held[moved++]!;
      this.#heldBytes -= h.bytes.length;
      this.#write(h.bytes, h.written);
    }
    if (moved > 0) held.splice(0, moved);
    if (!this.closed && this.#queuedBytes >= SEND_BUFFER_BYTES) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Sends a block; resolves when the socket has taken it (so callers can apply backpressure). `written` is
   * called once the kernel has the bytes (or the connection failed): until then `block` must not change.
   */
  sendBlock(index: number, begin: number, block: Buffer, written?: () => void): Promise<void> {
    if (this.closed) {
      written?.();
      return Promise.resolve();
    }
    const id = blockId({ index, begin, length: block.length });
    this.#writeInOrder(encodePieceHeader(index, begin, block.length), undefined, id);
    this.#writeInOrder(block, written, id);
    this.tracer?.('out', { kind: 'message', message: { type: 'piece', index, begin, block } });
    this.up.add(block.length);
    // Node's socket buffer signals "full" at 16 KiB: waiting for 'drain' there would send one block per
    // turn of the event loop. Keep up to SEND_BUFFER_BYTES queued instead; the kernel takes it in big writes.
    if (this.#queuedBytes < SEND_BUFFER_BYTES) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** The id the peer wants ut_pex messages under, when it offered peer exchange (BEP 11). */
  get pexId(): number | undefined {
    const id = this.extension?.m.get(UT_PEX);
    return id !== undefined && id > 0 ? id : undefined;
  }

  /** The id the peer wants ut_metadata messages under, when it offered the extension (BEP 9, BEP 10). */
  get metadataId(): number | undefined {
    const id = this.extension?.m.get(UT_METADATA);
    return id !== undefined && id > 0 ? id : undefined;
  }

  /** Sends a ut_metadata message; false when the peer does not take them. */
  sendMetadata(message: MetadataMessage): boolean {
    const id = this.metadataId;
    if (id === undefined || this.closed) return false;
    this.send({ type: 'extended', id, payload: encodeMetadataMessage(message) });
    return true;
  }

  setChoking(choke: boolean): void {
    if (this.amChoking === choke) return;
    this.amChoking = choke;
    if (choke) this.#whileChoked = 0;
    this.send({ type: choke ? 'choke' : 'unchoke' });
    // BEP 6: with the fast extension a choke drops pending requests only with an explicit REJECT.
    if (choke) {
      for (const r of this.pendingRequests.values()) if (this.fast) this.send({ type: 'reject', ...r });
      this.pendingRequests.clear();
    }
  }

  setInterested(interested: boolean): void {
    if (this.amInterested === interested) return;
    this.amInterested = interested;
    this.send({ type: interested ? 'interested' : 'not-interested' });
  }

  /** Sends REQUESTs for `blocks` (they leave with this turn's other writes, in one system call). */
  request(blocks: readonly BlockKey[]): void {
    if (this.closed) return;
    const now = this.clock.now();
    for (const b of blocks) {
      this.inFlight.set(blockId(b), { block: b, sentAt: now });
      const message = { type: 'request', index: b.index, begin: b.begin, length: b.length } as const;
      this.#write(encodeMessage(message));
      this.tracer?.('out', { kind: 'message', message });
    }
  }

  cancel(block: BlockKey): void {
    if (this.forget(block)) this.send({ type: 'cancel', ...block });
  }

  /**
   * A request of ours ended without data (cancelled, timed out, choked). Its block may still arrive —
   * that is normal — so it is remembered for a while and not held against the peer.
   */
  forget(block: BlockKey): boolean {
    const id = blockId(block);
    if (!this.inFlight.delete(id)) return false;
    this.#ended.add(id);
    if (this.#ended.size > 4096) this.#ended.delete(this.#ended.values().next().value!);
    return true;
  }

  /** A block arrived: was it asked for (in flight), asked for earlier (ended), or never (unrequested)? */
  settle(block: BlockKey): 'in-flight' | 'ended' | 'unrequested' {
    const id = blockId(block);
    if (this.inFlight.delete(id)) return 'in-flight';
    if (this.#ended.delete(id)) return 'ended';
    return 'unrequested';
  }

  takeRequest(block: BlockKey): boolean {
    return this.pendingRequests.delete(blockId(block));
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.#cancelHandshakeTimer?.();
    this.#cancelKeepAlive?.();
    this.stream.close();
    // Blocks never handed to the socket are dropped, as a closed socket drops what it still queues.
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    for (const h of held) h.written?.();
    this.#drained();
    this.host?.onClose(this, reason);
  }

  #sendHandshake(): void {
    const host = this.host!;
    this.#sentHandshake = true;
    const ours = { infoHash: host.infoHash, peerId: host.peerId, fast: true, extended: true };
    const bytes = encodeHandshake(ours);
    this.#write(bytes);
    this.tracer?.('out', {
      kind: 'handshake',
      handshake: { ...ours, dht: false, reserved: bytes.subarray(1 + PROTOCOL.length, 9 + PROTOCOL.length) },
    });
  }

  /**
   * From a `reused` chunk, a PIECE message's block is valid only while this call runs: the host's
   * onMessage copies it into its piece before returning, and nothing else keeps it.
   */
  #onData(chunk: Buffer, reused: boolean): void {
    if (this.closed) return;
    this.lastReceived = this.clock.now();
    const bucket = this.host?.downloadBucket;
    if (bucket && bucket.rate > 0) {
      this.stream.pause();
      void bucket.take(chunk.length).then(() => {
        if (!this.closed) this.stream.resume();
      });
    }
    let events: DecoderEvent[];
    try {
      events = this.#decoder.push(chunk, reused);
    } catch (err) {
      this.close(`protocol error: ${describeError(err)}`);
      return;
    }
    for (const event of events) {
      if (this.closed) return;
      this.tracer?.('in', event);
      try {
        if (event.kind === 'handshake') this.#onHandshake(event.handshake);
        else this.#onMessage(event.message);
      } catch (err) {
        this.close(`protocol error: ${describeError(err)}`);
        return;
      }
    }
  }

  #onHandshake(h: Handshake): void {
    if (!this.host) {
      this.host = this.#resolveHost?.(h.infoHash);
      if (!this.host)
        throw new ChunkswarmError('EWIRE_HANDSHAKE', 'peer asked for a torrent we do not serve');
    }
    const host = this.host;
    if (!h.infoHash.equals(host.infoHash)) throw new ChunkswarmError('EWIRE_HANDSHAKE', 'wrong infohash');
    if (h.peerId.equals(host.peerId)) throw new ChunkswarmError('EWIRE_HANDSHAKE', 'connected to ourselves');
    this.remote = h;
    this.fast = h.fast;
    const refused = host.refusal?.(this);
    if (refused !== undefined) {
      this.close(refused);
      return;
    }
    this.#decoder.setPieceCount(host.pieceCount);
    if (!this.#sentHandshake) this.#sendHandshake();
    this.#cancelHandshakeTimer?.();
    if (h.extended) this.sendExtensionHandshake();
    const have = host.haveBits();
    // Before the metadata we hold nothing, and cannot say how many pieces there are (BEP 6 wants one of these).
    if (host.pieceCount === 0) {
      if (this.fast) this.send({ type: 'have-none' });
    } else if (this.fast && have.complete) this.send({ type: 'have-all' });
    else if (this.fast && have.count === 0) this.send({ type: 'have-none' });
    else if (have.count > 0) this.send({ type: 'bitfield', bits: Buffer.from(have.bytes) });
    this.#cancelKeepAlive = this.clock.setInterval(() => {
      if (this.clock.now() - this.lastReceived > LIMITS.idleTimeoutMs) this.close('idle for too long');
      else this.send({ type: 'keep-alive' });
    }, 60_000);
    host.onReady(this);
  }

  /**
   * Our BEP 10 handshake: ut_metadata when we serve or fetch the info dictionary, its size once we know it.
   * Sent again when a magnet's metadata arrives, and when a seeder's first pass ends (BEP 10 allows later
   * handshakes to update the first).
   */
  sendExtensionHandshake(): void {
    const host = this.host;
    if (!host || !this.remote?.extended) return;
    const metadata = host.metadataSize !== undefined || host.onMetadataMessage !== undefined;
    const m: Record<string, number> = {};
    if (metadata) m[UT_METADATA] = UT_METADATA_ID;
    if (host.pex) m[UT_PEX] = UT_PEX_ID;
    // Offered while a magnet's metadata came, and the torrent turned out private (BEP 27): withdrawn, as
    // BEP 10 lets a later handshake do with an id of 0.
    else if (this.#offeredPex) m[UT_PEX] = 0;
    this.#offeredPex ||= host.pex === true;
    this.send({
      type: 'extended',
      id: 0,
      payload: encodeExtensionHandshake({
        m,
        metadataSize: host.metadataSize,
        client: CLIENT_NAME,
        port: host.listenPort,
        reqq: LIMITS.maxIncomingRequests,
        yourIp: ipBytes(this.ip),
        steering: host.steering,
      }),
    });
  }

  /**
   * The metadata arrived and the torrent has `n` pieces: what the peer said it holds before is checked against
   * that (a bitfield of the wrong size or with spare bits set, a HAVE past the end, is a protocol error).
   */
  adoptPieceCount(n: number): void {
    this.#decoder.setPieceCount(n);
    const early = this.#early;
    this.#early = undefined;
    if (!early) return;
    let bits: Bitfield;
    if (early.all) bits = Bitfield.full(n);
    else if (early.bitfield) {
      if (early.bitfield.length !== Math.ceil(n / 8) || !Bitfield.isValidPayload(n, early.bitfield))
        throw new ChunkswarmError(
          'EWIRE_PROTOCOL',
          `a bitfield of ${early.bitfield.length} bytes for ${n} pieces`,
        );
      bits = new Bitfield(n, early.bitfield);
    } else bits = new Bitfield(n);
    for (const i of early.haves) {
      if (i >= n) throw new ChunkswarmError('EWIRE_PROTOCOL', `have for piece ${i} of ${n}`);
      bits.set(i);
    }
    this.bits = bits;
  }

  /** While the piece count is unknown, a peer's bitfield and HAVEs are kept as they came. */
  #keepEarly(m: WireMessage): void {
    this.#early ??= { haves: new Set() };
    const early = this.#early;
    if (m.type === 'bitfield') {
      early.bitfield = Buffer.from(m.bits);
      early.all = false;
      early.haves.clear();
    } else if (m.type === 'have-all' || m.type === 'have-none') {
      early.all = m.type === 'have-all';
      early.bitfield = undefined;
      early.haves.clear();
    } else if (m.type === 'have') {
      // Distinct HAVEs are bounded by the largest torrent; this caps what a flood can make us hold.
      if (early.haves.size >= 65_536)
        throw new ChunkswarmError('EWIRE_PROTOCOL', 'too many HAVEs before the metadata');
      early.haves.add(m.index);
    }
    this.bitsReceived = true;
  }

  #onMessage(m: WireMessage): void {
    const host = this.host!;
    const n = host.pieceCount;
    if (n === 0) {
      this.#onMessageBeforeMetadata(host, m);
      return;
    }
    switch (m.type) {
      case 'keep-alive':
      case 'port':
        return;
      case 'choke':
        this.peerChoking = true;
        break;
      case 'unchoke':
        this.peerChoking = false;
        break;
      case 'interested':
        this.peerInterested = true;
        break;
      case 'not-interested':
        this.peerInterested = false;
        break;
      case 'bitfield':
        // A later BITFIELD replaces the peer's state: aria2 sends one instead of HAVEs whenever it is
        // no longer than the HAVEs would be (on small torrents, after every piece), and the session
        // recounts availability from it.
        this.bits = new Bitfield(n, m.bits);
        this.bitsReceived = true;
        break;
      case 'have-all':
      case 'have-none':
        if (!this.fast) throw new ChunkswarmError('EWIRE_PROTOCOL', `${m.type} without the fast extension`);
        // Also accepted later: aria2 sends HAVE ALL in place of its last HAVEs once it completes.
        this.bits = m.type === 'have-all' ? Bitfield.full(n) : new Bitfield(n);
        this.bitsReceived = true;
        break;
      case 'have':
        if (m.index >= n) throw new ChunkswarmError('EWIRE_PROTOCOL', `have for piece ${m.index} of ${n}`);
        this.bits ??= new Bitfield(n);
        this.bitsReceived = true;
        if (!this.bits.set(m.index)) {
          // A repeated HAVE changes nothing, but costs us a message each: a stream of them is a flood.
          if (++this.#repeatedHaves > n + 64)
            throw new ChunkswarmError('EWIRE_PROTOCOL', `${this.#repeatedHaves} repeated HAVEs`);
          return;
        }
        break;
      case 'request':
        if (m.index >= n) throw new ChunkswarmError('EWIRE_PROTOCOL', `request for piece ${m.index} of ${n}`);
        break;
      case 'piece':
        this.down.add(m.block.length);
        this.lastPiece = this.clock.now();
        break;
      case 'extended':
        if (m.id === 0) {
          this.extension = decodeExtensionHandshake(m.payload);
          if (this.extension.port && !this.outgoing) this.listenPort = this.extension.port;
        } else if (m.id === UT_METADATA_ID && host.metadataSize !== undefined) {
          this.#onMetadata(host, m.payload);
          return;
        }
        break;
      case 'suggest':
      case 'allowed-fast':
      case 'reject':
        if (!this.fast) throw new ChunkswarmError('EWIRE_PROTOCOL', `${m.type} without the fast extension`);
        if (m.type !== 'reject' && m.index >= n)
          throw new ChunkswarmError('EWIRE_PROTOCOL', `${m.type} for piece ${m.index} of ${n}`);
        break;
      default:
        break;
    }
    if (m.type === 'request') {
      const max = LIMITS.maxIncomingRequests;
      // Requests already on their way when we choked are normal, as many again after it are not: an honest
      // peer keeps at most `reqq` outstanding and waits for an UNCHOKE (BEP 6).
      if (this.amChoking && ++this.#whileChoked > max) {
        throw new ChunkswarmError('EWIRE_PROTOCOL', `more than ${max} requests while choked`);
      }
      if (this.pendingRequests.size >= max) {
        // BEP 6: too many requests get a REJECT rather than a disconnect; but a peer that goes on asking
        // for as many again ignores both our `reqq` and the REJECTs, and each one costs us a reply.
        if (++this.#overReqq > max)
          throw new ChunkswarmError('EWIRE_PROTOCOL', `more than ${max} requests beyond reqq ${max}`);
        if (this.fast) this.send({ type: 'reject', index: m.index, begin: m.begin, length: m.length });
        return;
      }
      this.pendingRequests.set(blockId(m), { index: m.index, begin: m.begin, length: m.length });
    }
    if (m.type === 'cancel') {
      const id = blockId(m);
      // BEP 6: with the fast extension every request is answered, by the block or by a REJECT.
      if ((this.pendingRequests.delete(id) || this.#dropHeld(id)) && this.fast)
        this.send({ type: 'reject', ...pick(m) });
      return;
    }
    host.onMessage(this, m);
  }

  /**
   * The metadata phase of a magnet: what the peer holds is noted for later, its ut_metadata answers go to
   * the fetch, and everything about pieces waits (we hold none, so we choke it and want nothing yet).
   */
  #onMessageBeforeMetadata(host: PeerHost, m: WireMessage): void {
    switch (m.type) {
      case 'bitfield':
      case 'have':
        this.#keepEarly(m);
        return;
      case 'have-all':
      case 'have-none':
        if (!this.fast) throw new ChunkswarmError('EWIRE_PROTOCOL', `${m.type} without the fast extension`);
        this.#keepEarly(m);
        return;
      case 'choke':
      case 'unchoke':
        this.peerChoking = m.type === 'choke';
        return;
      case 'interested':
      case 'not-interested':
        this.peerInterested = m.type === 'interested';
        return;
      case 'request':
        // Nothing to serve yet: an honest peer does not ask while we choke it, so these count as such.
        if (++this.#whileChoked > LIMITS.maxIncomingRequests)
          throw new ChunkswarmError(
            'EWIRE_PROTOCOL',
            `more than ${LIMITS.maxIncomingRequests} requests while choked`,
          );
        if (this.fast) this.send({ type: 'reject', index: m.index, begin: m.begin, length: m.length });
        return;
      case 'extended':
        if (m.id === 0) {
          this.extension = decodeExtensionHandshake(m.payload);
          if (this.extension.port && !this.outgoing) this.listenPort = this.extension.port;
          host.onMessage(this, m);
        } else if (m.id === UT_METADATA_ID) this.#onMetadataWhileFetching(host, m.payload);
        else if (m.id === UT_PEX_ID && host.pex) host.onMessage(this, m);
        return;
      default:
        // piece, cancel, suggest, allowed-fast, reject, port: about pieces we cannot know of yet.
        return;
    }
  }

  /** A ut_metadata message while we fetch (BEP 9): data and rejects for the fetch; requests are refused. */
  #onMetadataWhileFetching(host: PeerHost, payload: Buffer): void {
    const size = this.extension?.metadataSize;
    if (size === undefined || size < 1) return; // it offered nothing: nothing it sends can be ours
    const m = decodeMetadataMessage(payload, { metadataSize: size, maxMetadataBytes: LIMITS.metainfoBytes });
    if (m.type === 'request') {
      if (++this.#metadataRefused > LIMITS.maxIncomingRequests)
        throw new ChunkswarmError(
          'EWIRE_PROTOCOL',
          `more than ${LIMITS.maxIncomingRequests} metadata requests`,
        );
      this.sendMetadata({ type: 'reject', piece: m.piece });
      return;
    }
    host.onMetadataMessage?.(this, m);
  }

  /**
   * A ut_metadata message (BEP 9). We only ever serve on a PeerConnection, so data and rejects are dropped.
   * A request past the end gets a reject, as BEP 9 says; so does one past the peer's allowance, which covers
   * fetching the metadata twice over: a peer that keeps asking after as many refusals as `reqq` is flooding.
   */
  #onMetadata(host: PeerHost, payload: Buffer): void {
    const size = host.metadataSize!;
    const m = decodeMetadataMessage(payload, { metadataSize: size });
    if (m.type !== 'request') return;
    const count = metadataPieceCount(size);
    // Without the peer's id for ut_metadata there is no way to answer (BEP 10): the request is refused unsaid.
    const answerable = this.metadataId !== undefined && host.onMetadataRequest !== undefined;
    if (answerable && m.piece < count && this.#metadataServed < 2 * count + 8) {
      this.#metadataServed++;
      host.onMetadataRequest!(this, m.piece);
      return;
    }
    if (++this.#metadataRefused > LIMITS.maxIncomingRequests) {
      throw new ChunkswarmError(
        'EWIRE_PROTOCOL',
        `more than ${LIMITS.maxIncomingRequests} refused metadata requests`,
      );
    }
    this.sendMetadata({ type: 'reject', piece: m.piece });
  }
}

function pick(m: BlockKey): BlockKey {
  return { index: m.index, begin: m.begin, length: m.length };
}

export { normaliseIp };

function ipBytes(ip: string): Buffer | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  return Buffer.from(parts.map(Number));
}

/** A readable name from an Azureus-style peer id (`-lt2080-` → "lt 2080"). */
export function clientFromPeerId(id: Buffer | undefined): string {
  if (!id) return '?';
  const s = id.subarray(0, 8).toString('latin1');
  const m = /^-([A-Za-z~]{2})([0-9A-Za-z]{4})-$/.exec(s);
  // aria2 is not Azureus-style: it writes 'A2-1-36-0-', the version in dash-separated numbers.
  const a2 = /^A2-(\d+)-(\d+)-(\d+)-/.exec(id.toString('latin1'));
  if (a2) return `aria2 ${a2[1]}.${a2[2]}.${a2[3]}`;
  if (!m) return 'unknown';
  const names: Record<string, string> = {
    CS: 'chunkswarm',
    lt: 'libtorrent',
    LT: 'libtorrent',
    A2: 'aria2',
    TR: 'Transmission',
    qB: 'qBittorrent',
    WW: 'WebTorrent',
    UT: 'µTorrent',
    DE: 'Deluge',
  };
  return `${names[m[1]!] ?? m[1]} ${m[2]}`;
}
