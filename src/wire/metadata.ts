/**
 * BEP 9 metadata exchange (`ut_metadata`, carried in BEP 10 extension messages): how a peer that only has
 * a magnet link gets the info dictionary from peers that have it. Pure: bytes in, plain values out.
 *
 * A message is a bencoded dictionary `{msg_type, piece[, total_size]}`; a data message is followed, in
 * the same extension message, by the raw bytes of that 16 KiB piece of the metadata (BEP 9).
 */
import { type BValue, decodePrefix, dictGet, encode, isDict } from '../codec/index.js';
import { ChunkswarmError } from '../shared/errors.js';
import { LIMITS } from '../shared/limits.js';

/** The extension's name in a BEP 10 handshake's `m` dictionary. */
export const UT_METADATA = 'ut_metadata';
/** BEP 9 splits the metadata into pieces of 16 KiB; only the last one may be shorter. */
export const METADATA_PIECE_LENGTH = 16 * 1024;

export type MetadataMessage =
  | { readonly type: 'request'; readonly piece: number }
  | {
      readonly type: 'data';
      readonly piece: number;
      /** The whole metadata's size, which the sender also gave as `metadata_size` in its handshake. */
      readonly totalSize: number;
      readonly data: Buffer;
    }
  | { readonly type: 'reject'; readonly piece: number }
  /** BEP 9 asks receivers to ignore message types they do not know, for later extensions. */
  | { readonly type: 'unknown'; readonly msgType: number; readonly piece: number };

export interface MetadataLimits {
  /** Largest metadata accepted in a data message (default LIMITS.metainfoBytes, 16 MiB). */
  readonly maxMetadataBytes: number;
  /**
   * The size the sender announced as `metadata_size`, when known: a data message must then carry
   * the same `total_size`.
   */
  readonly metadataSize?: number;
}

const MSG_REQUEST = 0;
const MSG_DATA = 1;
const MSG_REJECT = 2;

/**
 * The dictionary is a handful of integers: these caps let no peer make us build a large structure
 * out of one message before we look at it.
 */
const DICT_LIMITS = { maxDepth: 4, maxTokens: 256, maxBytes: 4096, strictKeyOrder: false } as const;

/** A piece index must fit the 32-bit fields other clients keep it in. */
const MAX_PIECE_INDEX = 0x7fff_ffff;

function bad(message: string): never {
  throw new ChunkswarmError('EWIRE_MESSAGE', `metadata message (BEP 9): ${message}`);
}

function isSize(n: number, max: number): boolean {
  return Number.isSafeInteger(n) && n >= 1 && n <= max;
}

/** Number of 16 KiB pieces of metadata of `size` bytes. */
export function metadataPieceCount(size: number): number {
  return Math.ceil(size / METADATA_PIECE_LENGTH);
}

/** Length of piece `piece` of metadata of `size` bytes: 16 KiB, or what is left for the last one. */
export function metadataPieceLength(size: number, piece: number): number {
  const count = metadataPieceCount(size);
  if (!Number.isInteger(piece) || piece < 0 || piece >= count) {
    throw new ChunkswarmError(
      'EWIRE_MESSAGE',
      `metadata of ${size} bytes has ${count} pieces; there is no piece ${piece}`,
    );
  }
  return piece === count - 1 ? size - piece * METADATA_PIECE_LENGTH : METADATA_PIECE_LENGTH;
}

/** The payload of a ut_metadata extension message (what follows the extension id byte). */
export function encodeMetadataMessage(m: MetadataMessage): Buffer {
  if (!Number.isInteger(m.piece) || m.piece < 0 || m.piece > MAX_PIECE_INDEX) {
    throw new ChunkswarmError('EWIRE_MESSAGE', `cannot encode a metadata message for piece ${m.piece}`);
  }
  switch (m.type) {
    case 'request':
      return encode({ msg_type: MSG_REQUEST, piece: m.piece });
    case 'reject':
      return encode({ msg_type: MSG_REJECT, piece: m.piece });
    case 'data': {
      if (!isSize(m.totalSize, LIMITS.metainfoBytes)) {
        throw new ChunkswarmError(
          'EWIRE_MESSAGE',
          `cannot encode metadata of ${m.totalSize} bytes: 1 to ${LIMITS.metainfoBytes} are allowed`,
        );
      }
      const want = metadataPieceLength(m.totalSize, m.piece);
      if (m.data.length !== want) {
        throw new ChunkswarmError(
          'EWIRE_MESSAGE',
          `piece ${m.piece} of ${m.totalSize} bytes of metadata is ${want} bytes, not ${m.data.length}`,
        );
      }
      return Buffer.concat([encode({ msg_type: MSG_DATA, piece: m.piece, total_size: m.totalSize }), m.data]);
    }
    case 'unknown':
      return encode({ msg_type: m.msgType, piece: m.piece });
  }
}

/** The data message that serves piece `piece` of `metadata` (the exact info dictionary bytes). */
export function metadataPieceMessage(metadata: Buffer, piece: number): MetadataMessage {
  const length = metadataPieceLength(metadata.length, piece);
  const begin = piece * METADATA_PIECE_LENGTH;
  return { type: 'data', piece, totalSize: metadata.length, data: metadata.subarray(begin, begin + length) };
}

function intKey(d: Map<string, BValue>, key: string): number | undefined {
  const v = dictGet(d, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'number') bad(`'${key}' is not an integer`);
  return v;
}

/**
 * Reads the payload of a ut_metadata extension message. Whatever its sizes claim, nothing is
 * allocated: the block is a view into `payload`, and a data message is refused unless its
 * `total_size` is within the cap (and equal to the announced size, when given), its piece lies
 * inside that size and its block has exactly that piece's length. Bytes after the dictionary of a
 * request or reject are ignored, as in a BEP 10 handshake.
 */
export function decodeMetadataMessage(
  payload: Uint8Array,
  limits: Partial<MetadataLimits> = {},
): MetadataMessage {
  const maxMetadata = limits.maxMetadataBytes ?? LIMITS.metainfoBytes;
  let root: BValue;
  let length: number;
  try {
    ({ value: root, length } = decodePrefix(payload, DICT_LIMITS));
  } catch (err) {
    throw new ChunkswarmError('EWIRE_MESSAGE', 'metadata message (BEP 9): not a bencoded dictionary', {
      cause: err,
    });
  }
  if (!isDict(root)) bad('not a dictionary');
  const msgType = intKey(root, 'msg_type');
  const piece = intKey(root, 'piece');
  if (msgType === undefined) bad("no 'msg_type'");
  if (piece === undefined) bad("no 'piece'");
  if (!Number.isSafeInteger(piece) || piece < 0 || piece > MAX_PIECE_INDEX)
    bad(`piece ${piece} is not a piece index`);
  switch (msgType) {
    case MSG_REQUEST:
      return { type: 'request', piece };
    case MSG_REJECT:
      return { type: 'reject', piece };
    case MSG_DATA:
      break;
    default:
      return { type: 'unknown', msgType, piece };
  }
  const totalSize = intKey(root, 'total_size');
  if (totalSize === undefined) bad("a data message without 'total_size'");
  if (!isSize(totalSize, maxMetadata)) bad(`total_size ${totalSize} is outside 1 to ${maxMetadata} bytes`);
  if (limits.metadataSize !== undefined && totalSize !== limits.metadataSize) {
    bad(`total_size ${totalSize} differs from the metadata_size ${limits.metadataSize} the peer announced`);
  }
  const count = metadataPieceCount(totalSize);
  if (piece >= count) bad(`piece ${piece} of metadata that has ${count} pieces`);
  const want = metadataPieceLength(totalSize, piece);
  const got = payload.length - length;
  if (got !== want) bad(`piece ${piece} carries ${got} bytes; it is ${want} bytes long`);
  const bytes = Buffer.isBuffer(payload)
    ? payload
    : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  return { type: 'data', piece, totalSize, data: bytes.subarray(length) };
}
