import { type BDict, type BValue, decode, type Encodable, encode, isDict } from '../../codec/index.js';
import { Bitfield } from '../../shared/bitfield.js';
import { ChunkswarmError, isChunkswarmError } from '../../shared/errors.js';
import { compactAddress, formatIp, normalizeIp } from './ip.js';

/** What the tracker knows of one peer, as the announce response needs it. */
export interface ResponsePeer {
  readonly ip: string;
  readonly port: number;
  readonly peerId: Buffer;
  /** The compact entry (address bytes + port), when the caller has it already; else built from ip/port. */
  readonly compact?: Buffer | undefined;
  readonly uploaded: number;
  readonly downloaded: number;
  readonly left: number | undefined;
  readonly have?: number | undefined;
  readonly pieces?: number | undefined;
  readonly bitfield?: Buffer | undefined;
  /** Milliseconds since the epoch. */
  readonly lastSeen: number;
}

export interface AnnounceResponse {
  /** Seconds between regular announces. */
  readonly interval: number;
  readonly minInterval?: number | undefined;
  readonly complete: number;
  readonly incomplete: number;
  readonly trackerId?: string | undefined;
  readonly warning?: string | undefined;
  readonly peers: readonly ResponsePeer[];
  /**
   * Peers already packed as compact entries (IPv4 6 bytes each, IPv6 18 bytes each): used instead
   * of `peers` for a compact answer without status.
   */
  readonly packed?: { readonly v4: Uint8Array; readonly v6: Uint8Array } | undefined;
  readonly compact: boolean;
  /** Send the non-compact list with each peer's chunk status (the client sent `cs_status=1`). */
  readonly includeStatus: boolean;
  readonly noPeerId: boolean;
  /** The swarm's chunk count, for peers that did not send their own (`cs_pieces`). */
  readonly pieces?: number | undefined;
}

/** Whether a peer has everything: `left=0`, or, when `left` is unknown, every chunk in its bitfield. */
export function isSeeder(peer: {
  readonly left: number | undefined;
  readonly have?: number | undefined;
  readonly pieces?: number | undefined;
}): boolean {
  if (peer.left !== undefined) return peer.left === 0;
  return peer.pieces !== undefined && peer.have === peer.pieces;
}

/**
 * Bencodes an announce response. Compact form (BEP 23) packs IPv4 peers 6 bytes each into `peers`
 * and IPv6 peers 18 bytes each into `peers6` (BEP 7); otherwise `peers` is a list of dictionaries
 * (BEP 3), which is also where the chunkswarm status of each peer goes when asked for.
 */
export function encodeAnnounceResponse(r: AnnounceResponse, head?: FrameHead): Buffer {
  if (r.compact && !r.includeStatus) return encodeCompactResponse(r, head);
  const body = encode({
    complete: r.complete,
    incomplete: r.incomplete,
    interval: r.interval,
    'min interval': r.minInterval,
    peers: r.peers.map((p) => peerDict(p, r)),
    'tracker id': r.trackerId,
    'warning message': r.warning,
  });
  return head === undefined ? body : withHead(head, body);
}

/**
 * A transport's framing, written in front of a response in the same buffer: `before`, the body's
 * length in decimal, then `after` (an HTTP status line and headers ending with Content-Length, say).
 */
export interface FrameHead {
  readonly before: Uint8Array;
  readonly after: Uint8Array;
}

/** `body` behind `head`, in one buffer. */
export function withHead(head: FrameHead, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(frameBytes(head, body.length) + body.length);
  out.set(body, putFrame(out, head, body.length));
  return out;
}

function frameBytes(head: FrameHead, bodyBytes: number): number {
  return head.before.length + decimalBytes(bodyBytes) + head.after.length;
}

/** Writes the framing at the start of `out`; returns where the body goes. */
function putFrame(out: Buffer, head: FrameHead, bodyBytes: number): number {
  out.set(head.before, 0);
  const o = putDecimal(out, head.before.length, bodyBytes);
  out.set(head.after, o);
  return o + head.after.length;
}

// The fixed parts of a compact answer, in BEP 3 key order (sorted bytes): complete, incomplete,
// interval, min interval, peers, peers6, tracker id, warning message.
const latin1 = (text: string) => Buffer.from(text, 'latin1');
const K_COMPLETE = latin1('d8:completei');
const K_INCOMPLETE = latin1('e10:incompletei');
const K_INTERVAL = latin1('e8:intervali');
const K_MIN_INTERVAL = latin1('e12:min intervali');
const K_PEERS = latin1('e5:peers');
const K_PEERS6 = latin1('6:peers6');
const K_TRACKER_ID = latin1('10:tracker id');
const K_WARNING = latin1('15:warning message');
const COLON = 0x3a;
const END = 0x65;

/**
 * The compact answer, written straight into one buffer: numbers as digits in place and the fixed
 * parts from bytes made once, so an answer builds no string. This is the tracker's hot path (most
 * announces ask for it), and the general encoder's per-key buffers and sort cost more than the
 * rest of an announce; the output is byte for byte what `encode` makes of the same dictionary.
 */
function encodeCompactResponse(r: AnnounceResponse, frameHead: FrameHead | undefined): Buffer {
  let n4 = 0;
  let n6 = 0;
  const packed = r.packed;
  let entries: Buffer[] | undefined;
  if (packed) {
    n4 = Math.floor(packed.v4.length / 6);
    n6 = Math.floor(packed.v6.length / 18);
  } else {
    entries = new Array(r.peers.length);
    for (let i = 0; i < r.peers.length; i++) {
      const p = r.peers[i]!;
      const e = p.compact ?? compactEntry(p.ip, p.port);
      entries[i] = e;
      if (e.length === 6) n4++;
      else n6++;
    }
  }
  const complete = int(r.complete);
  const incomplete = int(r.incomplete);
  const interval = int(r.interval);
  const minInterval = r.minInterval === undefined ? undefined : int(r.minInterval);
  const idBytes = r.trackerId === undefined ? 0 : Buffer.byteLength(r.trackerId);
  const warningBytes = r.warning === undefined ? 0 : Buffer.byteLength(r.warning);
  let bodyBytes =
    K_COMPLETE.length +
    decimalBytes(complete) +
    K_INCOMPLETE.length +
    decimalBytes(incomplete) +
    K_INTERVAL.length +
    decimalBytes(interval) +
    K_PEERS.length +
    decimalBytes(n4 * 6) +
    1 +
    n4 * 6 +
    1;
  if (minInterval !== undefined) bodyBytes += K_MIN_INTERVAL.length + decimalBytes(minInterval);
  if (n6 > 0) bodyBytes += K_PEERS6.length + decimalBytes(n6 * 18) + 1 + n6 * 18;
  if (r.trackerId !== undefined) bodyBytes += K_TRACKER_ID.length + decimalBytes(idBytes) + 1 + idBytes;
  if (r.warning !== undefined) bodyBytes += K_WARNING.length + decimalBytes(warningBytes) + 1 + warningBytes;
  // The framing goes in the same buffer, so the answer is built once and leaves as it is.
  const start = frameHead === undefined ? 0 : frameBytes(frameHead, bodyBytes);
  const out = Buffer.allocUnsafe(start + bodyBytes);
  if (frameHead !== undefined) putFrame(out, frameHead, bodyBytes);
  let o = putBytes(out, start, K_COMPLETE);
  o = putDecimal(out, o, complete);
  o = putBytes(out, o, K_INCOMPLETE);
  o = putDecimal(out, o, incomplete);
  o = putBytes(out, o, K_INTERVAL);
  o = putDecimal(out, o, interval);
  if (minInterval !== undefined) {
    o = putBytes(out, o, K_MIN_INTERVAL);
    o = putDecimal(out, o, minInterval);
  }
  o = putBytes(out, o, K_PEERS);
  o = putDecimal(out, o, n4 * 6);
  out[o++] = COLON;
  if (packed) o = putBytes(out, o, packed.v4, n4 * 6);
  else for (const e of entries!) if (e.length === 6) o = putBytes(out, o, e);
  if (n6 > 0) {
    o = putBytes(out, o, K_PEERS6);
    o = putDecimal(out, o, n6 * 18);
    out[o++] = COLON;
    if (packed) o = putBytes(out, o, packed.v6, n6 * 18);
    else for (const e of entries!) if (e.length !== 6) o = putBytes(out, o, e);
  }
  if (r.trackerId !== undefined) {
    o = putBytes(out, o, K_TRACKER_ID);
    o = putDecimal(out, o, idBytes);
    out[o++] = COLON;
    o += out.write(r.trackerId, o, 'utf8');
  }
  if (r.warning !== undefined) {
    o = putBytes(out, o, K_WARNING);
    o = putDecimal(out, o, warningBytes);
    out[o++] = COLON;
    o += out.write(r.warning, o, 'utf8');
  }
  out[o] = END;
  return out;
}

/** Copies the first `length` bytes of `bytes` (all by default) to `out` at `o`; returns the end. */
function putBytes(out: Buffer, o: number, bytes: Uint8Array, length = bytes.length): number {
  // A whole array is set as it is: a shorter view of it would be one more object per call.
  out.set(length === bytes.length ? bytes : bytes.subarray(0, length), o);
  return o + length;
}

/** Digits (and sign) of a safe integer, as bencode writes it. */
function decimalBytes(n: number): number {
  let digits = n < 0 ? 2 : 1;
  for (let v = Math.abs(n); v >= 10; v = Math.floor(v / 10)) digits++;
  return digits;
}

/** Writes a safe integer in decimal at `o`; returns the end. */
function putDecimal(out: Buffer, o: number, n: number): number {
  if (n < 0) out[o++] = 0x2d;
  let v = Math.abs(n);
  const end = o + decimalBytes(v);
  for (let i = end - 1; i >= o; i--) {
    out[i] = 0x30 + (v % 10);
    v = Math.floor(v / 10);
  }
  return end;
}

function int(n: number): number {
  if (!Number.isSafeInteger(n)) throw new RangeError(`not an integer for a tracker response: ${n}`);
  return n;
}

/** `d14:failure reason<n>:<reason>e` (BEP 3): the one key a client must look at first. */
export function encodeFailure(reason: string): Buffer {
  return encode({ 'failure reason': reason });
}

/** The compact form of one address: 4 (IPv4) or 16 (IPv6) address bytes, then the port big-endian. */
export function compactEntry(ip: string, port: number): Buffer {
  const entry = compactAddress(ip, port);
  if (!entry) throw new ChunkswarmError('ETRACKER_REQUEST', `not an IP address: ${ip}`);
  return entry;
}

function peerDict(p: ResponsePeer, r: AnnounceResponse): Record<string, Encodable | undefined> {
  const d: Record<string, Encodable | undefined> = {
    ip: p.ip,
    port: p.port,
    'peer id': r.noPeerId ? undefined : p.peerId,
  };
  if (!r.includeStatus) return d;
  const pieces = p.pieces ?? r.pieces;
  const seeder = isSeeder({ left: p.left, have: p.have, pieces });
  // A standard client tells only `left`; a seeder among them holds every chunk.
  const have = p.have ?? (seeder && pieces !== undefined ? pieces : undefined);
  d.cs_have = have;
  d.cs_pieces = pieces;
  d.cs_bitfield = p.bitfield;
  d.uploaded = p.uploaded;
  d.downloaded = p.downloaded;
  d.left = p.left;
  d.seeder = seeder ? 1 : 0;
  d.last_seen = Math.floor(p.lastSeen / 1000);
  return d;
}

// ---------------------------------------------------------------------------------------------
// Client side

/** A peer from a tracker response. */
export interface TrackerPeer {
  readonly ip: string;
  readonly port: number;
  readonly peerId?: Buffer;
  readonly status?: PeerStatus;
}

/** A peer's chunk status as a chunkswarm tracker reports it (`cs_status=1`). */
export interface PeerStatus {
  /** Chunks held; 0 when the tracker did not know. */
  readonly have: number;
  readonly pieces?: number;
  readonly bitfield?: Buffer;
  readonly uploaded?: number;
  readonly downloaded?: number;
  readonly left?: number;
  readonly seeder?: boolean;
  /** Unix seconds. */
  readonly lastSeen?: number;
}

export interface AnnounceResult {
  readonly interval: number;
  readonly minInterval?: number;
  readonly complete?: number;
  readonly incomplete?: number;
  readonly trackerId?: string;
  readonly warning?: string;
  readonly peers: TrackerPeer[];
}

/** What a response may hold; the body comes from a stranger, so every limit is tight. */
export const RESPONSE_DECODE_LIMITS = {
  maxDepth: 8,
  maxTokens: 200_000,
  maxBytes: 1024 * 1024,
  // Several trackers in the wild write keys in insertion order.
  strictKeyOrder: false,
} as const;

/** BEP 3 gives no default; 30 minutes is what most trackers send and what clients assume. */
const DEFAULT_INTERVAL = 1800;

/**
 * Reads an announce response. A `failure reason` throws ChunkswarmError `ETRACKER_FAILURE`;
 * anything that is not a response throws `ETRACKER_RESPONSE`. Peers with an unusable address or
 * port are left out rather than failing the whole answer. A missing `interval` means 1800 s.
 */
export function parseAnnounceResponse(body: Uint8Array): AnnounceResult {
  const d = decodeResponse(body);
  const interval = optionalInt(d, 'interval') ?? DEFAULT_INTERVAL;
  const minInterval = optionalInt(d, 'min interval');
  const complete = optionalInt(d, 'complete');
  const incomplete = optionalInt(d, 'incomplete');
  // Latin1 keeps any bytes of the id intact, so it goes back to the tracker exactly as it came.
  const trackerId = optionalText(d, 'tracker id', 'latin1');
  const warning = optionalText(d, 'warning message');

  const peers: TrackerPeer[] = [];
  const list = d.get('peers');
  if (Buffer.isBuffer(list)) readCompact(list, 6, peers);
  else if (Array.isArray(list)) for (const item of list) readPeerDict(item, peers);
  else if (list !== undefined) bad("'peers' is neither a string nor a list");
  const list6 = d.get('peers6');
  if (Buffer.isBuffer(list6)) readCompact(list6, 18, peers);
  else if (list6 !== undefined) bad("'peers6' is not a string");

  const result: {
    -readonly [K in keyof AnnounceResult]: AnnounceResult[K];
  } = { interval, peers };
  if (minInterval !== undefined) result.minInterval = minInterval;
  if (complete !== undefined) result.complete = complete;
  if (incomplete !== undefined) result.incomplete = incomplete;
  if (trackerId !== undefined) result.trackerId = trackerId;
  if (warning !== undefined) result.warning = warning;
  return result;
}

/** Decodes a tracker's bencoded answer to its top dictionary, throwing on `failure reason`. */
export function decodeResponse(body: Uint8Array): BDict {
  let value: BValue;
  try {
    value = decode(body, RESPONSE_DECODE_LIMITS);
  } catch (err) {
    if (isChunkswarmError(err)) bad(`not bencoded: ${err.message}`, err);
    throw err;
  }
  if (!isDict(value)) bad('not a dictionary');
  const failure = value.get('failure reason');
  if (failure !== undefined) {
    const reason = Buffer.isBuffer(failure) ? failure.toString('utf8') : 'unreadable failure reason';
    throw new ChunkswarmError('ETRACKER_FAILURE', `tracker said: ${reason}`);
  }
  return value;
}

function readCompact(bytes: Buffer, size: 6 | 18, out: TrackerPeer[]): void {
  if (bytes.length % size !== 0) {
    bad(`'${size === 6 ? 'peers' : 'peers6'}' is ${bytes.length} bytes, not a multiple of ${size}`);
  }
  for (let o = 0; o < bytes.length; o += size) {
    const port = bytes.readUInt16BE(o + size - 2);
    if (port === 0) continue;
    out.push({ ip: formatIp(bytes.subarray(o, o + size - 2)), port });
  }
}

function readPeerDict(item: BValue, out: TrackerPeer[]): void {
  if (!isDict(item)) return;
  const ipBytes = item.get('ip');
  const port = item.get('port');
  if (!Buffer.isBuffer(ipBytes) || typeof port !== 'number' || port < 1 || port > 65535) return;
  const ip = normalizeIp(ipBytes.toString('latin1'));
  if (ip === undefined) return;
  const peer: { ip: string; port: number; peerId?: Buffer; status?: PeerStatus } = { ip, port };
  const id = item.get('peer id');
  if (Buffer.isBuffer(id) && id.length === 20) peer.peerId = Buffer.from(id);
  const status = readStatus(item);
  if (status) peer.status = status;
  out.push(peer);
}

const STATUS_KEYS = ['cs_have', 'cs_pieces', 'cs_bitfield', 'seeder', 'last_seen', 'left'] as const;

function readStatus(d: BDict): PeerStatus | undefined {
  if (!STATUS_KEYS.some((k) => d.has(k))) return undefined;
  const s: { -readonly [K in keyof PeerStatus]: PeerStatus[K] } = { have: 0 };
  const pieces = nonNegative(d.get('cs_pieces'));
  if (pieces !== undefined) s.pieces = pieces;
  const bits = d.get('cs_bitfield');
  if (Buffer.isBuffer(bits) && pieces !== undefined && Bitfield.isValidPayload(pieces, bits)) {
    s.bitfield = Buffer.from(bits);
    s.have = new Bitfield(pieces, bits).count;
  }
  const have = nonNegative(d.get('cs_have'));
  if (have !== undefined && s.bitfield === undefined) s.have = have;
  for (const key of ['uploaded', 'downloaded', 'left'] as const) {
    const v = nonNegative(d.get(key));
    if (v !== undefined) s[key] = v;
  }
  const seeder = d.get('seeder');
  if (seeder === 0 || seeder === 1) s.seeder = seeder === 1;
  const lastSeen = nonNegative(d.get('last_seen'));
  if (lastSeen !== undefined) s.lastSeen = lastSeen;
  return s;
}

function nonNegative(v: BValue | undefined): number | undefined {
  return typeof v === 'number' && v >= 0 ? v : undefined;
}

function optionalInt(d: BDict, key: string): number | undefined {
  const v = d.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || v < 0) bad(`'${key}' is not a non-negative integer`);
  return v;
}

function optionalText(d: BDict, key: string, encoding: 'utf8' | 'latin1' = 'utf8'): string | undefined {
  const v = d.get(key);
  if (v === undefined) return undefined;
  if (!Buffer.isBuffer(v)) bad(`'${key}' is not a string`);
  return v.toString(encoding);
}

function bad(what: string, cause?: unknown): never {
  throw new ChunkswarmError('ETRACKER_RESPONSE', `tracker response is invalid: ${what}`, { cause });
}
