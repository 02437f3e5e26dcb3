import type { BufferPool } from '../shared/env.js';
import { alignedBuffer } from './aligned.js';

/**
 * Copies `source` into `target` at `at`, as `source.copy(target, at)` does, at memcpy's speed also when the
 * target is shared memory. V8 copies into a SharedArrayBuffer with relaxed atomic loads and stores, a word at a
 * time only when both sides have the same alignment, else a byte at a time, and a block's bytes start 13 bytes
 * into its PIECE message: copying 64 MiB of blocks so took 21 ms on a warm cache against 1.3 for plain memory
 * (6.5% of a capped leecher's CPU in a profile). `fill` with a buffer as the value is a plain memcpy in Node.
 */
export function copyInto(target: Buffer, source: Buffer, at: number): void {
  // `fill` refuses an empty value; past the target's end it throws, where `copy` would cut the bytes short.
  if (source.length > 0) target.fill(source, at, at + source.length);
}

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
