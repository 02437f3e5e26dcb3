import { pieceSize } from '../metainfo/index.js';
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
 * The piece buffers are reused: a buffer goes back to a small free list once its piece has left the
 * cache and every block handed out of it has been released. A seeder reads a whole torrent's worth of
 * pieces; a fresh 1 MiB allocation for each kept the garbage collector busy for a fifth of its time.
 */
export class PieceReadCache {
  readonly #storage: Storage;
  readonly #minPieces: number;
  readonly #maxBytes: number;
  #capacity: number;
  readonly #pieces = new Map<number, Entry>();
  readonly #free = new Map<number, Buffer[]>();
  /** Bytes read from storage so far: with `served` bytes beside it, the cache's read amplification. */
  bytesRead = 0;

  /**
   * `pieces`: how many pieces are kept at least. `maxBytes`: how far `fitTo` may grow the cache beyond
   * that, so memory stays bounded whatever the piece size and however many peers are served.
   */
  constructor(storage: Storage, opts: { pieces?: number; maxBytes?: number } = {}) {
    this.#storage = storage;
    this.#minPieces = opts.pieces ?? 16;
    this.#maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.#capacity = this.#minPieces;
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
      const buffer = this.#free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
      entry = { buffer, read: this.#storage.read(index, 0, size, buffer), users: 0, evicted: false };
      this.bytesRead += size;
      const failed = entry;
      // A storage that hands out views of bytes it already holds (the simulator's) leaves the buffer
      // untouched (the data lies in other memory): it goes back at once, or every miss would allocate a
      // piece-sized buffer anew.
      entry.read.then(
        (data) => {
          if (data.buffer === buffer.buffer || failed.buffer !== buffer) return;
          failed.buffer = undefined;
          this.#giveBack(buffer);
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
    while (this.#pieces.size > this.#capacity) {
      const [oldest, old] = this.#pieces.entries().next().value!;
      this.#pieces.delete(oldest);
      old.evicted = true;
      this.#recycle(old);
    }
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

  clear(): void {
    for (const e of this.#pieces.values()) e.evicted = true;
    this.#pieces.clear();
    this.#free.clear();
  }

  #recycle(e: Entry): void {
    if (!e.evicted || e.users > 0 || !e.buffer) return;
    this.#giveBack(e.buffer);
    e.buffer = undefined;
  }

  #giveBack(buffer: Buffer): void {
    let list = this.#free.get(buffer.length);
    if (!list) {
      list = [];
      this.#free.set(buffer.length, list);
    }
    // The free list stays small: beyond the cache's own size, buffers are left to the collector.
    if (list.length < this.#capacity && !list.includes(buffer)) list.push(buffer);
  }
}
