import type { BufferPool } from '../shared/env.js';

/**
 * Piece-sized buffers, reused: a session assembles its pieces in them and its read cache serves from them.
 * They live in shared memory so the hashing worker reads them without a copy, and reusing them keeps a fast
 * download from churning the garbage collector (and the RSS up), and from faulting in fresh memory.
 */
export class PieceBufferPool implements BufferPool {
  readonly #free = new Map<number, Buffer[]>();
  readonly #keep: number;

  constructor(keepPerSize = 32) {
    this.#keep = keepPerSize;
  }

  take(size: number): Buffer {
    return this.#free.get(size)?.pop() ?? Buffer.from(new SharedArrayBuffer(size));
  }

  give(buf: Buffer): void {
    let list = this.#free.get(buf.length);
    if (!list) {
      list = [];
      this.#free.set(buf.length, list);
    }
    if (list.length < this.#keep) list.push(buf);
  }
}
