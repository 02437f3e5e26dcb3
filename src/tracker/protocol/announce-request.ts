import { Bitfield } from '../../shared/bitfield.js';
import { ChunkswarmError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import { normalizeIp, parseIp } from './ip.js';
import { decodeComponent, decodeLatin1, forEachRawParam, parseDecimal } from './query.js';
import { decodeRatesParam, type PeerRate } from './rates.js';

/** BEP 3 events, plus `paused` (BEP 21: a partial seed that stopped downloading but still uploads). */
export type AnnounceEvent = 'started' | 'completed' | 'stopped' | 'paused';

/** One announce, checked: every field is in range, every byte string has its exact length. */
export interface AnnounceRequest {
  readonly infoHash: Buffer;
  readonly peerId: Buffer;
  readonly port: number;
  readonly uploaded: number;
  readonly downloaded: number;
  /** Undefined when the client did not say: the peer counts as a leecher. */
  readonly left: number | undefined;
  readonly event: AnnounceEvent | undefined;
  /** What the client asked for, capped at LIMITS.trackerMaxNumwant. */
  readonly numwant: number;
  /** True when the client asked for more than the cap (worth a `warning message`). */
  readonly numwantCapped: boolean;
  readonly compact: boolean;
  readonly noPeerId: boolean;
  readonly key: string | undefined;
  readonly trackerId: string | undefined;
  /** The peer's address: the socket's, or the `ip` parameter when the tracker trusts it. */
  readonly ip: string;
  /** The address as a compact peer entry: 4 or 16 address bytes then the port, big-endian. */
  readonly compactAddress: Buffer;
  /** chunkswarm extras; other clients never send them. */
  readonly bitfield: Buffer | undefined;
  readonly pieces: number | undefined;
  /** Pieces held: the bitfield's count, or `cs_have` when the bitfield was too long to send. */
  readonly have: number | undefined;
  readonly name: string | undefined;
  /** `cs_status=1`: answer with a non-compact list that carries each peer's chunk status. */
  readonly wantStatus: boolean;
  /** `cs_rates`: the peer's rates with its busiest peers (see rates.ts). */
  readonly rates: readonly PeerRate[] | undefined;
}

export interface ParseAnnounceOptions {
  /** Honour the `ip` parameter (a tracker behind a proxy); otherwise it is ignored. */
  readonly trustIpParam?: boolean;
}

/** Longest `key` and `trackerid` kept: real clients send 8 hex characters, trackers short ids. */
const MAX_TOKEN_LENGTH = 64;
const MAX_NAME_BYTES = 255;

/**
 * Parses the raw query string of an announce (after the `?`, not decoded) sent by the peer at
 * `remoteIp`. Throws ChunkswarmError `ETRACKER_REQUEST` whose message is meant to be sent back as
 * the `failure reason`.
 *
 * A parameter given twice counts the first time; later copies are ignored. Rejecting them would
 * refuse a client over a harmless quirk, and the first copy is what most trackers use.
 * `uploaded` and `downloaded` default to 0 when absent (BEP 3 requires them, but they only feed
 * statistics); `left` stays unknown.
 */
export function parseAnnounceQuery(
  rawQuery: string,
  remoteIp: string,
  opts: ParseAnnounceOptions = {},
): AnnounceRequest {
  // Where each known parameter's value sits in rawQuery: [start, end), -1 when absent.
  // One table for every call (parsing is synchronous and never re-entered): a typed array
  // allocated per announce costs more than the rest of reading the parameters.
  const at = FIELD_AT.fill(-1);
  if (!locateFields(rawQuery, at)) fail('invalid percent-encoding in a parameter name');

  const infoHash = bytesField(rawQuery, at, F.infoHash, 'info_hash');
  const peerId = bytesField(rawQuery, at, F.peerId, 'peer_id');

  if (at[F.port * 2]! < 0) fail('missing port');
  const port = numberField(rawQuery, at, F.port, 'port');
  if (port < 1 || port > 65535) fail('invalid port');

  const uploaded = has(at, F.uploaded) ? numberField(rawQuery, at, F.uploaded, 'uploaded') : 0;
  const downloaded = has(at, F.downloaded) ? numberField(rawQuery, at, F.downloaded, 'downloaded') : 0;
  const left = has(at, F.left) ? numberField(rawQuery, at, F.left, 'left') : undefined;

  let event: AnnounceEvent | undefined;
  if (has(at, F.event)) {
    const text = decodeLatin1(rawQuery, at[F.event * 2]!, at[F.event * 2 + 1]!, true);
    if (text === 'started' || text === 'completed' || text === 'stopped' || text === 'paused') event = text;
    else if (text !== '' && text !== 'empty') fail('invalid event');
  }

  let numwant: number = LIMITS.trackerDefaultNumwant;
  let numwantCapped = false;
  if (has(at, F.numwant)) {
    numwant = numberField(rawQuery, at, F.numwant, 'numwant');
    if (numwant > LIMITS.trackerMaxNumwant) {
      numwant = LIMITS.trackerMaxNumwant;
      numwantCapped = true;
    }
  }

  const compact = has(at, F.compact) ? flagField(rawQuery, at, F.compact, 'compact') : true;
  const noPeerId = has(at, F.noPeerId) ? flagField(rawQuery, at, F.noPeerId, 'no_peer_id') : false;
  // `key` is opaque: aria2 sends 8 raw bytes, percent-encoded. Only its length is checked.
  const key = has(at, F.key) ? opaqueField(rawQuery, at, F.key, 'key') : undefined;
  const trackerId = has(at, F.trackerId) ? tokenField(rawQuery, at, F.trackerId, 'trackerid') : undefined;

  let ip: string | undefined;
  let addr: Buffer | undefined;
  if (opts.trustIpParam && has(at, F.ip)) {
    const text = decodeLatin1(rawQuery, at[F.ip * 2]!, at[F.ip * 2 + 1]!, true);
    ip = text === undefined ? undefined : normalizeIp(text);
    if (ip === undefined) fail('invalid ip (an IPv4 or IPv6 address is needed)');
  } else if (remoteIp === lastRemote.text) {
    ip = lastRemote.ip;
    addr = lastRemote.bytes;
  } else {
    ip = normalizeIp(remoteIp);
    addr = ip === undefined ? undefined : parseIp(ip);
    lastRemote = { text: remoteIp, ip, bytes: addr };
  }
  if (ip === undefined) fail('the tracker could not tell your address');
  addr ??= parseIp(ip)!;
  const compactAddress = Buffer.allocUnsafe(addr.length + 2);
  compactAddress.set(addr, 0);
  compactAddress.writeUInt16BE(port, addr.length);

  // chunkswarm extras.
  let pieces: number | undefined;
  if (has(at, F.csPieces)) {
    pieces = numberField(rawQuery, at, F.csPieces, 'cs_pieces');
    if (pieces < 1 || pieces > LIMITS.maxPieces) fail('invalid cs_pieces');
  }
  let bitfield: Buffer | undefined;
  let have: number | undefined;
  if (has(at, F.csBitfield)) {
    const text = decodeLatin1(rawQuery, at[F.csBitfield * 2]!, at[F.csBitfield * 2 + 1]!, false);
    if (text === undefined || !BASE64URL.test(text) || text.length % 4 === 1) fail('invalid cs_bitfield');
    if (pieces === undefined) fail('cs_bitfield needs cs_pieces');
    bitfield = Buffer.from(text, 'base64url');
    if (!Bitfield.isValidPayload(pieces, bitfield)) fail('cs_bitfield does not match cs_pieces');
    have = new Bitfield(pieces, bitfield).count;
  }
  if (has(at, F.csHave)) {
    const count = numberField(rawQuery, at, F.csHave, 'cs_have');
    if (pieces !== undefined && count > pieces) fail('cs_have is more than cs_pieces');
    if (have !== undefined && count !== have) fail('cs_have does not match cs_bitfield');
    have = count;
  }
  let name: string | undefined;
  if (has(at, F.csName)) {
    const bytes = decodeComponent(rawQuery, at[F.csName * 2]!, at[F.csName * 2 + 1]!, true);
    if (bytes === undefined) fail('invalid percent-encoding in cs_name');
    if (bytes.length > MAX_NAME_BYTES) fail(`cs_name is longer than ${MAX_NAME_BYTES} bytes`);
    name = decodeUtf8Name(bytes);
  }
  const wantStatus = has(at, F.csStatus) ? flagField(rawQuery, at, F.csStatus, 'cs_status') : false;
  let rates: PeerRate[] | undefined;
  if (has(at, F.csRates)) {
    const text = decodeLatin1(rawQuery, at[F.csRates * 2]!, at[F.csRates * 2 + 1]!, false);
    if (text === undefined) fail('invalid cs_rates');
    rates = decodeRatesParam(text);
  }

  return {
    infoHash,
    peerId,
    port,
    uploaded,
    downloaded,
    left,
    event,
    numwant,
    numwantCapped,
    compact,
    noPeerId,
    key,
    trackerId,
    ip,
    compactAddress,
    bitfield,
    pieces,
    have,
    name,
    wantStatus,
    rates,
  };
}

/**
 * The last socket address read, with its canonical text and bytes: announces come in runs from the
 * same address (a NAT, a machine's own clients, a benchmark), and parsing the same text twice per
 * announce (normalize, then to bytes) showed in the profile. `bytes` is only read, never handed out.
 */
let lastRemote: { text: string; ip: string | undefined; bytes: Buffer | undefined } = {
  text: '',
  ip: undefined,
  bytes: undefined,
};

/** Parameter names we read; anything else (supportcrypto, corrupt, requirecrypto, ...) is ignored. */
const F = {
  infoHash: 0,
  peerId: 1,
  port: 2,
  uploaded: 3,
  downloaded: 4,
  left: 5,
  event: 6,
  numwant: 7,
  compact: 8,
  noPeerId: 9,
  key: 10,
  trackerId: 11,
  ip: 12,
  csBitfield: 13,
  csPieces: 14,
  csHave: 15,
  csName: 16,
  csStatus: 17,
  csRates: 18,
} as const;
type Field = (typeof F)[keyof typeof F];
const FIELD_COUNT = 19;
const FIELD_AT = new Int32Array(FIELD_COUNT * 2);
const FIELDS: ReadonlyMap<string, Field> = new Map<string, Field>([
  ['info_hash', F.infoHash],
  ['peer_id', F.peerId],
  ['port', F.port],
  ['uploaded', F.uploaded],
  ['downloaded', F.downloaded],
  ['left', F.left],
  ['event', F.event],
  ['numwant', F.numwant],
  ['compact', F.compact],
  ['no_peer_id', F.noPeerId],
  ['key', F.key],
  ['trackerid', F.trackerId],
  ['ip', F.ip],
  ['cs_bitfield', F.csBitfield],
  ['cs_pieces', F.csPieces],
  ['cs_have', F.csHave],
  ['cs_name', F.csName],
  ['cs_status', F.csStatus],
  ['cs_rates', F.csRates],
]);

/** The names of FIELDS by length, so a plain key is matched in place, without a string of its own. */
const NAMES_BY_LENGTH: readonly (readonly (readonly [string, Field])[])[] = (() => {
  const out: [string, Field][][] = [];
  for (const [name, field] of FIELDS) {
    const same = out[name.length] ?? [];
    same.push([name, field]);
    out[name.length] = same;
  }
  return out;
})();

/**
 * Records in `at` where each known parameter's value sits (the first copy counts); false on a
 * key with a bad escape. Does what forEachParam and a FIELDS lookup per key do, but a key
 * without `%` or `+` (every key real clients send) is compared where it lies in the query.
 */
function locateFields(raw: string, at: Int32Array): boolean {
  return forEachRawParam(raw, (pos, eq, start, end) => {
    let field: Field | undefined;
    let plain = true;
    for (let i = pos; i < eq; i++) {
      const c = raw.charCodeAt(i);
      if (c === 0x25 || c === 0x2b || c > 0xff) {
        plain = false;
        break;
      }
    }
    if (plain) {
      const names = NAMES_BY_LENGTH[eq - pos];
      if (names !== undefined) {
        for (const [name, f] of names) {
          if (raw.startsWith(name, pos)) {
            field = f;
            break;
          }
        }
      }
    } else {
      const key = decodeLatin1(raw, pos, eq, true);
      if (key === undefined) return false;
      field = FIELDS.get(key);
    }
    if (field !== undefined && at[field * 2]! < 0) {
      at[field * 2] = start;
      at[field * 2 + 1] = end;
    }
    return true;
  });
}

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

function fail(reason: string): never {
  throw new ChunkswarmError('ETRACKER_REQUEST', reason);
}

function has(at: Int32Array, field: Field): boolean {
  return at[field * 2]! >= 0;
}

/** A 20-byte binary field (`info_hash`, `peer_id`): `+` is a literal byte here, not a space. */
function bytesField(raw: string, at: Int32Array, field: Field, name: string): Buffer {
  if (!has(at, field)) fail(`missing ${name}`);
  const start = at[field * 2]!;
  const end = at[field * 2 + 1]!;
  const bytes = decode20(raw, start, end) ?? decodeComponent(raw, start, end, false);
  if (bytes === undefined) fail(`invalid percent-encoding in ${name}`);
  if (bytes.length !== 20) fail(`${name} must be 20 bytes`);
  return bytes;
}

/**
 * The common case of bytesField, straight into a 20-byte buffer: Latin-1 text that decodes to
 * exactly 20 bytes. Undefined for anything else (a bad escape, another length, a character above
 * 0xff), which decodeComponent then reads and bytesField refuses with the right reason.
 */
function decode20(raw: string, start: number, end: number): Buffer | undefined {
  // Between 20 bytes sent literally and 20 escapes.
  if (end - start < 20 || end - start > 60) return undefined;
  const out = Buffer.allocUnsafe(20);
  let n = 0;
  for (let i = start; i < end; i++) {
    if (n === 20) return undefined;
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 >= end) return undefined;
      const hi = HEX_VALUE[raw.charCodeAt(i + 1) & 0xff]!;
      const lo = HEX_VALUE[raw.charCodeAt(i + 2) & 0xff]!;
      if (hi < 0 || lo < 0 || raw.charCodeAt(i + 1) > 0xff || raw.charCodeAt(i + 2) > 0xff) return undefined;
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else if (c > 0xff) {
      return undefined;
    } else {
      out[n++] = c;
    }
  }
  return n === 20 ? out : undefined;
}

const HEX_VALUE = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let c = 0; c < 10; c++) t[0x30 + c] = c;
  for (let c = 0; c < 6; c++) {
    t[0x41 + c] = 10 + c;
    t[0x61 + c] = 10 + c;
  }
  return t;
})();

function numberField(raw: string, at: Int32Array, field: Field, name: string): number {
  const value = parseDecimal(raw, at[field * 2]!, at[field * 2 + 1]!);
  if (value < 0) fail(`invalid ${name}`);
  return value;
}

function flagField(raw: string, at: Int32Array, field: Field, name: string): boolean {
  const start = at[field * 2]!;
  const end = at[field * 2 + 1]!;
  if (end - start === 1) {
    const c = raw.charCodeAt(start);
    if (c === 0x30) return false;
    if (c === 0x31) return true;
  }
  return fail(`invalid ${name} (0 or 1)`);
}

/** An opaque printable token (`key`, `trackerid`), kept as text. */
function tokenField(raw: string, at: Int32Array, field: Field, name: string): string {
  const text = decodeLatin1(raw, at[field * 2]!, at[field * 2 + 1]!, false);
  if (text === undefined || text.length > MAX_TOKEN_LENGTH || !PRINTABLE.test(text)) fail(`invalid ${name}`);
  return text;
}

function opaqueField(raw: string, at: Int32Array, field: Field, name: string): string {
  const text = decodeLatin1(raw, at[field * 2]!, at[field * 2 + 1]!, false);
  if (text === undefined || text.length > MAX_TOKEN_LENGTH) fail(`invalid ${name}`);
  return text;
}

const PRINTABLE = /^[\x21-\x7e]*$/;

/** A torrent name for display: valid UTF-8 without control characters (it ends up in logs and pages). */
function decodeUtf8Name(bytes: Buffer): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return fail('cs_name is not valid UTF-8');
  }
  if (/[\u0000-\u001f\u007f]/.test(text)) fail('cs_name contains control characters');
  return text;
}
