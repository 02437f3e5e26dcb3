import { createHash } from 'node:crypto';
import type { TorrentLayout } from '../metainfo/types.js';
import { Bitfield } from '../shared/bitfield.js';
import { ChunkswarmError } from '../shared/errors.js';
import { copyInto } from './buffer-pool.js';
import { pieceHash } from './hasher.js';
import { checkRange, checkWholePiece } from './spans.js';
import type { Storage, VerifyOptions } from './storage.js';

/** Pieces in a Map: the Storage for tests and for sessions that need no disk. */
export class MemoryStorage implements Storage {
  readonly layout: TorrentLayout;
  readonly #pieces = new Map<number, Buffer>();
  #closed = false;

  constructor(layout: TorrentLayout) {
    this.layout = layout;
  }

  /** Indexes of the pieces stored, ascending. */
  held(): number[] {
    return [...this.#pieces.keys()].sort((a, b) => a - b);
  }

  async read(index: number, begin: number, length: number, into?: Buffer): Promise<Buffer> {
    this.#checkOpen();
    checkRange(this.layout, index, begin, length);
    const piece = this.#pieces.get(index);
    if (!piece) throw new ChunkswarmError('ESTORAGE', `cannot read piece ${index}: it is not held`);
    if (into !== undefined && into.length >= length) {
      copyInto(into, piece.subarray(begin, begin + length), 0);
      return into.subarray(0, length);
    }
    return Buffer.from(piece.subarray(begin, begin + length));
  }

  async writePiece(index: number, data: Buffer): Promise<void> {
    this.#checkOpen();
    checkWholePiece(this.layout, index, data);
    // A copy, so a caller reusing its buffer cannot change what we hold (copyInto: `data` may be shared memory).
    const own = Buffer.allocUnsafe(data.length);
    copyInto(own, data, 0);
    this.#pieces.set(index, own);
  }

  async verifyExisting(opts: VerifyOptions = {}): Promise<Bitfield> {
    this.#checkOpen();
    const bits = new Bitfield(this.layout.pieceCount);
    for (let i = 0; i < this.layout.pieceCount; i++) {
      const piece = opts.only && !opts.only.has(i) ? undefined : this.#pieces.get(i);
      if (piece) {
        const digest = opts.hasher
          ? await opts.hasher.sha1(piece)
          : createHash('sha1').update(piece).digest();
        if (digest.equals(pieceHash(this.layout, i))) bits.set(i);
      }
      opts.onProgress?.(i + 1, this.layout.pieceCount);
    }
    return bits;
  }

  async flush(): Promise<void> {
    this.#checkOpen();
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #checkOpen(): void {
    if (this.#closed) throw new ChunkswarmError('ESTORAGE', 'memory storage is closed');
  }
}
