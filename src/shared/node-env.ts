/** The production side of the seam (env.ts): Node's timers, crypto randomness and TCP sockets. */
import { randomBytes } from 'node:crypto';
import { createServer, connect as netConnect, type Server, Socket } from 'node:net';
import { systemClock } from './clock.js';
import type { ByteStream, Env, Listener, Network, Random, StreamHandlers } from './env.js';
import { describeError } from './errors.js';
import { fetchRange } from './http-range.js';
import { normaliseIp } from './types.js';

/**
 * A TCP socket as a ByteStream. Everything written in one turn of the event loop (HAVEs after a verified
 * piece, REQUESTs after a batch of blocks, blocks served together) leaves in one writev: a system call per
 * message was the largest cost of a rate-limited peer, which sends and receives a few blocks at a time.
 */
export class SocketStream implements ByteStream {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly #socket: Socket;
  #handlers: StreamHandlers | undefined;
  /** Bytes a socket that reads into the shared buffer got before `attach`, copied. */
  #early: Buffer[] | undefined;
  #corked = false;
  #closed = false;

  constructor(socket: Socket) {
    this.#socket = socket;
    this.remoteAddress = normaliseIp(socket.remoteAddress ?? '?');
    this.remotePort = socket.remotePort ?? 0;
    socket.setNoDelay(true);
    // An error before `attach` (between connect and the first handler) is reported by 'close' later.
    socket.on('error', () => {});
  }

  get pendingBytes(): number {
    return this.#socket.writableLength;
  }

  /** A read into the shared buffer (a socket made with `sharedReads`, dialled or accepted). */
  readonly onSharedRead = (chunk: Buffer): void => {
    if (this.#handlers) this.#handlers.data(chunk, true);
    else {
      this.#early ??= [];
      this.#early.push(Buffer.from(chunk));
    }
  };

  attach(h: StreamHandlers): void {
    const s = this.#socket;
    this.#handlers = h;
    const early = this.#early;
    this.#early = undefined;
    // After the caller has finished setting up, as a socket in flowing mode would deliver them.
    if (early)
      process.nextTick(() => {
        for (const c of early) h.data(c, false);
      });
    const close = (reason: string): void => {
      if (this.#closed) return;
      this.#closed = true;
      h.close(reason);
    };
    s.on('data', (chunk: Buffer) => h.data(chunk, false));
    s.on('drain', () => h.drain());
    s.on('error', (err) => close(describeError(err)));
    s.on('end', () => close('peer closed the connection'));
    s.on('close', () => {
      // A writer waiting for room must not wait forever on a closed socket.
      h.drain();
      close('connection closed');
    });
  }

  write(bytes: Buffer, written?: () => void): void {
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(this.#uncork);
    }
    if (written) this.#socket.write(bytes, () => written());
    else this.#socket.write(bytes);
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#socket.uncork();
  };

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  close(): void {
    this.#closed = true;
    // What this turn wrote (our handshake, a REJECT) still goes out, as it would have without the cork.
    if (this.#corked) this.#uncork();
    this.#socket.destroy();
  }
}

/**
 * The buffer every peer socket reads into. A socket's own reads allocate 64 KiB each, which the garbage
 * collector then frees; one buffer, read into again and again, costs neither, and at 256 KiB a fast
 * peer's bytes come in a quarter of the reads: a 256 MiB download took a quarter less CPU. Safe because a
 * read's bytes are consumed before the next read can happen (see StreamHandlers.data).
 */
const SHARED_READ_BYTES = 256 * 1024;
let sharedReadBuffer: Buffer | undefined;

/** Node's `onread` option: the socket reads into the shared buffer and hands each read to `stream`. */
function sharedReads(stream: () => SocketStream | undefined): {
  buffer: Buffer;
  callback: (n: number, buf: Uint8Array) => boolean;
} {
  sharedReadBuffer ??= Buffer.allocUnsafe(SHARED_READ_BYTES);
  return {
    buffer: sharedReadBuffer,
    callback: (n, buf) => {
      stream()?.onSharedRead(Buffer.from(buf.buffer, buf.byteOffset, n));
      return true;
    },
  };
}

/** The part of a listening net.Server's libuv handle that `acceptWithSharedReads` takes over. */
interface ListeningHandle {
  onconnection: ((status: number, client: unknown) => void) | null;
}

/**
 * Node gives `onread` to sockets it dials, not to those a server accepts. So the server's handle hands
 * each accepted connection to us, and we make its net.Socket with `onread`, as net.Server would have made
 * it otherwise. The handle is internal to Node: when it is not what this expects, the server accepts as
 * usual and those sockets keep their own reads (false).
 */
function acceptWithSharedReads(
  server: Server,
  onSocket: (socket: Socket, stream: SocketStream) => void,
): boolean {
  const handle = (server as unknown as { _handle?: Partial<ListeningHandle> | null })._handle;
  if (!handle || typeof handle.onconnection !== 'function') return false;
  handle.onconnection = (status, client) => {
    // A failed accept (out of descriptors): nothing to wrap; the next connection is tried as it comes.
    if (status < 0 || !client) return;
    let stream: SocketStream | undefined;
    const socket = new Socket({
      handle: client,
      readable: true,
      writable: true,
      onread: sharedReads(() => stream),
    } as ConstructorParameters<typeof Socket>[0]);
    stream = new SocketStream(socket);
    onSocket(socket, stream);
  };
  return true;
}

export const nodeNetwork: Network = {
  dial(host, port, timeoutMs) {
    return new Promise((resolve, reject) => {
      let stream: SocketStream | undefined;
      const socket = netConnect({ host, port, onread: sharedReads(() => stream) });
      socket.setTimeout(timeoutMs, () => socket.destroy(new Error('timed out')));
      socket.once('error', (err) => reject(new Error(describeError(err))));
      socket.once('connect', () => {
        socket.setTimeout(0);
        socket.removeAllListeners('error');
        stream = new SocketStream(socket);
        resolve(stream);
      });
    });
  },
  listen(host, port, onStream) {
    return new Promise<Listener>((resolve, reject) => {
      const sockets = new Set<Socket>();
      const accepted = (socket: Socket, stream: SocketStream): void => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        onStream(stream);
      };
      const server = createServer({ noDelay: true }, (socket) => accepted(socket, new SocketStream(socket)));
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', () => {});
        acceptWithSharedReads(server, accepted);
        const addr = server.address();
        resolve({
          port: typeof addr === 'object' && addr ? addr.port : port,
          close() {
            server.close();
            for (const s of sockets) s.destroy();
          },
        });
      });
    });
  },
};

export const cryptoRandom: Random = {
  next: () => Math.random(),
  bytes: (n) => randomBytes(n),
};

export const nodeEnv: Env = { clock: systemClock, random: cryptoRandom, net: nodeNetwork, fetchRange };
