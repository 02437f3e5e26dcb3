import { randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { ChunkswarmError, describeError, isChunkswarmError } from '../../shared/errors.js';
import type { AnnounceResult } from '../protocol/announce-response.js';
import type { ScrapeStats } from '../protocol/scrape.js';
import {
  decodeUdpAnnounceResponse,
  decodeUdpConnectResponse,
  decodeUdpScrapeResponse,
  encodeUdpAnnounceRequest,
  encodeUdpConnectRequest,
  encodeUdpScrapeRequest,
  udpTransactionId,
} from '../protocol/udp.js';
import type { AnnounceParams } from '../protocol/url.js';
import { DEFAULT_HTTP_TIMEOUT_MS } from './http.js';

export interface UdpTrackerOptions {
  /** The whole exchange, name lookup and retransmits included (default 15 s, as for http). */
  readonly timeoutMs?: number;
  /** Packets sent for one step before giving up (default 3). */
  readonly tries?: number;
  /**
   * Wait for the first reply; it doubles on each retransmit as BEP 15's 15 * 2^n does, but from a
   * start a command-line user can sit through. Default: what fits `tries` into `timeoutMs`.
   */
  readonly tryTimeoutMs?: number;
  /** Most peers read from an announce reply (default UDP_DEFAULT_MAX_PEERS). */
  readonly maxPeers?: number;
}

/** An announce's fields that UDP carries (BEP 15 has no tracker id, `ip` or chunkswarm extras). */
export type UdpAnnounceParams = Pick<
  AnnounceParams,
  'infoHash' | 'peerId' | 'port' | 'uploaded' | 'downloaded' | 'left' | 'event' | 'numwant'
> & {
  /** Unsigned 32 bits. */
  readonly key: number;
};

export const DEFAULT_UDP_TRIES = 3;

/** BEP 15: a client may use a connection id for one minute after it got it. */
const CONNECTION_ID_LIFETIME_MS = 60_000;

/**
 * Announces over UDP (BEP 15): connect, then announce with the connection id, on one socket
 * that is closed when the exchange ends. Fails with ETRACKER_UNREACHABLE (no answer within
 * `timeoutMs`, port closed, name not found), ETRACKER_FAILURE (the tracker's error reply) or
 * ETRACKER_RESPONSE (a reply that is not one).
 */
export async function udpAnnounce(
  url: string,
  params: UdpAnnounceParams,
  opts: UdpTrackerOptions = {},
): Promise<AnnounceResult> {
  const target = parseUdpUrl(url);
  return exchange(
    target,
    opts,
    (connectionId, transactionId) =>
      encodeUdpAnnounceRequest({
        connectionId,
        transactionId,
        infoHash: params.infoHash,
        peerId: params.peerId,
        downloaded: params.downloaded,
        left: params.left,
        uploaded: params.uploaded,
        event: params.event,
        key: params.key,
        numWant: params.numwant,
        port: params.port,
        urlData: target.urlData,
      }),
    (packet, transactionId, family) =>
      decodeUdpAnnounceResponse(packet, transactionId, { family, maxPeers: opts.maxPeers }),
  );
}

/** Scrapes the given swarms over UDP (BEP 15); the stats come back in the order asked. */
export async function udpScrape(
  url: string,
  infoHashes: readonly Uint8Array[],
  opts: UdpTrackerOptions = {},
): Promise<ScrapeStats[]> {
  const target = parseUdpUrl(url);
  return exchange(
    target,
    opts,
    (connectionId, transactionId) => encodeUdpScrapeRequest(connectionId, transactionId, infoHashes),
    (packet, transactionId) => decodeUdpScrapeResponse(packet, transactionId, infoHashes.length),
  );
}

interface UdpTarget {
  readonly host: string;
  readonly port: number;
  /** Scheme, host and port: names the tracker in messages without a passkey from its path. */
  readonly origin: string;
  readonly urlData: string | undefined;
}

function parseUdpUrl(url: string): UdpTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ChunkswarmError('ETRACKER_UNREACHABLE', `not a valid URL: ${url}`);
  }
  if (u.protocol !== 'udp:') throw new ChunkswarmError('ETRACKER_UNREACHABLE', `not a udp:// URL: ${url}`);
  const port = Number(u.port);
  if (u.hostname === '' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ChunkswarmError('ETRACKER_UNREACHABLE', `a udp:// tracker URL needs a host and a port: ${url}`);
  }
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const urlData = `${u.pathname}${u.search}`;
  return { host, port, origin: `udp://${u.host}`, urlData: urlData === '' ? undefined : urlData };
}

type Decode<T> = (packet: Buffer, transactionId: number, family: 4 | 6) => T;

/**
 * Connect, then one request, each packet sent again (same transaction id, so a late answer to
 * the first copy still counts) after a wait that doubles, until `tries` copies went unanswered
 * or the deadline passed.
 */
async function exchange<T>(
  target: UdpTarget,
  opts: UdpTrackerOptions,
  request: (connectionId: bigint, transactionId: number) => Buffer,
  decode: Decode<T>,
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const tries = Math.max(1, opts.tries ?? DEFAULT_UDP_TRIES);
  const firstWait = opts.tryTimeoutMs ?? timeoutMs / (2 ** tries - 1);
  const started = Date.now();
  const deadline = started + timeoutMs;
  const noAnswer = () =>
    new ChunkswarmError(
      'ETRACKER_UNREACHABLE',
      `${target.origin} did not answer within ${timeoutMs} ms (${tries} tries)`,
    );

  const { address, family } = await resolve(target, deadline, noAnswer);
  const link = await UdpLink.open(address, target.port, family, target.origin);
  try {
    let connection: { id: bigint; at: number } | undefined;
    let lost = 0;
    let step: { connecting: boolean; transactionId: number; packet: Buffer } | undefined;
    for (;;) {
      if (step === undefined) {
        const connecting =
          connection === undefined || Date.now() - connection.at >= CONNECTION_ID_LIFETIME_MS;
        const transactionId = randomInt(2 ** 32 - 1);
        const packet =
          connecting || connection === undefined
            ? encodeUdpConnectRequest(transactionId)
            : request(connection.id, transactionId);
        step = { connecting, transactionId, packet };
      }
      const wait = Math.min(firstWait * 2 ** lost, deadline - Date.now());
      if (wait <= 0) throw noAnswer();
      const sentAt = Date.now();
      const reply = await link.exchange(step.packet, step.transactionId, wait);
      if (reply === undefined) {
        if (++lost >= tries) throw noAnswer();
        // A connection id may have lapsed while we waited; connect again rather than be ignored.
        if (!step.connecting && connection && Date.now() - connection.at >= CONNECTION_ID_LIFETIME_MS) {
          connection = undefined;
          step = undefined;
        }
        continue;
      }
      if (step.connecting) {
        connection = { id: decodeUdpConnectResponse(reply, step.transactionId), at: sentAt };
        step = undefined;
        continue;
      }
      return decode(reply, step.transactionId, family);
    }
  } finally {
    link.close();
  }
}

async function resolve(
  target: UdpTarget,
  deadline: number,
  noAnswer: () => ChunkswarmError,
): Promise<{ address: string; family: 4 | 6 }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const found = await Promise.race([
      // IPv4 first: most UDP trackers listen there, and one socket talks to one address.
      lookup(target.host, { verbatim: false }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(noAnswer()), Math.max(0, deadline - Date.now()));
      }),
    ]);
    return { address: found.address, family: found.family === 6 ? 6 : 4 };
  } catch (err) {
    if (isChunkswarmError(err)) throw err;
    throw unreachable(target.origin, err as Error);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One socket connected to the tracker: the kernel then drops datagrams from anyone else, and a
 * closed port comes back as ECONNREFUSED (ICMP) instead of a silent wait.
 */
class UdpLink {
  readonly #socket: Socket;
  readonly #address: string;
  readonly #port: number;
  readonly #origin: string;
  #failure: ChunkswarmError | undefined;
  #waiter: ((reply: Buffer | undefined | ChunkswarmError) => void) | undefined;
  #transactionId = -1;
  #closed = false;

  private constructor(socket: Socket, address: string, port: number, origin: string) {
    this.#socket = socket;
    this.#address = address;
    this.#port = port;
    this.#origin = origin;
    socket.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo.address, rinfo.port));
    socket.on('error', (err) => this.#fail(err));
  }

  static open(address: string, port: number, family: 4 | 6, origin: string): Promise<UdpLink> {
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    const link = new UdpLink(socket, address, port, origin);
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        link.close();
        reject(unreachable(origin, err));
      };
      socket.once('error', onError);
      socket.connect(port, address, () => {
        socket.off('error', onError);
        resolve(link);
      });
    });
  }

  /** Sends `packet` and waits up to `waitMs` for the reply carrying `transactionId`. */
  exchange(packet: Buffer, transactionId: number, waitMs: number): Promise<Buffer | undefined> {
    if (this.#failure) return Promise.reject(this.#failure);
    this.#transactionId = transactionId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle(undefined), waitMs);
      const settle = (outcome: Buffer | undefined | ChunkswarmError) => {
        clearTimeout(timer);
        this.#waiter = undefined;
        if (outcome instanceof ChunkswarmError) reject(outcome);
        else resolve(outcome);
      };
      this.#waiter = settle;
      this.#socket.send(packet, (err) => {
        if (err) this.#fail(err);
      });
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.close();
  }

  #onMessage(msg: Buffer, address: string, port: number): void {
    // The connected socket filters already; this keeps the rule visible and holds for any socket.
    if (address !== this.#address || port !== this.#port) return;
    const tid = udpTransactionId(msg);
    // Too short to carry a transaction id: the tracker is talking nonsense, and decode says so.
    if (tid !== undefined && tid !== this.#transactionId) return;
    this.#waiter?.(msg);
  }

  #fail(err: Error): void {
    this.#failure ??= unreachable(this.#origin, err);
    this.#waiter?.(this.#failure);
  }
}

function unreachable(origin: string, err: Error): ChunkswarmError {
  return new ChunkswarmError('ETRACKER_UNREACHABLE', `cannot reach ${origin}: ${describeError(err)}`, {
    cause: err,
  });
}
