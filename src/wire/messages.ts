import { ChunkswarmError } from '../shared/errors.js';

/** The protocol string every BitTorrent handshake carries (BEP 3). */
export const PROTOCOL = 'BitTorrent protocol';

/** pstrlen + pstr + reserved + info_hash + peer_id (BEP 3). */
export const HANDSHAKE_LENGTH = 1 + PROTOCOL.length + 8 + 20 + 20;

/** Message ids: BEP 3 (0-8), BEP 5 (9), BEP 6 (13-17), BEP 10 (20). */
export const MessageId = {
  choke: 0,
  unchoke: 1,
  interested: 2,
  notInterested: 3,
  have: 4,
  bitfield: 5,
  request: 6,
  piece: 7,
  cancel: 8,
  port: 9,
  suggest: 13,
  haveAll: 14,
  haveNone: 15,
  reject: 16,
  allowedFast: 17,
  extended: 20,
} as const;

export interface Handshake {
  infoHash: Buffer;
  peerId: Buffer;
  /** The 8 reserved bytes as received, so later code can look at bits we do not interpret. */
  reserved: Buffer;
  /** BEP 6: reserved byte 7, bit 0x04. */
  fast: boolean;
  /** BEP 10: reserved byte 5, bit 0x10. */
  extended: boolean;
  /** BEP 5: reserved byte 7, bit 0x01 (we read it; we do not run a DHT). */
  dht: boolean;
}

export type WireMessage =
  | { type: 'keep-alive' }
  | { type: 'choke' }
  | { type: 'unchoke' }
  | { type: 'interested' }
  | { type: 'not-interested' }
  | { type: 'have'; index: number }
  | { type: 'bitfield'; bits: Buffer }
  | { type: 'request'; index: number; begin: number; length: number }
  | { type: 'piece'; index: number; begin: number; block: Buffer }
  | { type: 'cancel'; index: number; begin: number; length: number }
  | { type: 'port'; port: number }
  | { type: 'suggest'; index: number }
  | { type: 'have-all' }
  | { type: 'have-none' }
  | { type: 'reject'; index: number; begin: number; length: number }
  | { type: 'allowed-fast'; index: number }
  | { type: 'extended'; id: number; payload: Buffer };

export function encodeHandshake(h: {
  infoHash: Uint8Array;
  peerId: Uint8Array;
  fast?: boolean;
  extended?: boolean;
}): Buffer {
  if (h.infoHash.length !== 20) {
    throw new ChunkswarmError(
      'EWIRE_HANDSHAKE',
      `cannot build a handshake: the infohash must be 20 bytes, got ${h.infoHash.length}`,
    );
  }
  if (h.peerId.length !== 20) {
    throw new ChunkswarmError(
      'EWIRE_HANDSHAKE',
      `cannot build a handshake: the peer id must be 20 bytes, got ${h.peerId.length}`,
    );
  }
  const out = Buffer.allocUnsafe(HANDSHAKE_LENGTH);
  out[0] = PROTOCOL.length;
  out.write(PROTOCOL, 1, 'latin1');
  const reserved = 1 + PROTOCOL.length;
  out.fill(0, reserved, reserved + 8);
  if (h.extended) out[reserved + 5] = 0x10; // BEP 10
  if (h.fast) out[reserved + 7] = 0x04; // BEP 6
  out.set(h.infoHash, reserved + 8);
  out.set(h.peerId, reserved + 28);
  return out;
}

/** Reads the reserved bits we understand out of a received handshake's 8 reserved bytes. */
export function parseReserved(reserved: Uint8Array): { fast: boolean; extended: boolean; dht: boolean } {
  return {
    extended: ((reserved[5] ?? 0) & 0x10) !== 0,
    fast: ((reserved[7] ?? 0) & 0x04) !== 0,
    dht: ((reserved[7] ?? 0) & 0x01) !== 0,
  };
}

function checkUint32(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new ChunkswarmError(
      'EWIRE_MESSAGE',
      `cannot encode ${what}=${value}: it must be an integer from 0 to 4294967295`,
    );
  }
  return value;
}

/**
 * A message's length prefix and id, its payload for the caller to fill, every byte of it. From Node's
 * shared pool (allocUnsafe): a zeroed buffer of its own for each HAVE or REQUEST was a tenth of a
 * thousand-peer simulation, most of it in the garbage collector.
 */
function fixed(id: number, payloadLength: number): Buffer {
  const out = Buffer.allocUnsafe(5 + payloadLength);
  out.writeUInt32BE(1 + payloadLength, 0);
  out[4] = id;
  return out;
}

function withIndex(id: number, index: number): Buffer {
  const out = fixed(id, 4);
  out.writeUInt32BE(checkUint32('index', index), 5);
  return out;
}

function withTriple(id: number, m: { index: number; begin: number; length: number }): Buffer {
  const out = fixed(id, 12);
  out.writeUInt32BE(checkUint32('index', m.index), 5);
  out.writeUInt32BE(checkUint32('begin', m.begin), 9);
  out.writeUInt32BE(checkUint32('length', m.length), 13);
  return out;
}

/**
 * The 13 bytes in front of a PIECE message's block, so a sender can write the header and then the
 * block it already holds (from storage) without copying the block into a new buffer.
 */
export function encodePieceHeader(index: number, begin: number, blockLength: number): Buffer {
  checkUint32('block length', blockLength);
  const out = Buffer.allocUnsafe(13);
  out.writeUInt32BE(checkUint32('message length', 9 + blockLength), 0);
  out[4] = MessageId.piece;
  out.writeUInt32BE(checkUint32('index', index), 5);
  out.writeUInt32BE(checkUint32('begin', begin), 9);
  return out;
}

/** One message with its 4-byte big-endian length prefix (BEP 3). */
export function encodeMessage(m: WireMessage): Buffer {
  switch (m.type) {
    case 'keep-alive':
      return Buffer.alloc(4);
    case 'choke':
      return fixed(MessageId.choke, 0);
    case 'unchoke':
      return fixed(MessageId.unchoke, 0);
    case 'interested':
      return fixed(MessageId.interested, 0);
    case 'not-interested':
      return fixed(MessageId.notInterested, 0);
    case 'have':
      return withIndex(MessageId.have, m.index);
    case 'bitfield': {
      const out = fixed(MessageId.bitfield, m.bits.length);
      out.set(m.bits, 5);
      return out;
    }
    case 'request':
      return withTriple(MessageId.request, m);
    case 'piece': {
      const header = encodePieceHeader(m.index, m.begin, m.block.length);
      return Buffer.concat([header, m.block], header.length + m.block.length);
    }
    case 'cancel':
      return withTriple(MessageId.cancel, m);
    case 'port': {
      if (!Number.isInteger(m.port) || m.port < 0 || m.port > 0xffff) {
        throw new ChunkswarmError('EWIRE_MESSAGE', `cannot encode port ${m.port}: it must be 0 to 65535`);
      }
      const out = fixed(MessageId.port, 2);
      out.writeUInt16BE(m.port, 5);
      return out;
    }
    case 'suggest':
      return withIndex(MessageId.suggest, m.index);
    case 'have-all':
      return fixed(MessageId.haveAll, 0);
    case 'have-none':
      return fixed(MessageId.haveNone, 0);
    case 'reject':
      return withTriple(MessageId.reject, m);
    case 'allowed-fast':
      return withIndex(MessageId.allowedFast, m.index);
    case 'extended': {
      if (!Number.isInteger(m.id) || m.id < 0 || m.id > 0xff) {
        throw new ChunkswarmError(
          'EWIRE_MESSAGE',
          `cannot encode extension message id ${m.id}: it must be 0 to 255`,
        );
      }
      checkUint32('extension payload length', 2 + m.payload.length);
      const out = fixed(MessageId.extended, 1 + m.payload.length);
      out[5] = m.id;
      out.set(m.payload, 6);
      return out;
    }
    default: {
      // Reached only from untyped callers; a typed caller cannot get here.
      const unknown: never = m;
      throw new ChunkswarmError(
        'EWIRE_MESSAGE',
        `cannot encode a message of unknown type ${JSON.stringify((unknown as { type?: unknown }).type)}`,
      );
    }
  }
}
