/**
 * The tracker's UDP socket (BEP 15): connect, announce and scrape on the HTTP port's number, as
 * opentracker serves both. Announces and scrapes go through the same SwarmLogic as HTTP ones.
 *
 * UDP has no handshake, so a datagram's source address proves nothing: anyone can send one in a
 * victim's name. The connection id is that proof. It is derived, not stored (a flood of connects
 * costs no memory): a keyed hash (SipHash) of the sender's address and port and the current time
 * window under a secret drawn at start. Only a sender that received our connect reply at that address can know
 * it. Until a sender shows one, it gets nothing larger than what it sent, so the tracker cannot
 * be used to amplify traffic at someone else.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Clock } from '../../shared/clock.js';
import { isChunkswarmError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import { compactEntry } from '../protocol/announce-response.js';
import { normalizeIp, parseIp } from '../protocol/ip.js';
import {
  decodeUdpAnnounceFields,
  decodeUdpConnectRequest,
  decodeUdpScrapeRequest,
  encodeUdpAnnounceResponse,
  encodeUdpErrorResponse,
  encodeUdpScrapeResponse,
  UDP_ACTION,
  type UdpAnnounceRequestIn,
} from '../protocol/udp.js';
import { outcomeOf, type TrackerMetrics } from './metrics.js';
import { processBinding } from './node-binding.js';
import { type SipKey, sipHash24, sipKey } from './siphash.js';
import type { SwarmAnnounce, SwarmAnswer, SwarmLogic, TrackerEvent } from './swarm-logic.js';

/** BEP 15: a client may use a connection id for a minute; the tracker accepts it up to two. */
export const CONNECTION_ID_WINDOW_MS = 60_000;

/** Room in ConnectionIds' scratch for the address text: a canonical IPv6 text is at most 45 characters. */
const ID_ADDRESS_ROOM = 64;
/** Bytes of the time window and the port, before the address text, in what is hashed. */
const ID_PREFIX = 10;

/**
 * Connection ids bound to an address, a port and a time window. An id issued in window w is
 * accepted through window w + 1: at least one minute, at most two, as BEP 15 asks.
 *
 * An id is SipHash-2-4 (siphash.ts) of the window, the port and the address text under a key
 * drawn from the secret: 64 bits, which is all BEP 15 has room for, and a pseudorandom function,
 * so ids seen for one address, port or minute tell nothing of another's. It replaced an HMAC-SHA1
 * truncated to 64 bits that did the same job with two node:crypto objects per exchange.
 */
export class ConnectionIds {
  readonly #key: SipKey;
  readonly #windowMs: number;
  /** What is hashed: window (8 bytes), port (2), the address text; reused by every call. */
  readonly #msg = Buffer.alloc(ID_PREFIX + ID_ADDRESS_ROOM);
  /** The id derived last, and the one given to `accepts`. */
  readonly #derived = Buffer.alloc(8);
  readonly #given = Buffer.alloc(8);

  constructor(opts: { secret?: Buffer; windowMs?: number } = {}) {
    // Hashed down to the 16 bytes SipHash takes, so every byte of a secret of any length counts.
    const secret = opts.secret ?? randomBytes(32);
    this.#key = sipKey(createHash('sha256').update(secret).digest().subarray(0, 16));
    this.#windowMs = opts.windowMs ?? CONNECTION_ID_WINDOW_MS;
  }

  /** The id for `ip` (canonical, see normalizeIp) and `port` at time `now` (ms). */
  issue(ip: string, port: number, now: number): bigint {
    this.#derive(this.#window(now), ip, port);
    return this.#derived.readBigUInt64BE(0);
  }

  /**
   * Writes the id for `ip` and `port` at `now` into `out` at `at` (8 bytes, as the wire carries
   * it): `issue` without a BigInt.
   */
  issueInto(ip: string, port: number, now: number, out: Buffer, at: number): void {
    this.#derive(this.#window(now), ip, port);
    this.#derived.copy(out, at);
  }

  /** True when `id` was issued to this address and port in this window or the one before. */
  accepts(id: bigint, ip: string, port: number, now: number): boolean {
    if (id < 0n || id > 0xffffffffffffffffn) return false;
    this.#given.writeBigUInt64BE(id, 0);
    return this.acceptsAt(this.#given, 0, ip, port, now);
  }

  /** `accepts` for the 8 id bytes at `at` of `packet` (a request's first 8 bytes, say). */
  acceptsAt(packet: Uint8Array, at: number, ip: string, port: number, now: number): boolean {
    const w = this.#window(now);
    // Each comparison takes the same time whatever the bytes. The previous window is derived only
    // when the current one does not match: an id that fails is compared with both, whatever it
    // is, so the time taken tells a forger nothing; it only tells a holder of a valid id which
    // minute it got it in, which that holder knows.
    this.#derive(w, ip, port);
    if (this.#same(packet, at)) return true;
    this.#derive(w - 1, ip, port);
    return this.#same(packet, at);
  }

  #same(packet: Uint8Array, at: number): boolean {
    const d = this.#derived;
    let diff = 0;
    for (let i = 0; i < 8; i++) diff |= packet[at + i]! ^ d[i]!;
    return diff === 0;
  }

  #window(now: number): number {
    return Math.floor(now / this.#windowMs);
  }

  /** SipHash-2-4 of window, port and address into #derived. */
  #derive(window: number, ip: string, port: number): void {
    const m = this.#msg;
    // The window as 64 bits: a test's tiny window can count past 2^32.
    m.writeUInt32LE((window % 0x1_0000_0000) >>> 0, 0);
    m.writeUInt32LE(Math.floor(window / 0x1_0000_0000) >>> 0, 4);
    m.writeUInt16LE(port & 0xffff, 8);
    let n = ID_PREFIX;
    if (ip.length <= ID_ADDRESS_ROOM) {
      // Address text is ASCII; a character past 0xff keeps its low byte, and the length below
      // still tells texts of different lengths apart. Canonical addresses never have one.
      for (let i = 0; i < ip.length; i++) m[n++] = ip.charCodeAt(i);
      sipHash24(this.#key, m, n, this.#derived);
      return;
    }
    // Longer than any address: hashed from a copy of its own.
    const long = Buffer.concat([m.subarray(0, ID_PREFIX), Buffer.from(ip, 'utf8')]);
    sipHash24(this.#key, long, long.length, this.#derived);
  }
}

export interface UdpServeOptions {
  readonly logic: SwarmLogic;
  readonly clock: Clock;
  /** Seconds between announces, sent in every announce reply. */
  readonly interval: number;
  readonly emit: ((e: TrackerEvent) => void) | undefined;
  /** Default: a fresh secret, so ids die with the process. */
  readonly ids?: ConnectionIds;
  /** Where announces and scrapes are counted; default nowhere. */
  readonly metrics?: TrackerMetrics;
  /**
   * Share the port with the other workers of a Node cluster (the primary holds the socket).
   * Connection ids must then verify in every worker: give them all the same `ids` secret.
   */
  readonly shared?: boolean;
}

export interface UdpListener {
  readonly port: number;
  /** Resolves once the socket is closed. */
  close(): Promise<void>;
}

/** BEP 15's request header: connection id (8 bytes), action (4), transaction id (4). */
const UDP_HEADER_BYTES = 16;

/** A connect reply (BEP 15): action, transaction id, connection id. */
const CONNECT_REPLY_BYTES = 16;

/** Where a connect reply carries the connection id (BEP 15: after action and transaction id). */
const CONNECT_ID_AT = 8;

/** Short enough that its error reply (29 bytes) fits the smallest valid scrape (36): see `#refuse`. */
const BAD_CONNECTION_ID = 'connection id expired';

/** Binds `host`:`port` over UDP and serves BEP 15 there; rejects with the bind's error. */
export async function listenUdp(host: string, port: number, opts: UdpServeOptions): Promise<UdpListener> {
  let serve: UdpTracker | undefined;
  const socket = await bindUdp(host, port, opts.shared === true, (msg, rinfo) =>
    serve?.onMessage(msg, rinfo),
  );
  serve = new UdpTracker(socket, opts);
  return socket;
}

/** The tracker's UDP socket without the tracker: what it receives goes to `onMessage`. */
export interface UdpSocket extends UdpListener {
  /** Sends `packet` to the sender `rinfo` describes; a datagram that cannot leave is dropped. */
  send(packet: Buffer, rinfo: RemoteInfo): void;
}

/**
 * Binds `host`:`port` (`shared`: with the other workers of a Node cluster) and hands every
 * datagram to `onMessage`. The tracker's UDP layer, on its own so that the bench's floor
 * (bench/tracker-floor.ts) answers on exactly what the tracker answers on.
 *
 * An exclusive socket is a bare libuv UDP handle from Node's `udp_wrap` binding, as the HTTP side
 * uses bare TCP handles (tcp.ts): dgram's Socket wraps each received datagram in an event and each
 * reply in an address lookup, a bound callback and argument checks, JavaScript that cost about as
 * much per datagram as decoding the request. A shared socket must come from the cluster's
 * primary, which only dgram asks for; it and a Node without the binding use dgram.
 */
export async function bindUdp(
  host: string,
  port: number,
  shared: boolean,
  onMessage: (msg: Buffer, rinfo: RemoteInfo) => void,
): Promise<UdpSocket> {
  const address = isIP(host) !== 0 ? host : (await lookup(host)).address;
  const binding = shared ? undefined : loadUdpBinding();
  if (binding !== undefined) return bindHandle(binding, address, port, onMessage);
  return bindDgram(address, port, shared, onMessage);
}

/** Whether this Node offers the bare UDP handle that an exclusive socket uses (else dgram). */
export function udpHandlesAvailable(): boolean {
  return loadUdpBinding() !== undefined;
}

interface UdpHandle {
  onmessage: ((nread: number, handle: UdpHandle, buf?: Buffer, rinfo?: RemoteInfo) => void) | null;
  /** Called instead of onmessage when Node could not make a datagram's Buffer or address object. */
  onerror: (() => void) | null;
  bind(ip: string, port: number, flags: number): number;
  bind6(ip: string, port: number, flags: number): number;
  recvStart(): number;
  getsockname(out: { port?: number }): number;
  /** Returns the bytes sent plus one when the datagram left at once, 0 when queued, < 0 on error. */
  send(req: object, list: Buffer[], count: number, port: number, ip: string, hasCallback: boolean): number;
  send6(req: object, list: Buffer[], count: number, port: number, ip: string, hasCallback: boolean): number;
  close(cb?: () => void): void;
}

interface UdpBinding {
  readonly UDP: new () => UdpHandle;
  readonly SendWrap: new () => object;
}

let cachedUdpBinding: UdpBinding | null | undefined;

/** Node's internal `udp_wrap` binding when it has what bindHandle uses; checked once. */
function loadUdpBinding(): UdpBinding | undefined {
  if (cachedUdpBinding !== undefined) return cachedUdpBinding ?? undefined;
  cachedUdpBinding = null;
  const udp = processBinding('udp_wrap');
  if (udp === undefined) return undefined;
  try {
    const UDP = udp.UDP as UdpBinding['UDP'] | undefined;
    const SendWrap = udp.SendWrap as UdpBinding['SendWrap'] | undefined;
    if (typeof UDP !== 'function' || typeof SendWrap !== 'function') return undefined;
    const proto = UDP.prototype as unknown as Record<string, unknown>;
    const methods = ['bind', 'bind6', 'recvStart', 'getsockname', 'send', 'send6', 'close'];
    if (methods.some((m) => typeof proto[m] !== 'function')) return undefined;
    cachedUdpBinding = { UDP, SendWrap };
  } catch {
    cachedUdpBinding = null;
  }
  return cachedUdpBinding ?? undefined;
}

function bindHandle(
  b: UdpBinding,
  address: string,
  port: number,
  onMessage: (msg: Buffer, rinfo: RemoteInfo) => void,
): UdpSocket {
  const handle = new b.UDP();
  const v6 = isIP(address) === 6;
  let err = v6 ? handle.bind6(address, port, 0) : handle.bind(address, port, 0);
  if (err === 0) err = handle.recvStart();
  if (err !== 0) {
    handle.close();
    const name = getSystemErrorName(err);
    const e: NodeJS.ErrnoException = new Error(`bind ${name} ${address}:${port}`);
    e.code = name;
    e.errno = err;
    e.syscall = 'bind';
    throw e;
  }
  // A failed receive (nread < 0) carries no datagram: nothing to answer. Nor does one that Node
  // could not wrap (onerror): that datagram is dropped, and the client retries.
  handle.onmessage = (nread, _h, buf, rinfo) => {
    if (nread >= 0 && buf !== undefined && rinfo !== undefined) onMessage(buf, rinfo);
  };
  handle.onerror = () => {};
  const name: { port?: number } = {};
  handle.getsockname(name);
  /** A send request that libuv did not keep (the last datagram left at once). */
  let spare: object | undefined;
  const list: Buffer[] = [];
  let closed: Promise<void> | undefined;
  return {
    port: name.port ?? port,
    send(packet, rinfo) {
      if (closed !== undefined) return;
      const req = spare ?? new b.SendWrap();
      spare = undefined;
      list[0] = packet;
      // A reply that cannot leave (err < 0) is dropped: the client retries. One that is queued
      // (0) keeps its request, and the list that holds its bytes, until it has left.
      const sent = v6
        ? handle.send6(req, list, 1, rinfo.port, rinfo.address, false)
        : handle.send(req, list, 1, rinfo.port, rinfo.address, false);
      if (sent === 0) (req as { list?: Buffer[] }).list = [packet];
      else spare = req;
      list[0] = EMPTY_PACKET;
    },
    close() {
      closed ??= new Promise<void>((resolve) => handle.close(resolve));
      return closed;
    },
  };
}

const EMPTY_PACKET = Buffer.alloc(0);

async function bindDgram(
  address: string,
  port: number,
  shared: boolean,
  onMessage: (msg: Buffer, rinfo: RemoteInfo) => void,
): Promise<UdpSocket> {
  const socket = createSocket({ type: isIP(address) === 6 ? 'udp6' : 'udp4', lookup: literalLookup });
  socket.on('message', onMessage);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ address, port, exclusive: !shared }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  // A reply that cannot leave is dropped (the client retries); nothing that reaches here may take
  // the tracker down.
  socket.on('error', () => {});
  let closed: Promise<void> | undefined;
  return {
    port: socket.address().port,
    send(packet, rinfo) {
      try {
        // No callback: with one, dgram calls it on a later tick even when the datagram left at
        // once, one more tick per reply. A reply that cannot leave is one the client retries for.
        socket.send(packet, rinfo.port, rinfo.address);
      } catch {
        // A socket closed while a datagram was in hand.
      }
    },
    close() {
      closed ??= new Promise<void>((resolve) => socket.close(() => resolve()));
      return closed;
    },
  };
}

/**
 * dgram resolves the address of every datagram it sends, and node:dns answers even an address
 * literal on a later tick. The tracker only ever replies to the address a datagram came from,
 * always a literal: answered at once, that is one tick less per reply. Anything else goes to
 * node:dns as usual.
 */
function literalLookup(
  hostname: string,
  options: LookupOneOptions | number,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  // Replies go out in runs to one address; isIP runs a regular expression.
  if (hostname !== lastLiteral) {
    lastLiteral = hostname;
    lastFamily = isIP(hostname);
  }
  if (lastFamily !== 0) {
    callback(null, hostname, lastFamily);
    return;
  }
  dnsLookup(hostname, typeof options === 'number' ? { family: options } : options, callback);
}

let lastLiteral = '';
let lastFamily = 0;

class UdpTracker {
  readonly #socket: UdpSocket;
  readonly #logic: SwarmLogic;
  readonly #clock: Clock;
  readonly #interval: number;
  readonly #emit: ((e: TrackerEvent) => void) | undefined;
  readonly #ids: ConnectionIds;
  readonly #metrics: TrackerMetrics | undefined;
  /**
   * The last sender's address as the socket gave it, its canonical text and its bytes: datagrams
   * come in runs from one address (a connect and then its announce, at least), and reading the
   * same text twice per datagram showed in the profile. The bytes are only read, never handed out.
   */
  #lastAddress = '';
  #lastIp: string | undefined;
  #lastBytes: Buffer | undefined;

  constructor(socket: UdpSocket, opts: UdpServeOptions) {
    this.#metrics = opts.metrics;
    this.#socket = socket;
    this.#logic = opts.logic;
    this.#clock = opts.clock;
    this.#interval = opts.interval;
    this.#emit = opts.emit;
    this.#ids = opts.ids ?? new ConnectionIds();
  }

  /** Never throws: it runs straight from the socket, for anyone on the network. */
  onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    // Too short to carry a transaction id: there is nothing a reply could be matched with.
    if (msg.length < UDP_HEADER_BYTES) return;
    // Action and transaction id read in place: the connection id is compared as bytes below, so
    // the header's BigInt (decodeUdpRequestHeader) is not needed here.
    const action = msg.readUInt32BE(8);
    const transactionId = msg.readUInt32BE(12);
    // A dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d; they are IPv4 peers.
    if (rinfo.address !== this.#lastAddress) {
      const canonical = normalizeIp(rinfo.address);
      this.#lastAddress = rinfo.address;
      this.#lastIp = canonical;
      this.#lastBytes = canonical === undefined ? undefined : parseIp(canonical);
    }
    const ip = this.#lastIp;
    if (ip === undefined) return;
    let proven = false;
    try {
      const now = this.#clock.now();
      if (action === UDP_ACTION.connect) {
        // Checks the protocol id; the transaction id it returns is the one read above.
        decodeUdpConnectRequest(msg);
        // Same size as the request: a connect reply amplifies nothing. Written here rather than
        // by encodeUdpConnectResponse, which takes the id as a BigInt: action 0, the transaction
        // id, then the id as bytes, straight from ConnectionIds. Every byte is written.
        const reply = Buffer.allocUnsafe(CONNECT_REPLY_BYTES);
        reply.writeUInt32BE(UDP_ACTION.connect, 0);
        reply.writeUInt32BE(transactionId, 4);
        this.#ids.issueInto(ip, rinfo.port, now, reply, CONNECT_ID_AT);
        this.#send(reply, rinfo);
        return;
      }
      if (action !== UDP_ACTION.announce && action !== UDP_ACTION.scrape) {
        this.#refuse(msg, transactionId, rinfo, ip, `unknown action ${action}`, false);
        return;
      }
      // The id is the request's first 8 bytes, compared there (no BigInt).
      if (!this.#ids.acceptsAt(msg, 0, ip, rinfo.port, now)) {
        this.#refuse(msg, transactionId, rinfo, ip, BAD_CONNECTION_ID, false);
        return;
      }
      proven = true;
      const isAnnounce = action === UDP_ACTION.announce;
      const t0 = performance.now();
      const done = isAnnounce ? this.#announce(msg, ip, rinfo) : this.#scrape(msg, ip, rinfo);
      if (done instanceof Promise) {
        done.then(
          () => this.#count(isAnnounce, 'ok', t0),
          (err: unknown) => {
            this.#count(isAnnounce, outcomeOf(err), t0);
            this.#refuse(msg, transactionId, rinfo, ip, reasonOf(err), true);
          },
        );
      } else this.#count(isAnnounce, 'ok', t0);
    } catch (err) {
      if (proven) this.#count(action === UDP_ACTION.announce, outcomeOf(err), performance.now());
      this.#refuse(msg, transactionId, rinfo, ip, reasonOf(err), proven);
    }
  }

  #count(announce: boolean, outcome: ReturnType<typeof outcomeOf>, t0: number): void {
    const m = this.#metrics;
    if (m === undefined) return;
    if (announce) m.announce('udp', outcome, (performance.now() - t0) / 1000);
    else m.scrape('udp', outcome);
  }

  /** Sends the answer; a promise when the store answers later (it rejects with the store's error). */
  #announce(msg: Buffer, ip: string, rinfo: RemoteInfo): void | Promise<void> {
    const req = decodeUdpAnnounceFields(msg);
    const answer = this.#logic.announce(swarmAnnounce(req, ip, this.#lastBytes!), true);
    if (answer instanceof Promise)
      return answer.then((a) => this.#sendAnswer(a, req.transactionId, ip, rinfo));
    this.#sendAnswer(answer, req.transactionId, ip, rinfo);
  }

  #sendAnswer(answer: SwarmAnswer, transactionId: number, ip: string, rinfo: RemoteInfo): void {
    const family = ip.includes(':') ? 6 : 4;
    let peers: Buffer;
    if (answer.packed) {
      peers = family === 6 ? answer.packed.v6 : answer.packed.v4;
    } else {
      // BEP 15 has one peer list, of the asker's family: entries of the other family are left out.
      const size = family === 6 ? 18 : 6;
      const entries: Buffer[] = [];
      for (const p of answer.peers) {
        const e = p.compact ?? compactEntry(p.ip, p.port);
        if (e.length === size) entries.push(e);
      }
      peers = Buffer.concat(entries);
    }
    this.#send(
      encodeUdpAnnounceResponse({
        transactionId,
        interval: this.#interval,
        leechers: answer.stats.incomplete,
        seeders: answer.stats.complete,
        family,
        peers,
      }),
      rinfo,
    );
  }

  #scrape(msg: Buffer, ip: string, rinfo: RemoteInfo): void | Promise<void> {
    const req = decodeUdpScrapeRequest(msg);
    const files = this.#logic.scrape(req.infoHashes, ip);
    if (files instanceof Promise) {
      return files.then((f) => this.#send(encodeUdpScrapeResponse(req.transactionId, f), rinfo));
    }
    this.#send(encodeUdpScrapeResponse(req.transactionId, files), rinfo);
  }

  /**
   * An error reply (action 3). To a sender not `proven` (no valid connection id) only when it is no
   * larger than the request: such a sender could otherwise make us send more than it did to
   * whoever it names. Otherwise the datagram is dropped. Either way the owner hears of it.
   */
  #refuse(
    msg: Buffer,
    transactionId: number,
    rinfo: RemoteInfo,
    ip: string,
    reason: string,
    proven: boolean,
  ): void {
    this.#emit?.({ type: 'failure', ip, path: 'udp', reason });
    const out = encodeUdpErrorResponse(transactionId, reason);
    if (proven || out.length <= msg.length) this.#send(out, rinfo);
  }

  #send(packet: Buffer, rinfo: RemoteInfo): void {
    this.#socket.send(packet, rinfo);
  }
}

/** The reason sent for an error: ours as they are, anything else kept from strangers. */
function reasonOf(err: unknown): string {
  return isChunkswarmError(err, 'ETRACKER_REQUEST') || isChunkswarmError(err, 'ETRACKER_FAILURE')
    ? err.message
    : 'internal tracker error';
}

/**
 * BEP 15's fields as the swarm logic takes them. The address is always the datagram's source: the
 * request's IP field is ignored, since no proxy relays UDP announces and honouring it would let
 * anyone point a swarm at a victim. `num_want` -1 (or any negative) means the tracker's default.
 */
function swarmAnnounce(
  req: Omit<UdpAnnounceRequestIn, 'connectionId'>,
  ip: string,
  addr: Buffer,
): SwarmAnnounce {
  const numwant =
    req.numWant < 0 ? LIMITS.trackerDefaultNumwant : Math.min(req.numWant, LIMITS.trackerMaxNumwant);
  const compactAddress = Buffer.allocUnsafe(addr.length + 2);
  compactAddress.set(addr, 0);
  compactAddress.writeUInt16BE(req.port, addr.length);
  return {
    infoHash: req.infoHash,
    peerId: req.peerId,
    ip,
    port: req.port,
    compactAddress,
    uploaded: req.uploaded,
    downloaded: req.downloaded,
    left: req.left,
    event: req.event,
    numwant,
    // No `key`: nothing reads it, and formatting it was two strings per datagram.
  };
}
