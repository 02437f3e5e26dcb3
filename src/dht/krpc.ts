/**
 * KRPC (BEP 5): the DHT's messages, one bencoded dictionary per UDP datagram. Pure: bytes in, plain
 * values out. Every datagram is decoded under hard limits (size, depth, token count), and every field
 * is checked for type and length before it is used, so a hostile sender gets an EKRPC error, never a
 * structure it chose the size of.
 */
import { type BDict, type BValue, decode, dictGet, type Encodable, encode, isDict } from '../codec/index.js';
import { ChunkswarmError } from '../shared/errors.js';
import { formatIp, parseIp } from '../shared/ip.js';
import { LIMITS } from '../shared/limits.js';

/** Node ids and infohashes are 160 bits (BEP 5). */
export const ID_LENGTH = 20;
/** Compact node info: 20-byte id, 4-byte IPv4 address, 2-byte port (BEP 5). */
export const COMPACT_NODE_LENGTH = 26;
/** Compact peer info: 4-byte IPv4 address, 2-byte port (BEP 5, as in BEP 23). */
export const COMPACT_PEER_LENGTH = 6;

/** Our client version (`v`): two letters naming the client, two bytes of version. */
export const CLIENT_VERSION = Buffer.from([0x43, 0x53, 0x00, 0x01]); // "CS" 0.1

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface NodeContact extends Endpoint {
  readonly id: Buffer;
}

export type KrpcQuery =
  | { readonly method: 'ping' }
  | { readonly method: 'find_node'; readonly target: Buffer }
  | { readonly method: 'get_peers'; readonly infoHash: Buffer }
  | {
      readonly method: 'announce_peer';
      readonly infoHash: Buffer;
      readonly port: number;
      readonly token: Buffer;
      /** BEP 5: take the port the datagram came from instead of `port`. */
      readonly impliedPort: boolean;
    }
  /** A method we do not serve: answered with error 204 (BEP 5). */
  | { readonly method: 'unknown'; readonly name: string };

export interface KrpcResponseBody {
  readonly nodes?: readonly NodeContact[];
  readonly values?: readonly Endpoint[];
  readonly token?: Buffer;
}

export type KrpcMessage =
  | {
      readonly kind: 'query';
      readonly t: Buffer;
      readonly id: Buffer;
      readonly query: KrpcQuery;
      /** BEP 43: the sender is read-only and must not enter routing tables. */
      readonly readOnly: boolean;
    }
  | { readonly kind: 'response'; readonly t: Buffer; readonly id: Buffer; readonly body: KrpcResponseBody }
  | { readonly kind: 'error'; readonly t: Buffer; readonly code: number; readonly message: string };

/** BEP 5's error codes. */
export const KrpcErrorCode = {
  generic: 201,
  server: 202,
  protocol: 203,
  methodUnknown: 204,
} as const;

/**
 * A datagram of 1500 bytes holds at most a few hundred values; these caps let nothing nest deeper than
 * a response's list of peers.
 */
const DECODE_LIMITS = {
  maxDepth: 4,
  maxTokens: 512,
  maxBytes: LIMITS.dhtDatagramBytes,
  // Some implementations do not sort their keys; nothing here depends on the order.
  strictKeyOrder: false,
} as const;

const MAX_ERROR_MESSAGE = 200;
const MAX_METHOD_NAME = 32;

function bad(message: string): never {
  throw new ChunkswarmError('EKRPC', `KRPC message (BEP 5): ${message}`);
}

function bytesField(d: BDict, key: string, what: string): Buffer {
  const v = dictGet(d, key);
  if (!Buffer.isBuffer(v)) bad(`'${what}' is missing or not a string`);
  return v;
}

function idField(d: BDict, key: string, what: string): Buffer {
  const v = bytesField(d, key, what);
  if (v.length !== ID_LENGTH) bad(`'${what}' is ${v.length} bytes, not ${ID_LENGTH}`);
  return v;
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 0xffff;
}

/** A dotted IPv4 address as four bytes, or undefined when `host` is not one. */
function ipv4Bytes(host: string): Buffer | undefined {
  const ip = parseIp(host);
  return ip?.length === 4 ? ip : undefined;
}

/** Compact node info (26 bytes each). Nodes with port 0 are skipped: nobody can be reached there. */
export function decodeCompactNodes(buf: Buffer): NodeContact[] {
  if (buf.length % COMPACT_NODE_LENGTH !== 0) {
    bad(`'nodes' is ${buf.length} bytes, not a multiple of ${COMPACT_NODE_LENGTH}`);
  }
  const out: NodeContact[] = [];
  for (let at = 0; at < buf.length; at += COMPACT_NODE_LENGTH) {
    const port = buf.readUInt16BE(at + 24);
    if (port === 0) continue;
    // A copy: the datagram's buffer is not kept alive by one id in a routing table.
    out.push({
      id: Buffer.from(buf.subarray(at, at + ID_LENGTH)),
      host: formatIp(buf.subarray(at + 20, at + 24)),
      port,
    });
  }
  return out;
}

/** Nodes as compact node info; nodes that are not IPv4 are left out (BEP 5's `nodes` is IPv4 only). */
export function encodeCompactNodes(nodes: readonly NodeContact[]): Buffer {
  const parts: Buffer[] = [];
  for (const n of nodes) {
    const ip = ipv4Bytes(n.host);
    if (ip === undefined || n.id.length !== ID_LENGTH || !isPort(n.port)) continue;
    const port = Buffer.alloc(2);
    port.writeUInt16BE(n.port);
    parts.push(n.id, ip, port);
  }
  return Buffer.concat(parts);
}

/** One compact peer (6 bytes), or undefined for another length (an IPv6 peer) or port 0. */
export function decodeCompactPeer(buf: Buffer): Endpoint | undefined {
  if (buf.length !== COMPACT_PEER_LENGTH) return undefined;
  const port = buf.readUInt16BE(4);
  return port === 0 ? undefined : { host: formatIp(buf.subarray(0, 4)), port };
}

export function encodeCompactPeer(peer: Endpoint): Buffer | undefined {
  const ip = ipv4Bytes(peer.host);
  if (ip === undefined || !isPort(peer.port)) return undefined;
  const out = Buffer.alloc(COMPACT_PEER_LENGTH);
  ip.copy(out);
  out.writeUInt16BE(peer.port, 4);
  return out;
}

function decodeQuery(d: BDict): KrpcQuery {
  const name = bytesField(d, 'q', 'q');
  if (name.length > MAX_METHOD_NAME) bad('the method name is too long');
  const a = dictGet(d, 'a');
  if (!isDict(a)) bad("a query has no 'a' dictionary");
  switch (name.toString('latin1')) {
    case 'ping':
      return { method: 'ping' };
    case 'find_node':
      return { method: 'find_node', target: idField(a, 'target', 'target') };
    case 'get_peers':
      return { method: 'get_peers', infoHash: idField(a, 'info_hash', 'info_hash') };
    case 'announce_peer': {
      const infoHash = idField(a, 'info_hash', 'info_hash');
      const token = bytesField(a, 'token', 'token');
      if (token.length === 0 || token.length > LIMITS.dhtTokenBytes) bad(`token of ${token.length} bytes`);
      const implied = dictGet(a, 'implied_port');
      const impliedPort = typeof implied === 'number' && implied !== 0;
      const port = dictGet(a, 'port');
      // With implied_port the port field may be anything (libtorrent sends its listen port anyway).
      if (!impliedPort && (typeof port !== 'number' || !isPort(port))) bad("'port' is not 1 to 65535");
      return {
        method: 'announce_peer',
        infoHash,
        token,
        impliedPort,
        port: typeof port === 'number' && isPort(port) ? port : 0,
      };
    }
    default:
      return { method: 'unknown', name: name.toString('latin1').replace(/[^\x20-\x7e]/g, '?') };
  }
}

function decodeResponse(r: BDict): KrpcResponseBody {
  const body: { nodes?: NodeContact[]; values?: Endpoint[]; token?: Buffer } = {};
  const nodes = dictGet(r, 'nodes');
  if (nodes !== undefined) {
    if (!Buffer.isBuffer(nodes)) bad("'nodes' is not a string");
    body.nodes = decodeCompactNodes(nodes);
  }
  const values = dictGet(r, 'values');
  if (values !== undefined) {
    if (!Array.isArray(values)) bad("'values' is not a list");
    const peers: Endpoint[] = [];
    for (const v of values as BValue[]) {
      // An IPv6 peer (18 bytes) or a malformed entry is skipped, not fatal: the rest may be good.
      if (!Buffer.isBuffer(v)) continue;
      const peer = decodeCompactPeer(v);
      if (peer !== undefined) peers.push(peer);
    }
    body.values = peers;
  }
  const token = dictGet(r, 'token');
  if (token !== undefined) {
    if (!Buffer.isBuffer(token)) bad("'token' is not a string");
    if (token.length === 0 || token.length > LIMITS.dhtTokenBytes) bad(`token of ${token.length} bytes`);
    body.token = Buffer.from(token);
  }
  return body;
}

/** Reads one datagram. Throws ChunkswarmError('EKRPC') on anything that is not a well-formed KRPC message. */
export function decodeKrpc(datagram: Uint8Array): KrpcMessage {
  if (datagram.length > LIMITS.dhtDatagramBytes) {
    bad(`datagram of ${datagram.length} bytes is larger than ${LIMITS.dhtDatagramBytes}`);
  }
  let root: BValue;
  try {
    root = decode(datagram, DECODE_LIMITS);
  } catch (err) {
    throw new ChunkswarmError('EKRPC', 'KRPC message (BEP 5): not valid bencode', { cause: err });
  }
  if (!isDict(root)) bad('not a dictionary');
  const t = bytesField(root, 't', 't');
  if (t.length === 0 || t.length > LIMITS.dhtTransactionIdBytes) bad(`transaction id of ${t.length} bytes`);
  const tid = Buffer.from(t);
  const y = bytesField(root, 'y', 'y').toString('latin1');
  if (y === 'q') {
    const a = dictGet(root, 'a');
    if (!isDict(a)) bad("a query has no 'a' dictionary");
    const id = Buffer.from(idField(a, 'id', 'id'));
    const ro = dictGet(root, 'ro');
    return { kind: 'query', t: tid, id, query: decodeQuery(root), readOnly: ro === 1 };
  }
  if (y === 'r') {
    const r = dictGet(root, 'r');
    if (!isDict(r)) bad("a response has no 'r' dictionary");
    return { kind: 'response', t: tid, id: Buffer.from(idField(r, 'id', 'id')), body: decodeResponse(r) };
  }
  if (y === 'e') {
    const e = dictGet(root, 'e');
    // BEP 5: a list of an integer code and a string; a short or odd list is read as far as it goes.
    if (!Array.isArray(e)) bad("an error has no 'e' list");
    const code = typeof e[0] === 'number' ? e[0] : KrpcErrorCode.generic;
    const msg = Buffer.isBuffer(e[1]) ? e[1].subarray(0, MAX_ERROR_MESSAGE).toString('utf8') : '';
    return { kind: 'error', t: tid, code, message: msg };
  }
  return bad(`unknown message type 'y' = ${JSON.stringify(y.slice(0, 8))}`);
}

/** What we send: any query but one we do not know. */
export type OutgoingQuery = Exclude<KrpcQuery, { method: 'unknown' }>;

export function encodeQuery(t: Buffer, id: Buffer, q: OutgoingQuery): Buffer {
  const a = new Map<string, Encodable>([['id', id]]);
  if (q.method === 'find_node') a.set('target', q.target);
  else if (q.method === 'get_peers') a.set('info_hash', q.infoHash);
  else if (q.method === 'announce_peer') {
    a.set('info_hash', q.infoHash);
    a.set('port', q.port);
    a.set('token', q.token);
    if (q.impliedPort) a.set('implied_port', 1);
  }
  return encode({ a, q: q.method, t, v: CLIENT_VERSION, y: 'q' });
}

export function encodeResponse(
  t: Buffer,
  id: Buffer,
  body: { nodes?: readonly NodeContact[]; values?: readonly Endpoint[]; token?: Buffer },
): Buffer {
  const r = new Map<string, Encodable>([['id', id]]);
  if (body.nodes !== undefined) r.set('nodes', encodeCompactNodes(body.nodes));
  if (body.token !== undefined) r.set('token', body.token);
  if (body.values !== undefined && body.values.length > 0) {
    const values: Buffer[] = [];
    for (const p of body.values) {
      const c = encodeCompactPeer(p);
      if (c !== undefined) values.push(c);
    }
    r.set('values', values);
  }
  return encode({ r, t, v: CLIENT_VERSION, y: 'r' });
}

export function encodeError(t: Buffer, code: number, message: string): Buffer {
  return encode({ e: [code, message], t, v: CLIENT_VERSION, y: 'e' });
}
