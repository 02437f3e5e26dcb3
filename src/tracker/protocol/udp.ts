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
