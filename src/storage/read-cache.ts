import { pieceSize } from '../metainfo/index.js';
import type { BufferPool } from '../shared/env.js';
import { sameMemory } from './aligned.js';
import { PieceBufferPool } from './buffer-pool.js';
import type { Storage } from './storage.js';

/** A block served from the cache; `release()` once the socket no longer needs its bytes. */
export interface CachedBlock {
  readonly data: Buffer;
  release(): void;
}

interface Entry {
  /** Given to the storage to read into; undefined once it is back on the free list (see read). */
  buffer: Buffer | undefined;
  readonly read: Promise<Buffer>;
  /** Blocks handed out and not released yet: the buffer cannot be reused while any is being sent. */
  users: number;
  evicted: boolean;
}

/**
 * Serving reads a whole piece once and answers its blocks from memory: peers ask for a piece's 16 KiB
 * blocks in a row, and one 1 MiB read costs far less than sixty-four small ones. A few pieces are kept,
 * least recently used first out, so memory stays bounded whatever the torrent size.
 *
 * The piece buffers are reused: a buffer goes back to its pool once its piece has left the cache and every
 * block handed out of it has been released. A seeder reads a whole torrent's worth of pieces; a fresh 1 MiB
 * allocation for each kept the garbage collector busy for a fifth of its time. A session's cache shares the
 * pool its pieces are assembled in, so a piece just verified can be kept (adopt) without a copy.
 */
export class PieceReadCache {
  readonly #storage: Storage;
  readonly #minPieces: number;
  readonly #maxBytes: number;
  #capacity: number;
  readonly #pieces = new Map<number, Entry>();
  readonly #buffers: BufferPool;
  /** Bytes read from storage so far: with `served` bytes beside it, the cache's read amplification. */
  bytesRead = 0;

  /**
   * `pieces`: how many pieces are kept at least. `maxBytes`: how far `fitTo` may grow the cache beyond
   * that, so memory stays bounded whatever the piece size and however many peers are served. `buffers`:
   * where piece buffers come from and go back to (by default a pool of the cache's own).
   */
  constructor(storage: Storage, opts: { pieces?: number; maxBytes?: number; buffers?: BufferPool } = {}) {
    this.#storage = storage;
    // Few pieces unless more peers are served at once (fitTo): every buffer is memory faulted in once, which
    // costs more than reading a piece twice (a 1 + 24 leecher: 2,000 of its 15,000 faults went with 16).
    this.#minPieces = opts.pieces ?? 4;
    this.#maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.#capacity = this.#minPieces;
    this.#buffers = opts.buffers ?? new PieceBufferPool();
  }

  /**
   * Sizes the cache for `readers` peers served at once. Serving goes round the peers a few blocks at a
   * time, each peer in its own piece: with fewer slots than peers, least-recently-used evicts every piece
   * just before its next turn, and each 64 KiB batch re-read a whole piece (16 times the bytes sent for
   * 1 MiB pieces, at a seeder unchoking 24 peers).
   */
  fitTo(readers: number): void {
    const byBytes = Math.max(1, Math.floor(this.#maxBytes / this.#storage.layout.pieceLength));
    this.#capacity = Math.max(this.#minPieces, Math.min(readers + 4, byBytes));
  }

  async read(index: number, begin: number, length: number): Promise<CachedBlock> {
    let entry = this.#pieces.get(index);
    if (entry) {
      // Refresh its place in the LRU order.
      this.#pieces.delete(index);
    } else {
      const size = pieceSize(this.#storage.layout, index);
      const buffer = this.#buffers.take(size);
      entry = { buffer, read: this.#storage.read(index, 0, size, buffer), users: 0, evicted: false };
      this.bytesRead += size;
      const failed = entry;
      // A storage that hands out views of bytes it already holds (the simulator's) leaves the buffer
      // untouched (the data lies in other memory): it goes back at once, or every miss would allocate a
      // piece-sized buffer anew.
      entry.read.then(
        (data) => {
          if (sameMemory(data, buffer) || failed.buffer !== buffer) return;
          failed.buffer = undefined;
          this.#buffers.give(buffer);
        },
        () => {},
      );
      entry.read.catch(() => {
        if (this.#pieces.get(index) === failed) this.#pieces.delete(index);
        // Never handed out: nothing else can hold it.
        failed.evicted = true;
      });
    }
    this.#pieces.set(index, entry);
    this.#evictOverCapacity();
    entry.users++;
    let data: Buffer;
    try {
      data = await entry.read;
    } catch (err) {
      entry.users--;
      throw err;
    }
    const held = entry;
    let released = false;
    return {
      data: data.subarray(begin, begin + length),
      release: () => {
        if (released) return;
        released = true;
        held.users--;
        this.#recycle(held);
      },
    };
  }

  /**
   * Keeps `data`, the whole of piece `index` as just verified and stored, in a buffer of this cache's pool, as
   * if it had been read: a new piece is the one the peers that lack it ask for next, and reading it back
   * copied it from the file (a leecher of a 1 + 24 swarm read 30 of its 64 pieces back). The buffer is the cache's
   * from then on. False, and the buffer stays the caller's, when reading it back would cost no copy (a
   * storage that hands out what it holds in memory), when the piece is cached already, or when a piece this
   * large is not kept unasked (the cache's least number of pieces would pass its byte bound).
   */
  adopt(index: number, data: Buffer): boolean {
    if (this.#storage.readsFromDisk !== true) return false;
    if (this.#pieces.has(index) || data.length * this.#minPieces > this.#maxBytes) return false;
    this.#pieces.set(index, { buffer: data, read: Promise.resolve(data), users: 0, evicted: false });
    this.#evictOverCapacity();
    return true;
  }

  clear(): void {
    for (const e of this.#pieces.values()) e.evicted = true;
    this.#pieces.clear();
  }

  #evictOverCapacity(): void {
    while (this.#pieces.size > this.#capacity) {
      const [oldest, old] = this.#pieces.entries().next().value!;
      this.#pieces.delete(oldest);
      old.evicted = true;
      this.#recycle(old);
    }
  }

  #recycle(e: Entry): void {
    if (!e.evicted || e.users > 0 || !e.buffer) return;
    this.#buffers.give(e.buffer);
    e.buffer = undefined;
  }
}
