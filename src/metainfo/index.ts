export {
  buildInfoDict,
  buildTorrentFile,
  CREATED_BY,
  type CreateTorrentOptions,
  createTorrent,
  type InfoDictInput,
  type TorrentFileOptions,
} from './create.js';
export { dataLength, paddingHeld, pieceSize, pieceSpans } from './layout.js';
export { magnetUri, parseMagnet } from './magnet.js';
export {
  isValidPieceLength,
  isWebSeedUrl,
  layoutFromInfo,
  metainfoFromInfoBytes,
  parseMetainfo,
} from './parse.js';
export { checkSafePath } from './paths.js';
export {
  boundaryPieces,
  filePathInTorrent,
  filePieces,
  globMatcher,
  PiecePriority,
  parseSelect,
  pieceAtFileOffset,
  piecePriorities,
  resolveSelection,
  type SelectionSpec,
  wantedPieces,
} from './selection.js';
export type { FileEntry, FileSpan, MagnetLink, Metainfo, TorrentLayout } from './types.js';
