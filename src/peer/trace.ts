/**
 * The wire trace behind the peer page's "Wire" panel (`--trace`): every message of a connection, both ways,
 * as plain data a page can show — its kind, its fields and its first bytes. Pure: messages in, JSON-ready
 * entries out, kept in a fixed-size ring per connection so a long transfer costs bounded memory.
 *
 * A connection calls its tracer (`PeerConnection.tracer`) only while tracing is on; nothing here runs
 * otherwise. Piece blocks are never copied: an entry keeps at most TRACE_BYTES bytes of the message.
 */
import { type BValue, decodePrefix, dictGet, isDict } from '../codec/index.js';
import { formatAddress } from '../shared/types.js';
import {
  type DecoderEvent,
  decodeExtensionHandshake,
  encodeMessage,
  encodePieceHeader,
  type Handshake,
  MessageId,
  PROTOCOL,
  type WireMessage,
} from '../wire/index.js';
import type {
  TraceDir,
  TracedConnectionView,
  TraceEntry,
  TraceFields,
  TraceKind,
  TraceValue,
} from './trace-view.js';

export type { TraceDir, TracedConnectionView, TraceEntry, TraceFields, TraceKind, TraceValue };

/** Bytes of each message kept for display (the rest is counted, not kept). */
export const TRACE_BYTES = 64;
/** Entries kept per connection; older ones are dropped (and counted). */
export const TRACE_CAPACITY = 500;
/** Closed connections whose trace stays viewable; older ones are forgotten. */
export const TRACE_CLOSED_KEPT = 32;

/** What a connection hands its tracer: the handshake or a message, as decoded or as sent. */
export type WireTracer = (dir: TraceDir, event: DecoderEvent) => void;

/** Extension names by the id a message carries: for `in`, the ids we gave; for `out`, the peer's (BEP 10). */
export type ExtensionNames = (dir: TraceDir, id: number) => string | undefined;

const noNames: ExtensionNames = () => undefined;

/** Turns one handshake or message into an entry. Never throws: a message it cannot read is shown as such. */
export function traceEntry(
  dir: TraceDir,
  event: DecoderEvent,
  seq: number,
  at: number,
  names: ExtensionNames = noNames,
): TraceEntry {
  let p: Parts;
  if (event.kind === 'handshake') p = handshakeParts(event.handshake);
  else {
    try {
      p = messageParts(dir, event.message, names);
    } catch (err) {
      // Only our own reading of a payload can fail here; the connection decides what the message means.
      const type = event.message.type;
      p = {
        kind: type === 'extended' ? 'extended' : (type as TraceKind),
        summary: type.toUpperCase(),
        fields: { error: err instanceof Error ? err.message : String(err) },
        bytes: { hex: '', length: 0 },
      };
    }
  }
  // One literal of one shape: a trace of a fast transfer makes thousands of these a second.
  return { seq, at, dir, kind: p.kind, summary: p.summary, fields: p.fields, bytes: p.bytes };
}

type Parts = Pick<TraceEntry, 'kind' | 'summary' | 'fields' | 'bytes'>;

function bytesOf(parts: readonly Uint8Array[], length: number): TraceEntry['bytes'] {
  const out = Buffer.allocUnsafe(Math.min(TRACE_BYTES, length));
  let at = 0;
  for (const p of parts) {
    if (at >= out.length) break;
    const n = Math.min(p.length, out.length - at);
    out.set(p.subarray(0, n), at);
    at += n;
  }
  return { hex: out.subarray(0, at).toString('hex'), length };
}

/** The 5 bytes in front of a variable-length message: its length and id (BEP 3). */
function header(id: number, payloadLength: number): Buffer {
  const h = Buffer.allocUnsafe(5);
  h.writeUInt32BE(1 + payloadLength, 0);
  h[4] = id;
  return h;
}

/** A peer id as text: printable ASCII kept, the rest as dots (an id is 20 bytes, mostly random). */
function printable(b: Buffer): string {
  let s = '';
  for (const c of b) s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.';
  return s;
}

function handshakeParts(h: Handshake): Parts {
  const pstr = Buffer.from(PROTOCOL, 'latin1');
  const first = Buffer.from([pstr.length]);
  const length = 1 + pstr.length + 8 + 20 + 20;
  return {
    kind: 'handshake',
    summary: `HANDSHAKE ${printable(h.peerId.subarray(0, 8))}`,
    fields: {
      info_hash: h.infoHash.toString('hex'),
      peer_id: printable(h.peerId),
      peer_id_hex: h.peerId.toString('hex'),
      reserved: h.reserved.toString('hex'),
      fast: h.fast,
      extended: h.extended,
      dht: h.dht,
    },
    bytes: bytesOf([first, pstr, h.reserved, h.infoHash, h.peerId], length),
  };
}

const triple = (m: { index: number; begin: number; length: number }): string =>
  `${m.index}:${m.begin}+${m.length}`;

function messageParts(dir: TraceDir, m: WireMessage, names: ExtensionNames): Parts {
  switch (m.type) {
    case 'keep-alive':
    case 'choke':
    case 'unchoke':
    case 'interested':
    case 'not-interested':
    case 'have-all':
    case 'have-none':
      return { kind: m.type, summary: m.type.toUpperCase(), fields: {}, bytes: small(m) };
    case 'have':
    case 'suggest':
    case 'allowed-fast':
      return {
        kind: m.type,
        summary: `${m.type.toUpperCase()} ${m.index}`,
        fields: { index: m.index },
        bytes: small(m),
      };
    case 'request':
    case 'cancel':
    case 'reject':
      return {
        kind: m.type,
        summary: `${m.type.toUpperCase()} ${triple(m)}`,
        fields: { index: m.index, begin: m.begin, length: m.length },
        bytes: small(m),
      };
    case 'port':
      return { kind: 'port', summary: `PORT ${m.port}`, fields: { port: m.port }, bytes: small(m) };
    case 'piece': {
      const length = m.block.length;
      return {
        kind: 'piece',
        summary: `PIECE ${m.index}:${m.begin}+${length}`,
        fields: { index: m.index, begin: m.begin, length },
        bytes: bytesOf([encodePieceHeader(m.index, m.begin, length), m.block], 13 + length),
      };
    }
    case 'bitfield': {
      let held = 0;
      for (const byte of m.bits) held += popcount(byte);
      return {
        kind: 'bitfield',
        summary: `BITFIELD ${held} held`,
        fields: { held, bytes: m.bits.length },
        bytes: bytesOf([header(MessageId.bitfield, m.bits.length), m.bits], 5 + m.bits.length),
      };
    }
    case 'extended':
      return extendedParts(dir, m.id, m.payload, names);
  }
}

function small(m: WireMessage): TraceEntry['bytes'] {
  const b = encodeMessage(m);
  return { hex: b.toString('hex', 0, Math.min(TRACE_BYTES, b.length)), length: b.length };
}

function popcount(byte: number): number {
  let n = 0;
  for (let b = byte; b > 0; b >>= 1) n += b & 1;
  return n;
}

/** Small dictionaries only: a trace never builds a large structure out of what a peer sent. */
const DICT_LIMITS = { maxDepth: 4, maxTokens: 1024, maxBytes: 64 * 1024, strictKeyOrder: false } as const;

function extendedParts(dir: TraceDir, id: number, payload: Buffer, names: ExtensionNames): Parts {
  const bytes = bytesOf(
    [header(MessageId.extended, 1 + payload.length), Buffer.from([id]), payload],
    6 + payload.length,
  );
  if (id === 0) {
    const h = decodeExtensionHandshake(payload);
    const fields: Record<string, TraceValue> = { m: Object.fromEntries(h.m) };
    if (h.client !== undefined) fields.v = h.client;
    if (h.port !== undefined) fields.p = h.port;
    if (h.reqq !== undefined) fields.reqq = h.reqq;
    if (h.metadataSize !== undefined) fields.metadata_size = h.metadataSize;
    if (h.yourIp !== undefined) fields.yourip = ipText(h.yourIp);
    return { kind: 'extended-handshake', summary: 'EXTENDED HANDSHAKE', fields, bytes };
  }
  const name = names(dir, id);
  if (name === 'ut_metadata') return { ...metadataParts(payload), bytes };
  if (name === 'ut_pex') return { ...pexParts(payload), bytes };
  return {
    kind: 'extended',
    summary: `EXTENDED ${name ?? `#${id}`}`,
    fields: { id, name: name ?? null, length: payload.length },
    bytes,
  };
}

const METADATA_TYPES = ['request', 'data', 'reject'];

/** A ut_metadata message (BEP 9): its dictionary, and how many bytes of metadata follow it. */
function metadataParts(payload: Buffer): Omit<Parts, 'bytes'> {
  const { value, length } = decodePrefix(payload, DICT_LIMITS);
  if (!isDict(value)) throw new Error('a ut_metadata message that is not a dictionary');
  const msgType = intOf(dictGet(value, 'msg_type'));
  const piece = intOf(dictGet(value, 'piece'));
  const totalSize = intOf(dictGet(value, 'total_size'));
  const type = msgType === undefined ? '?' : (METADATA_TYPES[msgType] ?? String(msgType));
  const fields: Record<string, TraceValue> = { msg_type: msgType ?? null, type, piece: piece ?? null };
  if (totalSize !== undefined) fields.total_size = totalSize;
  if (payload.length > length) fields.data_length = payload.length - length;
  return { kind: 'ut_metadata', summary: `UT_METADATA ${type} ${piece ?? '?'}`, fields };
}

/** Peers shown per PEX list; the rest are counted. */
const PEX_SHOWN = 16;

/** A ut_pex message (BEP 11): compact peers added and dropped, IPv4 and IPv6. */
function pexParts(payload: Buffer): Omit<Parts, 'bytes'> {
  const { value } = decodePrefix(payload, DICT_LIMITS);
  if (!isDict(value)) throw new Error('a ut_pex message that is not a dictionary');
  const fields: Record<string, TraceValue> = {};
  let added = 0;
  let dropped = 0;
  for (const [key, size] of [
    ['added', 6],
    ['dropped', 6],
    ['added6', 18],
    ['dropped6', 18],
  ] as const) {
    const v = dictGet(value, key);
    if (!Buffer.isBuffer(v)) continue;
    const n = Math.floor(v.length / size);
    const shown: string[] = [];
    for (let i = 0; i < Math.min(n, PEX_SHOWN); i++) {
      const at = i * size;
      shown.push(formatAddress(ipText(v.subarray(at, at + size - 2)), v.readUInt16BE(at + size - 2)));
    }
    fields[key] = shown;
    fields[`${key}_count`] = n;
    if (key.startsWith('added')) added += n;
    else dropped += n;
  }
  return { kind: 'ut_pex', summary: `UT_PEX +${added} -${dropped}`, fields };
}

function intOf(v: BValue | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function ipText(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  const groups: string[] = [];
  for (let i = 0; i + 1 < b.length; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(':');
}

/** The last `capacity` entries of one connection, oldest first; what falls off the front is counted. */
export class TraceRing {
  readonly capacity: number;
  readonly #slots: (TraceEntry | undefined)[];
  /** Entries ever pushed: also the next entry's `seq`. */
  total = 0;

  constructor(capacity = TRACE_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`trace capacity ${capacity}`);
    this.capacity = capacity;
    this.#slots = new Array(capacity);
  }

  get size(): number {
    return Math.min(this.total, this.capacity);
  }

  /** Entries pushed and no longer kept. */
  get dropped(): number {
    return this.total - this.size;
  }

  push(entry: TraceEntry): void {
    this.#slots[this.total % this.capacity] = entry;
    this.total++;
  }

  /** The kept entries whose seq is `from` or later, oldest first. */
  since(from = 0): TraceEntry[] {
    const start = Math.max(from, this.total - this.size);
    const out: TraceEntry[] = [];
    for (let seq = start; seq < this.total; seq++) out.push(this.#slots[seq % this.capacity]!);
    return out;
  }
}

/** What the trace needs to know of a connection; PeerConnection has all of it. */
export interface TraceSubject {
  readonly peerAddress: string;
  readonly outgoing: boolean;
  readonly closed: boolean;
  readonly clientName: string;
  readonly host?: { readonly infoHash: Buffer } | undefined;
  readonly extension?: { readonly m: ReadonlyMap<string, number> } | undefined;
}

interface Traced {
  readonly id: number;
  readonly subject: TraceSubject;
  readonly ring: TraceRing;
}

/**
 * The traces of a process: a ring per connection, made when the connection is (`tracerFor`). Closed
 * connections stay viewable, the TRACE_CLOSED_KEPT most recent of them.
 */
export class TraceBook {
  readonly capacity: number;
  readonly #now: () => number;
  readonly #ours: ReadonlyMap<number, string>;
  readonly #traced = new Map<number, Traced>();
  #nextId = 1;

  /** `ours`: the extension ids we advertise, by id (what a peer's messages to us carry, BEP 10). */
  constructor(opts: { capacity?: number; now?: () => number; ours?: ReadonlyMap<number, string> } = {}) {
    this.capacity = opts.capacity ?? TRACE_CAPACITY;
    this.#now = opts.now ?? Date.now;
    this.#ours = opts.ours ?? new Map();
  }

  /** Starts a trace for `subject`; the function returned records its messages. */
  tracerFor(subject: TraceSubject): WireTracer {
    this.#prune();
    const t: Traced = { id: this.#nextId++, subject, ring: new TraceRing(this.capacity) };
    this.#traced.set(t.id, t);
    const names: ExtensionNames = (dir, id) => {
      if (dir === 'in') return this.#ours.get(id);
      for (const [name, theirs] of subject.extension?.m ?? []) if (theirs === id) return name;
      return undefined;
    };
    return (dir, event) => {
      t.ring.push(traceEntry(dir, event, t.ring.total, this.#now(), names));
    };
  }

  connections(): TracedConnectionView[] {
    return [...this.#traced.values()].map(view);
  }

  connection(id: number): TracedConnectionView | undefined {
    const t = this.#traced.get(id);
    return t && view(t);
  }

  /** Entries of connection `id` from seq `from` on (those still kept). */
  entries(id: number, from = 0): TraceEntry[] {
    return this.#traced.get(id)?.ring.since(from) ?? [];
  }

  #prune(): void {
    const closed = [...this.#traced.values()].filter((t) => t.subject.closed);
    for (const t of closed.slice(0, Math.max(0, closed.length - TRACE_CLOSED_KEPT + 1)))
      this.#traced.delete(t.id);
  }
}

function view(t: Traced): TracedConnectionView {
  const s = t.subject;
  return {
    id: t.id,
    address: s.peerAddress,
    client: s.clientName,
    infoHash: s.host ? s.host.infoHash.toString('hex') : null,
    outgoing: s.outgoing,
    closed: s.closed,
    total: t.ring.total,
    dropped: t.ring.dropped,
  };
}
