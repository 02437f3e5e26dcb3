import { type BValue, decodePrefix, dictGet, encode, isDict } from '../codec/index.js';
import { ChunkswarmError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';

/** A BEP 10 extension handshake, with the keys we use; unknown keys are dropped. */
export interface ExtensionHandshake {
  /** Extension name -> the id the sender wants to receive it under; 0 means it turned it off (BEP 10). */
  m: Map<string, number>;
  /** `p`: the sender's listening port. */
  port?: number;
  /** `v`: the sender's client name and version. */
  client?: string;
  /** `reqq`: how many outstanding requests the sender keeps before dropping. */
  reqq?: number;
  /** `yourip`: our address as the sender sees it (4 or 16 bytes). */
  yourIp?: Buffer;
  /** `metadata_size`: the info dictionary's size (BEP 9). */
  metadataSize?: number;
  /**
   * `cs_steer` (chunkswarm's own key; other clients ignore it): 1 while the sender is a seeder whose SUGGEST
   * PIECE messages hand each leecher its share of a first pass (session/distributor.ts), so a leecher takes
   * only suggested pieces from it; 0 once that pass is over. A later handshake updates it (BEP 10).
   */
  steering?: boolean;
}

function invalid(message: string): ChunkswarmError {
  return new ChunkswarmError('EWIRE_MESSAGE', `cannot encode the extension handshake: ${message}`);
}

function isIntIn(v: number | undefined, min: number, max: number): v is number {
  return v !== undefined && Number.isInteger(v) && v >= min && v <= max;
}

/** The payload of `{ type: 'extended', id: 0 }`: a bencoded dictionary (BEP 10). */
export function encodeExtensionHandshake(h: {
  m: Record<string, number>;
  port?: number;
  client?: string;
  reqq?: number;
  yourIp?: Uint8Array;
  metadataSize?: number;
  steering?: boolean;
}): Buffer {
  const m = new Map<string, number>();
  for (const [name, id] of Object.entries(h.m)) {
    if (!isIntIn(id, 0, 255)) throw invalid(`extension '${name}' has id ${id}; ids are 0 to 255`);
    // A Map's keys are encoded as latin1, so turn the name's UTF-8 bytes into that form first.
    m.set(Buffer.from(name, 'utf8').toString('latin1'), id);
  }
  if (h.port !== undefined && !isIntIn(h.port, 1, 0xffff)) throw invalid(`port ${h.port} is not 1 to 65535`);
  if (h.reqq !== undefined && !isIntIn(h.reqq, 1, Number.MAX_SAFE_INTEGER)) {
    throw invalid(`reqq ${h.reqq} is not a positive integer`);
  }
  if (h.metadataSize !== undefined && !isIntIn(h.metadataSize, 0, Number.MAX_SAFE_INTEGER)) {
    throw invalid(`metadata_size ${h.metadataSize} is not a non-negative integer`);
  }
  if (h.yourIp !== undefined && h.yourIp.length !== 4 && h.yourIp.length !== 16) {
    throw invalid(`yourip must be 4 (IPv4) or 16 (IPv6) bytes, not ${h.yourIp.length}`);
  }
  return encode({
    m,
    p: h.port,
    v: h.client,
    reqq: h.reqq,
    yourip: h.yourIp,
    metadata_size: h.metadataSize,
    cs_steer: h.steering === undefined ? undefined : Number(h.steering),
  });
}

function intOf(v: BValue | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/**
 * Reads a BEP 10 handshake. Other clients put all sorts of things in it, so a known key with an odd
 * type or value is ignored rather than fatal; only a payload that is not a dictionary is refused.
 */
export function decodeExtensionHandshake(payload: Uint8Array): ExtensionHandshake {
  let root: BValue;
  try {
    // decodePrefix: bytes after the dictionary are tolerated. Unsorted keys too: some clients
    // send them that way and nothing here depends on the order.
    root = decodePrefix(payload, { maxBytes: LIMITS.extensionMessageBytes, strictKeyOrder: false }).value;
  } catch (err) {
    throw new ChunkswarmError('EWIRE_MESSAGE', 'peer sent an extension handshake that is not valid bencode', {
      cause: err,
    });
  }
  if (!isDict(root)) {
    throw new ChunkswarmError('EWIRE_MESSAGE', 'peer sent an extension handshake that is not a dictionary');
  }
  const out: ExtensionHandshake = { m: new Map() };
  const m = dictGet(root, 'm');
  if (isDict(m)) {
    for (const [rawName, id] of m) {
      if (typeof id === 'number' && isIntIn(id, 0, 255)) {
        out.m.set(Buffer.from(rawName, 'latin1').toString('utf8'), id);
      }
    }
  }
  const port = intOf(dictGet(root, 'p'));
  if (isIntIn(port, 1, 0xffff)) out.port = port;
  const client = dictGet(root, 'v');
  if (Buffer.isBuffer(client)) out.client = client.toString('utf8');
  const reqq = intOf(dictGet(root, 'reqq'));
  if (isIntIn(reqq, 1, Number.MAX_SAFE_INTEGER)) out.reqq = reqq;
  const yourIp = dictGet(root, 'yourip');
  // Copy: decoded strings are views into the payload, which the caller may reuse.
  if (Buffer.isBuffer(yourIp) && (yourIp.length === 4 || yourIp.length === 16))
    out.yourIp = Buffer.from(yourIp);
  const metadataSize = intOf(dictGet(root, 'metadata_size'));
  if (isIntIn(metadataSize, 0, Number.MAX_SAFE_INTEGER)) out.metadataSize = metadataSize;
  const steer = intOf(dictGet(root, 'cs_steer'));
  if (steer === 0 || steer === 1) out.steering = steer === 1;
  return out;
}
