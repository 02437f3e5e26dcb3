import type { BufferPool } from '../shared/env.js';
import { alignedBuffer } from './aligned.js';

/** Shared memory, its start wherever the allocator put it. */
export const plainSharedBuffer = (size: number): Buffer => Buffer.from(new SharedArrayBuffer(size));

/**
 * Piece-sized buffers, reused: a session assembles its pieces in them and its read cache serves from them.
 * They live in shared memory so the hashing worker reads them without a copy, and reusing them keeps a fast
 * download from churning the garbage collector (and the RSS up), and from faulting in fresh memory. By
 * default they start on a 4 KiB boundary, so FileStorage can write a verified piece straight from them to the
 * disk (O_DIRECT; see aligned.ts); the simulator, which stores nothing on disk, passes plainSharedBuffer.
 */
export class PieceBufferPool implements BufferPool {
  readonly #free = new Map<number, Buffer[]>();
  readonly #keep: number;
  readonly #allocate: (size: number) => Buffer;

  constructor(keepPerSize = 32, allocate: (size: number) => Buffer = alignedBuffer) {
    this.#keep = keepPerSize;
    this.#allocate = allocate;
  }

  take(size: number): Buffer {
    return this.#free.get(size)?.pop() ?? this.#allocate(size);
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
