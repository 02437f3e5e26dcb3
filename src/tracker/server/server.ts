import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { type Clock, systemClock } from '../../shared/clock.js';
import { ChunkswarmError, describeError, isChunkswarmError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import { formatAddress } from '../../shared/types.js';
import { parseAnnounceQuery } from '../protocol/announce-request.js';
import { encodeFailure, type FrameHead, withHead } from '../protocol/announce-response.js';
import { MALFORMED_REQUEST, RequestHeadReader, tooLargeReason } from '../protocol/http-head.js';
import { encodeScrapeResponse, parseScrapeQuery } from '../protocol/scrape.js';
import { announceAnswer } from './announce-answer.js';
import {
  type MetricsSnapshot,
  outcomeOf,
  renderMetrics,
  storeKind,
  TrackerMetrics,
  type Transport,
} from './metrics.js';
import {
  type AnySwarmStore,
  isAsyncStore,
  MemorySwarmStore,
  type StoreTotals,
  type SwarmStore,
} from './store.js';
import { SwarmLogic, type TrackerEvent } from './swarm-logic.js';
import {
  type Connection,
  type ConnectionHandlers,
  type Listener,
  listenTcp,
  type SocketLayer,
} from './tcp.js';
import { ConnectionIds, listenUdp, type UdpListener } from './udp.js';

export type { TrackerEvent } from './swarm-logic.js';
export type { SocketLayer } from './tcp.js';

/**
 * Serves what is not `/announce` or `/scrape` (the tracker's web page). Returns true when it
 * answered the request; false lets the tracker answer 404.
 */
export type ExtraHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface TrackerOptions<S extends AnySwarmStore = SwarmStore> {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 6969; 0 picks any free port. */
  readonly port?: number;
  /** Seconds between announces we ask for (default 1800). Peers silent for two intervals expire. */
  readonly interval?: number;
  /** Seconds; default half the interval. */
  readonly minInterval?: number;
  /**
   * Default a new MemorySwarmStore, closed with the tracker. A store passed in stays open; give it
   * `staleAfterMs` of two intervals, as the default store has. An async store (Redis) makes every
   * announce wait for it; a synchronous one keeps the whole answer in one call.
   */
  readonly store?: S;
  /** Honour the `ip` parameter (behind a proxy); otherwise the socket's address is the peer's. */
  readonly trustIpParam?: boolean;
  readonly clock?: Clock;
  readonly onEvent?: (e: TrackerEvent) => void;
  readonly extraHandler?: ExtraHandler;
  /** How long a request may take to arrive (default LIMITS.trackerRequestTimeoutMs). */
  readonly requestTimeoutMs?: number;
  /**
   * Connections still sending their request, at most (default 4096). Each holds up to
   * LIMITS.trackerRequestBytes; past this a new connection is closed at once, so a crowd of slow
   * clients costs bounded memory and descriptors until the request timeout clears them.
   */
  readonly maxPendingConnections?: number;
  /**
   * `handles` (default): announces and scrapes are read from bare libuv handles, far cheaper than
   * a net.Socket each; `net`: net.Server throughout. `handles` falls back to `net` on a Node that
   * lacks them. Either way, other requests go to node:http.
   */
  readonly socketLayer?: SocketLayer;
  /**
   * Also serve BEP 15 announces and scrapes over UDP, on the same host and port number (default
   * true). When that port cannot be bound the tracker still starts, HTTP only, and says why in
   * `udpWarning`.
   */
  readonly udp?: boolean;
  /**
   * Bind the UDP port so that other processes of a Node cluster share it (`--workers`): the
   * cluster's primary holds the socket and hands it to each worker. Default false (exclusive).
   */
  readonly sharedUdp?: boolean;
  /**
   * The counters `/metrics` shows, given this process's own: default those. Workers of one
   * `--workers` tracker answer with all workers' counters added up.
   */
  readonly metricsOf?: (own: MetricsSnapshot) => Promise<MetricsSnapshot>;
}

export interface TrackerHandle<S extends AnySwarmStore = SwarmStore> {
  readonly host: string;
  readonly port: number;
  /** `http://HOST:PORT/announce` */
  readonly announceUrl: string;
  readonly scrapeUrl: string;
  /** `udp://HOST:PORT/announce`; undefined when UDP is off or could not be bound. */
  readonly udpAnnounceUrl: string | undefined;
  /** Why UDP is not served although it was asked for (one line, for a log); else undefined. */
  readonly udpWarning: string | undefined;
  /** Sent as `tracker id` in every announce response. */
  readonly trackerId: string;
  readonly store: S;
  /** Requests counted so far (also served as `/metrics`). */
  readonly metrics: TrackerMetrics;
  /**
   * The node:http server that serves every request other than a fresh connection's announce or
   * scrape (the web page, SSE, uploads, later requests on a kept-alive connection). It does not
   * listen itself: the tracker's socket hands it connections.
   */
  readonly server: Server;
  /** Runs the expiry now (the timer runs it every so often); returns peers removed. */
  expireNow(): ReturnType<S['expire']>;
  /** The `/metrics` text (Prometheus exposition format). */
  metricsText(): Promise<string>;
  /** Replaces the handler of non-tracker paths (the web page can be attached after start). */
  setExtraHandler(handler: ExtraHandler | undefined): void;
  close(): Promise<void>;
}

const DEFAULT_INTERVAL_S = 1800;
/** How often expiry runs, at most: often enough that a dead peer lingers little past its time. */
const MAX_EXPIRY_PERIOD_MS = 60_000;
const DEFAULT_MAX_PENDING_CONNECTIONS = 4096;
/** Ports `port: 0` may pick before one is free for UDP as well (a clash is rare: one more try is plenty). */
const FREE_PORT_TRIES = 5;
const REPLY_HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ';

/** The status line and headers of the tracker's own answers, around the body's length. */
const httpHead: FrameHead = {
  before: Buffer.from(REPLY_HEAD, 'latin1'),
  after: Buffer.from('\r\n\r\n', 'latin1'),
};

/** A whole HTTP response around a bencoded body, in one buffer so it leaves in one write. */
function frame(body: Buffer): Buffer {
  return withHead(httpHead, body);
}

/**
 * Starts a tracker, HTTP (BEP 3 announce, BEP 48 scrape) and UDP (BEP 15) on one port number,
 * and resolves once it listens.
 */
export async function startTracker<S extends AnySwarmStore = SwarmStore>(
  opts: TrackerOptions<S> = {},
): Promise<TrackerHandle<S>> {
  const host = opts.host ?? '127.0.0.1';
  const interval = opts.interval ?? DEFAULT_INTERVAL_S;
  if (!Number.isSafeInteger(interval) || interval < 1) {
    throw new ChunkswarmError(
      'EUSAGE',
      `tracker interval must be a whole number of seconds >= 1, not ${interval}`,
    );
  }
  const minInterval = opts.minInterval ?? Math.max(1, Math.floor(interval / 2));
  const clock = opts.clock ?? systemClock;
  const expireAfterMs = 2 * interval * 1000;
  const ownsStore = opts.store === undefined;
  const store: AnySwarmStore = opts.store ?? new MemorySwarmStore({ staleAfterMs: expireAfterMs });
  const metrics = new TrackerMetrics();
  const trustIpParam = opts.trustIpParam === true;
  const onEvent = opts.onEvent;
  const trackerId = randomBytes(6).toString('hex');
  const requestTimeoutMs = opts.requestTimeoutMs ?? LIMITS.trackerRequestTimeoutMs;
  const maxRequestBytes = LIMITS.trackerRequestBytes;
  const maxPending = opts.maxPendingConnections ?? DEFAULT_MAX_PENDING_CONNECTIONS;
  let extraHandler = opts.extraHandler;

  const emit = (e: TrackerEvent) => {
    try {
      onEvent?.(e);
    } catch {
      // A logging callback that throws must not take an announce down with it.
    }
  };
  const logic = new SwarmLogic({ store, clock, emit: onEvent ? emit : undefined });

  /** The failure reason for an error: ours as they are, anything else kept from strangers. */
  const failure = (ip: string, path: string, err: unknown): Buffer => {
    const reason =
      isChunkswarmError(err, 'ETRACKER_REQUEST') || isChunkswarmError(err, 'ETRACKER_FAILURE')
        ? err.message
        : 'internal tracker error';
    if (onEvent) emit({ type: 'failure', ip, path, reason });
    return encodeFailure(reason);
  };

  const announce = (
    remoteIp: string,
    query: string,
    head: FrameHead | undefined,
  ): Buffer | Promise<Buffer> => {
    const a = parseAnnounceQuery(query, remoteIp, { trustIpParam });
    // Peers' chunk status needs their records, so only a plain compact answer takes packed entries.
    const answer = logic.announce(a, a.compact && !a.wantStatus);
    return answer instanceof Promise
      ? answer.then((r) => announceAnswer(a, r, settings, head))
      : announceAnswer(a, answer, settings, head);
  };

  const settings = { interval, minInterval, trackerId };

  const scrape = (remoteIp: string, query: string): Buffer | Promise<Buffer> => {
    const asked = parseScrapeQuery(query);
    if (asked.length === 0 && isAsyncStore(store)) {
      return store
        .swarms(LIMITS.trackerMaxScrapeHashes)
        .then((all) => logic.scrape(toHashes(all), remoteIp))
        .then(encodeScrapeResponse);
    }
    const files = logic.scrape(asked.length > 0 ? asked : toHashes(allSwarms(store as SwarmStore)), remoteIp);
    return files instanceof Promise ? files.then(encodeScrapeResponse) : encodeScrapeResponse(files);
  };

  /** Counts a request that ended with `outcome`, started at `t0` (performance.now()). */
  const count = (path: string, outcome: ReturnType<typeof outcomeOf>, t0: number, transport: Transport) => {
    if (path === '/announce') metrics.announce(transport, outcome, (performance.now() - t0) / 1000);
    else metrics.scrape(transport, outcome);
  };

  /**
   * The bencoded answer to a tracker request, behind `head` when given (the whole HTTP response,
   * built in one buffer); never throws, nor rejects.
   */
  const trackerBody = (
    method: string,
    path: string,
    query: string,
    remoteIp: string,
    head: FrameHead | undefined,
  ): Buffer | Promise<Buffer> => {
    const t0 = performance.now();
    try {
      if (method !== 'GET') throw new ChunkswarmError('ETRACKER_REQUEST', `use GET for ${path}`);
      const body =
        path === '/announce' ? announce(remoteIp, query, head) : framedLater(scrape(remoteIp, query), head);
      if (body instanceof Promise) {
        return body.then(
          (b) => {
            count(path, 'ok', t0, 'http');
            return b;
          },
          (err: unknown) => {
            count(path, outcomeOf(err), t0, 'http');
            return framedFailure(remoteIp, path, err, head);
          },
        );
      }
      count(path, 'ok', t0, 'http');
      return body;
    } catch (err) {
      count(path, outcomeOf(err), t0, 'http');
      return framedFailure(remoteIp, path, err, head);
    }
  };

  const framedFailure = (
    remoteIp: string,
    path: string,
    err: unknown,
    head: FrameHead | undefined,
  ): Buffer => {
    const b = failure(remoteIp, path, err);
    return head === undefined ? b : withHead(head, b);
  };

  const metricsText = async (): Promise<string> => {
    let totals: StoreTotals | undefined;
    try {
      totals = isAsyncStore(store) ? await store.totals() : store.totals?.();
    } catch {
      totals = undefined;
    }
    const own = metrics.snapshot();
    const shown = opts.metricsOf ? await opts.metricsOf(own).catch(() => own) : own;
    return renderMetrics(shown, totals, storeKind(store));
  };

  // --- node:http, for everything but a fresh connection's announce or scrape ---

  const answer = (res: ServerResponse, body: Buffer, close: boolean) => {
    res.writeHead(200, {
      'Content-Type': 'text/plain',
      'Content-Length': body.length,
      ...(close ? { Connection: 'close' } : {}),
    });
    res.end(body);
  };

  const server = createServer(
    {
      maxHeaderSize: maxRequestBytes,
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      // Node checks the two timeouts above only this often (30 s by default).
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(requestTimeoutMs / 2))),
    },
    (req, res) => {
      const url = req.url ?? '';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      const remoteIp = req.socket.remoteAddress ?? '';
      if (path === '/announce' || path === '/scrape') {
        // A later request on a kept-alive connection. Close after a refused method: whatever
        // body came along is not read.
        const body = trackerBody(req.method ?? '', path, q < 0 ? '' : url.slice(q + 1), remoteIp, undefined);
        if (body instanceof Promise) void body.then((b) => answer(res, b, req.method !== 'GET'));
        else answer(res, body, req.method !== 'GET');
        return;
      }
      if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
        // No address or infohash in it (see metrics.ts): served to anyone, like a scrape.
        void metricsText().then((text) => {
          res.writeHead(200, {
            'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
            'Content-Length': Buffer.byteLength(text),
          });
          res.end(req.method === 'HEAD' ? undefined : text);
        });
        return;
      }
      try {
        if (!extraHandler?.(req, res)) {
          res.writeHead(404, { 'Content-Type': 'text/plain' });
          res.end('not found: this tracker serves /announce and /scrape\n');
        }
      } catch (err) {
        if (!res.headersSent) answer(res, failure(remoteIp, path, err), true);
        else res.destroy();
      }
    },
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => onClientError(err, socket));
  // The server never listens itself, and node:http starts its request-timeout checks on
  // 'listening': without them a handed-over connection could dribble its headers forever.
  server.emit('listening');

  // --- the tracker's own socket: announces and scrapes here, the rest handed to `server` ---

  /** Connections still sending their request head, oldest first. */
  const pending = new WaitingList();

  const refuse = (conn: Connection, reason: string) => {
    conn.reply(frame(failure(conn.remoteAddress(), '', new ChunkswarmError('ETRACKER_REQUEST', reason))));
  };

  /**
   * A connection's `state`: undefined while fresh (accepted, nothing decided), its entry in
   * `pending` while it waits for (the rest of) its request, SETTLED once answered, handed over or
   * closed. A connection whose whole request was read at accept, as nearly all are under load, is
   * answered without ever joining `pending`: no entry, no clock read, no list to link into.
   */
  const handlers: ConnectionHandlers = {
    onConnection(conn) {
      if (pending.size >= maxPending) {
        conn.state = SETTLED;
        conn.close();
      }
    },
    onWait(conn) {
      if (conn.state === undefined) conn.state = pending.add(conn, performance.now());
    },
    onData(conn, chunk) {
      let w = conn.state as Waiting | typeof SETTLED | undefined;
      if (w === SETTLED || (w !== undefined && !w.listed)) return;
      try {
        const reader = w?.reader ?? new RequestHeadReader(maxRequestBytes);
        const d = reader.push(chunk);
        if (d.kind === 'more') {
          if (w === undefined) {
            if (pending.size >= maxPending) {
              conn.state = SETTLED;
              conn.close();
              return;
            }
            w = pending.add(conn, performance.now());
            conn.state = w;
          }
          w.reader = reader;
          return;
        }
        if (w !== undefined) pending.remove(w);
        conn.state = SETTLED;
        if (d.kind === 'tracker') {
          // Anything after the head (a pipelined request, a body) is not read: the answer closes.
          const body = trackerBody(d.method, d.path, d.query, conn.remoteAddress(), httpHead);
          // An async store's answer comes later; the connection waits for it (the store's own
          // timeout bounds that wait) and closes with the reply as usual.
          if (body instanceof Promise) void body.then((b) => conn.reply(b));
          else conn.reply(body);
        } else if (d.kind === 'other') {
          conn.handOver(server, reader.bytes());
        } else {
          refuse(conn, d.reason);
        }
      } catch {
        // A bug here must cost one connection, not the process (this runs straight from libuv).
        if (w !== undefined) pending.remove(w);
        conn.state = SETTLED;
        conn.close();
      }
    },
    onEnd(conn, ended) {
      const w = conn.state as Waiting | typeof SETTLED | undefined;
      if (w === SETTLED || (w !== undefined && !w.listed)) return;
      if (w !== undefined) pending.remove(w);
      const reader = w?.reader;
      conn.state = SETTLED;
      // Half-closed with part of a request sent: say why nothing more will happen. A connection
      // that sent nothing (a port check) just closes.
      if (ended && reader !== undefined) refuse(conn, 'incomplete HTTP request');
      else conn.close();
    },
  };
  const wantPort = opts.port ?? 6969;
  // Trackers sharing a store share the UDP secret, so a connection id from one works at another.
  const udpSecret =
    opts.udp !== false && isAsyncStore(store) && store.sharedSecret ? await store.sharedSecret() : undefined;
  let listener: Listener;
  let udp: UdpListener | undefined;
  let udpWarning: string | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      listener = await listenTcp(host, wantPort, opts.socketLayer ?? 'handles', handlers);
    } catch (err) {
      server.close();
      if (ownsStore) await store.close();
      throw explainListenError(err, host, wantPort);
    }
    if (opts.udp === false) break;
    try {
      udp = await listenUdp(host, listener.port, {
        logic,
        clock,
        interval,
        emit: onEvent ? emit : undefined,
        metrics,
        shared: opts.sharedUdp === true,
        ids: udpSecret === undefined ? undefined : new ConnectionIds({ secret: udpSecret }),
      });
      break;
    } catch (err) {
      const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
      // `port: 0` promises a free port: one whose UDP twin is taken is not, so pick another.
      if (wantPort === 0 && inUse && attempt < FREE_PORT_TRIES) {
        for (const conn of pending.clear()) conn.close();
        await listener.close();
        continue;
      }
      const why = inUse ? 'the UDP port is already in use' : describeError(err);
      udpWarning = `not serving UDP on ${formatAddress(host, listener.port)} (${why}); HTTP only`;
      break;
    }
  }

  const sweepMs = Math.max(10, Math.min(1000, Math.floor(requestTimeoutMs / 4)));
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (let w = pending.oldest; w !== undefined; w = pending.oldest) {
      // Oldest first: the first one still in time ends the walk.
      if (now - w.since < requestTimeoutMs) break;
      pending.remove(w);
      const conn = w.conn;
      const started = w.reader !== undefined;
      conn.state = SETTLED;
      if (started) refuse(conn, 'request took too long to arrive');
      else conn.close();
    }
  }, sweepMs);
  sweeper.unref();

  const expireNow = (): number | Promise<number> => {
    const removed = store.expire(clock.now() - expireAfterMs);
    const told = (n: number) => {
      if (n > 0 && onEvent) emit({ type: 'expire', removed: n });
      return n;
    };
    return removed instanceof Promise ? removed.then(told) : told(removed);
  };
  /** An async sweep still running: the next tick skips rather than piling up sweeps. */
  let sweeping = false;
  const stopExpiry = clock.setInterval(
    () => {
      if (sweeping) return;
      try {
        const r = expireNow();
        if (r instanceof Promise) {
          sweeping = true;
          r.catch(() => {}).finally(() => {
            sweeping = false;
          });
        }
      } catch {
        // A store that cannot write now (disk full) expires on a later run.
      }
    },
    Math.min(interval * 1000, MAX_EXPIRY_PERIOD_MS),
  );

  const port = listener.port;
  const origin = `http://${formatAddress(host, port)}`;

  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    announceUrl: `${origin}/announce`,
    scrapeUrl: `${origin}/scrape`,
    udpAnnounceUrl: udp ? `udp://${formatAddress(host, port)}/announce` : undefined,
    udpWarning,
    trackerId,
    store: store as S,
    metrics,
    server,
    expireNow: expireNow as () => ReturnType<S['expire']>,
    metricsText,
    setExtraHandler(handler) {
      extraHandler = handler;
    },
    close() {
      closing ??= (async () => {
        stopExpiry();
        clearInterval(sweeper);
        const done = listener.close();
        const udpDone = udp?.close();
        for (const conn of pending.clear()) conn.close();
        server.closeAllConnections();
        server.close();
        await done;
        await udpDone;
        if (ownsStore) await store.close();
      })();
      return closing;
    },
  };
}

/** A connection's state once its request was dealt with (see the handlers in startTracker). */
const SETTLED = Symbol('settled');

/** A connection still sending its request head, in the tracker's list of them. */
interface Waiting {
  readonly conn: Connection;
  /** performance.now() when it was accepted. */
  readonly since: number;
  /** Created with its first bytes. */
  reader: RequestHeadReader | undefined;
  prev: Waiting | undefined;
  next: Waiting | undefined;
  listed: boolean;
}

/**
 * Connections still sending their request, oldest first: a list through the entries themselves
 * (each connection holds its own as `state`), so joining and leaving it cost no hashing. A Map
 * keyed by connection gave every connection object an identity hash and resized itself as the
 * crowd of waiting connections grew and shrank, once per announce.
 */
class WaitingList {
  oldest: Waiting | undefined;
  #newest: Waiting | undefined;
  size = 0;

  add(conn: Connection, since: number): Waiting {
    const w: Waiting = { conn, since, reader: undefined, prev: this.#newest, next: undefined, listed: true };
    if (this.#newest) this.#newest.next = w;
    else this.oldest = w;
    this.#newest = w;
    this.size++;
    return w;
  }

  remove(w: Waiting): void {
    if (!w.listed) return;
    w.listed = false;
    if (w.prev) w.prev.next = w.next;
    else this.oldest = w.next;
    if (w.next) w.next.prev = w.prev;
    else this.#newest = w.prev;
    w.prev = undefined;
    w.next = undefined;
    this.size--;
  }

  /** Empties the list; returns the connections that were in it. */
  clear(): Connection[] {
    const out: Connection[] = [];
    for (let w = this.oldest; w !== undefined; w = w.next) {
      w.listed = false;
      out.push(w.conn);
    }
    this.oldest = undefined;
    this.#newest = undefined;
    this.size = 0;
    return out;
  }
}

/** `body` behind `head` when given, once it is there. */
function framedLater(body: Buffer | Promise<Buffer>, head: FrameHead | undefined): Buffer | Promise<Buffer> {
  if (head === undefined) return body;
  return body instanceof Promise ? body.then((b) => withHead(head, b)) : withHead(head, body);
}

/** Every swarm for a scrape without `info_hash`, capped like an explicit list (BEP 48 allows less). */
function allSwarms(store: SwarmStore): string[] {
  return store.swarms().slice(0, LIMITS.trackerMaxScrapeHashes);
}

function toHashes(hex: readonly string[]): Buffer[] {
  return hex.map((h) => Buffer.from(h, 'hex'));
}

/**
 * A request node:http could not parse, too large, or too slow (on a handed-over connection).
 * Answered like any bad announce (200 and a failure reason, which a BitTorrent client shows its
 * user) instead of Node's bare 4xx, then closed.
 */
function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const reason =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? tooLargeReason(LIMITS.trackerRequestBytes)
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'request took too long to arrive'
        : MALFORMED_REQUEST;
  socket.end(frame(encodeFailure(reason)));
}

/** A listen failure in words a user can act on; the errno code stays on the error. */
function explainListenError(err: unknown, host: string, port: number): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const where = formatAddress(host, port);
  const why =
    code === 'EADDRINUSE'
      ? `port ${port} is already in use; choose another port (0 picks a free one)`
      : code === 'EACCES'
        ? `not allowed to listen there (ports below 1024 need privileges)`
        : code === 'EADDRNOTAVAIL'
          ? `${host} is not an address of this machine`
          : undefined;
  if (why === undefined) return err;
  const out: NodeJS.ErrnoException = new Error(`cannot listen on ${where}: ${why}`, { cause: err });
  out.code = code;
  return out;
}
