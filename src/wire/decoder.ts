import { Bitfield } from '../shared/bitfield.js';
import { ChunkswarmError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';
import {
  HANDSHAKE_LENGTH,
  type Handshake,
  MessageId,
  PROTOCOL,
  parseReserved,
  type WireMessage,
} from './messages.js';

export interface DecoderLimits {
  /** Pieces in the torrent, or 0 while unknown (a magnet before its metadata arrived). */
  pieceCount: number;
  /** Largest block a PIECE may carry and a REQUEST may ask for. */
  maxBlock: number;
  /** Largest extension message payload (BEP 10); also the cap for messages with an id we do not know. */
  maxExtension: number;
}

export type DecoderEvent =
  | { kind: 'handshake'; handshake: Handshake }
  | { kind: 'message'; message: WireMessage };

const DEFAULT_LIMITS: DecoderLimits = {
  pieceCount: 0,
  maxBlock: LIMITS.blockSize,
  maxExtension: LIMITS.extensionMessageBytes,
};

const PROTOCOL_BYTES = Buffer.from(PROTOCOL, 'latin1');
const EMPTY = new Uint8Array(0);
const EMPTY_BUFFER = Buffer.alloc(0);

/**
 * Received bytes, kept as the list of chunks they arrived in. A message is copied out once, when it
 * is complete, so a block that trickles in one byte at a time costs O(n), not O(n^2).
 *
 * A chunk pushed as `reused` lives in memory the stream reads into again once the push returns (a
 * socket read into one buffer for all). Only `take(n, true)` may return a view of it, for a caller
 * that is done with the bytes before the push returns; `keepRest` copies what is left of it.
 */
class ByteQueue {
  readonly #views: boolean;
  #chunks: Uint8Array[] = [];
  #head = 0;
  /** Bytes of the head chunk already consumed. */
  #offset = 0;
  /** The reused chunk (always the last one pushed), until keepRest. */
  #reused: Uint8Array | undefined;
  length = 0;

  /** `views`: the caller never reuses pushed chunks, so payloads may be views of them. */
  constructor(views = false) {
    this.#views = views;
  }

  push(chunk: Uint8Array, reused = false): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.length += chunk.length;
    if (reused) this.#reused = chunk;
  }

  /** What is left of a reused chunk becomes a copy of its own, before its memory is read into again. */
  keepRest(): void {
    const reused = this.#reused;
    if (reused === undefined) return;
    this.#reused = undefined;
    const last = this.#chunks.length - 1;
    if (last < this.#head || this.#chunks[last] !== reused) return;
    const from = last === this.#head ? this.#offset : 0;
    this.#chunks[last] = Uint8Array.prototype.slice.call(reused, from);
    if (last === this.#head) this.#offset = 0;
  }

  /** The byte `i` places from the front; only used for headers, so walking the list is cheap. */
  byteAt(i: number): number {
    let at = i + this.#offset;
    for (let c = this.#head; c < this.#chunks.length; c++) {
      const chunk = this.#chunks[c]!;
      if (at < chunk.length) return chunk[at]!;
      at -= chunk.length;
    }
    throw new RangeError('ByteQueue.byteAt past the end');
  }

  uint32At(i: number): number {
    // Arithmetic, not `|`, so lengths of 2^31 and above stay positive.
    return (
      this.byteAt(i) * 0x100_0000 +
      this.byteAt(i + 1) * 0x1_0000 +
      this.byteAt(i + 2) * 0x100 +
      this.byteAt(i + 3)
    );
  }

  /**
   * Removes `n` bytes from the front. When they lie in one received chunk (the common case: a socket
   * read holds several blocks) they come back as a view of it, with no copy; a message split across
   * chunks is copied once into a new Buffer. `transient`: the caller is done with the bytes before this
   * push returns, so even a reused chunk may be viewed.
   */
  take(n: number, transient = false): Buffer {
    const head = this.#chunks[this.#head]!;
    if (head.length - this.#offset >= n && (head === this.#reused ? transient : this.#views)) {
      const view = Buffer.from(head.buffer, head.byteOffset + this.#offset, n);
      this.#advance(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[this.#head]!;
      const count = Math.min(n - filled, chunk.length - this.#offset);
      out.set(chunk.subarray(this.#offset, this.#offset + count), filled);
      filled += count;
      this.#advance(count);
    }
    return out;
  }

  skip(n: number): void {
    let left = n;
    while (left > 0) {
      const chunk = this.#chunks[this.#head]!;
      const count = Math.min(left, chunk.length - this.#offset);
      left -= count;
      this.#advance(count);
    }
  }

  #advance(count: number): void {
    this.length -= count;
    this.#offset += count;
    if (this.#offset === this.#chunks[this.#head]!.length) {
      // Drop the reference at once so a consumed chunk can be collected.
      this.#chunks[this.#head] = EMPTY;
      this.#head++;
      this.#offset = 0;
      if (this.#head === this.#chunks.length) {
        this.#chunks = [];
        this.#head = 0;
      } else if (this.#head > 1024 && this.#head * 2 > this.#chunks.length) {
        this.#chunks = this.#chunks.slice(this.#head);
        this.#head = 0;
      }
    }
  }
}

function lengthError(message: string): ChunkswarmError {
  return new ChunkswarmError('EWIRE_LENGTH', `peer sent a bad message length: ${message}`);
}

function messageError(message: string): ChunkswarmError {
  return new ChunkswarmError('EWIRE_MESSAGE', `peer sent a bad message: ${message}`);
}

function checkLimit(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ChunkswarmError(
      'EUSAGE',
      `wire decoder limit ${name}=${value} must be an integer ${min}..${max}`,
    );
  }
  return value;
}

/** Payload sizes (after the id byte) of messages whose size never varies. */
const FIXED_PAYLOAD = new Map<number, number>([
  [MessageId.choke, 0],
  [MessageId.unchoke, 0],
  [MessageId.interested, 0],
  [MessageId.notInterested, 0],
  [MessageId.have, 4],
  [MessageId.request, 12],
  [MessageId.cancel, 12],
  [MessageId.port, 2],
  [MessageId.suggest, 4],
  [MessageId.haveAll, 0],
  [MessageId.haveNone, 0],
  [MessageId.reject, 12],
  [MessageId.allowedFast, 4],
]);

/**
 * The peer wire protocol as a pure state machine: feed it the bytes of one connection in whatever
 * chunks they arrive, get back the handshake and messages they complete. It throws a
 * ChunkswarmError (EWIRE_*) as soon as the stream is provably bad, and keeps throwing it after: the
 * connection is to be closed.
 *
 * The decoder keeps views of pushed chunks until the message they carry is complete, so a caller
 * must not overwrite a chunk after pushing it, unless it pushes it as `reused`.
 *
 * It checks framing and sizes only. Whether a message is allowed now (BEP 6 messages without the
 * fast bit, a bitfield after the first message, an index past the end) is the peer layer's call.
 */
export class WireDecoder {
  #limits: DecoderLimits;
  #queue: ByteQueue;
  #inHandshake: boolean;
  /** Bytes of the handshake prefix (pstrlen + pstr) already checked. */
  #checked = 0;
  /** Header of a message whose payload has not fully arrived: its id and payload length. */
  #pending: { id: number; size: number } | null = null;
  /** Payload bytes of an unknown message still to discard. */
  #skip = 0;
  #failure: ChunkswarmError | null = null;

  /**
   * `zeroCopy`: payloads may be views of the pushed chunks instead of copies — only for a caller that
   * never reuses a chunk after pushing it (a socket's 'data' buffers are always new).
   */
  constructor(opts: { expectHandshake?: boolean; limits?: Partial<DecoderLimits>; zeroCopy?: boolean } = {}) {
    this.#queue = new ByteQueue(opts.zeroCopy === true);
    const limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.#limits = {
      pieceCount: checkLimit('pieceCount', limits.pieceCount, 0, LIMITS.maxPieces),
      maxBlock: checkLimit('maxBlock', limits.maxBlock, 1, 0x7fff_ffff),
      maxExtension: checkLimit('maxExtension', limits.maxExtension, 1, 0x7fff_ffff),
    };
    this.#inHandshake = opts.expectHandshake ?? true;
  }

  /** For a magnet link the piece count is known only once the metadata has arrived. */
  setPieceCount(n: number): void {
    this.#limits.pieceCount = checkLimit('pieceCount', n, 0, LIMITS.maxPieces);
  }

  /**
   * `reused`: the chunk's memory is read into again once the caller is done with the events (one read
   * buffer for every socket). Then a PIECE message's block may be a view of it, valid only until the
   * caller returns; every other payload is a copy.
   */
  push(chunk: Uint8Array, reused = false): DecoderEvent[] {
    if (this.#failure) throw this.#failure;
    this.#queue.push(chunk, reused);
    const events: DecoderEvent[] = [];
    try {
      if (this.#inHandshake) {
        const handshake = this.#readHandshake();
        if (!handshake) return events;
        events.push({ kind: 'handshake', handshake });
        this.#inHandshake = false;
      }
      for (;;) {
        const message = this.#readMessage();
        if (!message) return events;
        events.push({ kind: 'message', message });
      }
    } catch (err) {
      if (err instanceof ChunkswarmError) this.#failure = err;
      throw err;
    } finally {
      this.#queue.keepRest();
    }
  }

  #readHandshake(): Handshake | null {
    const q = this.#queue;
    // Check each byte of the prefix as it arrives: a client that opens with an encrypted (MSE)
    // handshake, as aria2 does, must be dropped at its first byte so it retries in plain text.
    const prefix = Math.min(q.length, 1 + PROTOCOL.length);
    for (; this.#checked < prefix; this.#checked++) {
      const byte = q.byteAt(this.#checked);
      if (this.#checked === 0) {
        if (byte !== PROTOCOL.length) {
          throw new ChunkswarmError(
            'EWIRE_HANDSHAKE',
            `peer did not open with a BitTorrent handshake (first byte ${byte}, expected 19); it may be encrypted or not BitTorrent`,
          );
        }
      } else if (byte !== PROTOCOL_BYTES[this.#checked - 1]) {
        throw new ChunkswarmError(
          'EWIRE_HANDSHAKE',
          `peer's handshake does not name the "${PROTOCOL}" protocol`,
        );
      }
    }
    if (q.length < HANDSHAKE_LENGTH) return null;
    const bytes = q.take(HANDSHAKE_LENGTH);
    const at = 1 + PROTOCOL.length;
    const reserved = Buffer.from(bytes.subarray(at, at + 8));
    return {
      reserved,
      infoHash: Buffer.from(bytes.subarray(at + 8, at + 28)),
      peerId: Buffer.from(bytes.subarray(at + 28, at + 48)),
      ...parseReserved(reserved),
    };
  }

  #readMessage(): WireMessage | null {
    const q = this.#queue;
    for (;;) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, q.length);
        q.skip(n);
        this.#skip -= n;
        if (this.#skip > 0) return null;
      }
      if (this.#pending === null) {
        if (q.length < 4) return null;
        const length = q.uint32At(0);
        if (length === 0) {
          q.skip(4);
          return { type: 'keep-alive' };
        }
        // Refuse an impossible length before waiting for the id: nothing we accept is this big.
        const largest = this.#largestMessage();
        if (length > largest) {
          throw lengthError(`${length} bytes announced, more than any message we accept (${largest})`);
        }
        if (q.length < 5) return null;
        const id = q.byteAt(4);
        const size = length - 1;
        this.#checkSize(id, size);
        q.skip(5);
        if (!this.#isKnown(id)) {
          // An extension we do not speak: skip it as it streams past, never buffer it.
          this.#skip = size;
          continue;
        }
        this.#pending = { id, size };
      }
      const { id, size } = this.#pending;
      if (q.length < size) return null;
      this.#pending = null;
      // A block is copied into its piece at once (see push); nothing else may point into a reused read.
      return this.#parse(id, size === 0 ? EMPTY_BUFFER : q.take(size, id === MessageId.piece));
    }
  }

  #largestMessage(): number {
    const { maxBlock, maxExtension } = this.#limits;
    return Math.max(9 + maxBlock, 1 + maxExtension, 1 + this.#bitfieldMax());
  }

  /** Bitfield payload size: exact when the piece count is known, else the largest torrent's. */
  #bitfieldMax(): number {
    const pieces = this.#limits.pieceCount || LIMITS.maxPieces;
    return Math.ceil(pieces / 8);
  }

  #isKnown(id: number): boolean {
    return (
      FIXED_PAYLOAD.has(id) ||
      id === MessageId.bitfield ||
      id === MessageId.piece ||
      id === MessageId.extended
    );
  }

  /** Every cap is checked here, from the header alone, before a byte of payload is kept. */
  #checkSize(id: number, size: number): void {
    const fixedSize = FIXED_PAYLOAD.get(id);
    if (fixedSize !== undefined) {
      if (size !== fixedSize) {
        throw lengthError(`message id ${id} must carry ${fixedSize} payload bytes, not ${size}`);
      }
      return;
    }
    const { maxBlock, maxExtension, pieceCount } = this.#limits;
    switch (id) {
      case MessageId.piece:
        if (size < 8) throw lengthError(`a piece message needs 8 bytes of index and offset, got ${size}`);
        if (size - 8 > maxBlock) {
          throw lengthError(`a ${size - 8}-byte block is larger than the ${maxBlock} bytes we ever request`);
        }
        // No request ever asks for zero bytes, so an empty block answers nothing.
        if (size === 8) throw messageError('a piece message with an empty block');
        return;
      case MessageId.bitfield:
        if (pieceCount > 0 && size !== Math.ceil(pieceCount / 8)) {
          throw lengthError(
            `a bitfield for ${pieceCount} pieces is ${Math.ceil(pieceCount / 8)} bytes, not ${size} (BEP 3)`,
          );
        }
        if (size > this.#bitfieldMax()) {
          throw lengthError(`a ${size}-byte bitfield is larger than any torrent we accept`);
        }
        return;
      case MessageId.extended:
        if (size < 1) throw lengthError('an extension message without its extension id (BEP 10)');
        // The cap covers the extension id byte too, matching the 1 + maxExtension of the design.
        if (size > maxExtension) {
          throw lengthError(`a ${size}-byte extension message is over the ${maxExtension}-byte limit`);
        }
        return;
      default:
        if (size > maxExtension) {
          throw lengthError(
            `a ${size}-byte message with unknown id ${id} is over the ${maxExtension}-byte limit`,
          );
        }
    }
  }

  #parse(id: number, p: Buffer): WireMessage {
    switch (id) {
      case MessageId.choke:
        return { type: 'choke' };
      case MessageId.unchoke:
        return { type: 'unchoke' };
      case MessageId.interested:
        return { type: 'interested' };
      case MessageId.notInterested:
        return { type: 'not-interested' };
      case MessageId.have:
        return { type: 'have', index: p.readUInt32BE(0) };
      case MessageId.bitfield:
        return { type: 'bitfield', bits: this.#checkBitfield(p) };
      case MessageId.request: {
        const length = p.readUInt32BE(8);
        // BEP 3: clients close connections that ask for more than a block; zero asks for nothing.
        if (length === 0 || length > this.#limits.maxBlock) {
          throw messageError(`a request for ${length} bytes (allowed: 1 to ${this.#limits.maxBlock})`);
        }
        return { type: 'request', index: p.readUInt32BE(0), begin: p.readUInt32BE(4), length };
      }
      case MessageId.piece:
        return { type: 'piece', index: p.readUInt32BE(0), begin: p.readUInt32BE(4), block: p.subarray(8) };
      case MessageId.cancel:
        return {
          type: 'cancel',
          index: p.readUInt32BE(0),
          begin: p.readUInt32BE(4),
          length: p.readUInt32BE(8),
        };
      case MessageId.port:
        return { type: 'port', port: p.readUInt16BE(0) };
      case MessageId.suggest:
        return { type: 'suggest', index: p.readUInt32BE(0) };
      case MessageId.haveAll:
        return { type: 'have-all' };
      case MessageId.haveNone:
        return { type: 'have-none' };
      case MessageId.reject:
        return {
          type: 'reject',
          index: p.readUInt32BE(0),
          begin: p.readUInt32BE(4),
          length: p.readUInt32BE(8),
        };
      case MessageId.allowedFast:
        return { type: 'allowed-fast', index: p.readUInt32BE(0) };
      case MessageId.extended:
        return { type: 'extended', id: p[0]!, payload: p.subarray(1) };
      default:
        // #isKnown lets only the ids above reach here.
        throw new ChunkswarmError('EWIRE_PROTOCOL', `internal: no parser for message id ${id}`);
    }
  }

  #checkBitfield(bits: Buffer): Buffer {
    const pieces = this.#limits.pieceCount;
    if (pieces === 0) return bits;
    // The piece count may have been set while this bitfield was arriving; check the size again.
    if (bits.length !== Math.ceil(pieces / 8)) {
      throw lengthError(
        `a bitfield for ${pieces} pieces is ${Math.ceil(pieces / 8)} bytes, not ${bits.length} (BEP 3)`,
      );
    }
    if (!Bitfield.isValidPayload(pieces, bits)) {
      throw messageError('a bitfield with spare bits set past the last piece (BEP 3)');
    }
    return bits;
  }
}
