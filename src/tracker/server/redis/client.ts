/**
 * One connection to Redis, pipelined: commands are written as they come (those of one event-loop
 * turn in one write) and replies matched to them in order, as RESP2 guarantees. When the
 * connection drops, every command in flight fails at once and the client reconnects in the
 * background, backing off; commands sent while it is down fail at once too, so a tracker answers
 * "try again later" instead of holding its clients.
 *
 * Our own client rather than an npm one: the tracker needs a handful of commands (EVALSHA, SCRIPT
 * LOAD, SELECT, AUTH, PING), and this is small enough to read whole, has no dependency, and its
 * failure behaviour (fail fast while down, no offline queue that would answer announces late) is
 * the one a tracker wants. See docs/ARCHITECTURE.md.
 */
import { connect, type Socket } from 'node:net';
import { ChunkswarmError, describeError } from '../../../shared/errors.js';
import { storeUnavailable } from '../store.js';
import { encodeCommand, type RespArg, RespError, RespParser, type RespValue } from './resp.js';

/** Where Redis is, from `redis://[[user]:password@]host[:port][/db]`. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
}

/** Parses a `redis://` URL; throws ChunkswarmError `EUSAGE` with a one-line reason. */
export function parseRedisUrl(raw: string): RedisAddress {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ChunkswarmError('EUSAGE', `--redis needs a URL like redis://127.0.0.1:6379/0, not ${raw}`);
  }
  if (url.protocol !== 'redis:') {
    throw new ChunkswarmError('EUSAGE', `--redis needs a redis:// URL (TLS is not supported), not ${raw}`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new ChunkswarmError('EUSAGE', `--redis URL has no host: ${raw}`);
  const port = url.port === '' ? 6379 : Number(url.port);
  const path = url.pathname.replace(/^\//, '');
  const db = path === '' ? 0 : Number(path);
  if (!Number.isSafeInteger(db) || db < 0 || !/^[0-9]*$/.test(path)) {
    throw new ChunkswarmError(
      'EUSAGE',
      `--redis database must be a number (redis://HOST:PORT/DB), not ${path}`,
    );
  }
  return {
    host,
    port,
    db,
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
  };
}

export interface RedisClientOptions {
  /** How long a connection attempt may take (default 2 s). */
  readonly connectTimeoutMs?: number;
  /** A command unanswered this long means a stuck server: the connection is dropped (default 5 s). */
  readonly commandTimeoutMs?: number;
  /** Backoff between reconnection attempts: starts here, doubles, stops growing at the max. */
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  /**
   * Run on every new connection before it takes commands (after AUTH and SELECT): loading
   * scripts, say. A throw fails the connection, which is then retried like any other.
   */
  readonly onConnect?: (send: (args: readonly RespArg[]) => Promise<RespValue>) => Promise<void>;
  /** Told when the connection comes up or goes down (logs, metrics). */
  readonly onStateChange?: (up: boolean, reason: string) => void;
}

interface Pending {
  readonly resolve: (v: RespValue) => void;
  readonly reject: (err: unknown) => void;
  readonly sentAt: number;
}

/** A Redis reply of type error, thrown as such: the command ran and Redis refused it. */
export class RedisReplyError extends Error {
  constructor(readonly reply: RespError) {
    super(reply.message);
    this.name = 'RedisReplyError';
  }
}

export class RedisClient {
  readonly address: RedisAddress;
  readonly #opts: RedisClientOptions;
  #socket: Socket | undefined;
  #parser = new RespParser();
  #queue: Pending[] = [];
  /** Commands answered so far from the head of #queue (shifting an array per reply costs). */
  #head = 0;
  #ready = false;
  #closed = false;
  #backoff: number;
  #retry: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #corked = false;
  #firstConnect: Promise<void> | undefined;

  constructor(address: RedisAddress, opts: RedisClientOptions = {}) {
    this.address = address;
    this.#opts = opts;
    this.#backoff = opts.reconnectMinMs ?? 50;
  }

  /** True while commands can be sent. */
  get ready(): boolean {
    return this.#ready;
  }

  /**
   * Opens the first connection and resolves once it is ready; rejects (ChunkswarmError
   * `ETRACKER_UNREACHABLE`) if that first attempt fails. Later drops reconnect by themselves.
   */
  connect(): Promise<void> {
    this.#firstConnect ??= new Promise<void>((resolve, reject) => {
      this.#open((err) => {
        if (err === undefined) resolve();
        else {
          this.#closed = true;
          const { host, port } = this.address;
          reject(
            new ChunkswarmError(
              'ETRACKER_UNREACHABLE',
              `cannot reach Redis at ${host}:${port}: ${describeError(err)}`,
              {
                cause: err,
              },
            ),
          );
        }
      });
    });
    return this.#firstConnect;
  }

  /**
   * Sends one command. Resolves with its reply; rejects with RedisReplyError for an error reply,
   * and with storeUnavailable() when Redis cannot be reached or the connection drops first.
   */
  send(args: readonly RespArg[]): Promise<RespValue> {
    if (!this.#ready || this.#socket === undefined) return Promise.reject(storeUnavailable());
    return this.#write(this.#socket, args);
  }

  /** Closes the connection and stops reconnecting; commands in flight fail. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    const socket = this.#socket;
    if (socket === undefined) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.destroy();
    });
  }

  #write(socket: Socket, args: readonly RespArg[]): Promise<RespValue> {
    return new Promise<RespValue>((resolve, reject) => {
      this.#queue.push({
        resolve: (v) => (v instanceof RespError ? reject(new RedisReplyError(v)) : resolve(v)),
        reject,
        sentAt: performance.now(),
      });
      // Commands of one turn leave in one write (one syscall, often one TCP segment).
      if (!this.#corked) {
        this.#corked = true;
        socket.cork();
        process.nextTick(() => {
          this.#corked = false;
          socket.uncork();
        });
      }
      socket.write(encodeCommand(args));
    });
  }

  #open(first?: (err?: unknown) => void): void {
    const { host, port } = this.address;
    const socket = connect({ host, port, noDelay: true });
    this.#socket = socket;
    this.#parser = new RespParser();
    let settled = false;
    const timer = setTimeout(
      () => socket.destroy(new Error('connection timed out')),
      this.#opts.connectTimeoutMs ?? 2000,
    );
    socket.on('data', (chunk: Buffer) => this.#onData(socket, chunk));
    socket.once('error', (err) => {
      if (!settled) {
        settled = true;
        first?.(err);
      }
      // 'close' follows and does the rest.
      this.#lastError = err;
    });
    socket.once('close', () => {
      clearTimeout(timer);
      const why = this.#lastError ?? new Error('connection closed');
      this.#down(socket, describeError(why));
      if (!settled) {
        settled = true;
        first?.(why);
      }
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      this.#setUp(socket)
        .then(() => {
          if (this.#socket !== socket || socket.destroyed) throw new Error('connection closed');
          this.#ready = true;
          this.#backoff = this.#opts.reconnectMinMs ?? 50;
          this.#startWatchdog();
          this.#opts.onStateChange?.(true, `connected to ${host}:${port}`);
          if (!settled) {
            settled = true;
            first?.();
          }
        })
        .catch((err: unknown) => {
          this.#lastError = err;
          socket.destroy();
        });
    });
  }

  #lastError: unknown;

  async #setUp(socket: Socket): Promise<void> {
    const send = (args: readonly RespArg[]) => this.#write(socket, args);
    const { username, password, db } = this.address;
    if (password !== undefined) await send(username ? ['AUTH', username, password] : ['AUTH', password]);
    if (db !== 0) await send(['SELECT', db]);
    await this.#opts.onConnect?.(send);
  }

  #onData(socket: Socket, chunk: Buffer): void {
    let replies: RespValue[];
    try {
      replies = this.#parser.push(chunk);
    } catch (err) {
      this.#lastError = err;
      socket.destroy();
      return;
    }
    for (const r of replies) {
      const p = this.#queue[this.#head];
      if (p === undefined) {
        // A reply to nothing: the stream is out of step, so nothing after it can be trusted.
        this.#lastError = new Error('Redis sent a reply nobody asked for');
        socket.destroy();
        return;
      }
      this.#queue[this.#head++] = undefined as unknown as Pending;
      p.resolve(r);
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #down(socket: Socket, reason: string): void {
    if (this.#socket !== socket) return;
    const wasReady = this.#ready;
    this.#ready = false;
    this.#socket = undefined;
    clearInterval(this.#watchdog);
    const failed = this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    const err = storeUnavailable(this.#lastError);
    for (const p of failed) p.reject(err);
    this.#lastError = undefined;
    if (wasReady) this.#opts.onStateChange?.(false, reason);
    if (this.#closed || this.#firstConnect === undefined) return;
    // Jitter, so a fleet of trackers does not reconnect in step when Redis comes back.
    const wait = this.#backoff * (0.5 + Math.random() / 2);
    this.#backoff = Math.min(this.#backoff * 2, this.#opts.reconnectMaxMs ?? 2000);
    this.#retry = setTimeout(() => {
      if (!this.#closed) this.#open();
    }, wait);
    this.#retry.unref();
  }

  /** Drops a connection whose oldest command has waited past the timeout: Redis is stuck. */
  #startWatchdog(): void {
    const limit = this.#opts.commandTimeoutMs ?? 5000;
    clearInterval(this.#watchdog);
    this.#watchdog = setInterval(
      () => {
        const oldest = this.#queue[this.#head];
        if (oldest !== undefined && performance.now() - oldest.sentAt > limit) {
          this.#lastError = new Error(`no reply from Redis in ${limit} ms`);
          this.#socket?.destroy();
        }
      },
      Math.max(50, Math.floor(limit / 4)),
    );
    this.#watchdog.unref();
  }
}
