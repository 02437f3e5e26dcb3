/**
 * The tracker's listening socket. Two implementations behind one small interface:
 *
 * - `handles`: libuv TCP handles straight from Node's `tcp_wrap` binding, without a net.Socket per
 *   connection. A tracker answers one short request per connection (real clients open one
 *   connection per announce), and a net.Socket (a Duplex stream with its two states, listeners
 *   and timers) costs more CPU than the announce itself: measured here, a do-nothing net server
 *   answers about 12,000 connections per CPU-second and the same server on bare handles about
 *   28,000. Connections that are not announces or scrapes are wrapped in a net.Socket at that
 *   point and handed to node:http, exactly as net.Server would have made them.
 * - `net`: net.Server and net.Socket, the documented API; used when this Node has no `tcp_wrap`
 *   binding, and in tests to check that both behave the same.
 *
 * The binding is internal to Node (reached through the deprecated `process.binding`), so every
 * use of it is confined to this file and checked before the tracker relies on it.
 */
import cluster from 'node:cluster';
import { lookup } from 'node:dns/promises';
import { readSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { createServer, isIP, Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { processBinding } from './node-binding.js';

/** One accepted connection. */
export interface Connection {
  /** The peer's address as the socket reports it; '' when the socket cannot tell. */
  remoteAddress(): string;
  /** Writes `bytes`, then closes once they are handed to the kernel. */
  reply(bytes: Buffer): void;
  /** Closes at once. */
  close(): void;
  /** Gives the connection to `server` as a net.Socket, with `replay` as if it were not read yet. */
  handOver(server: HttpServer, replay: Buffer): void;
  /** Free for the owner's per-connection state. */
  state: unknown;
}

export interface ConnectionHandlers {
  onConnection(conn: Connection): void;
  /**
   * The connection had nothing to read when it was accepted and now waits for its first bytes;
   * not called for one whose first bytes were read at accept (then onData came first).
   */
  onWait?(conn: Connection): void;
  onData(conn: Connection, chunk: Buffer): void;
  /** The peer closed its side (`ended`) or the connection failed; it stays writable after an end. */
  onEnd(conn: Connection, ended: boolean): void;
}

export interface Listener {
  readonly port: number;
  /**
   * Connections whose request was read at accept (`atAccept`) and those that had to wait for
   * their first bytes (`waited`); only the handles layer reads at accept.
   */
  firstReads(): { atAccept: number; waited: number };
  /** Stops accepting, resolved once the port is free; open connections are the owner's to close. */
  close(): Promise<void>;
}

export type SocketLayer = 'handles' | 'net';

/** Whether this Node offers the handles that the `handles` layer needs. */
export function handlesAvailable(): boolean {
  return loadBinding() !== undefined;
}

/**
 * Listens on `host`:`port`. In a worker of a Node cluster (`tracker --workers`), the listening
 * socket must come from the cluster's primary, which only net.Server asks for: the `handles` layer
 * then lets a net.Server get it and takes over its handle, so workers keep the cheap path.
 */
export async function listenTcp(
  host: string,
  port: number,
  layer: SocketLayer,
  handlers: ConnectionHandlers,
): Promise<Listener> {
  if (layer === 'handles') {
    const binding = loadBinding();
    if (binding) return listenHandles(binding, host, port, handlers);
  }
  return listenNet(host, port, handlers);
}

/** The listening handle of a net.Server, when this Node exposes it as the handles layer expects. */
function serverHandle(server: import('node:net').Server): TcpHandle | undefined {
  const h = (server as unknown as { _handle?: Partial<TcpHandle> | null })._handle;
  return h && typeof h.close === 'function' && typeof h.getsockname === 'function' && 'onconnection' in h
    ? (h as TcpHandle)
    : undefined;
}

/** A listening handle shared by the cluster's primary, through a net.Server of this worker. */
async function clusterHandle(
  host: string,
  port: number,
): Promise<{ handle: TcpHandle; close: () => Promise<void> } | undefined> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen({ host, port }, () => {
      srv.off('error', reject);
      resolve();
    });
  });
  const handle = serverHandle(srv);
  if (handle === undefined) {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    return undefined;
  }
  return { handle, close: () => new Promise<void>((resolve) => srv.close(() => resolve())) };
}

// ---------------------------------------------------------------------------------------------
// Bare libuv handles

/**
 * Bytes read at accept. A request larger than this is read on, as usual, once the first part is in.
 */
const FIRST_READ_BYTES = 16 * 1024;
/**
 * How the first read at accept adapts (see tryFirstRead): the score goes up for each connection
 * whose request was waiting, down for each that had sent nothing yet; at the floor only one
 * connection in FIRST_READ_PROBE tries.
 */
const FIRST_READ_FLOOR = -32;
const FIRST_READ_CEIL = 32;
const FIRST_READ_PROBE = 16;

/**
 * How long an answer may take to leave once written. Most leave at once; one that waits on a
 * client that stopped reading must not hold its descriptor forever.
 */
const WRITE_DEADLINE_MS = 30_000;

interface WriteReq {
  handle: TcpHandle;
  timer?: NodeJS.Timeout | undefined;
  oncomplete: (this: WriteReq, status: number) => void;
  async: boolean;
  bytes: number;
  buffer: Buffer | null;
}

interface TcpHandle {
  onread: ((this: TcpHandle, buf: ArrayBuffer | undefined) => void) | null;
  onconnection: ((err: number, client: TcpHandle | undefined) => void) | null;
  reading: boolean;
  /**
   * The connection this handle belongs to, set when a callback from libuv will need it (reading
   * started, or a write still leaving): a property rather than a WeakMap entry, which the GC
   * handles at a cost.
   */
  chunkswarmConn?: Connection & { close(): void };
  bind(ip: string, port: number): number;
  bind6(ip: string, port: number, flags: number): number;
  listen(backlog: number): number;
  getsockname(out: { port?: number }): number;
  getpeername(out: { address?: string }): number;
  readStart(): number;
  readStop(): number;
  /** The socket's descriptor (POSIX); -1 or absent elsewhere. */
  readonly fd?: number;
  writeBuffer(req: WriteReq, data: Buffer): number;
  close(cb?: () => void): void;
}

interface Binding {
  readonly TCP: new (type: number) => TcpHandle;
  readonly serverType: number;
  readonly WriteWrap: new () => WriteReq;
  readonly state: Int32Array;
  readonly kReadBytesOrError: number;
  readonly kArrayBufferOffset: number;
  readonly kLastWriteWasAsync: number;
}

let cachedBinding: Binding | null | undefined;

function loadBinding(): Binding | undefined {
  if (cachedBinding !== undefined) return cachedBinding ?? undefined;
  cachedBinding = null;
  const tcp = processBinding('tcp_wrap');
  const stream = processBinding('stream_wrap');
  if (tcp === undefined || stream === undefined) return undefined;
  try {
    const TCP = tcp.TCP as Binding['TCP'] | undefined;
    const constants = tcp.constants as { SERVER?: number } | undefined;
    const WriteWrap = stream.WriteWrap as Binding['WriteWrap'] | undefined;
    const state = stream.streamBaseState as Int32Array | undefined;
    const names = ['kReadBytesOrError', 'kArrayBufferOffset', 'kLastWriteWasAsync'] as const;
    if (
      typeof TCP !== 'function' ||
      typeof constants?.SERVER !== 'number' ||
      typeof WriteWrap !== 'function' ||
      !(state instanceof Int32Array) ||
      names.some((n) => typeof stream[n] !== 'number')
    ) {
      return undefined;
    }
    const proto = TCP.prototype as unknown as Record<string, unknown>;
    const methods = [
      'bind',
      'bind6',
      'listen',
      'getsockname',
      'getpeername',
      'readStart',
      'readStop',
      'writeBuffer',
      'close',
    ];
    if (methods.some((m) => typeof proto[m] !== 'function')) return undefined;
    cachedBinding = {
      TCP,
      serverType: constants.SERVER,
      WriteWrap,
      state,
      kReadBytesOrError: stream.kReadBytesOrError as number,
      kArrayBufferOffset: stream.kArrayBufferOffset as number,
      kLastWriteWasAsync: stream.kLastWriteWasAsync as number,
    };
  } catch {
    cachedBinding = null;
  }
  return cachedBinding ?? undefined;
}

function listenError(code: number, host: string, port: number): NodeJS.ErrnoException {
  const name = getSystemErrorName(code);
  const err: NodeJS.ErrnoException = new Error(`listen ${name}: cannot listen on ${host}:${port}`);
  err.code = name;
  err.errno = code;
  err.syscall = 'listen';
  return err;
}

async function listenHandles(
  b: Binding,
  host: string,
  port: number,
  handlers: ConnectionHandlers,
): Promise<Listener> {
  let server: TcpHandle;
  let closeServer: () => Promise<void>;
  const shared = cluster.isWorker ? await clusterHandle(host, port) : undefined;
  if (shared !== undefined) {
    server = shared.handle;
    closeServer = shared.close;
  } else if (cluster.isWorker) {
    return listenNet(host, port, handlers);
  } else {
    const ip = isIP(host) !== 0 ? host : (await lookup(host)).address;
    const own = new b.TCP(b.serverType);
    let err = isIP(ip) === 6 ? own.bind6(ip, port, 0) : own.bind(ip, port);
    if (err === 0) err = own.listen(511);
    if (err !== 0) {
      own.close();
      throw listenError(err, host, port);
    }
    server = own;
    closeServer = () => new Promise<void>((resolve) => own.close(resolve));
  }
  const name: { port?: number } = {};
  server.getsockname(name);

  const { state, kReadBytesOrError, kArrayBufferOffset, kLastWriteWasAsync, WriteWrap } = b;
  /** getpeername's output, reused: it is filled and read synchronously. */
  const peerName: { address?: string | undefined } = {};
  /** A write request that libuv did not keep (the last write completed at once). */
  let spareReq: WriteReq | undefined;
  /** Where the first read at accept lands; its bytes are copied out before anyone keeps them. */
  const firstRead = Buffer.allocUnsafeSlow(FIRST_READ_BYTES);
  let firstReadScore = 0;
  let firstReadTurn = 0;
  let atAccept = 0;
  let waited = 0;

  class HandleConnection implements Connection {
    state: unknown = undefined;
    #closed = false;
    /** An answer is on its way out; the connection closes once it has left. */
    #answered = false;
    constructor(readonly handle: TcpHandle) {}

    get closed(): boolean {
      return this.#closed;
    }

    /** Closed, answered or handed over: nothing more is read here. */
    get settled(): boolean {
      return this.#closed || this.#answered;
    }

    remoteAddress(): string {
      peerName.address = undefined;
      return this.#closed || this.handle.getpeername(peerName) !== 0 ? '' : (peerName.address ?? '');
    }

    reply(bytes: Buffer): void {
      if (this.#closed) return;
      this.#answered = true;
      const req = spareReq ?? new WriteWrap();
      spareReq = undefined;
      req.handle = this.handle;
      req.oncomplete = onWritten;
      req.async = false;
      req.bytes = bytes.length;
      req.buffer = null;
      if (this.handle.writeBuffer(req, bytes) !== 0) {
        this.close();
        return;
      }
      if (state[kLastWriteWasAsync] === 0) {
        // Written at once: libuv never took the request, so the next reply can use it.
        spareReq = req;
        this.close();
        return;
      }
      // Still leaving: the request and its buffer stay with libuv until the kernel has the bytes.
      this.handle.chunkswarmConn = this;
      this.handle.readStop();
      req.buffer = bytes;
      req.timer = setTimeout(() => this.close(), WRITE_DEADLINE_MS);
      req.timer.unref();
    }

    close(): void {
      if (this.#closed) return;
      this.#closed = true;
      this.handle.close();
    }

    handOver(http: HttpServer, replay: Buffer): void {
      if (this.#closed) return;
      this.#closed = true;
      const handle = this.handle;
      handle.readStop();
      handle.reading = false;
      // What net.Server does with a new connection; `manualStart` leaves reading to node:http.
      const socket = new Socket({
        handle,
        manualStart: true,
        readable: true,
        writable: true,
      } as ConstructorParameters<typeof Socket>[0]);
      if (replay.length > 0) socket.unshift(replay);
      http.emit('connection', socket);
      socket.resume();
    }
  }

  function onWritten(this: WriteReq): void {
    this.buffer = null;
    clearTimeout(this.timer);
    const conn = this.handle.chunkswarmConn;
    if (conn) conn.close();
    else this.handle.close();
  }

  function onRead(this: TcpHandle, ab: ArrayBuffer | undefined): void {
    const conn = this.chunkswarmConn;
    if (!conn) return;
    const n = state[kReadBytesOrError]!;
    if (n > 0 && ab !== undefined) {
      handlers.onData(conn, Buffer.from(ab, state[kArrayBufferOffset]!, n));
    } else if (n < 0) {
      this.readStop();
      // UV_EOF: the peer finished sending; anything else is a failed connection.
      handlers.onEnd(conn, getSystemErrorName(n) === 'EOF');
    }
  }

  /**
   * Reads the request at accept when it is already there, as it mostly is under load (a client
   * sends its request right after connecting, and a busy tracker accepts late). That connection
   * then never joins the event loop's poll set and is never read through libuv, which saves two
   * epoll_ctl calls, a 64 KiB read buffer allocated and freed, and a callback from C++ per
   * announce. Returns true when the connection needs no reading started: answered, handed over,
   * ended or failed. When requests keep arriving after their connections (an idle tracker), the
   * attempt costs a thrown EAGAIN each time, so it is then made on one connection in
   * FIRST_READ_PROBE only, until the requests are waiting again.
   */
  function tryFirstRead(conn: HandleConnection, client: TcpHandle): boolean {
    const fd = client.fd;
    if (fd === undefined || fd < 0) return false;
    if (firstReadScore <= FIRST_READ_FLOOR && ++firstReadTurn % FIRST_READ_PROBE !== 0) return false;
    let n = 0;
    let failed: NodeJS.ErrnoException | undefined;
    // The error thrown for EAGAIN (one connection in six or so under load) is only looked at for
    // its code: without a stack trace it costs about 9.6 us instead of 13 (measured). Only the
    // read runs without traces.
    const traceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      n = readSync(fd, firstRead, 0, FIRST_READ_BYTES, null);
    } catch (err) {
      failed = err as NodeJS.ErrnoException;
    } finally {
      Error.stackTraceLimit = traceLimit;
    }
    if (failed !== undefined) {
      if (failed.code === 'EAGAIN') {
        if (firstReadScore > FIRST_READ_FLOOR) firstReadScore--;
        waited++;
        return false;
      }
      handlers.onEnd(conn, false);
      return true;
    }
    if (firstReadScore < FIRST_READ_CEIL) firstReadScore++;
    atAccept++;
    if (n === 0) {
      handlers.onEnd(conn, true);
      return true;
    }
    // A copy: the owner may keep the chunk (a request in parts), and firstRead is reused.
    const chunk = Buffer.allocUnsafe(n);
    firstRead.copy(chunk, 0, 0, n);
    handlers.onData(conn, chunk);
    return conn.settled;
  }

  server.onconnection = (status, client) => {
    // A failed accept (out of descriptors, say) leaves nothing to serve; the next one may work.
    if (status !== 0 || client === undefined) return;
    const conn = new HandleConnection(client);
    handlers.onConnection(conn);
    // The owner may have closed it already (too many connections waiting).
    if (conn.closed || tryFirstRead(conn, client)) return;
    // Only a connection libuv reads needs its read callback: `onread` is an accessor into C++,
    // costly enough to skip for the connections answered at accept.
    // Nor its connection on the handle, which the read and write callbacks look up: a property
    // added to each handle object, only to those that need it.
    client.chunkswarmConn = conn;
    client.onread = onRead;
    if (client.readStart() !== 0) conn.close();
    else if (!conn.settled) handlers.onWait?.(conn);
  };

  let closing: Promise<void> | undefined;
  return {
    port: name.port ?? port,
    firstReads: () => ({ atAccept, waited }),
    close() {
      closing ??= closeServer();
      return closing;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// net.Server

function listenNet(host: string, port: number, handlers: ConnectionHandlers): Promise<Listener> {
  class NetConnection implements Connection {
    state: unknown = undefined;
    #closed = false;
    readonly #onData = (chunk: Buffer) => handlers.onData(this, chunk);
    readonly #onEnd = () => handlers.onEnd(this, true);
    readonly #onError = () => handlers.onEnd(this, false);
    constructor(readonly socket: Socket) {
      socket.on('data', this.#onData);
      socket.on('end', this.#onEnd);
      socket.on('error', this.#onError);
    }

    remoteAddress(): string {
      return this.socket.remoteAddress ?? '';
    }

    reply(bytes: Buffer): void {
      if (this.#closed) return;
      this.#closed = true;
      this.socket.pause();
      this.socket.setTimeout(WRITE_DEADLINE_MS, () => this.socket.destroy());
      this.socket.end(bytes, () => this.socket.destroy());
    }

    close(): void {
      if (this.#closed) return;
      this.#closed = true;
      this.socket.destroy();
    }

    handOver(http: HttpServer, replay: Buffer): void {
      if (this.#closed) return;
      this.#closed = true;
      const socket = this.socket;
      socket.pause();
      socket.off('data', this.#onData);
      socket.off('end', this.#onEnd);
      socket.off('error', this.#onError);
      if (replay.length > 0) socket.unshift(replay);
      http.emit('connection', socket);
      socket.resume();
    }
  }

  const server = createServer((socket) => {
    const conn = new NetConnection(socket);
    handlers.onConnection(conn);
    // net.Socket reads later, always: every connection waits for its first bytes.
    handlers.onWait?.(conn);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      // Accept errors (out of descriptors) must not take the tracker down.
      server.on('error', () => {});
      const address = server.address();
      let closing: Promise<void> | undefined;
      resolve({
        port: typeof address === 'object' && address ? address.port : port,
        firstReads: () => ({ atAccept: 0, waited: 0 }),
        close() {
          closing ??= new Promise<void>((done) => server.close(() => done()));
          return closing;
        },
      });
    });
  });
}
