import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Clock, systemClock } from '../../shared/clock.js';
import { ChunkswarmError, isChunkswarmError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import { formatAddress } from '../../shared/types.js';
import { type AnnounceEvent, parseAnnounceQuery } from '../protocol/announce-request.js';
import { encodeAnnounceResponse, encodeFailure } from '../protocol/announce-response.js';
import { encodeScrapeResponse, parseScrapeQuery, type ScrapeFile } from '../protocol/scrape.js';
import { MemorySwarmStore, type PeerRecord, peerKey, type SwarmStore } from './store.js';

/** What the tracker tells its owner (logs, the web page); small on purpose. */
export type TrackerEvent =
  | {
      readonly type: 'announce';
      readonly infoHash: string;
      readonly ip: string;
      readonly port: number;
      readonly event: AnnounceEvent | undefined;
    }
  | { readonly type: 'scrape'; readonly ip: string; readonly infoHashes: number }
  | { readonly type: 'failure'; readonly ip: string; readonly path: string; readonly reason: string }
  | { readonly type: 'expire'; readonly removed: number };

/**
 * Serves what is not `/announce` or `/scrape` (the tracker's web page). Returns true when it
 * answered the request; false lets the tracker answer 404.
 */
export type ExtraHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface TrackerOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 6969; 0 picks any free port. */
  readonly port?: number;
  /** Seconds between announces we ask for (default 1800). Peers silent for two intervals expire. */
  readonly interval?: number;
  /** Seconds; default half the interval. */
  readonly minInterval?: number;
  /** Default a new MemorySwarmStore, closed with the tracker. A store passed in stays open. */
  readonly store?: SwarmStore;
  /** Honour the `ip` parameter (behind a proxy); otherwise the socket's address is the peer's. */
  readonly trustIpParam?: boolean;
  readonly clock?: Clock;
  readonly onEvent?: (e: TrackerEvent) => void;
  readonly extraHandler?: ExtraHandler;
  /** How long a request may take to arrive (default LIMITS.trackerRequestTimeoutMs). */
  readonly requestTimeoutMs?: number;
}

export interface TrackerHandle {
  readonly host: string;
  readonly port: number;
  /** `http://HOST:PORT/announce` */
  readonly announceUrl: string;
  readonly scrapeUrl: string;
  /** Sent as `tracker id` in every announce response. */
  readonly trackerId: string;
  readonly store: SwarmStore;
  readonly server: Server;
  /** Runs the expiry now (the timer runs it every so often); returns peers removed. */
  expireNow(): number;
  /** Replaces the handler of non-tracker paths (the web page can be attached after start). */
  setExtraHandler(handler: ExtraHandler | undefined): void;
  close(): Promise<void>;
}

const DEFAULT_INTERVAL_S = 1800;
/** How often expiry runs, at most: often enough that a dead peer lingers little past its time. */
const MAX_EXPIRY_PERIOD_MS = 60_000;

/** Starts an HTTP tracker (BEP 3 announce, BEP 48 scrape) and resolves once it listens. */
export async function startTracker(opts: TrackerOptions = {}): Promise<TrackerHandle> {
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
  const store = opts.store ?? new MemorySwarmStore({ staleAfterMs: expireAfterMs });
  const trustIpParam = opts.trustIpParam === true;
  const onEvent = opts.onEvent;
  const trackerId = randomBytes(6).toString('hex');
  const requestTimeoutMs = opts.requestTimeoutMs ?? LIMITS.trackerRequestTimeoutMs;
  let extraHandler = opts.extraHandler;

  const emit = (e: TrackerEvent) => {
    try {
      onEvent?.(e);
    } catch {
      // A logging callback that throws must not take an announce down with it.
    }
  };

  const answer = (res: ServerResponse, body: Buffer, close = false) => {
    res.writeHead(200, {
      'Content-Type': 'text/plain',
      'Content-Length': body.length,
      ...(close ? { Connection: 'close' } : {}),
    });
    res.end(body);
  };

  const refuse = (req: IncomingMessage, res: ServerResponse, path: string, err: unknown, close = false) => {
    const reason =
      isChunkswarmError(err, 'ETRACKER_REQUEST') || isChunkswarmError(err, 'ETRACKER_FAILURE')
        ? err.message
        : 'internal tracker error';
    if (onEvent) emit({ type: 'failure', ip: req.socket.remoteAddress ?? '?', path, reason });
    answer(res, encodeFailure(reason), close);
  };

  const announce = (req: IncomingMessage, res: ServerResponse, query: string) => {
    const now = clock.now();
    const a = parseAnnounceQuery(query, req.socket.remoteAddress ?? '', { trustIpParam });
    const infoHash = a.infoHash.toString('hex');
    const key = peerKey(a.peerId, a.ip);
    const rec: PeerRecord = {
      key,
      ip: a.ip,
      port: a.port,
      peerId: a.peerId,
      uploaded: a.uploaded,
      downloaded: a.downloaded,
      left: a.left,
      have: a.have,
      pieces: a.pieces,
      bitfield: a.bitfield,
      lastSeen: now,
      name: a.name,
      compact: a.compactAddress,
    };
    store.announce(infoHash, rec, a.event, now);
    const peers = a.event === 'stopped' ? [] : store.peers(infoHash, a.numwant, key, now);
    const stats = store.stats(infoHash);
    answer(
      res,
      encodeAnnounceResponse({
        interval,
        minInterval,
        complete: stats.complete,
        incomplete: stats.incomplete,
        trackerId,
        warning: a.numwantCapped ? `numwant capped at ${LIMITS.trackerMaxNumwant}` : undefined,
        peers,
        compact: a.compact,
        includeStatus: a.wantStatus,
        noPeerId: a.noPeerId,
        pieces: stats.pieces,
      }),
    );
    if (onEvent) emit({ type: 'announce', infoHash, ip: a.ip, port: a.port, event: a.event });
  };

  const scrape = (req: IncomingMessage, res: ServerResponse, query: string) => {
    const asked = parseScrapeQuery(query);
    const hashes = asked.length > 0 ? asked : allSwarms(store);
    const files: ScrapeFile[] = hashes.map((h) => ({ infoHash: h, ...store.stats(h.toString('hex')) }));
    answer(res, encodeScrapeResponse(files));
    if (onEvent) emit({ type: 'scrape', ip: req.socket.remoteAddress ?? '?', infoHashes: files.length });
  };

  const server = createServer(
    {
      maxHeaderSize: LIMITS.trackerRequestBytes,
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      // Node checks the two timeouts above only this often (30 s by default).
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(requestTimeoutMs / 2))),
    },
    (req, res) => {
      const url = req.url ?? '';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      const query = q < 0 ? '' : url.slice(q + 1);
      const tracker = path === '/announce' || path === '/scrape';
      try {
        if (!tracker) {
          if (!extraHandler?.(req, res)) {
            res.writeHead(404, { 'Content-Type': 'text/plain' });
            res.end('not found: this tracker serves /announce and /scrape\n');
          }
        } else if (req.method !== 'GET') {
          // Close after answering: whatever body came along is not read.
          refuse(req, res, path, new ChunkswarmError('ETRACKER_REQUEST', `use GET for ${path}`), true);
        } else if (path === '/announce') {
          announce(req, res, query);
        } else {
          scrape(req, res, query);
        }
      } catch (err) {
        if (!res.headersSent) refuse(req, res, path, err, !tracker);
        else res.destroy();
      }
    },
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => onClientError(err, socket));

  const stopExpiry = clock.setInterval(
    () => {
      const removed = store.expire(clock.now() - expireAfterMs);
      if (removed > 0 && onEvent) emit({ type: 'expire', removed });
    },
    Math.min(interval * 1000, MAX_EXPIRY_PERIOD_MS),
  );

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 6969, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    stopExpiry();
    if (ownsStore) store.close();
    throw err;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 6969);
  const origin = `http://${formatAddress(host, port)}`;

  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    announceUrl: `${origin}/announce`,
    scrapeUrl: `${origin}/scrape`,
    trackerId,
    store,
    server,
    expireNow() {
      const removed = store.expire(clock.now() - expireAfterMs);
      if (removed > 0 && onEvent) emit({ type: 'expire', removed });
      return removed;
    },
    setExtraHandler(handler) {
      extraHandler = handler;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        stopExpiry();
        server.close(() => {
          if (ownsStore) store.close();
          resolve();
        });
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** Every swarm for a scrape without `info_hash`, capped like an explicit list (BEP 48 allows less). */
function allSwarms(store: SwarmStore): Buffer[] {
  return store
    .swarms()
    .slice(0, LIMITS.trackerMaxScrapeHashes)
    .map((hex) => Buffer.from(hex, 'hex'));
}

/**
 * A request Node could not parse, too large, or too slow. Answered like any bad announce (200 and
 * a failure reason, which a BitTorrent client shows its user) instead of Node's bare 4xx, then closed.
 */
function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const reason =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? `request too large (the limit is ${LIMITS.trackerRequestBytes} bytes)`
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'request took too long to arrive'
        : 'malformed HTTP request';
  const body = encodeFailure(reason);
  const head = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
}
