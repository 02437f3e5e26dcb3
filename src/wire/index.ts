export { allowedFastSet } from './allowed-fast.js';
export { type DecoderEvent, type DecoderLimits, WireDecoder } from './decoder.js';
export {
  decodeExtensionHandshake,
  type ExtensionHandshake,
  encodeExtensionHandshake,
} from './extension.js';
export {
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  HANDSHAKE_LENGTH,
  type Handshake,
  MessageId,
  PROTOCOL,
  type WireMessage,
} from './messages.js';
export {
  decodeMetadataMessage,
  encodeMetadataMessage,
  METADATA_PIECE_LENGTH,
  type MetadataLimits,
  type MetadataMessage,
  metadataPieceCount,
  metadataPieceLength,
  metadataPieceMessage,
  UT_METADATA,
} from './metadata.js';
export {
  decodePex,
  encodePex,
  PEX_INTERVAL_MS,
  PEX_MAX_ADDED,
  PEX_MAX_DROPPED,
  type PexDecodeLimits,
  PexFlag,
  PexInbox,
  PexLink,
  type PexMessage,
  type PexPeer,
  type PexSnapshot,
  PexState,
  pexSnapshot,
  UT_PEX,
} from './pex.js';
