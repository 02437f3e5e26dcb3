import type { TorrentLayout } from '../metainfo/types.js';
import type { Bitfield } from '../shared/bitfield.js';
import type { PieceHasher } from './hasher.js';

export interface VerifyOptions {
  /** Called after each piece is checked, with how many are done out of how many. */
  onProgress?: (done: number, total: number) => void;
  /** Hash on these worker threads; without one, hashing runs on the calling thread. */
  hasher?: PieceHasher;
  /** Check only these pieces; the others count as missing. */
  only?: Bitfield;
}

/** Where a torrent's verified bytes live. Every method rejects with ChunkswarmError (ESTORAGE, ...). */
export interface Storage {
  readonly layout: TorrentLayout;
  /**
   * Whether a read copies bytes out of files (the page cache at best): then serving a piece still in memory
   * costs less than reading it back. Absent for storages that hand out what they hold in memory.
   */
  readonly readsFromDisk?: boolean;
  /**
   * Bytes of a held piece (a block of it), in `into` when given (at least `length` bytes; the result is
   * its first `length`). Rejects ESTORAGE if the range is outside the piece.
   */
  read(index: number, begin: number, length: number, into?: Buffer): Promise<Buffer>;
  /** Store a whole piece that the caller has already verified. Resolves once the bytes are written (and, for chunk folders, renamed into place). */
  writePiece(index: number, data: Buffer): Promise<void>;
  /** Hash what is on disk: which pieces are present and correct. Missing files/short files = missing pieces, never an error. */
  verifyExisting(opts?: VerifyOptions): Promise<Bitfield>;
  /** fsync what was written (resume safety). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Runs `produce` for 0..count-1 with at most `window` in flight, and hands the results to
 * `consume` strictly in index order. Lets verification read piece i+1 while piece i is hashed,
 * without holding more than `window` pieces in memory.
 */
export async function ordered<T>(
  count: number,
  window: number,
  produce: (i: number) => Promise<T>,
  consume: (i: number, value: T) => Promise<void> | void,
): Promise<void> {
  const pending: Promise<T>[] = [];
  let next = 0;
  const fill = () => {
    while (next < count && pending.length < window) {
      const p = produce(next++);
      // Attach a handler now so a rejection waiting its turn is not reported as unhandled.
      p.catch(() => {});
      pending.push(p);
    }
  };
  fill();
  for (let i = 0; i < count; i++) {
    const value = await pending.shift()!;
    fill();
    await consume(i, value);
  }
}
