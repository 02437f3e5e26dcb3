import { pieceSize } from '../metainfo/index.js';
import type { Storage } from './storage.js';

/**
 * Serving reads a whole piece once and answers its blocks from memory: peers ask for a piece's 16 KiB
 * blocks in a row, and one 1 MiB read costs far less than sixty-four small ones. A few pieces are kept,
 * least recently used first out, so memory stays bounded whatever the torrent size.
 */
export class PieceReadCache {
  readonly #storage: Storage;
  readonly #capacity: number;
  readonly #pieces = new Map<number, Promise<Buffer>>();

  constructor(storage: Storage, capacity = 16) {
    this.#storage = storage;
    this.#capacity = capacity;
  }

  async read(index: number, begin: number, length: number): Promise<Buffer> {
    let piece = this.#pieces.get(index);
    if (piece) {
      // Refresh its place in the LRU order.
      this.#pieces.delete(index);
    } else {
      piece = this.#storage.read(index, 0, pieceSize(this.#storage.layout, index));
      piece.catch(() => this.#pieces.delete(index));
    }
    this.#pieces.set(index, piece);
    while (this.#pieces.size > this.#capacity) this.#pieces.delete(this.#pieces.keys().next().value!);
    const data = await piece;
    return data.subarray(begin, begin + length);
  }

  clear(): void {
    this.#pieces.clear();
  }
}
