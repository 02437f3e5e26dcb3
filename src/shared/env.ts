/**
 * The peer side's side effects behind one seam: time, randomness and the network. Production wires Node's
 * timers, crypto and sockets (`nodeEnv` in node-env.ts); tests and the simulator wire a fake clock, a seeded
 * generator and an in-memory network, so the same session code runs in both without a socket or a sleep.
 */
import type { Clock } from './clock.js';
import { seededGenerator } from './random.js';

/** What a stream tells its owner. `close` comes once, after which nothing else does. */
export interface StreamHandlers {
  /**
   * `reused`: the chunk's memory is read into again as soon as this call returns (one read buffer for all
   * sockets, which spares an allocation per read): a handler keeps nothing of it past the call.
   */
  data(chunk: Buffer, reused?: boolean): void;
  /** Everything written so far has been taken by the network: the writer may go on. */
  drain(): void;
  close(reason: string): void;
}

/** One connection's bytes both ways: a TCP socket in production, an in-memory link in tests. */
export interface ByteStream {
  /** The other side's address, IPv4-mapped IPv6 already unwrapped. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Bytes written and not yet taken by the network; a writer past its budget waits for `drain`. */
  readonly pendingBytes: number;
  /** Queues bytes; `written` runs once the network took them (or the stream failed): until then they must not change. */
  write(bytes: Buffer, written?: () => void): void;
  /** Stops delivering data (the other side slows down once buffers fill), until `resume`. */
  pause(): void;
  resume(): void;
  /** Closes the stream; what was written before still leaves. `close` is not reported to the handlers. */
  close(): void;
  /** Sets the handlers; data is delivered only after this. */
  attach(handlers: StreamHandlers): void;
}

export interface Listener {
  readonly port: number;
  close(): void;
}

export interface Network {
  /** Connects; rejects with a one-line reason (refused, timed out). */
  dial(host: string, port: number, timeoutMs: number): Promise<ByteStream>;
  /** Accepts connections on `host:port` (port 0: any free one). */
  listen(host: string, port: number, onStream: (stream: ByteStream) => void): Promise<Listener>;
}

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  bytes(n: number): Buffer;
}

/** Piece-sized buffers lent and given back (see storage/buffer-pool.ts). */
export interface BufferPool {
  take(size: number): Buffer;
  give(buf: Buffer): void;
}

export interface Env {
  readonly clock: Clock;
  readonly random: Random;
  readonly net: Network;
  /**
   * Where sessions take the buffers pieces are assembled in (default: a pool per session). The simulator
   * gives its thousand sessions one pool: a buffer one peer has verified serves the next piece of another,
   * where a pool per session each kept its own peak's worth (fresh memory to fault in, and gigabytes held).
   */
  readonly pieceBuffers?: BufferPool;
  /** HTTP range requests, for BEP 19 web seeds (absent: web seeds are not used, as in the simulator). */
  readonly fetchRange?: RangeFetch;
}

/**
 * Bytes `start .. start + length` of the resource at `url` (an HTTP Range request), exactly that many or a
 * rejection with a one-line reason; `signal` aborts it.
 */
export type RangeFetch = (url: string, start: number, length: number, signal: AbortSignal) => Promise<Buffer>;

/** A Random from a seed (see seededGenerator): the same seed, the same run. */
export function seededRandom(seed: number): Random {
  const next = seededGenerator(seed);
  return {
    next,
    bytes(n) {
      const out = Buffer.alloc(n);
      for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
      return out;
    },
  };
}
