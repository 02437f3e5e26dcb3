import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { TorrentLayout } from '../metainfo/types.js';
import { ChunkswarmError } from '../shared/errors.js';
import { checkIndex, pieceLengthOf } from './spans.js';

/**
 * The worker is a plain JavaScript string run with `eval: true`: the project runs as TypeScript
 * through tsx in tests and as compiled JavaScript from dist/, and a string is the one worker
 * source that needs no path that differs between the two. It loads its modules with `import()`,
 * which works whether Node evaluates the string as CommonJS or as an ES module (`--input-type`).
 */
const WORKER_SOURCE = `
Promise.all([import('node:worker_threads'), import('node:crypto')]).then(([{ parentPort }, { createHash }]) => {
  parentPort.on('message', (m) => {
    try {
      const digest = createHash('sha1').update(new Uint8Array(m.buf, m.offset, m.length)).digest();
      const out = new Uint8Array(20);
      out.set(digest);
      parentPort.postMessage({ id: m.id, hash: out }, [out.buffer]);
    } catch (err) {
      parentPort.postMessage({ id: m.id, error: String(err && err.message ? err.message : err) });
    }
  });
});
`;

interface Task {
  readonly id: number;
  readonly buf: ArrayBuffer | SharedArrayBuffer;
  readonly offset: number;
  readonly length: number;
  readonly transfer: boolean;
  readonly resolve: (hash: Buffer) => void;
  readonly reject: (err: Error) => void;
}

interface Slot {
  readonly worker: Worker;
  task: Task | undefined;
}

type Reply = { id: number; hash: Uint8Array } | { id: number; error: string };

export interface PieceHasherOptions {
  /** Worker threads to hash in; default min(2, CPUs). */
  threads?: number;
  /**
   * Inputs shorter than this are hashed on the calling thread: a few tens of kilobytes take
   * microseconds, less than the round trip to a worker. Default 64 KiB; 0 sends everything to workers.
   */
  inlineBelow?: number;
  /**
   * While fewer bytes than this reach the hasher per second, pieces of up to 1 MiB are hashed on the
   * calling thread too: about a millisecond each, a small share of the event loop at such rates, and no
   * worker has to start (each costs a V8 isolate: about 0.1 CPU-second and 10 MB) nor be woken per piece.
   * A rate-capped peer among dozens of processes on two cores spent more on its hashing workers than on
   * the hashing. Default 32 MiB/s; 0 sends every piece from `inlineBelow` up to the workers.
   */
  inlineBelowRate?: number;
  /** Milliseconds for the rate above; tests pass a fake clock's. */
  now?: () => number;
}

/** Pieces larger than this always go to a worker: hashing one would hold the event loop too long. */
const INLINE_MAX_PIECE = 1024 * 1024;

/**
 * Data up to this size is checked on the calling thread (see checkInline). Measured on two cores, reading
 * 1 MiB pieces from the page cache into reused buffers: 64 MiB in 58 ms of wall and 67 of CPU on this
 * thread against 130 and 210 with two workers, which cost about 0.1 CPU-s each to start; 512 MiB in 367 ms
 * either way, 460 ms of CPU against 650.
 */
const INLINE_CHECK_BYTES = 512 * 1024 * 1024;

/**
 * Whether checking the data of `layout` already on disk hashes on the calling thread rather than on the
 * workers: pieces small enough to hash between two reads, and not so many that the workers' start pays off.
 */
export function checkInline(layout: TorrentLayout): boolean {
  return layout.pieceLength <= INLINE_MAX_PIECE && layout.totalLength <= INLINE_CHECK_BYTES;
}

export interface Sha1Options {
  /**
   * Hand the Buffer's memory to the worker instead of copying it. Only honoured when the Buffer
   * owns its whole ArrayBuffer, and it leaves `data` detached (length 0) afterwards, so pass it
   * only for a Buffer the caller is done with.
   */
  transfer?: boolean;
}

/** SHA-1 on worker threads, so hashing a 16 MiB piece never stalls the event loop for other peers. */
export class PieceHasher {
  readonly threads: number;
  readonly #inlineBelow: number;
  readonly #inlineBelowRate: number;
  readonly #now: () => number;
  /** Bytes asked to be hashed in the current one-second window, and when that window began. */
  #windowBytes = 0;
  #windowStart = Number.NEGATIVE_INFINITY;
  /** Hashed on the calling thread because the rate was low (for tests and the bench). */
  inlined = 0;
  readonly #slots: Slot[] = [];
  readonly #queue: Task[] = [];
  #nextId = 0;
  #closed = false;

  constructor(opts: PieceHasherOptions = {}) {
    const threads = opts.threads ?? Math.min(2, availableParallelism());
    if (!Number.isInteger(threads) || threads < 1) {
      throw new ChunkswarmError(
        'EUSAGE',
        `hasher threads must be a whole number of at least 1, not ${threads}`,
      );
    }
    this.threads = threads;
    this.#inlineBelow = opts.inlineBelow ?? 64 * 1024;
    this.#inlineBelowRate = opts.inlineBelowRate ?? 32 * 1024 * 1024;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Worker threads running (started and not stopped). */
  get workersStarted(): number {
    return this.#slots.length;
  }

  /** Whether a piece of `bytes` is hashed here rather than on a worker: small enough, at a low rate, none queued. */
  #inlineNow(bytes: number): boolean {
    if (bytes > INLINE_MAX_PIECE || !this.#slowEnough(bytes) || this.#queue.length > 0) return false;
    this.inlined++;
    return true;
  }

  /** Whether `bytes` more to hash keep this second's total under `inlineBelowRate`. */
  #slowEnough(bytes: number): boolean {
    const now = this.#now();
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#windowBytes = 0;
    }
    this.#windowBytes += bytes;
    return this.#windowBytes < this.#inlineBelowRate;
  }

  /**
   * The SHA-1 of `data`. Unless `transfer` is asked for, `data` stays usable: its bytes are copied
   * once into memory the worker takes over (or shared as they are when `data` already lives in a
   * SharedArrayBuffer), so a caller can verify a piece and then write the same Buffer.
   */
  sha1(data: Buffer, opts: Sha1Options = {}): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new ChunkswarmError('ESTORAGE', 'the piece hasher was closed'));
    if (data.length < this.#inlineBelow || this.#inlineNow(data.length))
      return Promise.resolve(createHash('sha1').update(data).digest());
    return new Promise<Buffer>((resolve, reject) => {
      let buf: ArrayBuffer | SharedArrayBuffer;
      let offset = 0;
      let transfer = false;
      const owner = data.buffer;
      if (owner instanceof SharedArrayBuffer) {
        buf = owner;
        offset = data.byteOffset;
      } else if (opts.transfer && data.byteOffset === 0 && data.byteLength === owner.byteLength) {
        buf = owner;
        transfer = true;
      } else {
        const copy = new Uint8Array(data.length);
        copy.set(data);
        buf = copy.buffer;
        transfer = true;
      }
      this.#queue.push({ id: this.#nextId++, buf, offset, length: data.length, transfer, resolve, reject });
      this.#dispatch();
    });
  }

  /** Stops the workers; hashes still queued or running are rejected. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new ChunkswarmError('ESTORAGE', 'the piece hasher was closed before it finished');
    for (const task of this.#queue.splice(0)) task.reject(closed);
    const slots = this.#slots.splice(0);
    for (const slot of slots) slot.task?.reject(closed);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let slot = this.#slots.find((s) => s.task === undefined);
      if (!slot) {
        if (this.#slots.length >= this.threads) return;
        slot = this.#spawn();
      }
      const task = this.#queue.shift()!;
      slot.task = task;
      // A worker with work keeps the process alive until it answers; an idle one never does.
      slot.worker.ref();
      const msg = { id: task.id, buf: task.buf, offset: task.offset, length: task.length };
      slot.worker.postMessage(msg, task.transfer ? [task.buf as ArrayBuffer] : []);
    }
  }

  #spawn(): Slot {
    // The source is plain JavaScript using only built-ins: it needs none of the parent's loaders or flags.
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    const slot: Slot = { worker, task: undefined };
    this.#slots.push(slot);
    worker.on('message', (reply: Reply) => {
      const task = slot.task;
      if (!task || task.id !== reply.id) return;
      slot.task = undefined;
      if (this.#queue.length === 0) worker.unref();
      if ('error' in reply) task.reject(new ChunkswarmError('ESTORAGE', `hashing failed: ${reply.error}`));
      else task.resolve(Buffer.from(reply.hash.buffer, reply.hash.byteOffset, reply.hash.byteLength));
      this.#dispatch();
    });
    const fail = (err: unknown) => {
      const i = this.#slots.indexOf(slot);
      if (i < 0) return;
      this.#slots.splice(i, 1);
      const task = slot.task;
      slot.task = undefined;
      const reason = err instanceof Error ? err.message : String(err);
      task?.reject(new ChunkswarmError('ESTORAGE', `a hashing worker stopped unexpectedly: ${reason}`));
      void worker.terminate();
      if (!this.#closed) this.#dispatch();
    };
    worker.on('error', fail);
    worker.on('messageerror', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    return slot;
  }
}

/** The 20-byte SHA-1 the torrent expects for piece `index` (a view into `layout.pieceHashes`). */
export function pieceHash(layout: TorrentLayout, index: number): Buffer {
  checkIndex(layout, index);
  const start = index * 20;
  if (layout.pieceHashes.length < start + 20) {
    throw new ChunkswarmError(
      'ESTORAGE',
      `the torrent lists ${Math.floor(layout.pieceHashes.length / 20)} piece hashes but has ${layout.pieceCount} pieces`,
    );
  }
  return layout.pieceHashes.subarray(start, start + 20);
}

/** True when `data` is exactly piece `index`: right length and right SHA-1. */
export async function verifyPiece(
  layout: TorrentLayout,
  index: number,
  data: Buffer,
  hasher?: PieceHasher,
): Promise<boolean> {
  const expected = pieceHash(layout, index);
  if (data.length !== pieceLengthOf(layout, index)) return false;
  const actual = hasher ? await hasher.sha1(data) : createHash('sha1').update(data).digest();
  return actual.equals(expected);
}
