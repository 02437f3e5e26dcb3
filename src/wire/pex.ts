/**
 * Peer exchange (BEP 11, `ut_pex` in the BEP 10 handshake): connected peers tell each other which peers
 * they have connected to and dropped since their last message. Pure: the codec, the sender's diff
 * (`PexState`) and the receiver's flood guard (`PexInbox`); the connection sends and dials.
 *
 * A message is a bencoded dictionary: `added` (compact IPv4 peers, 6 bytes each) with `added.f` (one
 * flags byte per added peer), `dropped`, and the same for IPv6 (`added6`, `added6.f`, `dropped6`, 18 bytes
 * each).
 */
import { type BValue, decodePrefix, dictGet, encode, isDict } from '../codec/index.js';
import { ChunkswarmError } from '../shared/errors.js';
import { compactAddress, formatIp } from '../shared/ip.js';
import { LIMITS } from '../shared/limits.js';

/** The extension's name in a BEP 10 handshake's `m` dictionary. */
export const UT_PEX = 'ut_pex';

/** BEP 11's flags byte, per added peer. */
export const PexFlag = {
  /** Prefers encrypted connections. */
  encryption: 0x01,
  /** Seed or upload-only. */
  seed: 0x02,
  /** Supports uTP. */
  utp: 0x04,
  /** Supports ut_holepunch. */
  holepunch: 0x08,
  /** Reachable: we connected to it (an outgoing connection). */
  reachable: 0x10,
} as const;

/** BEP 11: a message goes out at most once a minute... */
export const PEX_INTERVAL_MS = 60_000;
/** ...with at most 50 added and 50 dropped peers. */
export const PEX_MAX_ADDED = 50;
export const PEX_MAX_DROPPED = 50;

export interface PexPeer {
  readonly host: string;
  readonly port: number;
  /** BEP 11 flags (PexFlag); 0 when unknown. */
  readonly flags: number;
  /** Its compact entry (6 or 18 bytes), when already made: a snapshot makes it once for all links. */
  readonly compact?: Buffer;
}

export interface PexMessage {
  readonly added: readonly PexPeer[];
  readonly dropped: readonly { readonly host: string; readonly port: number }[];
}

export interface PexDecodeLimits {
  /** Peers kept per list (added, dropped) from one message; the rest are ignored (default 100). */
  readonly maxPeers: number;
  /** Largest payload read (default 8 KiB). */
  readonly maxBytes: number;
}

function bad(message: string): never {
  throw new ChunkswarmError('EWIRE_MESSAGE', `peer exchange message (BEP 11): ${message}`);
}

function peerKey(p: { host: string; port: number }): string {
  return `${p.host}|${p.port}`;
}

function fromPeerKey(key: string): { host: string; port: number } {
  const bar = key.lastIndexOf('|');
  return { host: key.slice(0, bar), port: Number(key.slice(bar + 1)) };
}

/**
 * Reads compact peers of `size` bytes each, each with its byte of `flags` (0 where the list is short or
 * missing: flags are optional and advisory); entries with port 0 are skipped.
 */
function readCompact(
  bytes: BValue | undefined,
  flags: BValue | undefined,
  size: 6 | 18,
  key: string,
  max: number,
): PexPeer[] {
  if (bytes === undefined) return [];
  if (!Buffer.isBuffer(bytes)) bad(`'${key}' is not a string`);
  if (bytes.length % size !== 0) bad(`'${key}' is ${bytes.length} bytes, not a multiple of ${size}`);
  const f = Buffer.isBuffer(flags) ? flags : undefined;
  const out: PexPeer[] = [];
  for (let o = 0, i = 0; o < bytes.length && out.length < max; o += size, i++) {
    const port = bytes.readUInt16BE(o + size - 2);
    if (port === 0) continue;
    out.push({ host: formatIp(bytes.subarray(o, o + size - 2)), port, flags: f?.[i] ?? 0 });
  }
  return out;
}

/**
 * Reads a ut_pex payload. Peers past `maxPeers` per list are ignored, not an error: the sender broke
 * BEP 11's limit, and the caller decides whether that costs it the connection.
 */
export function decodePex(payload: Uint8Array, limits: Partial<PexDecodeLimits> = {}): PexMessage {
  const maxPeers = limits.maxPeers ?? LIMITS.pexMaxReceivedPeers;
  const maxBytes = limits.maxBytes ?? LIMITS.pexMessageBytes;
  if (payload.length > maxBytes) bad(`payload of ${payload.length} bytes is over the ${maxBytes}-byte limit`);
  let root: BValue;
  try {
    // A few strings in one dictionary; some clients leave the keys unsorted, which nothing here minds.
    root = decodePrefix(payload, { maxBytes, maxDepth: 2, maxTokens: 64, strictKeyOrder: false }).value;
  } catch (err) {
    throw new ChunkswarmError('EWIRE_MESSAGE', 'peer exchange message (BEP 11): not valid bencode', {
      cause: err,
    });
  }
  if (!isDict(root)) bad('not a dictionary');
  const added = readCompact(dictGet(root, 'added'), dictGet(root, 'added.f'), 6, 'added', maxPeers);
  added.push(
    ...readCompact(dictGet(root, 'added6'), dictGet(root, 'added6.f'), 18, 'added6', maxPeers - added.length),
  );
  const dropped: { host: string; port: number }[] = [];
  for (const [list, size] of [
    ['dropped', 6],
    ['dropped6', 18],
  ] as const) {
    for (const p of readCompact(dictGet(root, list), undefined, size, list, maxPeers - dropped.length)) {
      dropped.push({ host: p.host, port: p.port });
    }
  }
  return { added, dropped };
}

/** Encodes a ut_pex payload. Over BEP 11's 50 added or 50 dropped is refused: `PexState` never makes one. */
export function encodePex(msg: PexMessage): Buffer {
  if (msg.added.length > PEX_MAX_ADDED || msg.dropped.length > PEX_MAX_DROPPED) {
    throw new ChunkswarmError(
      'EWIRE_MESSAGE',
      'a ut_pex message carries at most 50 added and 50 dropped peers',
    );
  }
  // Peers without a usable address or port are left out (PexState never names one).
  const added = msg.added.flatMap((p) => {
    const entry = p.compact ?? compactPeer(p);
    return entry === undefined ? [] : [{ entry, flags: p.flags & 0xff }];
  });
  const v4 = added.filter((a) => a.entry.length === 6);
  const v6 = added.filter((a) => a.entry.length === 18);
  const dropped = msg.dropped.flatMap((p) => compactPeer(p) ?? []);
  const dropped6 = dropped.filter((e) => e.length === 18);
  return encode({
    added: Buffer.concat(v4.map((a) => a.entry)),
    'added.f': Buffer.from(v4.map((a) => a.flags)),
    added6: v6.length > 0 ? Buffer.concat(v6.map((a) => a.entry)) : undefined,
    'added6.f': v6.length > 0 ? Buffer.from(v6.map((a) => a.flags)) : undefined,
    dropped: Buffer.concat(dropped.filter((e) => e.length === 6)),
    dropped6: dropped6.length > 0 ? Buffer.concat(dropped6) : undefined,
  });
}

/** A peer's compact entry: its address (4 or 16 bytes) and port; undefined for a bad address or port. */
function compactPeer(p: { host: string; port: number }): Buffer | undefined {
  if (!Number.isInteger(p.port) || p.port < 1 || p.port > 0xffff) return undefined;
  return compactAddress(p.host, p.port);
}

/**
 * What we have told one peer: given the peers we are connected to now, `next` gives the message to send
 * (peers connected since, peers dropped since, at most 50 of each) or undefined when nothing changed.
 * Peers past the 50 stay for the next message. The caller calls it at most once a minute (BEP 11) and
 * leaves out the peer it is sending to, peers without a known listening port, and everything for a
 * private torrent (BEP 27).
 */
export class PexState {
  /**
   * Peers the other side has been told about, by key (see `pexSnapshot`): the snapshot's own strings, not
   * new ones, since every link of a torrent tells of the same peers (keys made per link were a quarter of
   * a 300-peer simulation's JavaScript objects), and a set, as the key names the peer.
   */
  readonly #told = new Set<string>();

  /** `except`: the key (see `pexSnapshot`) of a peer never to name, the one we send to. */
  next(connected: readonly PexPeer[] | PexSnapshot, except?: string): PexMessage | undefined {
    const now = isSnapshot(connected) ? connected : pexSnapshot(connected);
    const added: string[] = [];
    for (const k of now.keys()) {
      if (added.length >= PEX_MAX_ADDED) break;
      if (k !== except && !this.#told.has(k)) added.push(k);
    }
    const dropped: string[] = [];
    for (const k of this.#told) {
      if (dropped.length >= PEX_MAX_DROPPED) break;
      if (!now.has(k)) dropped.push(k);
    }
    if (added.length === 0 && dropped.length === 0) return undefined;
    for (const k of added) this.#told.add(k);
    for (const k of dropped) this.#told.delete(k);
    return { added: added.map((k) => now.get(k)!), dropped: dropped.map(fromPeerKey) };
  }
}

/**
 * The peers we are connected to, checked and keyed once for all of a torrent's links in one tick: in a
 * flash crowd every new connection's first message is due at once, and each one re-checking every peer
 * was the largest single cost of a thousand-peer simulation's start.
 */
export type PexSnapshot = ReadonlyMap<string, PexPeer>;

export function pexSnapshot(connected: Iterable<PexPeer>): PexSnapshot {
  const out = new Map<string, PexPeer>();
  for (const p of connected) {
    const compact = compactPeer(p);
    if (compact !== undefined) out.set(peerKey(p), { ...p, compact });
  }
  return out;
}

function isSnapshot(x: readonly PexPeer[] | PexSnapshot): x is PexSnapshot {
  return x instanceof Map;
}

/**
 * The receiving side's guard: BEP 11 says one message a minute; a few more are forgiven (a reconnect, a
 * clock edge), a sender past `maxPerMinute` in any 60 s floods and should be disconnected.
 */
export class PexInbox {
  readonly #max: number;
  #times: number[] = [];

  constructor(maxPerMinute: number = LIMITS.pexMaxMessagesPerMinute) {
    this.#max = maxPerMinute;
  }

  /** Records a message at `now` (ms); false when the sender has gone past the limit. */
  accept(now: number): boolean {
    this.#times = this.#times.filter((t) => now - t < PEX_INTERVAL_MS);
    this.#times.push(now);
    // A caller that keeps reading after `false` must not grow this either.
    if (this.#times.length > this.#max + 1) this.#times.shift();
    return this.#times.length <= this.#max;
  }
}

/**
 * ut_pex for one connection, as the session uses it: `outgoing` gives the payload to send (at most once
 * a minute, only when something changed, never naming the peer itself), `incoming` reads a received
 * payload into peers to dial, or says the sender floods (disconnect it) or sent junk (ignore it).
 * Not for private torrents (BEP 27): the session neither offers nor reads ut_pex there.
 */
export class PexLink {
  readonly #state = new PexState();
  readonly #inbox = new PexInbox();
  readonly #remote: string;
  #lastSent: number | undefined;

  /** `remote`: the peer on the other end, by the address and listening port we know it by. */
  constructor(remote: { readonly host: string; readonly port: number }) {
    this.#remote = peerKey(remote);
  }

  /** Whether a message may go now (BEP 11: at most one a minute). */
  due(now: number): boolean {
    return this.#lastSent === undefined || now - this.#lastSent >= PEX_INTERVAL_MS;
  }

  outgoing(now: number, connected: readonly PexPeer[] | PexSnapshot): Buffer | undefined {
    if (!this.due(now)) return undefined;
    const msg = this.#state.next(connected, this.#remote);
    if (msg === undefined) return undefined;
    this.#lastSent = now;
    return encodePex(msg);
  }

  incoming(
    now: number,
    payload: Uint8Array,
  ): { kind: 'peers'; added: readonly PexPeer[] } | { kind: 'flood' } | { kind: 'bad' } {
    if (!this.#inbox.accept(now)) return { kind: 'flood' };
    try {
      return { kind: 'peers', added: decodePex(payload).added };
    } catch {
      return { kind: 'bad' };
    }
  }
}
