/**
 * The UDP tracker protocol (BEP 15), client side, as a pure codec: requests to bytes, replies to
 * the same `AnnounceResult` / `ScrapeStats` the http path gives. Every packet is big-endian.
 * The transport (sockets, retransmits) lives in tracker/client/udp.ts.
 */
import { ChunkswarmError } from '../../shared/errors.js';
import type { AnnounceEvent } from './announce-request.js';
import type { AnnounceResult, TrackerPeer } from './announce-response.js';
import { formatIp } from './ip.js';
import type { ScrapeStats } from './scrape.js';

/** BEP 15: the magic number a connect request carries where a connection id would go. */
export const UDP_PROTOCOL_ID = 0x41727101980n;

export const UDP_ACTION = { connect: 0, announce: 1, scrape: 2, error: 3 } as const;
export type UdpAction = (typeof UDP_ACTION)[keyof typeof UDP_ACTION];

/**
 * BEP 15 event codes. BEP 21's `paused` has no code, so it goes as a regular announce: the
 * tracker keeps the peer in the swarm, which is what a paused partial seed wants.
 */
export const UDP_EVENT: Readonly<Record<AnnounceEvent | 'none', number>> = {
  none: 0,
  completed: 1,
  started: 2,
  stopped: 3,
  paused: 0,
};

/** Most peers read from one announce reply; a full datagram could claim ~10 000. */
export const UDP_DEFAULT_MAX_PEERS = 1000;
/** Longest error message kept from a tracker; the rest of the datagram is not read. */
export const UDP_MAX_ERROR_BYTES = 1024;
/** BEP 15 puts about 74 hashes in one scrape so the request stays under a typical MTU. */
export const UDP_MAX_SCRAPE_HASHES = 74;
/** BEP 41 URL data we send at most (path and query); longer tracker URLs are refused. */
export const UDP_MAX_URL_DATA_BYTES = 1024;

/** Fixed sizes of the packets (BEP 15). */
const CONNECT_REQUEST_BYTES = 16;
const CONNECT_REPLY_BYTES = 16;
const ANNOUNCE_REQUEST_BYTES = 98;
const ANNOUNCE_REPLY_HEADER = 20;
const SCRAPE_REQUEST_HEADER = 16;
const SCRAPE_REPLY_HEADER = 8;
const SCRAPE_ENTRY_BYTES = 12;
const HEADER_BYTES = 8;

/** BEP 41 option type carrying the announce URL's path and query, at most 255 bytes an option. */
const OPTION_URL_DATA = 2;

export interface UdpAnnounceRequest {
  readonly connectionId: bigint;
  readonly transactionId: number;
  readonly infoHash: Uint8Array;
  readonly peerId: Uint8Array;
  readonly downloaded: number;
  readonly left: number;
  readonly uploaded: number;
  readonly event?: AnnounceEvent | undefined;
  /** Unsigned 32 bits: lets the tracker know us again if our address changes. */
  readonly key: number;
  /** Peers wanted; -1 (the default) leaves the number to the tracker. */
  readonly numWant?: number | undefined;
  readonly port: number;
  /**
   * The tracker URL's path and query (`/announce?passkey=...`), sent as BEP 41 URL data so a
   * tracker that serves several paths on one port can tell them apart; trackers without BEP 41
   * ignore bytes past the fixed request.
   */
  readonly urlData?: string | undefined;
}

export interface UdpAnnounceDecodeOptions {
  /** The address family the tracker was reached over: it fixes the peer entry size (6 or 18). */
  readonly family: 4 | 6;
  readonly maxPeers?: number | undefined;
}

/** `connection_id = protocol id, action 0, transaction id` (16 bytes). */
export function encodeUdpConnectRequest(transactionId: number): Buffer {
  const out = Buffer.alloc(CONNECT_REQUEST_BYTES);
  out.writeBigUInt64BE(UDP_PROTOCOL_ID, 0);
  out.writeUInt32BE(UDP_ACTION.connect, 8);
  out.writeUInt32BE(checkU32(transactionId, 'transaction id'), 12);
  return out;
}

/** The 98-byte announce (BEP 15), then the BEP 41 URL data options when `urlData` is given. */
export function encodeUdpAnnounceRequest(r: UdpAnnounceRequest): Buffer {
  checkBytes(r.infoHash, 20, 'infohash');
  checkBytes(r.peerId, 20, 'peer id');
  const options = urlDataOptions(r.urlData);
  const out = Buffer.alloc(ANNOUNCE_REQUEST_BYTES + options.length);
  out.writeBigUInt64BE(checkU64(r.connectionId), 0);
  out.writeUInt32BE(UDP_ACTION.announce, 8);
  out.writeUInt32BE(checkU32(r.transactionId, 'transaction id'), 12);
  out.set(r.infoHash, 16);
  out.set(r.peerId, 36);
  out.writeBigUInt64BE(counter(r.downloaded, 'downloaded'), 56);
  out.writeBigUInt64BE(counter(r.left, 'left'), 64);
  out.writeBigUInt64BE(counter(r.uploaded, 'uploaded'), 72);
  out.writeUInt32BE(UDP_EVENT[r.event ?? 'none'], 80);
  // IP 0 at 84: the tracker takes our address from the datagram (chunkswarm never sends `ip`).
  out.writeUInt32BE(checkU32(r.key, 'key'), 88);
  const numWant = r.numWant ?? -1;
  if (!Number.isInteger(numWant) || numWant < -1 || numWant > 0x7fffffff) {
    throw usage(`num_want must be -1..2147483647, not ${numWant}`);
  }
  out.writeInt32BE(numWant, 92);
  if (!Number.isInteger(r.port) || r.port < 0 || r.port > 0xffff) throw usage(`port must be 0..65535`);
  out.writeUInt16BE(r.port, 96);
  out.set(options, ANNOUNCE_REQUEST_BYTES);
  return out;
}

/** `connection id, action 2, transaction id`, then each 20-byte infohash. */
export function encodeUdpScrapeRequest(
  connectionId: bigint,
  transactionId: number,
  infoHashes: readonly Uint8Array[],
): Buffer {
  if (infoHashes.length === 0 || infoHashes.length > UDP_MAX_SCRAPE_HASHES) {
    throw usage(`a UDP scrape takes 1..${UDP_MAX_SCRAPE_HASHES} infohashes, not ${infoHashes.length}`);
  }
  const out = Buffer.alloc(SCRAPE_REQUEST_HEADER + 20 * infoHashes.length);
  out.writeBigUInt64BE(checkU64(connectionId), 0);
  out.writeUInt32BE(UDP_ACTION.scrape, 8);
  out.writeUInt32BE(checkU32(transactionId, 'transaction id'), 12);
  infoHashes.forEach((h, i) => {
    checkBytes(h, 20, 'infohash');
    out.set(h, SCRAPE_REQUEST_HEADER + 20 * i);
  });
  return out;
}

/**
 * The transaction id of a reply, undefined when the packet is too short to hold one. A client
 * uses it to set aside datagrams that answer some other request before decoding anything.
 */
export function udpTransactionId(packet: Uint8Array): number | undefined {
  if (packet.length < HEADER_BYTES) return undefined;
  return view(packet).readUInt32BE(4);
}

/** The connection id from a connect reply (action 0). */
export function decodeUdpConnectResponse(packet: Uint8Array, transactionId: number): bigint {
  const b = header(packet, UDP_ACTION.connect, transactionId);
  if (b.length < CONNECT_REPLY_BYTES) bad(`connect reply is ${b.length} bytes, not ${CONNECT_REPLY_BYTES}`);
  return b.readBigUInt64BE(8);
}

/**
 * An announce reply (action 1): interval, leechers, seeders, then compact peers, 6 bytes each
 * over IPv4 and 18 over IPv6 (BEP 15). Peers past `maxPeers` are not read; peers with port 0
 * are left out.
 */
export function decodeUdpAnnounceResponse(
  packet: Uint8Array,
  transactionId: number,
  opts: UdpAnnounceDecodeOptions,
): AnnounceResult {
  const b = header(packet, UDP_ACTION.announce, transactionId);
  if (b.length === HEADER_BYTES) {
    // opentracker answers this way, with no error message, for a torrent it does not track.
    bad('announce reply has no body (the tracker may not track this torrent)');
  }
  if (b.length < ANNOUNCE_REPLY_HEADER) {
    bad(`announce reply is ${b.length} bytes, shorter than its ${ANNOUNCE_REPLY_HEADER}-byte header`);
  }
  const interval = b.readInt32BE(8);
  const leechers = b.readInt32BE(12);
  const seeders = b.readInt32BE(16);
  if (interval < 0) bad(`interval is negative (${interval})`);
  if (leechers < 0 || seeders < 0) bad(`peer counts are negative (${seeders} seeders, ${leechers} leechers)`);
  const size = opts.family === 6 ? 18 : 6;
  const peerBytes = b.length - ANNOUNCE_REPLY_HEADER;
  if (peerBytes % size !== 0) {
    bad(`announce reply has ${peerBytes} bytes of peers, not a multiple of ${size}`);
  }
  const maxPeers = opts.maxPeers ?? UDP_DEFAULT_MAX_PEERS;
  const count = Math.min(peerBytes / size, Math.max(0, maxPeers));
  const peers: TrackerPeer[] = [];
  for (let i = 0; i < count; i++) {
    const o = ANNOUNCE_REPLY_HEADER + i * size;
    const port = b.readUInt16BE(o + size - 2);
    if (port === 0) continue;
    peers.push({ ip: formatIp(b.subarray(o, o + size - 2)), port });
  }
  return { interval, complete: seeders, incomplete: leechers, peers };
}

/**
 * A scrape reply (action 2): seeders, completed, leechers for each hash asked, in the order
 * asked. A reply with fewer entries than `hashes` is refused; extra bytes are not read.
 */
export function decodeUdpScrapeResponse(
  packet: Uint8Array,
  transactionId: number,
  hashes: number,
): ScrapeStats[] {
  const b = header(packet, UDP_ACTION.scrape, transactionId);
  if (!Number.isInteger(hashes) || hashes < 1 || hashes > UDP_MAX_SCRAPE_HASHES) {
    throw usage(`a UDP scrape answers 1..${UDP_MAX_SCRAPE_HASHES} infohashes, not ${hashes}`);
  }
  const need = SCRAPE_REPLY_HEADER + SCRAPE_ENTRY_BYTES * hashes;
  if (b.length < need) bad(`scrape reply is ${b.length} bytes; ${hashes} infohash(es) need ${need}`);
  const out: ScrapeStats[] = [];
  for (let i = 0; i < hashes; i++) {
    const o = SCRAPE_REPLY_HEADER + SCRAPE_ENTRY_BYTES * i;
    const complete = b.readInt32BE(o);
    const downloaded = b.readInt32BE(o + 4);
    const incomplete = b.readInt32BE(o + 8);
    if (complete < 0 || downloaded < 0 || incomplete < 0) bad('scrape reply has a negative count');
    out.push({ complete, incomplete, downloaded });
  }
  return out;
}

/**
 * Checks the 8-byte header every reply starts with. The transaction id is checked first, so an
 * error meant for another request is not taken as ours; then action 3 (BEP 15: error, followed
 * by a message) becomes ETRACKER_FAILURE, worded like a bencoded `failure reason`.
 */
function header(packet: Uint8Array, action: UdpAction, transactionId: number): Buffer {
  const b = view(packet);
  if (b.length < HEADER_BYTES) bad(`reply is ${b.length} bytes, too short for a UDP tracker packet`);
  const tid = b.readUInt32BE(4);
  if (tid !== transactionId) bad(`reply has transaction id ${tid}, not ${transactionId}`);
  const got = b.readUInt32BE(0);
  if (got === UDP_ACTION.error) {
    const end = Math.min(b.length, HEADER_BYTES + UDP_MAX_ERROR_BYTES);
    // Some trackers end the message with a NUL, C style.
    const reason = b.toString('utf8', HEADER_BYTES, end).replace(/\0+$/, '');
    throw new ChunkswarmError('ETRACKER_FAILURE', `tracker said: ${reason || '(no reason given)'}`);
  }
  if (got !== action) bad(`reply has action ${got}, expected ${action}`);
  return b;
}

/** BEP 41: the URL data split into options of at most 255 bytes, each `2, length, bytes`. */
function urlDataOptions(urlData: string | undefined): Buffer {
  if (urlData === undefined || urlData === '') return Buffer.alloc(0);
  const data = Buffer.from(urlData, 'utf8');
  if (data.length > UDP_MAX_URL_DATA_BYTES) {
    throw usage(`tracker URL path and query are ${data.length} bytes, more than ${UDP_MAX_URL_DATA_BYTES}`);
  }
  const chunks = Math.ceil(data.length / 255);
  const out = Buffer.alloc(data.length + 2 * chunks);
  let o = 0;
  for (let at = 0; at < data.length; at += 255) {
    const part = data.subarray(at, at + 255);
    out[o++] = OPTION_URL_DATA;
    out[o++] = part.length;
    o += part.copy(out, o);
  }
  return out;
}

function view(packet: Uint8Array): Buffer {
  return Buffer.isBuffer(packet) ? packet : Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
}

function counter(n: number, name: string): bigint {
  if (!Number.isSafeInteger(n) || n < 0) throw usage(`${name} must be a non-negative integer, not ${n}`);
  return BigInt(n);
}

function checkU32(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw usage(`${name} must be an unsigned 32-bit integer`);
  return n;
}

function checkU64(n: bigint): bigint {
  if (n < 0n || n > 0xffffffffffffffffn) throw usage('connection id must be an unsigned 64-bit integer');
  return n;
}

function checkBytes(b: Uint8Array, length: number, name: string): void {
  if (b.length !== length) throw usage(`${name} must be ${length} bytes, not ${b.length}`);
}

function usage(message: string): ChunkswarmError {
  return new ChunkswarmError('EUSAGE', message);
}

function bad(what: string): never {
  throw new ChunkswarmError('ETRACKER_RESPONSE', `UDP tracker reply is invalid: ${what}`);
}

// --- Server side: requests in, replies out (BEP 15) ---

/** The fixed start of every request: connection id, action, transaction id (16 bytes). */
export interface UdpRequestHeader {
  readonly connectionId: bigint;
  /** Any 32-bit value: a request with an action we do not know still has a transaction id. */
  readonly action: number;
  readonly transactionId: number;
}

/**
 * An announce as a tracker reads it (BEP 15), numbers as sent; what they mean is the tracker's call.
 * `infoHash` and `peerId` are views into the packet (a datagram is a buffer of its own): copy them
 * to keep them past the packet's life.
 */
export interface UdpAnnounceRequestIn {
  readonly connectionId: bigint;
  readonly transactionId: number;
  readonly infoHash: Buffer;
  readonly peerId: Buffer;
  readonly downloaded: number;
  /** Undefined when the client sent a negative (signed 64-bit) value: unknown, as some clients mean it. */
  readonly left: number | undefined;
  readonly uploaded: number;
  readonly event: AnnounceEvent | undefined;
  /** The IPv4 address field, 0 when the client left it to the tracker (the usual case). */
  readonly ipv4: number;
  readonly key: number;
  /** Signed: -1 leaves the number of peers to the tracker. */
  readonly numWant: number;
  readonly port: number;
  /** BEP 41 URL data (the tracker URL's path and query), when the client sent any within the cap. */
  readonly urlData: string | undefined;
}

export interface UdpScrapeRequestIn {
  readonly connectionId: bigint;
  readonly transactionId: number;
  readonly infoHashes: Buffer[];
}

export interface UdpRequestDecodeOptions {
  /** Infohashes one scrape may ask for (default UDP_MAX_SCRAPE_HASHES, BEP 15's MTU-sized 74). */
  readonly maxScrapeHashes?: number;
  /** BEP 41 URL data kept, at most (default UDP_MAX_URL_DATA_BYTES); longer data is dropped whole. */
  readonly maxUrlDataBytes?: number;
}

export interface UdpAnnounceReply {
  readonly transactionId: number;
  readonly interval: number;
  readonly leechers: number;
  readonly seeders: number;
  /** The family of the socket the request came in on: 6-byte (4) or 18-byte (6) peer entries. */
  readonly family: 4 | 6;
  /** Compact entries, packed end to end: 4 or 16 address bytes then the port, big-endian. */
  readonly peers: Uint8Array;
}

export interface UdpScrapeEntry {
  readonly complete: number;
  readonly downloaded: number;
  readonly incomplete: number;
}

const EVENT_BY_CODE: readonly (AnnounceEvent | undefined)[] = [undefined, 'completed', 'started', 'stopped'];
const OPTION_END = 0;
const OPTION_NOP = 1;
const INT32_MAX = 0x7fffffff;

/**
 * The 16-byte header of a request, or undefined for a datagram too short to be one. A tracker
 * reads it first: the transaction id is what an error reply must carry.
 */
export function decodeUdpRequestHeader(packet: Uint8Array): UdpRequestHeader | undefined {
  if (packet.length < CONNECT_REQUEST_BYTES) return undefined;
  const b = view(packet);
  return { connectionId: b.readBigUInt64BE(0), action: b.readUInt32BE(8), transactionId: b.readUInt32BE(12) };
}

/**
 * A connect request (BEP 15): the protocol id where a connection id would go, action 0. Bytes past
 * the 16 are not read. Returns the transaction id.
 */
export function decodeUdpConnectRequest(packet: Uint8Array): number {
  // Half of all datagrams: read in 32-bit halves, without the BigInt decodeUdpRequestHeader makes.
  const b = view(packet);
  if (b.length < CONNECT_REQUEST_BYTES) {
    refuse(`connect request is ${b.length} bytes, shorter than the 16-byte header`);
  }
  const action = b.readUInt32BE(8);
  if (action !== UDP_ACTION.connect)
    refuse(`request has action ${action}, not ${UDP_ACTION.connect} (connect)`);
  if (b.readUInt32BE(0) !== PROTOCOL_ID_HIGH || b.readUInt32BE(4) !== PROTOCOL_ID_LOW) {
    refuse('connect request lacks the BEP 15 protocol id');
  }
  return b.readUInt32BE(12);
}

const PROTOCOL_ID_HIGH = Number(UDP_PROTOCOL_ID >> 32n);
const PROTOCOL_ID_LOW = Number(UDP_PROTOCOL_ID & 0xffffffffn);

/**
 * An announce request (BEP 15): 98 fixed bytes, then BEP 41 options, read while they make sense
 * (they are hints: a malformed one ends the reading, never the announce).
 */
export function decodeUdpAnnounceRequest(
  packet: Uint8Array,
  opts: UdpRequestDecodeOptions = {},
): UdpAnnounceRequestIn {
  const fields = decodeUdpAnnounceFields(packet, opts);
  return { connectionId: view(packet).readBigUInt64BE(0), ...fields };
}

/**
 * `decodeUdpAnnounceRequest` without the connection id, for a tracker that checks the id as the
 * bytes it is (ConnectionIds.acceptsAt): no BigInt per announce. Same checks, same errors.
 */
export function decodeUdpAnnounceFields(
  packet: Uint8Array,
  opts: UdpRequestDecodeOptions = {},
): Omit<UdpAnnounceRequestIn, 'connectionId'> {
  const b = view(packet);
  const transactionId = checkedTransactionId(b, UDP_ACTION.announce, 'announce');
  if (b.length < ANNOUNCE_REQUEST_BYTES) {
    refuse(`announce is ${b.length} bytes, shorter than BEP 15's ${ANNOUNCE_REQUEST_BYTES}`);
  }
  const code = b.readUInt32BE(80);
  if (code >= EVENT_BY_CODE.length) refuse(`unknown announce event ${code}`);
  const port = b.readUInt16BE(96);
  if (port === 0) refuse('invalid port 0');
  return {
    transactionId,
    infoHash: b.subarray(16, 36),
    peerId: b.subarray(36, 56),
    downloaded: readCounter(b, 56) ?? 0,
    left: readCounter(b, 64),
    uploaded: readCounter(b, 72) ?? 0,
    event: EVENT_BY_CODE[code],
    ipv4: b.readUInt32BE(84),
    key: b.readUInt32BE(88),
    numWant: b.readInt32BE(92),
    port,
    urlData: readUrlData(b, opts.maxUrlDataBytes ?? UDP_MAX_URL_DATA_BYTES),
  };
}

/** A scrape request (BEP 15): the header, then 1..maxScrapeHashes infohashes of 20 bytes each. */
export function decodeUdpScrapeRequest(
  packet: Uint8Array,
  opts: UdpRequestDecodeOptions = {},
): UdpScrapeRequestIn {
  const h = requestHeader(packet, UDP_ACTION.scrape, 'scrape');
  const b = view(packet);
  const max = opts.maxScrapeHashes ?? UDP_MAX_SCRAPE_HASHES;
  const body = b.length - SCRAPE_REQUEST_HEADER;
  if (body === 0) refuse('scrape names no infohash');
  if (body % 20 !== 0) refuse(`scrape has ${body} bytes of infohashes, not a multiple of 20`);
  const count = body / 20;
  if (count > max) refuse(`scrape asks for ${count} infohashes; at most ${max} per request`);
  const infoHashes: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const o = SCRAPE_REQUEST_HEADER + 20 * i;
    infoHashes.push(Buffer.from(b.subarray(o, o + 20)));
  }
  return { connectionId: h.connectionId, transactionId: h.transactionId, infoHashes };
}

/** `action 0, transaction id, connection id` (16 bytes). */
export function encodeUdpConnectResponse(transactionId: number, connectionId: bigint): Buffer {
  const out = Buffer.alloc(CONNECT_REPLY_BYTES);
  out.writeUInt32BE(UDP_ACTION.connect, 0);
  out.writeUInt32BE(checkU32(transactionId, 'transaction id'), 4);
  out.writeBigUInt64BE(checkU64(connectionId), 8);
  return out;
}

/** `action 1, transaction id, interval, leechers, seeders`, then the compact peers (BEP 15). */
export function encodeUdpAnnounceResponse(r: UdpAnnounceReply): Buffer {
  const size = r.family === 6 ? 18 : 6;
  if (r.peers.length % size !== 0) {
    throw usage(`IPv${r.family} peers are ${size} bytes each; ${r.peers.length} bytes is not a whole number`);
  }
  // Every byte is written below.
  const out = Buffer.allocUnsafe(ANNOUNCE_REPLY_HEADER + r.peers.length);
  out.writeUInt32BE(UDP_ACTION.announce, 0);
  out.writeUInt32BE(checkU32(r.transactionId, 'transaction id'), 4);
  out.writeInt32BE(count32(r.interval, 'interval'), 8);
  out.writeInt32BE(count32(r.leechers, 'leechers'), 12);
  out.writeInt32BE(count32(r.seeders, 'seeders'), 16);
  out.set(r.peers, ANNOUNCE_REPLY_HEADER);
  return out;
}

/** `action 2, transaction id`, then seeders, completed, leechers for each infohash asked. */
export function encodeUdpScrapeResponse(transactionId: number, entries: readonly UdpScrapeEntry[]): Buffer {
  const out = Buffer.alloc(SCRAPE_REPLY_HEADER + SCRAPE_ENTRY_BYTES * entries.length);
  out.writeUInt32BE(UDP_ACTION.scrape, 0);
  out.writeUInt32BE(checkU32(transactionId, 'transaction id'), 4);
  entries.forEach((e, i) => {
    const o = SCRAPE_REPLY_HEADER + SCRAPE_ENTRY_BYTES * i;
    out.writeInt32BE(count32(e.complete, 'seeders'), o);
    out.writeInt32BE(count32(e.downloaded, 'completed'), o + 4);
    out.writeInt32BE(count32(e.incomplete, 'leechers'), o + 8);
  });
  return out;
}

/**
 * `action 3, transaction id, message`. With `maxBytes` the message is cut (on a character
 * boundary) so the whole reply fits: a tracker answering an unproven sender must never send more
 * than it received, or it becomes an amplifier.
 */
export function encodeUdpErrorResponse(transactionId: number, message: string, maxBytes?: number): Buffer {
  let text = Buffer.from(message, 'utf8');
  if (maxBytes !== undefined) {
    const room = Math.max(0, maxBytes - HEADER_BYTES);
    if (text.length > room) text = Buffer.from(cutUtf8(text, room));
  }
  const out = Buffer.alloc(HEADER_BYTES + text.length);
  out.writeUInt32BE(UDP_ACTION.error, 0);
  out.writeUInt32BE(checkU32(transactionId, 'transaction id'), 4);
  text.copy(out, HEADER_BYTES);
  return out;
}

function requestHeader(packet: Uint8Array, action: UdpAction, what: string): UdpRequestHeader {
  const b = view(packet);
  const transactionId = checkedTransactionId(b, action, what);
  return { connectionId: b.readBigUInt64BE(0), action, transactionId };
}

/** The header's transaction id, once its length and action are checked (as requestHeader does). */
function checkedTransactionId(b: Buffer, action: UdpAction, what: string): number {
  if (b.length < CONNECT_REQUEST_BYTES) {
    refuse(`${what} request is ${b.length} bytes, shorter than the 16-byte header`);
  }
  const got = b.readUInt32BE(8);
  if (got !== action) refuse(`request has action ${got}, not ${action} (${what})`);
  return b.readUInt32BE(12);
}

/**
 * A 64-bit counter as a number. Negative (as signed 64 bits) is unknown; past 2^53 it is held at
 * Number.MAX_SAFE_INTEGER: these only feed statistics, not worth refusing an announce over.
 */
function readCounter(b: Buffer, at: number): number | undefined {
  // In two halves, without a BigInt per field: the high half carries the sign.
  const hi = b.readInt32BE(at);
  if (hi < 0) return undefined;
  const v = hi * 0x1_0000_0000 + b.readUInt32BE(at + 4);
  // Past 2^53 the sum may round, but only to a value that is capped just the same.
  return Math.min(v, Number.MAX_SAFE_INTEGER);
}

/**
 * BEP 41 options after the fixed announce: EndOfOptions (0) and NOP (1) are one byte; every other
 * type has a length byte and that many bytes of data. URL data options (2) are concatenated.
 * The length of the data is checked against the packet and the cap before anything is copied.
 */
function readUrlData(b: Buffer, max: number): string | undefined {
  // Most announces carry no options at all.
  if (b.length <= ANNOUNCE_REQUEST_BYTES) return undefined;
  const parts: Buffer[] = [];
  let total = 0;
  let o = ANNOUNCE_REQUEST_BYTES;
  while (o < b.length) {
    const type = b[o]!;
    if (type === OPTION_END) break;
    if (type === OPTION_NOP) {
      o++;
      continue;
    }
    if (o + 1 >= b.length) break;
    const length = b[o + 1]!;
    const start = o + 2;
    if (start + length > b.length) break;
    if (type === OPTION_URL_DATA) {
      total += length;
      if (total > max) return undefined;
      parts.push(b.subarray(start, start + length));
    }
    o = start + length;
  }
  if (parts.length === 0) return undefined;
  return Buffer.concat(parts, total).toString('utf8');
}

/** The longest prefix of `text` that fits in `room` bytes without splitting a UTF-8 character. */
function cutUtf8(text: Buffer, room: number): Buffer {
  let end = room;
  // Step back over continuation bytes (10xxxxxx) to the start of the character cut in two.
  while (end > 0 && end < text.length && (text[end]! & 0xc0) === 0x80) end--;
  return text.subarray(0, end);
}

function count32(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 0) throw usage(`${name} must be a non-negative integer, not ${n}`);
  // A count past 2^31 - 1 does not fit BEP 15's signed field; the largest that does is the truth's best stand-in.
  return Math.min(n, INT32_MAX);
}

function refuse(what: string): never {
  throw new ChunkswarmError('ETRACKER_REQUEST', `invalid UDP tracker request: ${what}`);
}
